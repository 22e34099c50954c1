"""How answers leave a real server: whole, in order, each in one write."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.serve.support import Server, incident, read_answers, request

pytestmark = pytest.mark.slow


def test_pipelined_requests_are_each_answered_whole_and_in_order(
    start: Callable[..., Server],
) -> None:
    server = start()
    ids = [f"INC-PIPELINED-{n}" for n in range(5)]
    bodies = [json.dumps({**incident("small-school-bullying"), "id": i}).encode() for i in ids]
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(b"".join(request(body) for body in bodies))
        answers = read_answers(conn, len(ids))
    assert [status for status, _ in answers] == [b"HTTP/1.1 200 OK"] * len(ids)
    assert [json.loads(body)["incident"] for _, body in answers] == ids


def test_an_answer_is_written_in_one_system_call(start: Callable[..., Server]) -> None:
    server = start("--log-level", "warning")  # no access log: the socket is all it writes
    io = Path(f"/proc/{server.process.pid}/io")
    if not os.access(io, os.R_OK):
        pytest.skip("this system does not count a process's writes in /proc/PID/io")
    body = json.dumps(incident("small-school-bullying")).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(request(body))
        read_answers(conn, 1)
        before = writes(io)
        for _ in range(20):
            conn.sendall(request(body))
            [(status, _)] = read_answers(conn, 1)
            assert status == b"HTTP/1.1 200 OK"
        assert writes(io) - before < 30  # one write an answer, where head and body were two


def writes(io: Path) -> int:
    """How many write system calls the process has made."""
    return int(next(line for line in io.read_text().splitlines() if line.startswith("syscw:"))[6:])
