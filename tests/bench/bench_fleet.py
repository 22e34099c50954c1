"""Benchmark how capacity grows with replicas behind HAProxy (on demand).

    python -m tests.bench.bench_fleet [--schools 100] [--replicas 1,3] [--duration 20]
        [--connections 32] [--keep DIR]

Generates ``--schools`` school-scale policies (as tests.bench.bench_schools does; not
timed), then for each replica count starts that many ``alertpolicy serve --policies``
replicas, each on its own loopback address, behind HAProxy running ``deploy/haproxy.cfg``
(Debian's haproxy; with one replica, all three of its server lines name that replica), and
posts decisions to every school through HAProxy with wrk for ``--duration`` seconds. Prints
decisions/s, p50/p99 latency and failed requests per replica count, and the ratio of the
largest count's rate to the smallest's.

Every replica, HAProxy and wrk share this machine's cores, so the ratio measured here is
what more processes on the same cores give; on separate machines each replica brings its
own cores. Needs wrk and haproxy (``apt-get install wrk haproxy``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.bench.bench_schools import LUA, requests_file, schools_folder
from tests.bench.bench_serve import finish_wrk
from tests.deploy.fleet import Proxy, Replica
from tests.serve.support import wait_until


def measure(args: argparse.Namespace, count: int, folder: Path, work: Path) -> dict[str, Any]:
    """One run: ``count`` replicas behind HAProxy under wrk; wrk's summary."""
    run = work / f"replicas-{count}"
    run.mkdir()
    replicas = [Replica(run, n, "--policies", str(folder)) for n in range(1, count + 1)]
    proxy = Proxy(run, replicas)
    try:
        if not wait_until(lambda: all(r.ready() for r in replicas), 600):
            sys.exit(f"a replica did not become ready: see {run}")
        if not wait_until(lambda: all(proxy.status(r) == "UP" for r in replicas), 60):
            sys.exit(f"HAProxy did not take every replica in: see {proxy.log}")
        wrk = subprocess.Popen(
            [
                *("wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"),
                *("--timeout", "10s", "-s", str(LUA), proxy.url, "--", str(work / "requests.tsv")),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        summary: dict[str, Any] = finish_wrk(wrk, interrupt=False)
    finally:
        proxy.stop()
        for replica in replicas:
            replica.stop()
    return summary


def line(count: int, summary: dict[str, Any]) -> tuple[float, str]:
    """The rate of one run and its line of figures."""
    errors = summary["errors"]
    failed = errors["status"] + sum(errors[k] for k in ("connect", "read", "write", "timeout"))
    rate = summary["requests"] / (summary["duration_us"] / 1e6)
    return rate, (
        f"{count} replica(s): {rate:,.0f} decisions/s, p50 {summary['p50_us'] / 1000:.1f} ms, "
        f"p99 {summary['p99_us'] / 1000:.1f} ms, {failed} failed requests"
    )


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=100)
    parser.add_argument("--replicas", default="1,3", help="replica counts to run, e.g. 1,3")
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--keep", type=Path, help="keep the generated schools here")
    args = parser.parse_args(argv)
    for tool in ("wrk", "haproxy"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} not found: apt-get update && apt-get install -y {tool}")
    os.environ["PATH"] += ":/usr/sbin"
    print(f"python -m tests.bench.bench_fleet {' '.join(argv or sys.argv[1:])}")
    print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
    kept = schools_folder(args.schools, args.keep)
    work = Path(tempfile.mkdtemp(prefix="bench_fleet-"))
    folder = work / "schools"  # exactly --schools of them, linked (--keep may hold more)
    folder.mkdir()
    for n in range(args.schools):
        (folder / f"school-{n:04d}").symlink_to(kept / f"school-{n:04d}")
    requests_file(folder, args.schools, work / "requests.tsv")
    rates = []
    for count in sorted(int(c) for c in args.replicas.split(",")):
        rate, text = line(count, measure(args, count, folder, work))
        rates.append(rate)
        print(text, flush=True)
    if len(rates) > 1:
        print(f"capacity ratio, most replicas to fewest: {rates[-1] / rates[0]:.2f}")
    print(f"logs: {work}")


if __name__ == "__main__":
    main()
