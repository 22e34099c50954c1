"""Benchmark ``alertpolicy check`` on a generated trust-scale policy (target: under 3 s).

Prints the end-to-end time of ``alertpolicy check DIR`` (a fresh process each run, as a
pre-commit hook or CI job would run it) and, in-process, where the time goes: reading the
files, YAML compose, conversion to located data, schema, merging and references, lint.

    python -m tests.bench.bench_check [--scale trust|school] [--runs N] [--seed N]
        [--domain-depth]

``--domain-depth`` checks a policy that uses SPEC section 7 (sub-categories, class
restrictions, declared student groups; see :mod:`tests.bench.generate`).
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from alertpolicy.engine.check import build
from alertpolicy.engine.check.lint import lint_policy
from alertpolicy.engine.load import safeyaml
from alertpolicy.engine.load.files import read_directory
from tests.bench.generate import SCALES, generate_policy

REPO = Path(__file__).resolve().parents[2]
ALERTPOLICY = str(Path(sys.executable).with_name("alertpolicy"))
"""The installed command, as a pre-commit hook or CI job runs it."""


def end_to_end(policy_dir: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one ``alertpolicy check --strict DIR`` process.

    CPU time is printed too because it varies less on a busy machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [ALERTPOLICY, "check", "--strict", str(policy_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"check failed ({done.returncode}):\n{done.stdout[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def phases(policy_dir: Path) -> dict[str, float]:
    """Seconds spent in each phase of loading and checking, in-process."""
    gc.disable()
    try:
        times: dict[str, float] = {}
        start = time.perf_counter()
        source = read_directory(policy_dir)
        times["read files"] = time.perf_counter() - start

        start = time.perf_counter()
        for raw in source.files.values():
            yaml.compose(raw.decode("utf-8"), Loader=safeyaml.Loader)
        times["YAML compose"] = time.perf_counter() - start

        start = time.perf_counter()
        documents, problems = safeyaml.parse_source(source)
        times["conversion to located data"] = time.perf_counter() - start - times["YAML compose"]

        start = time.perf_counter()
        for document in documents:
            problems += build.file_schema_problems(document)
        times["schema"] = time.perf_counter() - start

        start = time.perf_counter()
        policy = build.build_policy(source, documents, problems)
        # parse_source composes again, and build_policy checks the schema again before
        # merging: each is counted once.
        times["merge + references + build"] = time.perf_counter() - start - times["schema"]

        start = time.perf_counter()
        warnings = lint_policy(policy)
        times["lint"] = time.perf_counter() - start
        if warnings:
            print(f"  ({len(warnings)} lint warnings)")
        return times
    finally:
        gc.enable()


def main() -> None:
    """Generate the policy, then time ``check`` several times and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="trust")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--domain-depth", action="store_true", help="use SPEC section 7")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        policy_dir = generate_policy(Path(tmp) / "policy", args.scale, args.seed, args.domain_depth)
        size = sum(f.stat().st_size for f in policy_dir.rglob("*.yaml"))
        deep = " using section 7" if args.domain_depth else ""
        print(f"{args.scale} policy{deep}: {size / 1e6:.1f} MB of YAML in {policy_dir}")
        runs_e2e = [end_to_end(policy_dir) for _ in range(args.runs)]
        for label, values in (
            ("wall", [wall for wall, _ in runs_e2e]),
            ("CPU", [cpu for _, cpu in runs_e2e]),
        ):
            print(
                f"check end to end, {label} time ({args.runs} runs, fresh process each): "
                f"median {statistics.median(values):.2f} s, min {min(values):.2f} s, "
                f"max {max(values):.2f} s"
            )
        runs = [phases(policy_dir) for _ in range(args.runs)]
        print("in-process phases (median seconds):")
        for name in runs[0]:
            print(f"  {name:<40} {statistics.median(r[name] for r in runs):6.3f}")


if __name__ == "__main__":
    main()
