"""Benchmark the HTTP service under load while its policy is rewritten (run on demand).

    python -m tests.bench.bench_serve [--scale trust|school] [--duration 20]
        [--workers 1,2] [--connections 16] [--rewrites 20] [--each-reload]

For each worker count: generates the policy (tests.bench.generate; not timed), starts
``cli.py serve`` on 127.0.0.1, waits for /readyz, then runs wrk for ``--duration`` seconds
posting a rotating set of generated incidents (tests/bench/post_incidents.lua) while a
thread rewrites one policy file ``--rewrites`` times (each a real, valid change: a member
of staff's name). Prints decisions/s, p50/p99 latency, failed requests (non-2xx and socket
errors), the policy reloads that succeeded during the run (from /metrics, added up over the
workers), whether every worker ends on the last revision written, and each deciding
process's memory (resident set) once ready and after the load.  Rewrites closer
together than a reload takes are coalesced into one reload; with ``--each-reload`` every
rewrite waits until all workers serve the previous one, and the load runs (at least
``--duration`` seconds) until the last rewrite is served, so each one is a reload.
Targets: 2,000 decisions/s with 2 workers (1,000 with 1), zero failures.

Needs wrk (https://github.com/wg/wrk). On Debian/Ubuntu:
``apt-get update && apt-get install -y wrk``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.load.files import read_directory, revision_of
from alertpolicy.engine.serve.tuning import collector_paused
from tests.bench.generate import SCALES, generate_incidents, generate_policy
from tests.serve.support import memory_mb

REPO = Path(__file__).resolve().parents[2]
LUA = Path(__file__).with_name("post_incidents.lua")
SUMMARY = re.compile(r"^BENCH (\{.*\})$", re.MULTILINE)
RELOADS = re.compile(r'^alertpolicy_config_reloads_total\{result="success"\} (\S+)$', re.M)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(policy: Path, workers: int, port: int, log: Path) -> subprocess.Popen:
    """``cli.py serve`` on ``port``, ready (waits for /readyz, up to 10 minutes)."""
    command = [sys.executable, "cli.py", "serve", "--policy", str(policy), "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning", "--state-dir", "none"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    sys.exit(f"server did not become ready:\n{log.read_text(errors='replace')}")


def workers_of(pid: int) -> list[int]:
    """The worker processes of the service ``pid`` (uvicorn starts them with spawn)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if parent == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return sorted(found)


def memory(pid: int) -> tuple[float, float]:
    """A process's resident set now and at its highest, in MB."""
    return memory_mb(pid), memory_mb(pid, "VmHWM")


def users_file(policy: Path) -> Path:
    """The first per-academy users file of a generated policy."""
    return sorted(policy.rglob("users.yaml"))[0]


def served_everywhere(port: int, revision: str, samples: int = 10) -> bool:
    """Whether ``samples`` answers of /v1/policy (each on a new connection) all name it."""
    url = f"http://127.0.0.1:{port}/v1/policy"
    answers = {
        httpx.get(url, headers={"Connection": "close"}, timeout=30).json()["revision"]
        for _ in range(samples)
    }
    return answers == {revision}


def rewrite(
    policy: Path, times: int, every: float, stop: threading.Event, port: int | None = None
) -> list[str]:
    """Rename one member of staff ``times`` times, ``every`` seconds apart; the revisions.

    With ``port``, each rewrite also waits until every worker there serves it.
    """
    path = users_file(policy)
    original = path.read_text(encoding="utf-8")
    name = re.search(r"name: ([A-Z][a-z]+ [A-Z][a-z]+)", original)
    assert name, "no staff name found to rename"
    revisions = []
    for n in range(1, times + 1):
        if stop.wait(every):
            break
        changed = original.replace(name.group(0), f"{name.group(0)}-{n}", 1)
        temporary = path.with_name(".users.yaml.tmp")
        temporary.write_text(changed, encoding="utf-8")
        temporary.replace(path)  # atomic, as editors and git do
        revisions.append(revision_of(read_directory(policy)))
        while port is not None and not stop.is_set() and not served_everywhere(port, revisions[-1]):
            stop.wait(0.1)
    return revisions


def successful_reloads(port: int) -> int:
    """Successful policy reloads so far, added up over the workers (from /metrics)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    count = RELOADS.search(text)
    if not count:
        sys.exit(f"no reload count in /metrics:\n{text}")
    return int(float(count.group(1)))


def start_wrk(port: int, args: argparse.Namespace, incidents: Path) -> subprocess.Popen:
    """wrk posting to /v1/decisions for ``--duration`` seconds (an hour with --each-reload,
    stopped by :func:`finish_wrk`)."""
    seconds = 3600 if args.each_reload else args.duration
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}/v1/decisions",
        "--",
        str(incidents),
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_wrk(wrk: subprocess.Popen, interrupt: bool) -> dict:
    """Wait for wrk (interrupting it first if asked: it then reports so far); its summary."""
    if interrupt:
        wrk.send_signal(signal.SIGINT)
    stdout, stderr = wrk.communicate()
    match = SUMMARY.search(stdout)
    if not match:
        sys.exit(f"wrk printed no summary:\n{stdout}\n{stderr}")
    return json.loads(match.group(1))


def bench(policy: Path, workers: int, incidents: Path, args: argparse.Namespace) -> None:
    """One run: start, load with wrk while rewriting the policy, print the figures."""
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"bench_serve-{workers}w.log"
    started = time.monotonic()
    server = start_server(policy, workers, port, log)
    print(f"\n== {workers} worker(s): ready in {time.monotonic() - started:.1f} s")
    deciding = workers_of(server.pid) or [server.pid]  # one worker: the server decides
    at_start = [memory(pid)[0] for pid in deciding]
    before = successful_reloads(port)
    stop = threading.Event()
    revisions: list[str] = []
    every = args.duration / (args.rewrites + 1)
    wait_on = port if args.each_reload else None
    writer = threading.Thread(
        target=lambda: revisions.extend(rewrite(policy, args.rewrites, every, stop, wait_on))
    )
    load_started = time.monotonic()
    wrk = start_wrk(port, args, incidents)
    writer.start()
    try:
        if args.each_reload:
            writer.join()
            stop.wait(max(0.0, args.duration - (time.monotonic() - load_started)))
        summary = finish_wrk(wrk, interrupt=args.each_reload)
    finally:
        stop.set()
        writer.join()
        if wrk.poll() is None:
            wrk.kill()
    last = revisions[-1] if revisions else None
    settled = False
    deadline = time.monotonic() + 300
    while last and time.monotonic() < deadline and not settled:
        settled = served_everywhere(port, last)
        time.sleep(0.5)
    after = successful_reloads(port)
    now = [memory(pid) for pid in deciding]
    server.terminate()
    server.wait(timeout=120)
    report(summary, args, workers, before, after, len(revisions), settled)
    print(
        f"   memory per worker  at start {', '.join(f'{m:.0f} MB' for m in at_start)}; "
        f"after the load {', '.join(f'{m[0]:.0f} MB' for m in now)} (highest "
        f"{', '.join(f'{m[1]:.0f} MB' for m in now)})"
    )


def report(
    summary: dict,
    args: argparse.Namespace,
    workers: int,
    before: int,
    after: int,
    rewrites: int,
    settled: bool,
) -> None:
    """Print one run's figures."""
    errors = summary["errors"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    seconds = summary["duration_us"] / 1e6
    rate = summary["requests"] / seconds
    p50, p99 = summary["p50_us"] / 1000, summary["p99_us"] / 1000
    size = summary["bytes"] / max(summary["requests"], 1) / 1024
    failures = errors["status"] + socket_errors
    ok = rate >= (2000 if workers >= 2 else 1000) and failures == 0
    lines = [
        f"decisions/s        {rate:,.0f}  ({summary['requests']} in {seconds:.1f} s)",
        f"latency p50 / p99  {p50:.1f} ms / {p99:.1f} ms (max {summary['max_us'] / 1000:.1f} ms)",
        f"response size      {size:.1f} KiB on average",
        f"failed requests    {errors['status']} non-2xx, {socket_errors} socket errors",
        f"policy rewrites    {rewrites}",
        f"reloads completed  {after - before} over {workers} worker(s) (rewrites closer "
        f"together than a reload takes are coalesced into one)",
        f"every worker on the last revision written, afterwards: {settled if rewrites else 'n/a'}",
        f"targets (2,000/s with 2 workers, 1,000/s with 1; no failures): "
        f"{'met' if ok else 'NOT met'}",
    ]
    print("\n".join(f"   {line}" for line in lines))


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="trust")
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per run")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, e.g. 1,2")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rewrites", type=int, default=20, help="policy rewrites per run")
    parser.add_argument("--incidents", type=int, default=500, help="distinct incidents posted")
    parser.add_argument(
        "--each-reload",
        action="store_true",
        help="make each rewrite wait until every worker serves the previous one, and keep "
        "the load on until the last is served (at least --duration seconds)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get update && apt-get install -y wrk (or github.com/wg/wrk)")
    with tempfile.TemporaryDirectory(prefix="bench_serve-") as tmp:
        source = generate_policy(Path(tmp) / "generated", args.scale)
        incidents = Path(tmp) / "incidents.jsonl"
        with collector_paused():
            loaded = load_policy(source)
        lines = [json.dumps(i) for i in generate_incidents(loaded, args.incidents)]
        incidents.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"python -m tests.bench.bench_serve {' '.join(argv or sys.argv[1:])}")
        print(f"{args.scale} policy, {args.incidents} incidents, {args.connections} connections")
        for workers in (int(w) for w in args.workers.split(",")):
            policy = Path(tmp) / f"policy-{workers}w"
            shutil.copytree(source, policy)
            bench(policy, workers, incidents, args)


if __name__ == "__main__":
    main()
