"""Reload children: the policy they build is the one built here; when one dies, another
is tried, a bounded number of times, and the policy is never loaded in this process."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from alertpolicy.engine.audit.guard import coverage_of
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.decide.compiled import CompiledPolicy, compile_policy
from alertpolicy.engine.errors import PolicyError, ReloadWorkerFailed
from alertpolicy.engine.load.files import read_directory
from alertpolicy.engine.model import Policy
from alertpolicy.engine.serve.buildcache import BuildCache
from alertpolicy.engine.serve.builder import RevisionBuilder
from tests.helpers import TESTDATA
from tests.serve.fleet_support import SchoolsServer, trust_copy
from tests.serve.support import (
    RELOAD_CHILD,
    ChildKiller,
    Server,
    descendants,
    edit,
    fill,
    wait_until,
    watch_list_policy,
)

GOOD = TESTDATA / "policies" / "eval-school"
BAD = TESTDATA / "policies" / "unknown-user-group"
SLOW = pytest.mark.slow

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/comm").exists(), reason="needs Linux /proc"),
]


def test_a_revision_built_in_a_child_is_the_one_built_here() -> None:
    candidate = RevisionBuilder().build(read_directory(GOOD))
    assert candidate.policy == load_policy(GOOD)
    assert candidate.policy.users["jsmith"].location == load_policy(GOOD).users["jsmith"].location
    assert candidate.coverage == coverage_of(load_policy(GOOD))
    assert RevisionBuilder(with_coverage=False).build(read_directory(GOOD)).coverage is None


def test_an_invalid_policy_raises_every_error_located() -> None:
    with pytest.raises(PolicyError) as raised:
        RevisionBuilder().build(read_directory(BAD))
    with pytest.raises(PolicyError) as here:
        load_policy(BAD)
    assert raised.value.problems == here.value.problems
    assert raised.value.problems[0].location is not None


def test_a_full_disk_keeps_nothing_for_the_other_workers_and_the_revision_still_builds(
    small_disk: Path,
) -> None:
    fill(small_disk)
    builder = RevisionBuilder(cache=BuildCache(small_disk))
    candidate = builder.build(read_directory(GOOD))
    assert candidate.policy == load_policy(GOOD)
    assert not list(small_disk.glob("*.pickle")) and not list(small_disk.glob(".*"))


def test_a_killed_child_is_retried_in_a_new_one(tmp_path: Path) -> None:
    policy = watch_list_policy(tmp_path / "policy")
    failures: list[str] = []
    builder = RevisionBuilder(backoff=0.05, on_child_failure=failures.append)
    with ChildKiller(os.getpid(), limit=1) as killer:
        candidate = builder.build(read_directory(policy))
    assert len(killer.killed) == 1
    assert len(candidate.policy.automatic_alerts) == 4006
    assert failures == ["the reload child was killed by SIGKILL before it answered"]


def test_when_every_child_is_killed_the_build_fails_and_says_so(tmp_path: Path) -> None:
    policy = watch_list_policy(tmp_path / "policy")
    failures: list[str] = []
    builder = RevisionBuilder(attempts=3, backoff=0.05, on_child_failure=failures.append)
    with ChildKiller(os.getpid(), limit=3) as killer, pytest.raises(ReloadWorkerFailed) as raised:
        builder.build(read_directory(policy))
    assert len(killer.killed) == 3 and len(failures) == 3
    assert "no reload child gave an answer in 3 attempts" in str(raised.value)
    assert "killed by SIGKILL" in str(raised.value)
    assert not descendants(os.getpid(), RELOAD_CHILD)


def test_a_child_that_does_not_answer_in_time_is_stopped(tmp_path: Path) -> None:
    policy = watch_list_policy(tmp_path / "policy", rules=20_000)
    builder = RevisionBuilder(attempts=1, timeout=0.2)
    with pytest.raises(ReloadWorkerFailed, match=r"did not answer within 0\.2 s"):
        builder.build(read_directory(policy))
    assert not descendants(os.getpid(), RELOAD_CHILD)


def test_children_run_at_a_lower_priority(tmp_path: Path) -> None:
    policy = watch_list_policy(tmp_path / "policy")
    seen: list[int] = []

    def watch() -> None:
        while not seen:
            for pid in descendants(os.getpid(), RELOAD_CHILD):
                try:
                    seen.append(os.getpriority(os.PRIO_PROCESS, pid))
                except ProcessLookupError:
                    continue

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    RevisionBuilder(niceness=7).build(read_directory(policy))
    watcher.join(timeout=5)
    assert seen and seen[0] == min(os.getpriority(os.PRIO_PROCESS, 0) + 7, 19)


def test_a_revision_compiled_while_its_summary_is_made_is_the_one_built_here() -> None:
    compiled: list[CompiledPolicy] = []

    def compile_it(policy: Policy) -> CompiledPolicy:
        compiled.append(compile_policy(policy))
        return compiled[-1]

    candidate = RevisionBuilder().build(read_directory(GOOD), True, compile_it)
    assert candidate.policy == load_policy(GOOD)
    assert candidate.coverage == coverage_of(load_policy(GOOD))
    assert candidate.compiled is not None and [candidate.compiled] == compiled
    assert candidate.compiled.policy == candidate.policy
    candidate.compiled.close()
    with pytest.raises(PolicyError):
        RevisionBuilder().build(read_directory(BAD), True, compile_it)
    assert len(compiled) == 1  # nothing is compiled for an invalid policy


@pytest.mark.parametrize(
    "options",
    [
        pytest.param((), id="one process"),
        pytest.param(("--workers", "2", "--state-dir", "none"), id="two workers", marks=SLOW),
    ],
)
def test_a_service_stopped_by_sigterm_leaves_no_temporary_files_behind(
    start: Callable[..., Server],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: tuple[str, ...],
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # where the server keeps its temporary files
    server = start(*options)
    before = server.revision()
    edit(server.policy, "Tom Teach", "Tom Edited")
    assert wait_until(lambda: server.revision() != before, seconds=30)
    assert list(temp.glob("alertpolicy-*")), "the service keeps temporary files while it runs"
    server.stop(signal.SIGTERM)
    assert server.process.returncode == 0, server.log()  # a stop asked for is a clean exit
    assert sorted(p.name for p in temp.iterdir()) == []


@SLOW
def test_a_service_of_schools_stopped_by_sigterm_leaves_no_temporary_files_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    schools = trust_copy(tmp_path / "policies")
    server = SchoolsServer(tmp_path, "--policies", str(schools), "--state-dir", "none")
    try:
        server.wait_ready()
        assert list(temp.glob("alertpolicy-builds-*")), "the schools' build cache is in use"
    finally:
        server.stop(signal.SIGTERM)
    assert server.process.returncode == 0, server.log()
    assert sorted(p.name for p in temp.iterdir()) == []
