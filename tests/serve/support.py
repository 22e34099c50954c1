"""What the service tests share: ``alertpolicy serve`` run for real, and waiting for it."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.helpers import ALERTPOLICY, REPO, TESTDATA, incident

SMALL_SCHOOL = TESTDATA / "policies" / "small-school"
ServerT = TypeVar("ServerT", bound="Server")
RELOAD_CHILD = "policy-reload"
"""The name reload children go by (``engine/serve/reloadchild.py``)."""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass (for effects outside the test)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


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


def watch_list_policy(target: Path, rules: int = 4000) -> Path:
    """The small school with a watch list of ``rules`` students, one rule each: a policy
    whose reload child works for a good fraction of a second (long enough to be seen)."""
    shutil.copytree(SMALL_SCHOOL, target)
    lines = ["automatic_alerts:"]
    lines += [
        f"  - {{id: watch-{n}, notify: {{users: [jsmith]}}, when: {{students: [W{n}]}}}}"
        for n in range(rules)
    ]
    (target / "watch-list.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory (``VmHWM``: its highest) in MB; 0 once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_tree() -> dict[int, tuple[int, str]]:
    """Every live process: its parent and its name (Linux ``/proc``)."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        found[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), name)
    return found


def descendants(root: int, name: str | None = None) -> set[int]:
    """Processes started (directly or not) by ``root``, named ``name`` if given."""
    tree = process_tree()
    found: set[int] = set()
    frontier = {root}
    while frontier:
        children = {pid for pid, (parent, _) in tree.items() if parent in frontier}
        frontier = children - found
        found |= children
    return {pid for pid in found if name is None or tree.get(pid, (0, ""))[1] == name}


class ChildKiller:
    """Watches the reload children of ``root`` from a thread of its own: :attr:`seen`
    lists every one it saw, and it kills (as the OOM killer would) up to ``limit`` of
    them, listed in :attr:`killed` (``limit=0``: it only watches)."""

    def __init__(self, root: int, limit: int) -> None:
        self.root = root
        self.limit = limit
        self.seen: set[int] = set()
        self.killed: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ChildKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in descendants(self.root, RELOAD_CHILD) - self.seen:
                self.seen.add(pid)
                if len(self.killed) >= self.limit:  # two workers' children may be seen at once
                    continue
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                self.killed.append(pid)
            time.sleep(0.005)


def configmap(root: Path, version: str, files: dict[str, str]) -> Path:
    """A Kubernetes ConfigMap volume: ``..<version>/`` holds the files, ``..data`` links to
    it, and each file at the root links through ``..data`` (as the kubelet lays it out)."""
    folder = root / f"..{version}"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    link = root / "..data_tmp"
    link.symlink_to(folder.name)
    link.replace(root / "..data")
    for name in files:
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")
    return root


def edit(policy: Path, old: str, new: str, file: str = "users.yaml") -> None:
    """Replace text in a policy file, as an admin's edit would."""
    path = policy / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new), encoding="utf-8")


class Server:
    """``alertpolicy serve`` as a subprocess, with an httpx client pointed at it.

    Its state directory defaults to one of its own (``XDG_STATE_HOME`` in ``workdir``).
    """

    def __init__(self, workdir: Path, policy: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.policy = policy
        self.workdir = workdir
        self.output = workdir / f"server-{self.port}.log"
        command = [ALERTPOLICY, "serve", "--policy", str(policy)]
        command += ["--port", str(self.port), *args]
        env = {**os.environ, "XDG_STATE_HOME": str(workdir / "state")}
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def ready(self) -> bool:
        """Whether /readyz answers 200."""
        try:
            return self.client.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Wait for /readyz, failing with the server's output if it exits or times out."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.ready():
                return
            time.sleep(0.05)
        pytest.fail(f"server not ready:\n{self.log()}")

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.output.read_text(encoding="utf-8", errors="replace")

    def status(self, **headers: str) -> dict[str, Any]:
        """``GET /v1/policy``."""
        data: dict[str, Any] = self.client.get("/v1/policy", headers=headers).json()
        return data

    def revision(self, **headers: str) -> str | None:
        """The revision /v1/policy says is serving."""
        revision: str | None = self.status(**headers)["revision"]
        return revision

    def held(self, **headers: str) -> dict[str, Any] | None:
        """What /v1/policy says is held, or ``None``."""
        held: dict[str, Any] | None = self.status(**headers)["held"]
        return held

    def decide(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        """``POST /v1/decisions``."""
        return self.client.post("/v1/decisions", json=body, headers=headers)

    def recipients(self, name: str = "small-school-bullying") -> list[str]:
        """Who the server alerts about a fixture incident now."""
        response = self.decide(incident(name))
        assert response.status_code == 200, response.text
        return [r["user"] for r in response.json()["recipients"]]

    def metric(self, line_start: str) -> float | None:
        """The value of the first /metrics sample line starting with ``line_start``."""
        text = self.client.get("/metrics", headers={"Connection": "close"}).text
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return None

    def samples(self, name: str) -> dict[str, float]:
        """Every sample of the metric ``name`` in ``/metrics``: labels -> value."""
        text = self.client.get("/metrics", headers={"Connection": "close"}).text
        found = {}
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                labels, value = line.rsplit(" ", 1)
                found[labels[len(name) :]] = float(value)
        return found

    def by_worker(self, school: str | None = None) -> dict[str, str]:
        """The revision each worker process serves (of ``school``), as ``/metrics`` has
        them: pid -> revision (one entry, pid ``""``, without workers).  Unlike asking
        over HTTP, where any worker may answer, this sees every worker."""
        found = {}
        for labels, value in self.samples("alertpolicy_config_info").items():
            if value != 1.0 or (school is not None and f'school="{school}"' not in labels):
                continue
            pid = re.search(r'pid="(\d+)"', labels)
            revision = re.search(r'revision="([^"]+)"', labels)
            assert revision, labels
            found[pid.group(1) if pid else ""] = revision.group(1)
        return found

    def every_worker_serves(self, revision: str, workers: int, school: str | None = None) -> bool:
        """Whether each of ``workers`` worker processes serves ``revision`` (of ``school``)."""
        serving = self.by_worker(school)
        return len(serving) == workers and set(serving.values()) == {revision}

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server and wait for it."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def serving(make: Callable[..., ServerT]) -> Iterator[Callable[..., ServerT]]:
    """For a fixture: a starter of servers made by ``make`` (waiting until each is ready
    unless ``ready=False``); every one is stopped after the test."""
    servers: list[ServerT] = []

    def starter(*args: str, ready: bool = True, **options: Any) -> ServerT:
        server = make(*args, **options)
        servers.append(server)
        if ready:
            server.wait_ready()
        return server

    yield starter
    for server in servers:
        server.stop()


def read_locked(path: Path) -> bytes:
    """``path``'s bytes, read under a shared ``flock``, as a reader that cooperates with the
    decision log's writers does (they append under an exclusive one)."""
    with path.open("rb") as file:
        fcntl.flock(file, fcntl.LOCK_SH)
        try:
            return file.read()
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; the file that did it."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(descriptor, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(descriptor)
    return filler
