"""Bad input on a real server: always a 4xx naming what is wrong, cheap, and never a
forged log line; and a start that cannot work refused with exit code 2."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alertpolicy.engine.check.incident import MAX_TEXT_LENGTH
from tests.helpers import ALERTPOLICY, REPO
from tests.serve.support import SMALL_SCHOOL, Server, free_port, incident, wait_until

pytestmark = pytest.mark.slow

GOOD = incident("small-school-bullying")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("bad-input")
    server = Server(workdir, SMALL_SCHOOL, "--header-timeout", "1", "--max-header-bytes", "4096")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def post(server: Server, body: bytes) -> tuple[int, dict[str, object]]:
    response = server.client.post(
        "/v1/decisions", content=body, headers={"Content-Type": "application/json"}
    )
    return response.status_code, response.json()


def with_students(value: object) -> bytes:
    return json.dumps({**GOOD, "students": value}).encode()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (with_students(5), 422, "students"),
        (with_students(True), 422, "students"),
        (with_students([7]), 422, "students.0"),
        (json.dumps(GOOD).replace('"S1001"', "1e999").encode(), 400, ""),
        (json.dumps(GOOD).replace('"S1001"', '"\\ud800"').encode(), 422, "students.0.id"),
        (json.dumps(GOOD).replace('"7A"', '"7A\\udbff"').encode(), 422, "students.0.groups.0"),
        (json.dumps(GOOD).replace('"INC-2026-0042"', '"\\udfffINC"').encode(), 422, "id"),
        (b'{"id": "' + b"x" * (MAX_TEXT_LENGTH + 1) + b'"}', 422, "id"),
        (b"[" * 1000 + b"]" * 1000, 400, ""),
        (json.dumps({**GOOD, "metadata": {"note": 1e400}}).encode(), 400, ""),
    ],
)
def test_bad_incidents_are_4xx_naming_the_field(
    server: Server, body: bytes, status: int, field: str
) -> None:
    got, answer = post(server, body)
    assert got == status
    errors = answer["errors"]
    assert isinstance(errors, list) and errors
    assert field in [error["field"] for error in errors]


def test_the_548_kb_incident_is_refused_at_once(server: Server) -> None:
    students = [
        {"id": f"S{i:05}", "groups": [f"Group {j}" for j in range(100)]} for i in range(500)
    ]
    body = json.dumps({**GOOD, "students": students}).encode()
    assert len(body) > 540_000
    server.client.headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    response = server.client.post("/v1/decisions", content=body)
    elapsed = time.perf_counter() - started
    del server.client.headers["Content-Type"]
    assert response.status_code == 422
    assert {e["code"] for e in response.json()["errors"]} == {"too-many-items"}
    assert elapsed < 2.0  # refused before any work: not the 2.2 s the engine took


def test_headers_over_the_limit_are_431(server: Server) -> None:
    response = server.client.get("/healthz", headers={"X-Padding": "x" * 8000})
    assert response.status_code == 431
    assert "4096 bytes" in response.json()["errors"][0]["message"]


def test_headers_sent_too_slowly_are_408(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.2)
        conn.sendall(b"X-Slow: 1\r\n")
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"did not arrive within 1 s" in answer


def test_a_silent_connection_is_closed(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        started = time.monotonic()
        answer = conn.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 5


def test_an_idle_keep_alive_connection_is_not_a_slow_request(server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for _ in range(2):
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            assert response.status == 200 and response.read() == b'{"status":"ok"}'
            time.sleep(1.5)  # idle past the header timeout, within uvicorn's keep-alive
    finally:
        conn.close()


def test_control_characters_never_forge_a_log_line(server: Server) -> None:
    forged = "INC-1\n2026-01-01 00:00:00,000 INFO alertpolicy.serve: decision incident=FORGED"
    response = server.decide({**GOOD, "id": forged})
    assert response.status_code == 200
    server.client.get("/v1/policy%0A2026-01-01%20FORGED%20path")
    assert wait_until(lambda: "GET /v1/policy" in server.log())  # its access line is written
    lines = server.log().splitlines()
    assert not any(line.startswith("2026-01-01 00:00:00") for line in lines)
    assert not any("FORGED path" in line and not line.startswith("20") for line in lines)
    assert any("incident=INC-1\\n2026-01-01" in line for line in lines)


def test_the_reload_route_refuses_a_body_it_does_not_understand(server: Server) -> None:
    for body in (b'{"accept": 7}', b'{"revision": "x"}', b"[]"):
        response = server.client.post("/-/reload", content=body)
        assert response.status_code == 422
    assert server.client.post("/-/reload", content=b"{").status_code == 400
    assert server.client.post("/-/reload", content=b"x" * 5000).status_code == 413


# ------------------------------------------------------------------- start-up


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ALERTPOLICY, "serve", "--policy", str(SMALL_SCHOOL), "--state-dir", "none", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_busy_port_exits_2_with_a_clear_message() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = serve("--port", str(busy.getsockname()[1]))
    assert done.returncode == 2
    assert "cannot listen on 127.0.0.1:" in done.stderr
    assert "Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_token_file_others_can_read_is_warned_about(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("secret\n")
    token.chmod(0o644)
    server = start("--token-file", str(token))
    assert "can be read by other users" in server.log()
    private = tmp_path / "private-token"
    private.write_text("secret\n")
    private.chmod(0o600)
    quiet = start("--token-file", str(private))
    assert "can be read by other users" not in quiet.log()


def test_an_empty_token_file_exits_2(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("\n")
    done = serve("--token-file", str(token), "--port", str(free_port()))
    assert done.returncode == 2 and "is empty" in done.stderr
