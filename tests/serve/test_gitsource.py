"""Policies served from git (``serve --policy-git REPO --ref main``): each commit pushed is
fetched and loaded as one revision naming it, through every check and the coverage guard;
a fetch that fails changes nothing; with ``--policies``, a commit reloads only the schools
it changed."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import ALERTPOLICY, REPO
from tests.serve.fleet_support import (
    SchoolsServer,
    TrustRepository,
    rewrite,
    schools_servers,
    self_harm,
)
from tests.serve.support import wait_until

pytestmark = pytest.mark.slow

Start = Callable[..., SchoolsServer]


@pytest.fixture
def repo(tmp_path: Path) -> TrustRepository:
    return TrustRepository(tmp_path / "git")


@pytest.fixture
def start(tmp_path: Path, repo: TrustRepository) -> Iterator[Start]:
    """Start services of ``repo`` (polled every 0.2 s unless told); all stopped after."""
    yield from schools_servers(tmp_path, "--policy-git", str(repo.bare), "--git-poll", "0.2")


def tom(server: SchoolsServer) -> str:
    """What the single policy served calls tteach (chosen by hand)."""
    body = {"id": "I-1", "categories": ["Bullying"], "students": [{"id": "S1"}]}
    body["alerts"] = {"users": ["tteach"]}  # type: ignore[assignment]
    # A new connection each time: with several workers, any of them may answer.
    recipients = server.decide(body, Connection="close").json()["recipients"]
    return str(next(r["name"] for r in recipients if r["user"] == "tteach"))


def commits_by_worker(server: SchoolsServer) -> dict[str, str]:
    """The commit each worker's revision names, from ``/metrics``: pid -> commit."""
    return {pid: revision.rsplit(" git:", 1)[-1] for pid, revision in server.by_worker().items()}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_pushed_commit_is_served_naming_it(
    start: Start, repo: TrustRepository, workers: str
) -> None:
    server = start("--policy", "policy", "--workers", workers)
    first = server.status()
    assert first["git"] == repo.first[:12]
    assert first["source"]["ref"] == "main"
    rewrite(repo.work / "policy" / "users.yaml", "Tom Teach", "Tom Pushed")
    commit = repo.push("Tom's name")
    assert wait_until(lambda: {c for c in commits_by_worker(server).values()} == {commit[:12]})
    assert len(commits_by_worker(server)) == int(workers)
    assert tom(server) == "Tom Pushed"
    status = server.status()
    assert status["git"] == commit[:12]
    assert status["revision"].endswith(f" git:{commit[:12]}")
    assert status["source"]["commit"] == commit
    fetches = server.samples("alertpolicy_git_fetches_total")
    assert fetches['{result="success"}'] >= 2 and fetches['{result="failure"}'] == 0


def test_a_commit_elsewhere_in_the_repository_changes_no_revision(
    start: Start, repo: TrustRepository
) -> None:
    server = start("--policy", "policy")
    before = server.revision()
    (repo.work / "README.md").write_text("How our policies are reviewed\n")
    commit = repo.push("A readme")
    assert wait_until(lambda: server.status()["source"]["commit"] == commit)
    assert server.revision() == before


def test_reload_fetches_at_once(start: Start, repo: TrustRepository) -> None:
    server = start("--policy", "policy", "--git-poll", "3600")
    rewrite(repo.work / "policy" / "users.yaml", "Tom Teach", "Tom Told")
    commit = repo.push("Tom's name")
    assert tom(server) == "Tom Teach"
    response = server.client.post("/-/reload")
    assert response.status_code == 200 and response.json()["revision"].endswith(commit[:12])
    assert tom(server) == "Tom Told"


def serving_commit(server: SchoolsServer) -> str:
    """The commit the revision serving names, from ``/metrics`` (one worker)."""
    [commit] = commits_by_worker(server).values()
    return commit


def test_a_forced_reload_that_fetches_a_new_commit_reloads_once(
    start: Start, repo: TrustRepository
) -> None:
    server = start("--policy", "policy", "--git-poll", "3600")
    key = '{result="success"}'
    before = server.samples("alertpolicy_config_reloads_total")[key]
    rewrite(repo.work / "policy" / "users.yaml", "Tom Teach", "Tom Told")
    commit = repo.push("Tom's name")
    response = server.client.post("/-/reload")
    assert response.status_code == 200 and response.json()["revision"].endswith(commit[:12])
    # SIGHUP's reload runs on the reload thread, after any reload the fetch asked of it.
    rewrite(repo.work / "policy" / "users.yaml", "Tom Told", "Tom Hung-up")
    second = repo.push("Tom's name again")
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: serving_commit(server) == second[:12])
    assert server.samples("alertpolicy_config_reloads_total")[key] == before + 2
    assert tom(server) == "Tom Hung-up"


def test_looking_at_every_school_reloads_each_once(start: Start, repo: TrustRepository) -> None:
    server = start("--policies", "schools", "--git-poll", "3600")
    before = server.samples("alertpolicy_config_reloads_total")
    schools = {labels for labels in before if 'result="success"' in labels}
    assert len(schools) == 2, before

    def look(old: str, new: str, looks: int) -> None:
        """Push a new name for riverside's DSL; look at every school; wait for them all."""
        rewrite(repo.work / "schools" / "riverside" / "users.yaml", old, new)
        commit = repo.push(f"Riverside: the DSL's name, {looks}")[:12]
        assert server.client.post("/-/reload").status_code == 202
        assert wait_until(lambda: server.revisions()["riverside"].endswith(f"git:{commit}"))
        assert wait_until(
            lambda: all(
                server.samples("alertpolicy_config_reloads_total")[s] >= before[s] + looks
                for s in schools
            )
        )

    look("Joan Smart", "Joan Fetched", 1)
    look("Joan Fetched", "Joan Looked", 2)
    after = server.samples("alertpolicy_config_reloads_total")
    assert {s: after[s] - before[s] for s in schools} == dict.fromkeys(schools, 2.0)


def test_an_invalid_commit_is_not_served_and_a_fix_is(start: Start, repo: TrustRepository) -> None:
    server = start("--policy", "policy")
    good = server.revision()
    rewrite(repo.work / "policy" / "users.yaml", "user_group: DSL,", "user_group: DSLz,")
    repo.push("A typo")
    assert wait_until(lambda: server.status()["last_reload"]["ok"] is False)
    error = server.status()["last_reload"]["errors"][0]
    assert error["file"] == "main:policy/users.yaml" and error["value"] == "DSLz"
    assert server.revision() == good
    rewrite(repo.work / "policy" / "users.yaml", "user_group: DSLz,", "user_group: DSL,")
    rewrite(repo.work / "policy" / "users.yaml", "Tom Teach", "Tom Fixed")
    fixed = repo.push("The typo fixed")
    assert wait_until(lambda: server.status()["git"] == fixed[:12])
    assert tom(server) == "Tom Fixed"


def test_the_guard_holds_a_commit_that_deletes_rules(start: Start, repo: TrustRepository) -> None:
    server = start("--policy", "policy")
    serving = server.revision()
    (repo.work / "policy" / "automatic_alerts.yaml").unlink()
    commit = repo.push("Rules removed by mistake")
    assert wait_until(lambda: server.held() is not None)
    held = server.held()
    assert held is not None and held["revision"].endswith(commit[:12])
    assert server.revision() == serving


def test_an_unreachable_repository_keeps_the_revision_serving(
    start: Start, repo: TrustRepository, tmp_path: Path
) -> None:
    server = start("--policy", "policy")
    serving = server.revision()
    moved = tmp_path / "elsewhere.git"
    repo.bare.rename(moved)
    assert wait_until(lambda: server.status()["source"]["last_error"] is not None)
    assert "cannot fetch" in server.status()["source"]["last_error"]
    assert server.revision() == serving
    assert server.samples("alertpolicy_git_fetches_total")['{result="failure"}'] >= 1
    assert server.client.get("/readyz").status_code == 200
    moved.rename(repo.bare)
    assert wait_until(lambda: server.status()["source"]["last_error"] is None)


def test_a_repository_that_cannot_be_fetched_at_start_is_refused(tmp_path: Path) -> None:
    server = SchoolsServer(tmp_path, "--policy-git", str(tmp_path / "none.git"))
    assert server.process.wait(timeout=60) == 2
    assert "cannot fetch" in server.log()


def test_a_commit_reloads_only_the_schools_it_changes(start: Start, repo: TrustRepository) -> None:
    server = start("--policies", "schools")
    before = server.revisions()
    reloads = server.samples("alertpolicy_config_reloads_total")
    rewrite(repo.work / "schools" / "riverside" / "users.yaml", "Joan Smart", "Joan Pushed")
    commit = repo.push("Riverside: a name")
    assert wait_until(lambda: server.revisions()["riverside"] != before["riverside"])
    assert server.revisions()["riverside"].endswith(f"git:{commit[:12]}")  # type: ignore[union-attr]
    assert server.revisions()["oakfield"] == before["oakfield"]
    after = server.samples("alertpolicy_config_reloads_total")
    oakfield = '{result="success",school="oakfield"}'
    assert after[oakfield] == reloads[oakfield]
    rewrite(repo.work / "schools" / "trust" / "safeguarding.yaml", "Helen Wright", "Helen W")
    trust = repo.push("The trust lead's name")
    assert wait_until(
        lambda: all(r and r.endswith(f"git:{trust[:12]}") for r in server.revisions().values())
    )
    names = {
        r["user"]: r["name"]
        for r in server.decide_for("oakfield", self_harm()).json()["recipients"]
    }
    assert names["hwright"] == "Helen W"


def test_a_commit_is_listed_once_however_many_schools_there_are(
    start: Start, repo: TrustRepository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(6):
        shutil.copytree(repo.work / "schools" / "oakfield", repo.work / "schools" / f"academy-{n}")
    repo.push("Six academies join the trust")
    runs = tmp_path / "git-runs.log"
    shim = tmp_path / "bin" / "git"  # the real git, each run written down
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\necho "$*" >> {runs}\nexec {shutil.which("git")} "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")
    server = start("--policies", "schools")
    before = server.revisions()
    seen = len(runs.read_text().splitlines())
    rewrite(repo.work / "schools" / "riverside" / "users.yaml", "Joan Smart", "Joan Listed")
    commit = repo.push("Riverside: a name")[:12]
    assert wait_until(lambda: server.revisions()["riverside"].endswith(f"git:{commit}"))
    after = runs.read_text().splitlines()[seen:]
    listed = [run for run in after if " ls-tree " in f" {run} "]
    walked = [run for run in after if " log " in f" {run} "]
    assert len(listed) == 1 and len(walked) == 1, after
    assert {s: r for s, r in server.revisions().items() if s != "riverside"} == {
        s: r for s, r in before.items() if s != "riverside"
    }


def test_a_school_added_by_a_commit_is_served(start: Start, repo: TrustRepository) -> None:
    server = start("--policies", "schools")
    shutil.copytree(repo.work / "schools" / "oakfield", repo.work / "schools" / "lakeside")
    repo.push("Lakeside joins the trust")
    assert wait_until(lambda: "lakeside" in server.revisions())
    assert wait_until(lambda: server.school("lakeside")["ready"] is True)


def test_post_reload_fetches_and_looks_at_every_school_at_once(
    start: Start, repo: TrustRepository
) -> None:
    server = start("--policies", "schools", "--git-poll", "3600")
    before = server.revisions()
    rewrite(repo.work / "schools" / "riverside" / "users.yaml", "Joan Smart", "Joan Fetched")
    commit = repo.push("Riverside: the DSL's name")[:12]
    assert server.revisions() == before  # not polled for an hour
    assert server.client.post("/-/reload").status_code == 202
    assert wait_until(lambda: server.revisions()["riverside"].endswith(f"git:{commit}"))
    assert server.revisions()["oakfield"] == before["oakfield"]


def test_the_command_line_refuses_policy_with_policies(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run(
        [ALERTPOLICY, "serve", "--policy", "p", "--policies", "q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "give --policy (one policy) or --policies (schools), not both" in done.stderr
