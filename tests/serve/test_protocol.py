"""How answers leave a real server: whole, in order, each in one write."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.serve.support import Server, incident

pytestmark = pytest.mark.slow


def request(body: bytes) -> bytes:
    """A keep-alive ``POST /v1/decisions`` carrying ``body``."""
    return (
        b"POST /v1/decisions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def read_answers(conn: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """``count`` answers read from ``conn``: (status line, body) each."""
    data, answers = b"", []
    while len(answers) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end != -1:
            head = data[:head_end].decode("latin-1").split("\r\n")
            length = next(
                int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:")
            )
            end = head_end + 4 + length
            if len(data) >= end:
                answers.append((head[0].encode(), data[head_end + 4 : end]))
                data = data[end:]
                continue
        chunk = conn.recv(65536)
        assert chunk, "the server closed the connection before answering"
        data += chunk
    assert data == b"", "the server sent more than it was asked for"
    return answers


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
