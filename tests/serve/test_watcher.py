"""Which file changes concern the policy, and a change reported once."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

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
