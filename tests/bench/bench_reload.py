"""Benchmark a trust-scale reload with the coverage guard on, on an idle service (on demand).

    python -m tests.bench.bench_reload [--runs 3] [--scale trust|school]

Generates the policy (not timed), starts a coordinator the way ``alertpolicy serve`` does
(forkserver started first, the process tuned as a serving one, reload children at lower
priority), then ``--runs`` times rewrites one member of staff's name (a real, valid
change) and times ``Coordinator.reload``: the whole reload, once with the guard on and once
with it off (``--no-coverage-guard``); their difference is what the guard costs (its summary of the
revision, made in the reload child while this process compiles the revision, and the
comparison here).  Also times the guard's two parts on their own, in this process: the
summary (``coverage_of``) and the comparison (``compare_coverage``).  Targets (issue 9):
reload <= 5 s idle, the guard <= 1 s of it.  Memory, as a worker of the service needs it:
the resident set of this process serving the revision, and the highest resident set of
this process and its reload children together during the guarded reloads (sampled every
20 ms).  Targets at the largest trust (issue 13): reload <= 6 s, 600 MB serving, 1.2 GB
during a reload.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from alertpolicy.engine.audit.guard import compare_coverage, coverage_of
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.serve.builder import RevisionBuilder, start_reload_server
from alertpolicy.engine.serve.coordinator import Coordinator
from alertpolicy.engine.serve.tuning import SERVING_TUNING, collector_paused
from tests.bench.generate import SCALES, generate_policy

# Each reload child runs this module's top level again (Python's forkserver does not keep
# ``__main__`` preloaded): the test helpers below are imported where they are used, so
# that a child spends no time importing them (~0.4 s each, which a service's child, whose
# main module is the CLI, never spends).


def rename(policy: Path, n: int) -> None:
    """Rename the first member of staff of the first academy: a valid change."""
    from tests.bench.bench_serve import users_file

    path = users_file(policy)
    text = path.read_text(encoding="utf-8")
    name = re.search(r"name: ([A-Z][a-z]+ [A-Z][a-z]+)(-\d+)?", text)
    assert name, "no staff name found to rename"
    renamed = text.replace(name.group(0), f"name: {name.group(1)}-{n}", 1)
    path.write_text(renamed, encoding="utf-8")


class PeakMemory:
    """The highest resident set of this process and its descendants together, sampled on a
    thread while in use."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        from tests.serve.support import descendants, memory_mb

        me = os.getpid()
        while not self._stop.wait(0.02):
            total = memory_mb(me) + sum(memory_mb(pid) for pid in descendants(me))
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def reloads(
    policy: Path, guarded: bool, runs: int, memory: dict[str, float] | None = None
) -> list[float]:
    """Seconds each of ``runs`` reloads took (after a first load, not timed); with
    ``memory``, the resident set serving and the peak during the reloads go there."""
    from tests.serve.support import memory_mb

    coordinator = Coordinator(
        policy,
        RevisionBuilder(with_coverage=guarded, tuning=SERVING_TUNING),
        max_route_loss=0.10 if guarded else None,
        tuning=SERVING_TUNING,
    )
    coordinator.start()
    seconds = []
    serving = memory_mb(os.getpid())
    with PeakMemory() as peak:
        for n in range(runs):
            rename(policy, n + (100 if guarded else 0))
            began = time.perf_counter()
            outcome = coordinator.reload()
            seconds.append(time.perf_counter() - began)
            if not outcome.changed or outcome.held:
                sys.exit(f"the reload did not serve the rewrite: {outcome.to_json()}")
    if memory is not None:
        memory.update(serving=serving, after=memory_mb(os.getpid()), peak=peak.peak)
    coordinator.close()
    return seconds


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="trust")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"python -m tests.bench.bench_reload {' '.join(argv or sys.argv[1:])}".rstrip())
    start_reload_server()
    with tempfile.TemporaryDirectory() as tmp:
        policy = generate_policy(Path(tmp) / "policy", args.scale)
        memory: dict[str, float] = {}
        guarded = reloads(policy, True, args.runs, memory)
        unguarded = reloads(policy, False, args.runs)
        with collector_paused():
            loaded = load_policy(policy)
            began = time.perf_counter()
            summary = coverage_of(loaded)
            summary_s = time.perf_counter() - began
        gc.freeze()
        rename(policy, 999)
        with collector_paused():
            other = coverage_of(load_policy(policy))
        began = time.perf_counter()
        compare_coverage(summary, other)
        compare_s = time.perf_counter() - began
    median_on, median_off = statistics.median(guarded), statistics.median(unguarded)
    rules, routes = len(loaded.automatic_alerts), len(summary.routes)

    def runs(seconds: list[float]) -> str:
        return ", ".join(f"{s:.2f}" for s in seconds)

    print(f"{args.scale} policy: {rules:,} rules, {routes:,} alert routes")
    print(f"reload, guard on:   median {median_on:.2f} s  ({runs(guarded)})")
    print(f"reload, guard off:  median {median_off:.2f} s  ({runs(unguarded)})")
    print(f"the guard's share:  {median_on - median_off:.2f} s of the reload")
    print(f"  summary (lint + alert routes), in this process: {summary_s:.2f} s")
    print(f"  comparison with the serving revision:           {compare_s * 1000:.1f} ms")
    print(
        f"memory: serving {memory['serving']:.0f} MB (after the reloads "
        f"{memory['after']:.0f} MB); during a reload, with the reload child, at most "
        f"{memory['peak']:.0f} MB"
    )
    met = median_on <= 5 and median_on - median_off <= 1
    print(f"targets (reload <= 5 s idle, guard <= 1 s of it): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
