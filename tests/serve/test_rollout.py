"""Safe rollout on a real server: a change that would alert fewer people is held, shown,
and served only when accepted by name; the guard remembers across restarts; every worker
agrees."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alertpolicy.engine.load.files import read_directory, revision_of
from tests.serve.support import SMALL_SCHOOL, Server, descendants, edit, incident, wait_until

pytestmark = pytest.mark.slow

TEAM = ["jsmith", "mokafor", "pdavies", "rbrown"]
"""Who the small school alerts about a Year 7 bullying incident."""


def on_disk(server: Server) -> str:
    return revision_of(read_directory(server.policy))


def held_revision(server: Server) -> str | None:
    """The revision held, as any worker answers (a new connection each time)."""
    held = server.held(Connection="close")
    return held["revision"] if held else None


def accept(server: Server, revision: str) -> tuple[int, dict[str, object]]:
    response = server.client.post("/-/reload", json={"accept": revision})
    return response.status_code, response.json()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_deleted_rules_file_is_held_until_accepted(
    start: Callable[..., Server], workers: str
) -> None:
    server = start("--workers", workers, "--debounce-ms", "100")
    serving = server.revision()
    (server.policy / "automatic_alerts.yaml").unlink()
    candidate = on_disk(server)
    held_line = f"policy revision {candidate} held by the coverage guard"
    assert wait_until(lambda: server.log().count(held_line) == int(workers))  # every worker
    fresh = {"Connection": "close"}
    assert held_revision(server) == candidate
    held = server.held()
    assert held is not None
    codes = {reason["code"] for reason in held["reasons"]}
    assert {"guard-file-lost", "guard-routes-lost", "guard-warning-added"} <= codes
    lost = next(r for r in held["reasons"] if r["code"] == "guard-file-lost")
    assert lost["location"].endswith("automatic_alerts.yaml:1:1")
    assert server.every_worker_serves(serving, int(workers))
    assert server.recipients() == TEAM  # decisions keep every recipient
    assert server.metric("alertpolicy_config_held") == 1
    assert server.log().count(held_line) == int(workers)  # one line each, however often asked

    status, body = accept(server, "sha256:0123456789abcdef")
    assert status == 409 and candidate in body["errors"][0]["message"]
    status, body = accept(server, candidate)
    assert status == 200 and body["revision"] == candidate and body["held"] is None
    assert wait_until(lambda: server.every_worker_serves(candidate, int(workers)))
    assert server.held(**fresh) is None
    assert server.recipients() == ["jsmith", "pdavies"]  # only the DSLs chosen by hand
    assert wait_until(lambda: server.metric("alertpolicy_config_held") == 0)


def test_a_file_emptied_for_a_moment_is_never_served(start: Callable[..., Server]) -> None:
    server = start("--debounce-ms", "50")
    serving = server.revision()
    rules = server.policy / "automatic_alerts.yaml"
    text = rules.read_text(encoding="utf-8")
    revisions: set[str] = set()
    rules.write_text("", encoding="utf-8")
    assert wait_until(lambda: server.held() is not None)
    for _ in range(20):
        revisions.add(server.decide(incident("small-school-bullying")).json()["policy_revision"])
    rules.write_text(text, encoding="utf-8")
    assert wait_until(lambda: server.held() is None)
    assert revisions == {serving} and server.revision() == serving
    assert server.recipients() == TEAM


def test_a_later_fix_replaces_the_held_revision(start: Callable[..., Server]) -> None:
    server = start("--debounce-ms", "100")
    rules = server.policy / "automatic_alerts.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.unlink()
    assert wait_until(lambda: server.held() is not None)
    rules.write_text(text, encoding="utf-8")
    edit(server.policy, "Tom Teach", "Tom Fixed")
    assert wait_until(lambda: server.revision() == on_disk(server))
    assert server.held() is None


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_restart_on_a_policy_that_lost_its_rules_serves_the_kept_revision(
    start: Callable[..., Server], tmp_path: Path, workers: str
) -> None:
    state = tmp_path / "kept"
    first = start("--state-dir", str(state), "--workers", workers)
    kept = first.revision()
    first.stop()
    (first.policy / "automatic_alerts.yaml").unlink()

    again = start("--state-dir", str(state), "--workers", workers, policy=first.policy, copy=False)
    assert wait_until(lambda: again.log().count("held by the coverage guard") == int(workers))
    assert again.every_worker_serves(kept, int(workers))
    assert held_revision(again) == on_disk(again)
    assert again.recipients() == TEAM


@pytest.fixture
def read_only_policy(tmp_path: Path) -> Iterator[Path]:
    """The small school on a read-only bind mount (as a ConfigMap or a release is)."""
    source = tmp_path / "release"
    shutil.copytree(SMALL_SCHOOL, source)
    target = tmp_path / "policy"
    target.mkdir()
    done = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(source), str(target)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {done.stderr.decode().strip()}")
    try:
        if os.access(target, os.W_OK) and _writable(target):
            pytest.skip("the bind mount is not read-only here")
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


def _writable(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("x")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def test_the_default_state_directory_works_with_a_read_only_policy(
    start: Callable[..., Server], tmp_path: Path, read_only_policy: Path
) -> None:
    server = start(policy=read_only_policy, copy=False)
    kept = list((tmp_path / "state" / "alertpolicy").glob("accepted-*.json"))
    assert len(kept) == 1 and server.revision() in kept[0].read_text(encoding="utf-8")


def test_state_dir_none_warns_that_restarts_forget(start: Callable[..., Server]) -> None:
    server = start("--state-dir", "none")
    assert "--state-dir none" in server.log()


def test_an_unusable_state_directory_exits_2(start: Callable[..., Server], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    server = start("--state-dir", str(blocker / "state"), ready=False)
    assert server.process.wait(timeout=60) == 2
    assert "cannot use the state directory" in server.log()


def test_no_coverage_guard_serves_any_valid_revision(start: Callable[..., Server]) -> None:
    server = start("--no-coverage-guard", "--debounce-ms", "100")
    (server.policy / "automatic_alerts.yaml").unlink()
    assert wait_until(lambda: server.revision() == on_disk(server))
    assert server.held() is None
    assert server.status()["coverage_guard"]["enabled"] is False


def test_sighup_and_post_reload_rebuild_an_unchanged_revision(
    start: Callable[..., Server],
) -> None:
    server = start("--debounce-ms", "3600000")
    loaded = server.status()["loaded_at"]
    response = server.client.post("/-/reload")
    assert response.status_code == 200 and response.json()["changed"] is False
    rebuilt = server.status()["loaded_at"]
    assert rebuilt != loaded
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: server.status()["loaded_at"] != rebuilt)


def test_a_held_revision_is_accepted_by_every_worker(start: Callable[..., Server]) -> None:
    server = start("--workers", "2", "--debounce-ms", "100")
    edit(
        server.policy,
        "enforce_at_least_one_alert: true",
        "enforce_at_least_one_alert: false",
        "settings.yaml",
    )
    candidate = on_disk(server)
    held_line = f"policy revision {candidate} held by the coverage guard"
    assert wait_until(lambda: server.log().count(held_line) == 2)  # by each worker
    serving = server.by_worker()
    status, _ = accept(server, candidate)  # on one worker; the other learns of it
    assert status == 200
    assert wait_until(lambda: server.every_worker_serves(candidate, 2))
    assert candidate not in serving.values()
    assert wait_until(lambda: server.metric("alertpolicy_config_held") == 0)


def test_workers_stop_when_their_supervisor_is_killed(start: Callable[..., Server]) -> None:
    server = start("--workers", "2")
    everything = descendants(server.process.pid)  # workers, forkservers, trackers
    assert len(everything) >= 2
    server.process.kill()  # SIGKILL: the supervisor cannot stop its workers itself
    server.process.wait()
    assert wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in everything))
