"""Failures a real server meets: a reload child killed, the engine failing, a full disk.

None of them may cost a decision's correctness: a request the engine could not decide is
answered 503, never with fewer recipients, and the service says it is not ready until it
has repaired itself; a full disk delays the decision log, never a decision.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alertpolicy.engine.load.files import read_directory, revision_of
from tests.serve.support import (
    ChildKiller,
    Server,
    edit,
    fill,
    incident,
    memory_mb,
    read_locked,
    wait_until,
    watch_list_policy,
)

pytestmark = pytest.mark.slow

TEAM = ["jsmith", "mokafor", "pdavies", "rbrown"]


# ------------------------------------------------------------------- reload children


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_killed_reload_child_is_retried_in_a_new_child(
    start: Callable[..., Server], tmp_path: Path, workers: str
) -> None:
    policy = watch_list_policy(tmp_path / "watched")
    server = start("--workers", workers, "--debounce-ms", "100", policy=policy, copy=False)
    edit(server.policy, "Tom Teach", "Tom Retried")
    with ChildKiller(server.process.pid, limit=1) as killer:
        assert wait_until(lambda: killer.killed != [], seconds=30)
    edited = revision_of(read_directory(server.policy))
    assert wait_until(lambda: server.every_worker_serves(edited, int(workers)), seconds=60)
    chosen = {**incident("small-school-bullying"), "alerts": {"users": ["tteach"]}}
    assert "Tom Retried" in server.decide(chosen).text
    assert "reload child failed (attempt 1 of 3)" in server.log()
    assert "killed by SIGKILL" in server.log()
    assert server.metric("alertpolicy_reload_child_failures_total") == 1


def test_when_every_retry_is_killed_the_reload_fails_and_the_old_revision_serves(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    policy = watch_list_policy(tmp_path / "watched")
    server = start("--debounce-ms", "3600000", policy=policy, copy=False)
    serving = server.revision()
    before = memory_mb(server.process.pid)
    edit(server.policy, "Tom Teach", "Tom Unlucky")
    with ChildKiller(server.process.pid, limit=3) as killer:
        response = server.client.post("/-/reload", timeout=120)
    assert len(killer.killed) == 3
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["code"] == "reload-child-failed"
    assert "3 attempts" in error["message"] and "SIGKILL" in error["message"]
    assert server.revision() == serving and server.recipients() == TEAM
    assert memory_mb(server.process.pid) < before + 50  # never loaded in the server instead
    assert server.client.post("/-/reload").status_code == 200  # the next one works
    assert server.revision() != serving


# ------------------------------------------------------------------- the engine


class EngineSabotage:
    """gdb attached to a server, making every call into durable-rules' C core that
    asserts facts (``assertFacts``) return 101, its out-of-memory error, until stopped.

    A real failure of the real engine, from outside the process: nothing in the shipped
    code knows about it.  Stopping interrupts gdb, which then removes its breakpoint and
    detaches, leaving the server running as before.
    """

    SCRIPT = "\n".join(
        [
            "set confirm off",
            "set pagination off",
            "break assertFacts",
            "commands",
            "silent",
            "return (unsigned int)101",
            "continue",
            "end",
            "continue",
        ]
    )

    def __init__(self, pid: int, workdir: Path) -> None:
        script = workdir / "sabotage.gdb"
        script.write_text(self.SCRIPT + "\n", encoding="utf-8")
        self.gdb = subprocess.Popen(
            ["gdb", "-q", "-nx", "-batch", "-p", str(pid), "-x", str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self.armed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.gdb.stdout is not None
        for line in self.gdb.stdout:
            self.output.append(line)
            if line.startswith("Breakpoint 1 at"):
                self.armed.set()

    def stop(self) -> None:
        if self.gdb.poll() is None:
            self.gdb.send_signal(signal.SIGINT)
            self.gdb.wait(timeout=60)
        self._reader.join(timeout=10)


@pytest.fixture
def sabotage(tmp_path: Path) -> Iterator[Callable[[int], EngineSabotage]]:
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed (apt-get install gdb)")
    made: list[EngineSabotage] = []

    def attach(pid: int) -> EngineSabotage:
        sabotage = EngineSabotage(pid, tmp_path)
        made.append(sabotage)
        if not sabotage.armed.wait(timeout=60):
            sabotage.stop()
            pytest.skip(f"gdb cannot attach here: {''.join(sabotage.output)[-300:]}")
        return sabotage

    yield attach
    for sabotage in made:
        sabotage.stop()


def test_an_engine_failure_is_a_503_then_the_revision_is_rebuilt(
    start: Callable[..., Server], sabotage: Callable[[int], EngineSabotage]
) -> None:
    server = start()
    serving = server.revision()
    failing = sabotage(server.process.pid)

    response = server.decide(incident("small-school-bullying"))
    assert response.status_code == 503  # never a decision with fewer recipients
    assert response.headers["Retry-After"] == "1"
    assert "engine failed" in response.json()["errors"][0]["message"]
    ready = server.client.get("/readyz")
    assert ready.status_code == 503
    assert "rebuilding" in ready.json()["reason"]
    status = server.status()
    assert status["ready"] is False and "policy engine" in status["not_ready"]
    assert server.decide(incident("small-school-bullying")).status_code == 503
    assert server.client.get("/healthz").status_code == 200
    assert wait_until(lambda: "rebuilding it failed" in (server.status()["not_ready"] or ""))

    failing.stop()
    assert wait_until(lambda: server.ready(), seconds=30), server.log()
    assert server.recipients() == TEAM
    assert server.revision() == serving
    assert server.metric('alertpolicy_decisions_total{code="not_ready",outcome="unavailable"}')
    assert server.metric("alertpolicy_ready") == 1
    assert "Traceback" not in server.log()


# ------------------------------------------------------------------- the decision log


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_disk_never_costs_a_decision_nor_tears_a_line(
    start: Callable[..., Server], small_disk: Path, workers: str
) -> None:
    log_file = small_disk / "decisions.jsonl"
    server = start("--workers", workers, "--decision-log", str(log_file))
    for n in range(3):
        assert server.decide({**incident("serve-looked-after"), "id": f"INC-A{n}"}).is_success
    assert wait_until(lambda: log_file.read_bytes().count(b"INC-A") == 3)
    filler = fill(small_disk)
    fresh = {"Connection": "close"}  # new connections: every worker answers some
    for n in range(60):
        response = server.decide({**incident("serve-looked-after"), "id": f"INC-B{n}"}, **fresh)
        assert response.status_code == 200
    assert wait_until(lambda: (server.metric("alertpolicy_decision_log_errors_total") or 0) > 0)
    errors = {server.status(**fresh)["decision_log"]["last_error"] for _ in range(8)}
    assert any("No space left on device" in (error or "") for error in errors)
    assert server.ready()
    for line in read_locked(log_file).splitlines():
        json.loads(line)  # whole lines only, while the disk is full

    filler.unlink()
    assert wait_until(lambda: log_file.read_bytes().count(b'"INC-B') == 60, seconds=30)
    lines = [json.loads(line) for line in read_locked(log_file).splitlines()]
    ids = sorted(line["incident"] for line in lines if line["event"] == "decision")
    assert ids == sorted([f"INC-A{n}" for n in range(3)] + [f"INC-B{n}" for n in range(60)])
    assert server.metric("alertpolicy_decision_log_dropped_total") == 0
    data = log_file.read_bytes()
    for secret in (b"S1042", b"S7731-PRIVATE", b"Year 8", b"8C", b"Amelia Hart"):
        assert secret not in data
    assert os.stat(log_file).st_mode & 0o077 == 0
