"""Which file changes concern the policy, and how requests for reloads are coalesced."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from alertpolicy.engine.serve.scheduler import ReloadScheduler
from alertpolicy.engine.serve.watcher import PolicyWatcher, is_policy_path
from tests.serve.support import SMALL_SCHOOL, edit, wait_until


@pytest.mark.parametrize(
    ("relative", "is_dir", "relevant"),
    [
        ("users.yaml", False, True),
        ("academies/north/users.yml", False, True),
        ("academies", True, True),
        ("notes.txt", False, False),
        (".users.yaml.swp", False, False),
        (".git/index", False, False),
        ("tests/bullying.yaml", False, False),
        ("tests", True, False),
        ("..data", False, True),
        ("..2026_01_01_09_00_00.1/users.yaml", False, True),
        ("", True, True),
    ],
)
def test_which_changes_concern_the_policy(relative: str, is_dir: bool, relevant: bool) -> None:
    root = Path("/srv/policy")
    path = str(root / relative) if relative else str(root)
    assert is_policy_path(root, path, is_dir) is relevant
    assert not is_policy_path(root, "/srv/README.md", False)


class Reloads:
    """A stand-in for the coordinator's reload: records each call (force or not)."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.calls: list[bool] = []
        self.seconds = seconds
        self.lock = threading.Lock()
        self.started = threading.Event()

    def __call__(self, force: bool) -> None:
        self.started.set()
        time.sleep(self.seconds)
        with self.lock:
            self.calls.append(force)


def test_a_burst_of_requests_is_one_reload_after_the_quiet_period() -> None:
    reloads = Reloads()
    scheduler = ReloadScheduler(reloads, debounce=0.2)
    scheduler.start()
    try:
        for _ in range(50):
            scheduler.request()
        assert wait_until(lambda: reloads.calls == [False], seconds=5)
        time.sleep(0.3)
        assert reloads.calls == [False]
    finally:
        scheduler.stop()


def test_a_forced_request_stays_forced_when_coalesced_and_runs_at_once() -> None:
    reloads = Reloads(seconds=0.3)
    scheduler = ReloadScheduler(reloads, debounce=3600)
    scheduler.start()
    try:
        scheduler.request(immediate=True)
        assert reloads.started.wait(timeout=5)  # the first reload is running
        scheduler.request()
        scheduler.request(immediate=True, force=True)
        assert wait_until(lambda: len(reloads.calls) == 2, seconds=5)
        assert reloads.calls == [False, True]
    finally:
        scheduler.stop()


def test_an_edit_is_reported_once_by_events_and_poll_together(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    shutil.copytree(SMALL_SCHOOL, policy)
    requests: list[float] = []
    watcher = PolicyWatcher(policy, lambda: requests.append(time.monotonic()), poll=0.2)
    watcher.start()
    try:
        edit(policy, "Tom Teach", "Tom Watched")
        assert wait_until(lambda: bool(requests), seconds=5)
        time.sleep(1.0)  # several polls: none reports the change again
        first = requests[0]
        assert all(moment - first < 0.5 for moment in requests)
    finally:
        watcher.stop()
