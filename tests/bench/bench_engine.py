"""Benchmark the evaluation engine at school and trust scale (run on demand, prints figures).

    python -m tests.bench.bench_engine [--scale school|trust|both] [--incidents N]

For each scale: policy generation is not timed; loading (YAML -> Policy) is reported for
context; then the engine's compile time and RSS growth, decisions per second and p50/p99
latency in-process, and the same for the reference evaluator on the same incidents (whose
decisions must all be equal to the engine's). Targets at trust scale: compile < 3 s,
p99 < 2 ms.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engine.compile import compile_policy
from engine.evaluate import evaluate_incident
from engine.load import load_policy
from engine.model import Decision, Incident
from engine.reference import reference_decision
from engine.validate import parse_incident
from tests.bench.generate import generate_incidents, generate_policy


def rss_mb() -> float:
    """Current resident set size of this process in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


def timed(decide: Callable[[Incident], Decision], incidents: list[Incident]) -> tuple:
    """Decisions, decisions per second and per-decision latencies (ms)."""
    latencies, decisions = [], []
    start = time.perf_counter()
    for incident in incidents:
        began = time.perf_counter()
        decisions.append(decide(incident))
        latencies.append((time.perf_counter() - began) * 1000)
    elapsed = time.perf_counter() - start
    return decisions, len(incidents) / elapsed, latencies


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench(scale: str, count: int) -> None:
    """Print the figures for one scale."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = generate_policy(Path(tmp) / "policy", scale=scale, seed=0)
        began = time.perf_counter()
        policy = load_policy(directory)
        load_s = time.perf_counter() - began
    incidents = [parse_incident(raw, policy) for raw in generate_incidents(policy, count, seed=1)]
    gc.collect()
    before = rss_mb()
    began = time.perf_counter()
    compiled = compile_policy(policy)
    compile_s = time.perf_counter() - began
    grown = rss_mb() - before
    try:
        timed(lambda i: evaluate_incident(compiled, i), incidents[:200])  # warm up
        engine, engine_rate, engine_ms = timed(lambda i: evaluate_incident(compiled, i), incidents)
        reference, ref_rate, ref_ms = timed(lambda i: reference_decision(policy, i), incidents)
    finally:
        compiled.close()
    gc.collect()
    recipients = [len(d.recipients) for d in engine]
    print(
        f"== {scale}: {len(policy.users)} users, {len(policy.automatic_alerts)} rules, "
        f"{len(compiled.subscriptions)} subscription facts, {len(incidents)} incidents"
    )
    print(f"policy load (YAML, for context): {load_s:.2f} s")
    print(
        f"engine compile: {compile_s:.2f} s; RSS +{grown:.0f} MB "
        f"(after close: {rss_mb() - before:+.0f} MB)"
    )
    print(
        f"recipients per decision: mean {statistics.mean(recipients):.1f}, "
        f"max {max(recipients)}; rejected {sum(not d.accepted for d in engine)}"
    )
    for name, rate, ms in (("engine", engine_rate, engine_ms), ("reference", ref_rate, ref_ms)):
        print(
            f"{name:>9}: {rate:8.0f} decisions/s  p50 {percentile(ms, 0.5):.3f} ms  "
            f"p99 {percentile(ms, 0.99):.3f} ms  max {max(ms):.3f} ms"
        )
    print(f"engine == reference for every incident: {engine == reference}")


def main() -> None:
    """Parse arguments and run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("school", "trust", "both"), default="both")
    parser.add_argument("--incidents", type=int, default=2000)
    args = parser.parse_args()
    for scale in ("school", "trust") if args.scale == "both" else (args.scale,):
        bench(scale, args.incidents)


if __name__ == "__main__":
    main()
