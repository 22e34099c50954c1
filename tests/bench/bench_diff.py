"""Benchmark ``alertpolicy diff HEAD~1 HEAD`` on two trust-scale revisions (target: < 5 s).

Generates a trust-scale policy into a temporary git repository (``policy/``), commits it,
then changes 1% of the rules (a category added, a notified user swapped, ``match``
flipped) and 1% of the users (half moved to another user group, half deactivated) and
commits again.  Prints the end-to-end time of ``alertpolicy diff HEAD~1 HEAD`` (a fresh
process, reading both revisions from git) and, in-process, where the time goes.

    python -m tests.bench.bench_diff [--runs N] [--seed N] [--format text|markdown|json|html]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from alertpolicy.engine.audit.causes import affected_triggers
from alertpolicy.engine.audit.changes import compare_objects
from alertpolicy.engine.audit.diff import Sides, _trigger_changes, diff_policies
from alertpolicy.engine.audit.diffview import diff_markdown
from alertpolicy.engine.audit.pages.render import diff_page
from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.load.git import read_git
from alertpolicy.engine.serve.tuning import collector_paused
from tests.bench.generate import generate_policy

ALERTPOLICY = str(Path(sys.executable).with_name("alertpolicy"))
"""The installed command, as a reviewer runs it."""


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` as the benchmark author; its output."""
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@trust.example",
            "-c",
            "commit.gpgsign=false",
            "-C",
            str(repo),
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def change_one_percent(policy_dir: Path, seed: int) -> dict[str, int]:
    """Edit 1% of the rules and 1% of the users in place; counts of each edit."""
    rng = random.Random(seed)
    groups = sorted(yaml.safe_load((policy_dir / "user_groups.yaml").read_text())["user_groups"])
    categories = yaml.safe_load((policy_dir / "categories.yaml").read_text())["categories"]
    rule_files = sorted(policy_dir.rglob("automatic_alerts.yaml"))
    user_files = sorted(policy_dir.rglob("users.yaml"))
    rules = {f: yaml.safe_load(f.read_text()) for f in rule_files}
    users = {f: yaml.safe_load(f.read_text()) for f in user_files}
    all_rules = [(f, i) for f, data in rules.items() for i in range(len(data["automatic_alerts"]))]
    all_users = [(f, u) for f, data in users.items() for u in data["users"]]
    counts = {"rules edited": 0, "users moved": 0, "users deactivated": 0}
    for f, i in rng.sample(all_rules, len(all_rules) // 100):
        rule = rules[f]["automatic_alerts"][i]
        when, notify = rule["when"], rule["notify"]
        choice = rng.randrange(3)
        if choice == 0:
            when["categories"] = sorted({*when.get("categories", []), rng.choice(categories)})
        elif choice == 1 and notify.get("users"):
            local = [u for u in users[f.parent / "users.yaml"]["users"]]
            notify["users"] = sorted({*notify["users"][1:], rng.choice(local)})
        else:
            rule["match"] = "all" if rule.get("match", "any") == "any" else "any"
        counts["rules edited"] += 1
    for n, (f, uid) in enumerate(rng.sample(all_users, len(all_users) // 100)):
        user = users[f]["users"][uid]
        if n % 2:
            user["user_group"] = rng.choice([g for g in groups if g != user["user_group"]])
            counts["users moved"] += 1
        else:
            user["active"] = False
            counts["users deactivated"] += 1
    for data in (rules, users):
        for f, content in data.items():
            f.write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=100))
    return counts


def build_repository(root: Path, seed: int) -> dict[str, int]:
    """A git repository at ``root``: a trust-scale policy, then a 1% change."""
    git(root, "init", "-q", "-b", "main")
    generate_policy(root / "policy", scale="trust", seed=seed)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Trust policy")
    counts = change_one_percent(root / "policy", seed)
    git(root, "commit", "-q", "-am", "Termly update: 1% of rules and users")
    return counts


def end_to_end(repo: Path, fmt: str) -> tuple[float, str]:
    """Seconds for one ``alertpolicy diff HEAD~1 HEAD`` in a fresh process, and its output."""
    start = time.perf_counter()
    done = subprocess.run(
        [ALERTPOLICY, "diff", "HEAD~1", "HEAD", "--format", fmt],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"diff failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def phases(repo: Path) -> dict[str, float]:
    """Seconds spent in each phase of the diff, in-process."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    sources = [read_git(repo, rev, "policy") for rev in ("HEAD~1", "HEAD")]
    times["read both revisions from git"] = time.perf_counter() - start
    start = time.perf_counter()
    with collector_paused():  # as the CLI entry point does
        base, head = (load_source(s) for s in sources)
    times["load and check both policies"] = time.perf_counter() - start
    start = time.perf_counter()
    objects = compare_objects(base, head)
    times["compare objects"] = time.perf_counter() - start
    start = time.perf_counter()
    sides = Sides.of(base, head, objects)
    affected = affected_triggers(sides.base, sides.head, objects)
    pairs = sum(len(users) if users is not None else 0 for users in affected.values())
    times[f"affected triggers ({len(affected)}) and users ({pairs} pairs)"] = (
        time.perf_counter() - start
    )
    start = time.perf_counter()
    for trigger, users in affected.items():
        _trigger_changes(trigger, sides, users)
    times["standings on both sides, changes, causes"] = time.perf_counter() - start
    start = time.perf_counter()
    diff = diff_policies(base, head, labels=("HEAD~1:policy", "HEAD:policy"))
    times["whole diff again (in-process)"] = time.perf_counter() - start
    start = time.perf_counter()
    diff_markdown(diff)
    times["markdown"] = time.perf_counter() - start
    start = time.perf_counter()
    diff_page(diff)
    times["html page"] = time.perf_counter() - start
    return times


def main(argv: list[str] | None = None) -> None:
    """Build the repository, time the diff, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--format", default="markdown", choices=("text", "markdown", "json", "html")
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        repo = Path(tmp)
        counts = build_repository(repo, args.seed)
        print("change:", ", ".join(f"{n} {what}" for what, n in counts.items()))
        runs = [end_to_end(repo, args.format) for _ in range(args.runs)]
        times = [t for t, _ in runs]
        summary = runs[0][1].splitlines()[0] if runs[0][1] else ""
        if args.format == "html":
            found = re.search(r"<p><strong>(.*?)</strong></p>", runs[0][1])
            summary = found.group(1) if found else ""
        print(f"diff summary: {summary}")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(
            f"end to end `alertpolicy diff HEAD~1 HEAD --format {args.format}`: "
            f"median {statistics.median(times):.2f} s, best {min(times):.2f} s "
            f"over {len(times)} runs (target < 5 s)"
        )
        for phase, seconds in phases(repo).items():
            print(f"  {phase:<55} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
