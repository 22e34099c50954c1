"""A serving process is tuned for large answers: it keeps the memory they need, and its
revision's memory is backed by huge pages."""

from __future__ import annotations

import json
import platform
import re
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.serve.fleet_support import SchoolsServer, trust_copy
from tests.serve.support import (
    SMALL_SCHOOL,
    Server,
    descendants,
    incident,
    read_answers,
    request,
)

pytestmark = pytest.mark.slow


def many_reasons_policy(target: Path, rules: int = 3000) -> Path:
    """The small school where ``rules`` automatic alerts on Bullying each reach the DSLs
    and the pastoral team: a Bullying incident's answer is about a megabyte of reasons."""
    shutil.copytree(SMALL_SCHOOL, target)
    lines = ["automatic_alerts:"]
    lines += [
        f"  - {{id: bullying-{n}, notify: {{users: [jsmith, pdavies, mokafor, rbrown]}}, "
        "when: {categories: [Bullying]}}"
        for n in range(rules)
    ]
    (target / "bullying-lists.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc",
    reason="the tuning sets glibc's malloc thresholds; other C libraries are left alone",
)
@pytest.mark.parametrize("workers", [1, 2])
def test_large_answers_do_not_fault_their_memory_in_again_each_time(
    start: Callable[..., Server], tmp_path: Path, workers: int
) -> None:
    policy = many_reasons_policy(tmp_path / "policy")
    server = start("--log-level", "warning", "--workers", str(workers), policy=policy)
    processes = {server.process.pid} | descendants(server.process.pid)
    body = json.dumps(incident("small-school-bullying")).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(request(body))
        [(_, answer)] = read_answers(conn, 1)
        assert len(answer) > 1_000_000
        before = minor_faults(processes)
        for _ in range(20):
            conn.sendall(request(body))
            [(status, again)] = read_answers(conn, 1)
            assert (status, again) == (b"HTTP/1.1 200 OK", answer)
        faults = minor_faults(processes) - before
    # An answer's text alone spans about 250 pages; faulting them in again each time
    # (the C library's default) is thousands over 20 answers, whichever worker answers.
    assert faults < 20 * 50, f"{faults} page faults for 20 answers"


def minor_faults(processes: set[int]) -> int:
    """How many minor page faults ``processes`` have taken (``/proc/PID/stat``, field 10)."""
    stats = (Path(f"/proc/{pid}/stat").read_text() for pid in processes)
    return sum(int(stat.rsplit(")", 1)[1].split()[7]) for stat in stats)


def huge_pages_mode() -> str:
    """When this machine's kernel gives transparent huge pages: ``always``, ``madvise``
    (on request only) or ``never`` (also where it has none)."""
    enabled = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    chosen = re.search(r"\[(\w+)\]", enabled.read_text()) if enabled.exists() else None
    return chosen[1] if chosen else "never"


def huge_pages_unavailable() -> str | None:
    """Why this machine's kernel cannot back a process's memory with huge pages on
    request (``MADV_COLLAPSE``: Linux 6.1), or ``None`` when it can."""
    if huge_pages_mode() == "never":
        return "transparent huge pages are turned off on this machine"
    major, minor = (int(part) for part in platform.release().split(".")[:2])
    if (major, minor) < (6, 1):
        return f"Linux {platform.release()} cannot collapse memory into huge pages (6.1 can)"
    return None


@pytest.mark.skipif(huge_pages_unavailable() is not None, reason=str(huge_pages_unavailable()))
@pytest.mark.parametrize("workers", [1, 2])
def test_each_process_deciding_has_its_revision_backed_by_huge_pages(
    start: Callable[..., Server], workers: int
) -> None:
    server = start("--log-level", "warning", "--workers", str(workers), policy=SMALL_SCHOOL)
    processes = {server.process.pid} | descendants(server.process.pid)
    backed = {pid: huge_pages_mb(pid) for pid in processes}
    # Each process answering decisions (the server itself, or each worker) holds its
    # revision and the interpreter's objects in several whole huge pages (2 MiB each).
    assert sum(mb >= 8 for mb in backed.values()) == workers, backed


@pytest.mark.skipif(
    huge_pages_mode() != "madvise",
    reason="only where huge pages are given on request alone is their absence ours",
)
def test_a_service_of_many_schools_keeps_its_small_revisions_in_ordinary_pages(
    tmp_path: Path,
) -> None:
    schools = trust_copy(tmp_path / "policies")
    server = SchoolsServer(tmp_path, "--policies", str(schools), "--state-dir", "none")
    try:
        server.wait_ready()
        processes = {server.process.pid} | descendants(server.process.pid)
        assert {pid: huge_pages_mb(pid) for pid in processes} == dict.fromkeys(processes, 0)
    finally:
        server.stop()


def huge_pages_mb(pid: int) -> float:
    """How much of ``pid``'s private memory huge pages back, in MiB."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    [line] = [line for line in rollup.splitlines() if line.startswith("AnonHugePages:")]
    return int(line.split()[1]) / 1024
