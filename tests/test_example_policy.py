"""The shipped example school (Northfield Academy, ``policy/``) is complete, clean and tested.

Runs the real command, ``alertpolicy ...``, from the repository root, as an admin would.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.policytest.suite import load_cases
from tests.helpers import ALERTPOLICY, REPO

POLICY = REPO / "policy"
SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def alertpolicy(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``alertpolicy ARGS...`` from the repository root."""
    return subprocess.run(
        [ALERTPOLICY, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def test_report() -> dict:
    """``alertpolicy test --format json`` on the shipped policy."""
    done = alertpolicy("test", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_the_example_policy_passes_check_strict_with_no_warnings() -> None:
    done = alertpolicy("check", "--strict", "policy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stdout + done.stderr
    assert done.stdout.startswith("policy/ OK:")


def test_the_example_policy_is_a_realistic_school() -> None:
    done = alertpolicy("check", "--format", "json")
    summary = json.loads(done.stdout)["summary"]
    assert summary["categories"] >= 15
    assert summary["user_groups"] >= 6
    assert summary["users"] >= 25
    assert summary["alert_groups"] >= 5
    assert summary["automatic_alerts"] >= 10


def test_the_example_policy_tests_all_pass() -> None:
    done = alertpolicy("test")
    assert done.returncode == 0, done.stdout + done.stderr
    passes = [line for line in done.stdout.splitlines() if line.startswith("PASS  ")]
    assert len(passes) >= 12
    assert done.stdout.rstrip().endswith(f"{len(passes)} passed, 0 failed")


def test_every_rule_and_every_category_is_exercised_by_a_test_case(test_report: dict) -> None:
    decisions = [case["decision"] for case in test_report["cases"]]
    rules = {
        reason["rule"]
        for decision in decisions
        for recipient in decision["recipients"]
        for reason in recipient["reasons"]
        if reason["source"] == "automatic_alert"
    }
    rules |= {w["rule"] for decision in decisions for w in decision["withheld"] if "rule" in w}
    policy = load_policy(POLICY)
    assert {rule.id for rule in policy.automatic_alerts} - rules == set()
    tested = {category for case in load_cases(POLICY) for category in case.incident["categories"]}
    assert set(policy.categories) - tested == set()


def test_the_example_tests_show_each_kind_of_outcome(test_report: dict) -> None:
    decisions = [case["decision"] for case in test_report["cases"]]
    rejections = {d["rejection"]["code"] for d in decisions if d["rejection"]}
    assert rejections == {"no_alert_chosen", "no_recipients"}
    withheld = {w["reason"] for d in decisions for w in d["withheld"]}
    assert withheld == {"inactive", "missing_permission", "class_restriction"}
    access = {r["access"] for d in decisions for r in d["recipients"]}
    assert access == {"full", "needs_key", "none"}
    warnings = {w["code"] for d in decisions for w in d["warnings"]}
    assert {
        "recipient_cannot_open",
        "recipient_cannot_see_students",
        "unknown_student_group",
    } <= warnings


def test_every_file_points_editors_at_its_schema() -> None:
    for path in sorted(POLICY.rglob("*.yaml")):
        first = path.read_text("utf-8").splitlines()[0]
        match = SCHEMA_LINE.match(first)
        assert match, f"{path} does not start with a yaml-language-server $schema line"
        schema = (path.parent / match.group(1)).resolve()
        expected = "policytest" if path.parent.name == "tests" else "policy"
        assert schema == REPO / "schemas" / f"{expected}.schema.json", path
