"""Reading a policy straight from git objects, never from (or into) the work tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.errors import PolicyError
from alertpolicy.engine.load.files import read_directory
from alertpolicy.engine.load.git import read_git, resolve_side
from tests.helpers import TESTDATA, git

FIXTURE = TESTDATA / "policies" / "audit-map"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with the audit-map policy at ``policy/``, committed twice."""
    root = tmp_path / "school-policy"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    shutil.copytree(FIXTURE, root / "policy")
    (root / "policy" / "tests").mkdir()
    (root / "policy" / "tests" / "cases.yaml").write_text("cases: []\n")
    (root / "policy" / "notes.txt").write_text("not policy\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Initial policy")
    users = root / "policy" / "people.yaml"
    users.write_text(users.read_text().replace("key_holder: true}", "key_holder: false}", 1))
    git(root, "commit", "-q", "-am", "Jane Smith no longer holds a key")
    return root


def test_reads_the_same_files_as_a_directory_read(repo: Path) -> None:
    from_git = read_git(repo, "HEAD", "policy")
    from_dir = read_directory(repo / "policy")
    assert dict(from_git.files) == dict(from_dir.files)
    assert sorted(from_git.files) == ["automatic_alerts.yaml", "people.yaml", "settings.yaml"]
    assert from_git.git == git(repo, "rev-parse", "HEAD")[:12]
    assert from_git.label == "HEAD:policy"


def test_an_older_revision_has_the_older_bytes(repo: Path) -> None:
    old = read_git(repo, "HEAD~1", "policy")
    assert old.files["people.yaml"] == (FIXTURE / "people.yaml").read_bytes()
    assert old.files != read_git(repo, "HEAD", "policy").files
    policy = load_source(old)
    assert policy.users["jsmith"].key_holder


def test_errors_in_an_old_revision_name_revision_file_line_and_column(repo: Path) -> None:
    people = repo / "policy" / "people.yaml"
    people.write_text(people.read_text().replace("user_group: DSL, key", "user_group: Nobody, key"))
    git(repo, "commit", "-q", "-am", "Broken reference")
    git(repo, "commit", "-q", "--allow-empty", "-m", "Later commit")
    with pytest.raises(PolicyError) as caught:
        load_source(read_git(repo, "HEAD~1", "policy"))
    rendered = [p.render() for p in caught.value.problems]
    assert any(line.startswith("HEAD~1:policy/people.yaml:") for line in rendered), rendered


def test_unknown_revision_and_missing_path_are_clear_errors(repo: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        read_git(repo, "no-such-branch", "policy")
    assert "unknown revision 'no-such-branch'" in caught.value.problems[0].message
    with pytest.raises(PolicyError) as caught:
        read_git(repo, "HEAD", "rules")
    assert "rules is not a directory at revision HEAD" in caught.value.problems[0].message


def test_reading_a_revision_leaves_work_tree_and_index_alone(repo: Path) -> None:
    people = repo / "policy" / "people.yaml"
    edited = people.read_text() + "# an uncommitted edit\n"
    people.write_text(edited)
    (repo / "policy" / "new.yaml").write_text("categories: [Attendance]\n")
    status_before = git(repo, "status", "--porcelain")
    index_before = (repo / ".git" / "index").read_bytes()
    read_git(repo, "HEAD~1", "policy")
    assert people.read_text() == edited
    assert git(repo, "status", "--porcelain") == status_before
    assert (repo / ".git" / "index").read_bytes() == index_before


def test_resolver_prefers_a_directory_then_a_revision(repo: Path, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    assert resolve_side(None, Path("policy")).label == "policy"
    assert resolve_side("policy", Path("policy")).label == "policy"
    assert resolve_side("HEAD~1", Path("policy")).label == "HEAD~1:policy"
    monkeypatch.chdir(repo / "policy")
    assert resolve_side("main", Path(".")).label == "main:policy"


def test_resolver_outside_git_says_so(tmp_path: Path, monkeypatch) -> None:
    shutil.copytree(FIXTURE, tmp_path / "policy")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PolicyError) as caught:
        resolve_side("HEAD~1", Path("policy"))
    assert caught.value.problems[0].code == "not-a-git-repository"
