"""Reading a policy directory: which files count, revision strings, git commit and dirt."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from alertpolicy.engine.errors import PolicyError
from alertpolicy.engine.load.files import (
    PolicySource,
    file_stamps,
    read_directory,
    revision_of,
    unread_lookalikes,
)
from tests.helpers import TESTDATA
from tests.serve.support import configmap

SMALL_SCHOOL = TESTDATA / "policies" / "small-school"
HAS_GIT = shutil.which("git") is not None


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(root: Path) -> Path:
    """A real git repository holding a copy of the small-school policy under policy/."""
    git(root, "init", "-q")
    git(root, "config", "user.email", "dsl@oakfield.example")
    git(root, "config", "user.name", "Jane Smith")
    shutil.copytree(SMALL_SCHOOL, root / "policy")
    git(root, "add", "policy")
    git(root, "commit", "-q", "-m", "Alert policy")
    return root / "policy"


def test_reads_yaml_and_yml_in_subfolders_but_not_tests_or_hidden(tmp_path: Path) -> None:
    (tmp_path / "academies" / "oakfield").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    (tmp_path / ".github").mkdir()
    (tmp_path / "settings.yaml").write_text("settings: {}\n")
    (tmp_path / "academies" / "oakfield" / "users.yml").write_text("users: {}\n")
    (tmp_path / "tests" / "self-harm.yaml").write_text("cases: []\n")
    (tmp_path / ".github" / "ci.yaml").write_text("on: push\n")
    (tmp_path / "README.md").write_text("notes\n")

    source = read_directory(tmp_path)

    assert sorted(source.files) == ["academies/oakfield/users.yml", "settings.yaml"]
    assert source.files["settings.yaml"] == b"settings: {}\n"


def test_a_file_named_tests_yaml_at_the_root_is_policy(tmp_path: Path) -> None:
    (tmp_path / "tests.yaml").write_text("categories: [Bullying]\n")
    assert list(read_directory(tmp_path).files) == ["tests.yaml"]


def test_label_is_the_path_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "school" / "policy").mkdir(parents=True)
    (tmp_path / "school" / "policy" / "a.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path / "school")
    source = read_directory((tmp_path / "school" / "policy").resolve())
    assert source.label == "policy"
    assert source.display_path("a.yaml") == "policy/a.yaml"


def test_display_path_of_a_git_revision_label() -> None:
    source = PolicySource(label="HEAD~1:policy", files={"users.yaml": b""})
    assert source.display_path("users.yaml") == "HEAD~1:policy/users.yaml"
    assert PolicySource(label=".").display_path("users.yaml") == "users.yaml"


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("nothing here\n")
    with pytest.raises(PolicyError) as caught:
        read_directory(tmp_path)
    (problem,) = caught.value.problems
    assert problem.code == "empty-policy"
    assert "holds no policy file" in problem.message


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        read_directory(tmp_path / "nowhere")
    assert caught.value.problems[0].code == "policy-dir-missing"
    assert "does not exist" in caught.value.problems[0].message


def test_revision_is_a_content_hash_that_changes_with_names_and_bytes() -> None:
    a = PolicySource("policy", {"users.yaml": b"users: {}\n"})
    same = PolicySource("elsewhere", {"users.yaml": b"users: {}\n"})
    renamed = PolicySource("policy", {"staff.yaml": b"users: {}\n"})
    edited = PolicySource("policy", {"users.yaml": b"users: {} \n"})
    assert revision_of(a) == revision_of(same)
    assert revision_of(a).startswith("sha256:") and len(revision_of(a)) == len("sha256:") + 16
    assert len({revision_of(a), revision_of(renamed), revision_of(edited)}) == 3


def test_revision_names_the_git_commit_when_known() -> None:
    source = PolicySource("policy", {"a.yaml": b"{}"}, git="1a2b3c4d5e6f+dirty")
    assert revision_of(source).endswith(" git:1a2b3c4d5e6f+dirty")


def test_outside_git_there_is_no_commit(tmp_path: Path) -> None:
    shutil.copytree(SMALL_SCHOOL, tmp_path / "policy")
    source = read_directory(tmp_path / "policy")
    assert source.git is None
    assert " git:" not in revision_of(source)


@pytest.mark.skipif(not HAS_GIT, reason="git is not installed")
def test_clean_git_work_tree_records_the_commit(tmp_path: Path) -> None:
    policy = make_repo(tmp_path)
    head = git(tmp_path, "rev-parse", "HEAD")
    source = read_directory(policy)
    assert source.git == head[:12]
    assert revision_of(source).endswith(f" git:{head[:12]}")


@pytest.mark.skipif(not HAS_GIT, reason="git is not installed")
def test_edited_or_new_policy_file_marks_the_commit_dirty(tmp_path: Path) -> None:
    policy = make_repo(tmp_path)
    head = git(tmp_path, "rev-parse", "HEAD")[:12]
    (policy / "extra.yaml").write_text("categories: [Neglect]\n")
    assert read_directory(policy).git == f"{head}+dirty"
    (policy / "extra.yaml").unlink()
    with (policy / "users.yaml").open("a") as f:
        f.write("\n")
    assert read_directory(policy).git == f"{head}+dirty"


@pytest.mark.skipif(not HAS_GIT, reason="git is not installed")
def test_changes_outside_the_policy_directory_are_not_dirt(tmp_path: Path) -> None:
    policy = make_repo(tmp_path)
    (tmp_path / "README.md").write_text("unrelated\n")
    assert not read_directory(policy).git.endswith("+dirty")


@pytest.mark.skipif(not HAS_GIT, reason="git is not installed")
def test_repository_without_commits_has_no_commit(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "a.yaml").write_text("{}\n")
    assert read_directory(tmp_path).git is None


def test_a_policy_file_that_cannot_be_read_is_an_error_not_skipped(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "settings.yaml").write_text("settings: {enforce_at_least_one_alert: true}\n")
    (policy / "users.yaml").symlink_to(tmp_path / "users-moved-away.yaml")
    with pytest.raises(PolicyError) as caught:
        read_directory(policy)
    [problem] = caught.value.problems
    assert problem.code == "policy-file-unreadable"
    assert problem.location is not None
    assert problem.location.file.endswith("policy/users.yaml")
    assert "No such file" in problem.message


# ------------------------------------------------------------------ links and look-alikes


def test_a_linked_subfolder_is_read_like_a_folder(tmp_path: Path) -> None:
    shared = tmp_path / "shared-rules"
    shared.mkdir()
    (shared / "rules.yaml").write_text("automatic_alerts: []\n")
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "settings.yaml").write_text("settings: {}\n")
    (policy / "trust").symlink_to(shared, target_is_directory=True)
    assert sorted(read_directory(policy).files) == ["settings.yaml", "trust/rules.yaml"]


def test_a_link_cycle_is_an_error_naming_the_link(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    (policy / "academies").mkdir(parents=True)
    (policy / "settings.yaml").write_text("settings: {}\n")
    (policy / "academies" / "loop").symlink_to(policy, target_is_directory=True)
    with pytest.raises(PolicyError) as caught:
        read_directory(policy)
    [problem] = caught.value.problems
    assert problem.code == "policy-link-cycle"
    assert problem.location is not None
    assert problem.location.file.endswith("policy/academies/loop")
    assert "a folder it is inside" in problem.message


def test_a_configmap_volume_is_read_through_its_links(tmp_path: Path) -> None:
    volume = configmap(tmp_path / "cm", "2026_01_01", {"settings.yaml": "settings: {}\n"})
    source = read_directory(volume)
    assert dict(source.files) == {"settings.yaml": b"settings: {}\n"}


def test_stamps_change_when_a_configmap_or_a_policy_link_is_swapped(tmp_path: Path) -> None:
    volume = configmap(tmp_path / "cm", "v1", {"settings.yaml": "settings: {}\n"})
    before = file_stamps(volume)
    assert file_stamps(volume) == before
    configmap(volume, "v2", {"settings.yaml": "settings: {}\n"})
    assert file_stamps(volume) != before

    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "a.yaml").write_text("{}\n")
    shutil.copytree(tmp_path / "v1", tmp_path / "v2")
    (tmp_path / "current").symlink_to("v1")
    linked = file_stamps(tmp_path / "current")
    (tmp_path / "next").symlink_to("v2")
    (tmp_path / "next").replace(tmp_path / "current")
    assert file_stamps(tmp_path / "current") != linked


def test_files_that_look_like_policy_but_are_not_read_are_named(tmp_path: Path) -> None:
    for name in (
        "users.yaml",
        "rules.YAML",
        "staff.Yml",
        "users.yml.bak",
        "rules.yaml~",
        "notes.txt",
        ".drafts/self-harm.yaml",
        ".hidden.yaml",
        ".users.yaml.swp",
        ".git/config.yml",
        "..2026_01_01/users.yaml",
        "tests/case.YAML",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}\n")
    found = {p.value: p for p in unread_lookalikes(tmp_path)}
    assert sorted(found) == [
        ".drafts/self-harm.yaml",
        ".hidden.yaml",
        "rules.YAML",
        "rules.yaml~",
        "staff.Yml",
        "users.yml.bak",
    ]
    assert all(p.severity == "warning" and p.code == "policy-file-not-read" for p in found.values())
    assert "rename it to rules.yaml" in found["rules.YAML"].message
    assert "hidden folder .drafts" in found[".drafts/self-harm.yaml"].message
