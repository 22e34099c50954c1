"""Decisions explained in plain English."""

from __future__ import annotations

import json

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.explain import explain_decision
from alertpolicy.engine.model import Decision, Policy
from tests.helpers import TESTDATA
from tests.reference import reference_decision


@pytest.fixture(scope="module")
def school() -> Policy:
    """Brookfield High School (tests/testdata/policies/eval-school)."""
    return load_policy(TESTDATA / "policies" / "eval-school")


def decided(policy: Policy, case: str) -> Decision:
    """The decision for ``tests/testdata/incidents/eval-<case>.json``."""
    raw = json.loads((TESTDATA / "incidents" / f"eval-{case}.json").read_text("utf-8"))
    return reference_decision(policy, parse_incident(raw, policy))


def test_each_recipient_is_named_with_access_and_every_reason(school: Policy) -> None:
    text = explain_decision(decided(school, "several-ways"))
    assert "Incident INC-2026-0111: accepted." in text
    assert (
        "Jane Smith <jsmith@brookfield.example> (full access): member of alert group DSLs "
        "you chose; automatic alert self-harm-to-dsls (category Self-harm); "
        "you chose them by name"
    ) in text
    assert "Ravi Patel <rpatel@brookfield.example> (can open it once they have a key)" in text


def test_withheld_users_say_why(school: Policy) -> None:
    text = explain_decision(decided(school, "every-category-gate"))
    assert (
        "tteach (automatic alert year7-bullying-to-tutor): their user "
        "group lacks view_incidents on Self-harm, view_students on Self-harm"
    ) in text
    assert ("dformer (automatic alert self-harm-to-dsls) is an inactive user") in text


def test_a_rejection_says_why_and_what_to_do(school: Policy) -> None:
    text = explain_decision(decided(school, "no-alert-chosen"))
    assert text.startswith("Incident INC-2026-0114: REJECTED (no_alert_chosen).")
    assert "Choose at least one user or alert group." in text
    assert "Alerted" not in text


def test_warnings_are_listed(school: Policy) -> None:
    text = explain_decision(decided(school, "chosen-without-access"))
    assert "Tom Teach <tteach@brookfield.example> (cannot open it): you chose them" in text
    assert "Warnings (1):" in text
    assert "will be alerted but cannot open the incident" in text


def test_automatic_alert_reasons_name_each_matched_trigger(school: Policy) -> None:
    text = explain_decision(decided(school, "match-all"))
    assert (
        "automatic alert year7-bullying-to-tutor (category Bullying, student group Year 7)"
    ) in text


def test_explanations_are_deterministic(school: Policy) -> None:
    first = explain_decision(decided(school, "every-category-gate"))
    assert first == explain_decision(decided(school, "every-category-gate"))
    assert first.index("dformer") < first.index("hyear7") < first.index("tteach")
