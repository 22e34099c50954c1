"""Benchmark the largest incident the service accepts, at trust scale (run on demand).

    python -m tests.bench.bench_incident [--runs 200] [--scale trust|school]

Builds the largest incident the limits of ``engine/check/incident.py`` allow against a
generated policy: every category of the policy, as many of its academies' students (with
their real groups, so that rules fire) as fit in the limit on listed trigger values, the
most chosen users and alert groups allowed.  Then times, over ``--runs`` runs, what the
service does with the body of a ``POST /v1/decisions`` before answering: decode, limits,
parse against the policy, evaluate, encode the answer.  Prints p50/p99/max and the
incident's size.  Target (issue 9): p99 <= 50 ms at trust scale.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import (
    LIST_LIMITS,
    MAX_TRIGGER_VALUES,
    check_limits,
    decode_incident,
    parse_incident,
)
from alertpolicy.engine.decide.compiled import compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.model import Policy
from alertpolicy.engine.serve.tuning import collector_paused
from tests.bench.generate import SCALES, generate_incidents, generate_policy


def largest_incident(policy: Policy) -> dict[str, Any]:
    """The largest incident the limits allow, about students the policy's rules name."""
    categories = list(policy.categories)[: LIST_LIMITS[("categories",)]]
    budget = MAX_TRIGGER_VALUES - len(categories)
    students: dict[str, list[str]] = {}
    for generated in generate_incidents(policy, 5000, seed=7):
        for student in generated["students"]:
            cost = 1 + len(student["groups"])
            if student["id"] in students or cost > budget:
                continue
            if len(students) == LIST_LIMITS[("students",)]:
                break
            students[student["id"]] = list(student["groups"])
            budget -= cost
    users = [u.id for u in policy.users.values()][: LIST_LIMITS[("alerts", "users")]]
    groups = list(policy.alert_groups)[: LIST_LIMITS[("alerts", "alert_groups")]]
    return {
        "id": "INC-LARGEST",
        "reported_by": users[0],
        "categories": categories,
        "students": [{"id": sid, "groups": g} for sid, g in students.items()],
        "alerts": {"users": users, "alert_groups": groups},
    }


def main(argv: list[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="trust")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"python -m tests.bench.bench_incident {' '.join(argv or sys.argv[1:])}".rstrip())
    with tempfile.TemporaryDirectory() as tmp, collector_paused():
        policy = load_policy(generate_policy(Path(tmp) / "policy", args.scale))
        compiled = compile_policy(policy)
    gc.freeze()  # as the service does with a revision it serves (engine/serve/tuning.py)
    raw = largest_incident(policy)
    body = json.dumps(raw).encode("utf-8")
    listed = len(raw["categories"]) + sum(1 + len(s["groups"]) for s in raw["students"])
    timings: list[float] = []
    answer: dict[str, Any] = {}
    for _ in range(args.runs):
        began = time.perf_counter()
        decoded = decode_incident(body)
        check_limits(decoded)
        incident = parse_incident(decoded, policy)
        answer = evaluate_incident(compiled, incident).to_json()
        json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timings.append((time.perf_counter() - began) * 1000)
    compiled.close()
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(
        f"{args.scale} policy: {len(policy.automatic_alerts):,} rules, {len(policy.users):,} users"
    )
    print(
        f"largest incident: {len(body) / 1024:.0f} KiB, {len(raw['categories'])} categories, "
        f"{len(raw['students'])} students, {listed} listed trigger values (limit "
        f"{MAX_TRIGGER_VALUES}), {len(raw['alerts']['users'])} chosen users, "
        f"{len(raw['alerts']['alert_groups'])} chosen alert groups"
    )
    print(f"decision: {len(answer['recipients'])} recipients, {len(answer['withheld'])} withheld")
    print(
        f"decode + limits + parse + evaluate + encode, {args.runs} runs: "
        f"p50 {statistics.median(timings):.1f} ms, p99 {p99:.1f} ms, max {timings[-1]:.1f} ms "
        f"(target p99 <= 50 ms: {'met' if p99 <= 50 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
