"""Benchmark one service of many school-scale policies (``serve --policies``), on demand.

    python -m tests.bench.bench_schools [--schools 1000] [--workers 2] [--duration 30]
        [--connections 16] [--rewrites 20] [--keep DIR]

Generates ``--schools`` school-scale policies (tests.bench.generate, seeds 0..N-1; not
timed; ``--keep DIR`` keeps them there and reuses them next time), starts ``alertpolicy
serve --policies`` on 127.0.0.1 with ``--workers`` and prints:

- start: seconds until ``/readyz`` is 200 (every school loaded), and each worker's memory
  (resident set) then, after the load, and at its highest;
- the load: wrk posting incidents to every school for ``--duration`` seconds (each request
  the next of a shuffled list of (school, incident) pairs; the incidents, generated from a
  few of the schools, name only what every generated school has), while one school's
  policy is rewritten ``--rewrites`` times (a member of staff renamed): decisions/s,
  p50/p99 latency, failed requests;
- that the rewritten school ends on its last revision on every worker, and that no other
  school's revision changed.

Targets (issue 13, 1,000 schools on 2 workers): start within 60 s, 2 GB per worker,
1,500 decisions/s with p99 within 25 ms, no failed request, no other school changed.
Needs wrk (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.load.files import revision_of
from alertpolicy.engine.load.schools import read_school
from alertpolicy.engine.serve.tuning import collector_paused
from tests.bench.bench_serve import finish_wrk, free_port, memory, workers_of
from tests.bench.generate import generate_incidents, generate_policy

REPO = Path(__file__).resolve().parents[2]
LUA = Path(__file__).with_name("post_school_incidents.lua")
ALERTPOLICY = str(Path(sys.executable).with_name("alertpolicy"))


def schools_folder(count: int, keep: Path | None) -> Path:
    """``count`` generated school-scale policies (reused from ``keep`` when there)."""
    folder = keep or Path(tempfile.mkdtemp(prefix="bench_schools-"))
    for n in range(count):
        school = folder / f"school-{n:04d}"
        if not (school / "users.yaml").exists():
            generate_policy(school, "school", seed=n)
    return folder


def requests_file(folder: Path, count: int, target: Path) -> int:
    """A shuffled list of (school, incident) pairs for wrk; how many there are.

    Incidents come from a few of the schools and keep only what every generated school
    has (categories, student groups, alert groups chosen by hand); each is sent to every
    school in turn.
    """
    incidents = []
    for n in range(min(5, count)):
        with collector_paused():
            policy = load_policy(folder / f"school-{n:04d}")
        for raw in generate_incidents(policy, 100, seed=n):
            raw.pop("reported_by", None)
            raw["alerts"]["users"] = []
            incidents.append(json.dumps(raw, separators=(",", ":")))
    rng = random.Random(0)
    lines = [f"school-{n:04d}\t{rng.choice(incidents)}" for n in range(count) for _ in range(10)]
    rng.shuffle(lines)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def revisions(port: int) -> dict[str, str]:
    """Each school's revision, as one worker answers ``GET /v1/schools``."""
    listing = httpx.get(
        f"http://127.0.0.1:{port}/v1/schools", headers={"Connection": "close"}, timeout=60
    ).json()
    return {entry["school"]: entry["revision"] for entry in listing["schools"]}


def rewrite(school: Path, times: int, every: float, stop: threading.Event) -> int:
    """Rename a member of staff of ``school`` ``times`` times, ``every`` seconds apart."""
    users = school / "users.yaml"
    original = users.read_text(encoding="utf-8")
    name = re.search(r"name: ([A-Z][a-z]+ [A-Z][a-z]+)", original)
    assert name, "no staff name to rename"
    done = 0
    for n in range(1, times + 1):
        if stop.wait(every):
            break
        temporary = users.with_name(".users.yaml.tmp")
        temporary.write_text(original.replace(name.group(0), f"{name.group(0)}-{n}", 1))
        temporary.replace(users)
        done += 1
    return done


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=30, help="seconds of load")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rewrites", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep the generated schools here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get update && apt-get install -y wrk")
    print(f"python -m tests.bench.bench_schools {' '.join(argv or sys.argv[1:])}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    folder = schools_folder(args.schools, args.keep)
    work = Path(tempfile.mkdtemp(prefix="bench_schools-run-"))
    pairs = requests_file(folder, args.schools, work / "requests.tsv")
    rewritten = folder / "school-0000"
    original = (rewritten / "users.yaml").read_text(encoding="utf-8")
    port = free_port()
    command = [ALERTPOLICY, "serve", "--policies", str(folder), "--port", str(port)]
    command += ["--workers", str(args.workers), "--log-level", "warning", "--state-dir", "none"]
    log = work / "server.log"
    started = time.monotonic()
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        run(args, server, port, started, pairs, work, rewritten)
    finally:
        server.terminate()
        server.wait(timeout=120)
        (rewritten / "users.yaml").write_text(original, encoding="utf-8")
        print(f"   server log: {log}")


def run(
    args: argparse.Namespace,
    server: subprocess.Popen[bytes],
    port: int,
    started: float,
    pairs: int,
    work: Path,
    rewritten: Path,
) -> None:
    """Wait for the service, load it while rewriting one school, print the figures."""
    url = f"http://127.0.0.1:{port}"
    while server.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    else:
        sys.exit(f"the service stopped:\n{(work / 'server.log').read_text()[-3000:]}")
    ready = time.monotonic() - started
    workers = workers_of(server.pid)
    at_start = {pid: memory(pid)[0] for pid in workers}
    print(f"\n== {args.schools} schools, {args.workers} worker(s): ready in {ready:.1f} s")
    print(f"   memory per worker at start: {', '.join(f'{m:.0f} MB' for m in at_start.values())}")
    before = revisions(port)
    stop = threading.Event()
    done: list[int] = []
    every = args.duration / (args.rewrites + 1)
    writer = threading.Thread(
        target=lambda: done.append(rewrite(rewritten, args.rewrites, every, stop))
    )
    wrk = subprocess.Popen(
        [
            *("wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"),
            *("--timeout", "10s", "-s", str(LUA), url, "--", str(work / "requests.tsv")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writer.start()
    summary = finish_wrk(wrk, interrupt=False)
    stop.set()
    writer.join()
    last = revision_of(read_school(rewritten.parent, rewritten.name, with_git=False))
    settled = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not settled:
        seen = [revisions(port) for _ in range(4 * args.workers)]
        settled = all(s["school-0000"] == last for s in seen)
        time.sleep(0.5)
    after = [revisions(port) for _ in range(4 * args.workers)]
    others_changed = {
        school
        for seen in after
        for school, revision in seen.items()
        if school != "school-0000" and revision != before.get(school)
    }
    report(summary, args, workers, at_start, pairs, done[0], settled, others_changed)


def report(
    summary: dict,  # type: ignore[type-arg]
    args: argparse.Namespace,
    workers: list[int],
    at_start: dict[int, float],
    pairs: int,
    rewrites: int,
    settled: bool,
    others_changed: set[str],
) -> None:
    """Print one run's figures."""
    errors = summary["errors"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    seconds = summary["duration_us"] / 1e6
    rate = summary["requests"] / seconds
    now = {pid: memory(pid) for pid in workers}
    lines = [
        f"decisions/s        {rate:,.0f}  ({summary['requests']} in {seconds:.1f} s, "
        f"{pairs} (school, incident) pairs over {args.schools} schools)",
        f"latency p50 / p99  {summary['p50_us'] / 1000:.1f} ms / {summary['p99_us'] / 1000:.1f} ms"
        f" (max {summary['max_us'] / 1000:.1f} ms)",
        f"failed requests    {errors['status']} non-2xx, {socket_errors} socket errors",
        f"memory per worker  now {', '.join(f'{m[0]:.0f} MB' for m in now.values())}; highest "
        f"{', '.join(f'{m[1]:.0f} MB' for m in now.values())} (at start "
        f"{', '.join(f'{m:.0f} MB' for m in at_start.values())})",
        f"policy rewrites    {rewrites} of school-0000; every worker on its last: {settled}",
        f"other schools whose revision changed: {len(others_changed)}",
        f"load average after: {os.getloadavg()[0]:.2f}",
    ]
    print("\n".join(f"   {line}" for line in lines))


if __name__ == "__main__":
    main()
