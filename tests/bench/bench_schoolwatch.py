"""Benchmark the poll of a folder of schools (``serve --policies``), on demand.

    python -m tests.bench.bench_schoolwatch [--schools 1000] [--looks 20]

Copies the Oakfield trust's school ``--schools`` times into a temporary folder of
schools (not timed), starts a :class:`SchoolsWatcher` on it (its own poll an hour away),
then times ``--looks`` polls, each run by hand, and, for comparison, stamping every
policy file of every school (what each poll did before it stamped only the school
folders).  Prints the milliseconds of each and the share of one core a poll every
:data:`POLL_SECONDS` costs, with the load average, since a busy machine slows both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from alertpolicy.engine.load.files import file_stamps
from alertpolicy.engine.serve.schoolwatch import POLL_SECONDS, SchoolsWatcher
from tests.serve.fleet_support import TRUST


def folder_of_schools(root: Path, schools: int) -> Path:
    """``schools`` copies of Oakfield, and the trust layer, in ``root``."""
    shutil.copytree(TRUST / "trust", root / "trust")
    for n in range(schools):
        shutil.copytree(TRUST / "oakfield", root / f"school-{n:04d}")
    return root


def timed(action: object, looks: int) -> list[float]:
    """Milliseconds of each of ``looks`` calls of ``action``."""
    assert callable(action)
    found = []
    for _ in range(looks):
        started = time.perf_counter()
        action()
        found.append((time.perf_counter() - started) * 1000)
    return found


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schools", type=int, default=1000)
    parser.add_argument("--looks", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-schoolwatch-") as temporary:
        policies = folder_of_schools(Path(temporary) / "policies", args.schools)
        names = sorted(p.name for p in policies.iterdir())
        watcher = SchoolsWatcher(
            policies, lambda: tuple(names), lambda _s: None, lambda: None, 3600
        )
        watcher.start()
        try:
            poll = timed(watcher.look, args.looks)
        finally:
            watcher.stop()
        every = timed(lambda: [file_stamps(policies / name) for name in names], args.looks)
    load = os.getloadavg()[0]
    print(f"python -m tests.bench.bench_schoolwatch --schools {args.schools} --looks {args.looks}")
    for label, figures in (("poll (school folders)", poll), ("every file stamped", every)):
        median = statistics.median(figures)
        share = median / 1000 / POLL_SECONDS * 100
        longest = max(figures)
        print(f"{label:24} median {median:8.1f} ms  max {longest:8.1f} ms  {share:5.1f}% of a core")
    print(f"load average {load:.2f}")


if __name__ == "__main__":
    main()
