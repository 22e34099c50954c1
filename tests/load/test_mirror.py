"""A local copy of a ref, fetched on demand; and which commit last changed a folder."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from alertpolicy.engine.errors import PolicyError
from alertpolicy.engine.load.git import last_change, last_changes, read_git
from alertpolicy.engine.load.mirror import GitMirror, mirror_folder, redact, source_url
from tests.helpers import TESTDATA, git

SMALL_SCHOOL = TESTDATA / "policies" / "small-school"


@pytest.fixture
def upstream(tmp_path: Path) -> tuple[Path, Path]:
    """A bare repository (as a git server holds it) and a clone pushing to it."""
    bare = tmp_path / "upstream.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    git(work, "checkout", "-q", "-b", "main")
    shutil.copytree(SMALL_SCHOOL, work / "policy")
    (work / "README.md").write_text("Oakfield's alert policy\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Policy")
    git(work, "push", "-q", "origin", "main")
    return bare, work


def commit_and_push(work: Path, path: str, text: str, message: str) -> str:
    (work / path).write_text(text)
    git(work, "commit", "-q", "-am", message)
    git(work, "push", "-q", "--force", "origin", "main")
    return git(work, "rev-parse", "HEAD")


def test_fetch_follows_the_ref(upstream: tuple[Path, Path], tmp_path: Path) -> None:
    bare, work = upstream
    mirror = GitMirror(str(bare), "main", tmp_path / "mirror.git")
    assert mirror.fetched() is None
    first = mirror.fetch()
    assert first == git(work, "rev-parse", "HEAD") == mirror.fetched()
    second = commit_and_push(work, "README.md", "changed\n", "Readme")
    assert mirror.fetch() == second
    policy = read_git(mirror.folder, second, "policy")
    assert policy.files["users.yaml"] == (SMALL_SCHOOL / "users.yaml").read_bytes()


def test_a_force_push_is_followed(upstream: tuple[Path, Path], tmp_path: Path) -> None:
    bare, work = upstream
    mirror = GitMirror(str(bare), "main", tmp_path / "mirror.git")
    commit_and_push(work, "README.md", "one\n", "One")
    mirror.fetch()
    git(work, "reset", "-q", "--hard", "HEAD~1")
    rewritten = commit_and_push(work, "README.md", "two\n", "Two, instead")
    assert mirror.fetch() == rewritten


def test_an_unreachable_repository_or_ref_is_a_problem(
    upstream: tuple[Path, Path], tmp_path: Path
) -> None:
    bare, _work = upstream
    with pytest.raises(PolicyError) as raised:
        GitMirror(str(tmp_path / "nowhere.git"), "main", tmp_path / "m1.git").fetch()
    assert raised.value.problems[0].code == "git-fetch-failed"
    assert "cannot fetch" in str(raised.value)
    with pytest.raises(PolicyError) as raised:
        GitMirror(str(bare), "no-such-branch", tmp_path / "m2.git").fetch()
    assert raised.value.problems[0].code == "git-fetch-failed"
    with pytest.raises(PolicyError):
        GitMirror(str(bare), "--upload-pack=evil", tmp_path / "m3.git")


def test_processes_sharing_a_mirror_fetch_one_at_a_time(
    upstream: tuple[Path, Path], tmp_path: Path
) -> None:
    bare, work = upstream
    folder = tmp_path / "shared.git"
    head = git(work, "rev-parse", "HEAD")
    found: list[str] = []
    threads = [
        threading.Thread(target=lambda: found.append(GitMirror(str(bare), "main", folder).fetch()))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [head] * 4


def test_local_paths_are_made_absolute_and_urls_kept(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    assert source_url(str(tmp_path / "repo")) == str(tmp_path / "repo")
    assert source_url("https://git.example/trust/policy.git") == (
        "https://git.example/trust/policy.git"
    )
    assert source_url("git@git.example:trust/policy.git") == "git@git.example:trust/policy.git"
    assert mirror_folder(tmp_path, "a", "main") != mirror_folder(tmp_path, "a", "next")


def test_credentials_never_reach_the_log() -> None:
    assert redact("fatal: https://ci:s3cret@git.example/x.git not found") == (
        "fatal: https://***@git.example/x.git not found"
    )
    mirror = GitMirror("https://token@git.example/x.git", "main", Path("/nonexistent"))
    assert "token" not in mirror.shown


def test_the_commit_that_last_changed_a_folder(upstream: tuple[Path, Path]) -> None:
    _bare, work = upstream
    policy_commit = git(work, "rev-parse", "HEAD")
    head = commit_and_push(work, "README.md", "unrelated\n", "Readme only")
    assert last_change(work, head, ["policy"]) == policy_commit
    assert last_change(work, head, [""]) == head


def test_the_commit_that_last_changed_each_school(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for school in ("north", "south"):
        shutil.copytree(SMALL_SCHOOL, repo / "schools" / school)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Two schools")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "schools" / "north" / "users.yaml").write_text("users: {}\n")
    git(repo, "commit", "-q", "-am", "North only")
    north = git(repo, "rev-parse", "HEAD")
    assert last_changes(repo, north, "schools", "trust") == {"north": north, "south": first}
    (repo / "schools" / "trust").mkdir()
    (repo / "schools" / "trust" / "staff.yaml").write_text("users: {}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "A trust layer: every school changes")
    trust = git(repo, "rev-parse", "HEAD")
    assert last_changes(repo, trust, "schools", "trust") == {"north": trust, "south": trust}
