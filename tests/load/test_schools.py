"""A folder of schools: which folders are schools, and each school read with the trust layer,
from disk or straight from git objects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.errors import PolicyError
from alertpolicy.engine.load.files import read_directory
from alertpolicy.engine.load.schools import (
    read_school,
    read_school_git,
    resolve_school_side,
    school_folders,
    school_names,
)
from tests.helpers import TESTDATA, git

TRUST = TESTDATA / "schools" / "oakfield-trust"


@pytest.fixture
def schools(tmp_path: Path) -> Path:
    """A copy of the Oakfield trust's folder of schools."""
    target = tmp_path / "policies"
    shutil.copytree(TRUST, target)
    return target


def test_every_named_subfolder_but_the_trust_layer_is_a_school(schools: Path) -> None:
    (schools / ".drafts").mkdir()
    (schools / "St Mary's").mkdir()
    (schools / "README.md").write_text("Our schools' alert policies\n")
    assert school_folders(schools) == (("oakfield", "riverside"), ("St Mary's",))


def test_a_missing_folder_of_schools_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as raised:
        school_folders(tmp_path / "nowhere")
    assert raised.value.problems[0].code == "policies-dir-missing"


def test_a_school_is_its_own_files_and_the_trust_layers(schools: Path) -> None:
    source = read_school(schools, "oakfield", with_git=False)
    own = read_directory(schools / "oakfield")
    trust = read_directory(schools / "trust")
    assert dict(source.files) == {
        **{f"oakfield/{path}": data for path, data in own.files.items()},
        **{f"trust/{path}": data for path, data in trust.files.items()},
    }
    assert "oakfield/tests/self-harm.yaml" not in source.files
    assert source.shared == "trust/"
    policy = load_source(source)
    assert policy.users["hwright"].location is not None
    assert policy.users["hwright"].location.file.endswith("policies/trust/safeguarding.yaml")
    assert "Trust Safeguarding" in policy.alert_groups


def test_without_a_trust_layer_a_school_is_its_own_files(schools: Path) -> None:
    shutil.rmtree(schools / "trust")
    source = read_school(schools, "riverside", with_git=False)
    assert all(path.startswith("riverside/") for path in source.files)


def test_a_trust_folder_without_policy_files_is_no_layer(schools: Path) -> None:
    shutil.rmtree(schools / "trust")
    (schools / "trust").mkdir()
    (schools / "trust" / "README.md").write_text("Trust-wide staff go here\n")
    assert all(path.startswith("riverside/") for path in read_school(schools, "riverside").files)


def test_a_school_not_there_is_an_error_naming_it(schools: Path) -> None:
    with pytest.raises(PolicyError) as raised:
        read_school(schools, "northfield")
    assert raised.value.problems[0].code == "policy-dir-missing"
    with pytest.raises(PolicyError):
        read_school(schools, "trust")


def test_school_names_from_paths() -> None:
    paths = ["trust/a.yaml", "oakfield/a.yaml", "oak field/x.yaml", ".git/x", "top.yaml"]
    assert school_names(dict.fromkeys(paths, b"")) == (("oakfield",), ("oak field",))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A trust's repository: the folder of schools at ``schools/``, committed twice."""
    root = tmp_path / "trust-policies"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    shutil.copytree(TRUST, root / "schools")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "The trust's schools")
    users = root / "schools" / "riverside" / "users.yaml"
    users.write_text(users.read_text().replace("Tariq Teach", "Tariq Teacher"))
    git(root, "commit", "-q", "-am", "Riverside: a name corrected")
    return root


def test_a_school_read_from_git_is_the_school_read_from_disk(repo: Path) -> None:
    from_git = read_school_git(repo, "HEAD", "schools", "riverside")
    from_disk = read_school(repo / "schools", "riverside")
    assert dict(from_git.files) == dict(from_disk.files)
    assert from_git.label == "HEAD:schools"
    assert from_git.git == git(repo, "rev-parse", "HEAD")[:12]
    assert (
        b"Tariq Teach,"
        in read_school_git(repo, "HEAD~1", "schools", "riverside").files["riverside/users.yaml"]
    )


def test_a_school_not_at_a_revision_is_named(repo: Path) -> None:
    with pytest.raises(PolicyError) as raised:
        read_school_git(repo, "HEAD", "schools", "northfield")
    assert raised.value.problems[0].code == "policy-path-missing"
    assert "schools/northfield is not a school at revision HEAD" in str(raised.value)


def test_sides_of_a_comparison(repo: Path) -> None:
    schools = repo / "schools"
    assert resolve_school_side(None, schools, "oakfield").label.endswith("schools")
    assert resolve_school_side("HEAD~1", schools, "oakfield").label == "HEAD~1:schools"
    other = resolve_school_side(str(schools), schools, "oakfield")
    assert dict(other.files) == dict(read_school(schools, "oakfield").files)
