"""A service killed outright (``kill -9``, the out-of-memory killer) leaves its scratch
folders behind; the next service started removes them, and never a live one's."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.serve.support import Server, descendants

pytestmark = pytest.mark.slow


def scratch(tmp: Path) -> set[str]:
    """The service's scratch folders in the temporary folder ``tmp``."""
    return {p.name for p in tmp.glob("alertpolicy-*")}


def test_the_next_start_removes_what_a_killed_service_left_and_keeps_a_live_ones(
    start: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    killed = start("--workers", "2", "--state-dir", "none")
    left = scratch(tmp)
    assert {name.split("-")[1] for name in left} >= {"builds", "state", "metrics", "parsed"}
    alive = start()
    alive_folders = scratch(tmp) - left
    assert alive_folders, "a single-process service keeps the files its reload child parsed"
    for pid in {killed.process.pid} | descendants(killed.process.pid):
        os.kill(pid, signal.SIGKILL)
    killed.process.wait()
    assert scratch(tmp) == left | alive_folders  # nothing could remove them

    after = start()
    assert scratch(tmp) & left == set()
    assert alive_folders <= scratch(tmp)
    for name in sorted(left):
        assert f"removed {tmp / name}, left by a service that was killed" in after.log()
    assert alive.recipients() == after.recipients()  # the live service still decides
