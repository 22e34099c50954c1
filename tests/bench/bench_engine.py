"""Benchmark the evaluation engine at school and trust scale (run on demand, prints figures).

    python -m tests.bench.bench_engine [--scale school|trust|both] [--incidents N]
        [--cycles N] [--domain-depth]

``--domain-depth`` uses a policy with SPEC section 7: every category with four
sub-categories (60 parents, 240 sub-categories at trust scale), one member of staff in ten
restricted to some tutor groups, every student group declared; half the incidents about a
category are recorded in one of its sub-categories.

For each scale: policy generation is not timed; loading (YAML -> Policy) is timed; then
the engine's compile time, decisions per second and p50/p99 latency in-process, the same
for the reference evaluator on the same incidents (whose decisions must all equal the
engine's), the workload (rules fired, recipients and withheld entries per incident) and
memory: RSS growth from loading the policy, from compiling it (the engine's share), after
closing it, and after each of a few more compile/close cycles (does it come back?).

The engine is timed the way a server uses it: each decision is dropped once made. Latency
is wall-clock; the CPU time of each decision is shown beside it, since on a shared machine
the wall clock also counts time the process spent waiting for a core.
Targets at trust scale: load < 3 s, engine p99 < 2 ms.
"""

from __future__ import annotations

import argparse
import functools
import gc
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.compiled import compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.model import Decision, Incident
from alertpolicy.engine.serve.tuning import collector_paused
from tests.bench.generate import SCALES, generate_incidents, generate_policy
from tests.reference import reference_decision


def rss_mb() -> float:
    """Current resident set size of this process in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e6


def latencies(
    decide: Callable[[Incident], Decision], incidents: list[Incident]
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds taken by each decision (each decision is dropped)."""
    wall, cpu = [], []
    for incident in incidents:
        began, began_cpu = time.perf_counter(), time.thread_time()
        decide(incident)
        cpu.append((time.thread_time() - began_cpu) * 1000)
        wall.append((time.perf_counter() - began) * 1000)
    return wall, cpu


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def speed(name: str, ms: list[float], cpu: list[float]) -> str:
    """One line of throughput and latency figures (wall clock, then CPU time)."""
    return (
        f"{name:>9}: {1000 * len(ms) / sum(ms):8.0f} decisions/s  p50 {percentile(ms, 0.5):.3f} ms"
        f"  p99 {percentile(ms, 0.99):.3f} ms  max {max(ms):.3f} ms"
        f"  (CPU p50 {percentile(cpu, 0.5):.3f} ms, p99 {percentile(cpu, 0.99):.3f} ms)"
    )


def mean_max(values: list[int]) -> str:
    """``mean M (max N)`` of ``values``."""
    return f"{statistics.mean(values):.1f} (max {max(values)})"


def bench(scale: str, count: int, cycles: int, depth: bool = False) -> None:
    """Print the figures for one scale."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = generate_policy(Path(tmp) / "policy", scale=scale, seed=0, depth=depth)
        gc.collect()
        start_rss = rss_mb()
        began = time.perf_counter()
        with collector_paused():  # as every entry point that loads a policy does
            policy = load_policy(directory)
        load_s = time.perf_counter() - began
    gc.collect()
    loaded_rss = rss_mb()
    incidents = [parse_incident(raw, policy) for raw in generate_incidents(policy, count, seed=1)]
    began = time.perf_counter()
    compiled = compile_policy(policy)
    compile_s = time.perf_counter() - began
    gc.freeze()  # as a process serving a revision does at its entry point: collections skip it
    compiled_rss = rss_mb()
    fired, recipients, withheld, ref_ms, ref_cpu = [], [], [], [], []
    try:
        decide = functools.partial(evaluate_incident, compiled)
        latencies(decide, incidents[:200])  # warm up
        engine_ms, engine_cpu = latencies(decide, incidents)
        same = True
        for incident in incidents:
            decision = evaluate_incident(compiled, incident)
            began, began_cpu = time.perf_counter(), time.thread_time()
            reference = reference_decision(policy, incident)
            ref_cpu.append((time.thread_time() - began_cpu) * 1000)
            ref_ms.append((time.perf_counter() - began) * 1000)
            same = same and reference == decision
            fired.append(len(compiled.fired(incident.trigger_values())))
            recipients.append(len(decision.recipients))
            withheld.append(len(decision.withheld))
        rejected = sum(not decide(i).accepted for i in incidents)
        subscriptions, triggers = compiled.index.subscriptions, len(compiled.trigger_keys)
    finally:
        compiled.close()
        del compiled
    gc.unfreeze()
    gc.collect()
    closed_rss = [rss_mb()]
    for _ in range(cycles):
        compile_policy(policy).close()
        gc.collect()
        closed_rss.append(rss_mb())

    print(
        f"== {scale}{' using section 7' if depth else ''}: {len(policy.users)} users, "
        f"{len(policy.categories)} categories, {len(policy.automatic_alerts)} rules, "
        f"{subscriptions} (rule, trigger) subscriptions in {triggers} trigger facts, "
        f"{len(incidents)} incidents"
    )
    print(f"policy load (YAML -> Policy): {load_s:.2f} s; engine compile: {compile_s:.2f} s")
    print(
        f"RSS: policy +{loaded_rss - start_rss:.0f} MB, engine +{compiled_rss - loaded_rss:.0f} MB"
        f" (total {compiled_rss:.0f} MB); after close, over the loaded policy: "
        + ", ".join(f"{rss - loaded_rss:+.0f}" for rss in closed_rss)
        + f" MB ({len(closed_rss)} compile/close cycles)"
    )
    print(
        f"per incident: rules fired {mean_max(fired)}, recipients {mean_max(recipients)}, "
        f"withheld {mean_max(withheld)}; rejected {rejected} of {len(incidents)}"
    )
    print(speed("engine", engine_ms, engine_cpu))
    print(speed("reference", ref_ms, ref_cpu))
    print(f"engine == reference for every incident: {same}")


def main() -> None:
    """Parse arguments and run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=(*sorted(SCALES), "both"), default="both")
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--cycles", type=int, default=3, help="extra compile/close cycles")
    parser.add_argument("--domain-depth", action="store_true", help="use SPEC section 7")
    args = parser.parse_args()
    for scale in ("school", "trust") if args.scale == "both" else (args.scale,):
        bench(scale, args.incidents, args.cycles, args.domain_depth)


if __name__ == "__main__":
    main()
