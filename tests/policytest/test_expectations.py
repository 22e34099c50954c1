"""A test case's expected outcome, and how a decision is found to differ from it."""

from __future__ import annotations

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.model import (
    Decision,
    DecisionWarning,
    MissingPermission,
    Policy,
    Reason,
    Recipient,
    Rejection,
    Withheld,
)
from alertpolicy.engine.policytest.expectations import differences, read_expectation
from tests.helpers import REPO

SCHOOL = REPO / "tests/testdata/policies/small-school"

SELF_HARM_RULE = Reason(
    "automatic_alert", rule="self-harm-to-dsls", matched=(("category", "Self-harm"),)
)
DECISION = Decision(
    incident="self-harm-in-year-9",
    policy_revision="sha256:0000000000000000",
    accepted=True,
    rejection=None,
    recipients=(
        Recipient("jsmith", "Jane Smith", "j@x.example", "full", (SELF_HARM_RULE,)),
        Recipient("pdavies", "Priya Davies", "p@x.example", "needs_key", (Reason("user"),)),
    ),
    withheld=(
        Withheld(
            "tteach",
            "automatic_alert",
            "missing_permission",
            rule="self-harm-to-dsls",
            missing=(MissingPermission("Self-harm", "view_incidents"),),
        ),
    ),
    warnings=(),
)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(SCHOOL)


def test_a_decision_meeting_every_written_expectation_passes(policy: Policy) -> None:
    expect = read_expectation(
        {
            "accepted": True,
            "rejection": None,
            "recipients": {
                "jsmith": {"access": "full", "reasons": [{"source": "automatic_alert"}]},
                "pdavies": None,
            },
            "withheld": [{"user": "tteach", "reason": "missing_permission"}],
            "warnings": [],
        }
    )
    assert differences(expect, DECISION, policy) == ()


def test_only_what_is_written_down_is_checked(policy: Policy) -> None:
    assert differences(read_expectation({"accepted": True}), DECISION, policy) == ()


def test_each_difference_is_one_plain_english_line(policy: Policy) -> None:
    expect = read_expectation(
        {
            "accepted": False,
            "rejection": "no_recipients",
            "recipients": {"jsmith": {"access": "needs_key"}, "rbrown": {}},
            "withheld": [],
            "warnings": [{"code": "recipient_cannot_open", "user": "jsmith"}],
        }
    )
    assert differences(expect, DECISION, policy) == (
        "expected the incident to be rejected, but it was accepted",
        "rejection: expected no_recipients, got none",
        "missing recipient rbrown (Rachel Brown)",
        "unexpected recipient pdavies (Priya Davies) via chosen by name",
        "access of jsmith: expected needs_key, got full",
        "unexpected withheld: tteach (automatic alert self-harm-to-dsls): their user group "
        "lacks view_incidents on Self-harm",
        "missing warning {code: recipient_cannot_open, user: jsmith}",
    )


def test_a_rejection_and_reasons_are_compared_field_by_field(policy: Policy) -> None:
    rejected = Decision(
        incident="nobody-chosen",
        policy_revision="sha256:0000000000000000",
        accepted=False,
        rejection=Rejection("no_alert_chosen", "choose someone to alert"),
        recipients=(),
        withheld=(),
        warnings=(DecisionWarning("nobody_alerted", "nobody is alerted"),),
    )
    expect = read_expectation(
        {"accepted": True, "warnings": ["nobody_alerted"], "recipients": ["jsmith"]}
    )
    assert differences(expect, rejected, policy) == (
        "expected the incident to be accepted, but it was rejected "
        "(no_alert_chosen: choose someone to alert)",
        "missing recipient jsmith (Jane Smith)",
    )
    reasons = read_expectation(
        {
            "accepted": True,
            "recipients": {
                "jsmith": {"reasons": [{"source": "automatic_alert", "rule": "other-rule"}]},
                "pdavies": {"reasons": [{"source": "user"}]},
            },
        }
    )
    assert differences(reasons, DECISION, policy) == (
        "reasons of jsmith: missing {source: automatic_alert, rule: other-rule}",
        "reasons of jsmith: unexpected {source: automatic_alert, rule: self-harm-to-dsls, "
        "matched: {category: Self-harm}}",
    )
