"""The parts of a fleet on loopback, for the fleet's test and its benchmark: replicas of
``alertpolicy serve`` each on its own loopback address, and HAProxy running
``deploy/haproxy.cfg`` (Debian's haproxy) in front of them."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
from pathlib import Path

import httpx

from tests.helpers import ALERTPOLICY, REPO
from tests.serve.support import free_port


class Replica:
    """``alertpolicy serve`` of the repository's folder of schools on its own address."""

    def __init__(self, workdir: Path, number: int, *source: str) -> None:
        self.name = f"replica{number}"
        self.host = f"127.0.0.{number + 1}"
        self.port = free_port()
        self.address = f"{self.host}:{self.port}"
        self.state = workdir / f"state-{number}"
        self.log = workdir / f"{self.name}.log"
        self.source = source
        """Where the policies come from: ``serve``'s arguments (``--policy-git`` ...)."""
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        command = [ALERTPOLICY, "serve", "--host", self.host, "--port", str(self.port)]
        command += [*self.source, "--state-dir", str(self.state), "--log-level", "warning"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=out)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://{self.address}{path}", timeout=10)

    def ready(self) -> bool:
        try:
            return self.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False

    def serving(self) -> dict[str, str]:
        """Each school's revision serving, from this replica's metrics (git, revision)."""
        found = {}
        for line in self.get("/metrics").text.splitlines():
            if line.startswith("alertpolicy_config_info{") and line.endswith(" 1.0"):
                labels = dict(
                    part.split("=", 1)
                    for part in line[line.index("{") + 1 : line.index("}")]
                    .replace('"', "")
                    .split(",")
                )
                found[labels["school"]] = labels["revision"]
        return found

    def decisions(self) -> dict[str, float]:
        """Decisions this replica answered, by school (from its metrics)."""
        found: dict[str, float] = {}
        for line in self.get("/metrics").text.splitlines():
            if line.startswith("alertpolicy_decisions_total{") and 'outcome="accepted"' in line:
                school = line.split('school="')[1].split('"')[0]
                found[school] = found.get(school, 0) + float(line.rsplit(" ", 1)[1])
        return found

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Proxy:
    """HAProxy running ``deploy/haproxy.cfg`` in the foreground, before the replicas."""

    def __init__(self, workdir: Path, replicas: list[Replica]) -> None:
        """HAProxy's three server lines name ``replicas`` in turn (one replica: all three
        lines name it)."""
        self.url = f"http://127.0.0.1:{free_port()}"
        self.stats = f"http://127.0.0.1:{free_port()}/stats;csv"
        env = {
            "PATH": os.environ["PATH"] + ":/usr/sbin:/sbin",
            "ALERTPOLICY_LISTEN": self.url.removeprefix("http://"),
            "ALERTPOLICY_STATS": self.stats.removeprefix("http://").split("/")[0],
            **{
                f"ALERTPOLICY_REPLICA_{n}": replicas[(n - 1) % len(replicas)].address
                for n in (1, 2, 3)
            },
        }
        self.log = workdir / "haproxy.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                ["haproxy", "-db", "-f", str(REPO / "deploy" / "haproxy.cfg")],
                env=env,
                stdout=out,
                stderr=out,
            )

    def servers(self) -> dict[str, dict[str, str]]:
        """HAProxy's view of each replica: status, check status and code, retries."""
        try:
            text = httpx.get(self.stats, timeout=5).text.lstrip("# ")
        except httpx.TransportError:
            return {}
        rows = csv.DictReader(io.StringIO(text))
        return {
            r["svname"]: r
            for r in rows
            if r["pxname"] == "replicas"
            and r["svname"]
            not in (
                "FRONTEND",
                "BACKEND",
            )
        }

    def status(self, replica: Replica) -> str:
        return self.servers().get(replica.name, {}).get("status", "")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
