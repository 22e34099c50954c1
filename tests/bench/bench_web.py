"""Benchmark the web view at trust scale (run on demand; targets: ``/ui/`` in at most 1 s).

    python -m tests.bench.bench_web [--seed N] [--domain-depth] [--runs N]

Generates a trust-scale policy (tests.bench.generate; not timed), starts the installed
``alertpolicy serve`` on 127.0.0.1 and waits for /readyz, then times each page over HTTP:
``/ui/`` the first time (the alert map is built for the revision: lint, every category's
standings, the permission matrix) and then again (kept for the revision), a category's
page, a user's page and a ``who`` answer.  In-process, it also times rendering the alert
map from scratch and exporting every page (``alertpolicy report --html``).  Prints the
figures with the load average, since a busy machine slows them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx

from alertpolicy.engine.audit.pages.links import Links
from alertpolicy.engine.audit.pages.site import PolicyPages, export_site
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.serve.tuning import collector_paused
from tests.bench.generate import generate_policy
from tests.serve.support import Server


def timed_get(client: httpx.Client, path: str) -> tuple[float, int, int]:
    """Seconds, status and size of one GET."""
    start = time.perf_counter()
    response = client.get(path)
    return time.perf_counter() - start, response.status_code, len(response.content)


def over_http(policy_dir: Path, runs: int, workdir: Path) -> None:
    """Time the served pages."""
    policy = load_policy(policy_dir)
    category = policy.categories[len(policy.categories) // 2]
    user = next(iter(policy.users))
    group = next(g for r in policy.automatic_alerts for g in r.when.student_groups)
    server = Server(workdir, policy_dir, "--state-dir", "none", "--log-level", "warning")
    try:
        server.wait_ready(600)
        with httpx.Client(base_url=server.url, timeout=120) as client:
            first = timed_get(client, "/ui/")
            print(f"GET /ui/ first (builds the alert map): {first[0]:.2f} s, {first[2]:,} bytes")
            for path in (
                "/ui/",
                f"/ui/categories/{quote(category, safe='')}",
                f"/ui/users/{quote(user, safe='')}",
                f"/ui/who?category={quote(category)}&student_group={quote(group)}",
            ):
                times = [timed_get(client, path) for _ in range(runs)]
                assert all(status == 200 for _, status, _ in times), (path, times)
                median = statistics.median(t for t, _, _ in times)
                print(
                    f"GET {path}: median {median * 1000:.0f} ms over {runs}, {times[0][2]:,} bytes"
                )
    finally:
        server.stop()


def in_process(policy_dir: Path, out: Path) -> None:
    """Time rendering the alert map from scratch and exporting every page."""
    with collector_paused():
        policy = load_policy(policy_dir)
        start = time.perf_counter()
        PolicyPages(policy).home(Links(static=False))
        print(f"alert map rendered in-process from scratch: {time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        written = export_site(policy, out)
        print(f"report --html: {len(written):,} pages in {time.perf_counter() - start:.1f} s")


def main(argv: list[str] | None = None) -> None:
    """Generate the policy, time the pages, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--domain-depth", action="store_true", help="use SPEC section 7")
    args = parser.parse_args(argv)
    command = "python -m tests.bench.bench_web " + " ".join(argv or sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        root = Path(tmp)
        generate_policy(root / "policy", scale="trust", seed=args.seed, depth=args.domain_depth)
        print(f"$ {command}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        over_http(root / "policy", args.runs, root)
        in_process(root / "policy", root / "site")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
