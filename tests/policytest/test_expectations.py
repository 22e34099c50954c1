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


# ------------------------------------------------------------------ SPEC section 7

CYBER = Reason(
    "automatic_alert",
    rule="bullying-to-head-of-year",
    matched=(("category", "Cyberbullying"),),
    via_parent="Bullying",
)
RESTRICTED = Decision(
    incident="cyberbullying-in-7a",
    policy_revision="sha256:0000000000000000",
    accepted=True,
    rejection=None,
    recipients=(
        Recipient("jsmith", "Jane Smith", "j@x.example", "full", (CYBER,), ("S1", "S2")),
        Recipient("pdavies", "Priya Davies", "p@x.example", "none", (Reason("user"),), ()),
    ),
    withheld=(
        Withheld(
            "tteach",
            "automatic_alert",
            "class_restriction",
            rule="bullying-to-head-of-year",
            restricted_to=("7B",),
        ),
    ),
    warnings=(
        DecisionWarning("unknown_student_group", "…", student_group="Year 7 ", similar_to="Year 7"),
        DecisionWarning("recipient_cannot_see_students", "…", user="pdavies"),
    ),
)


def test_section_7_expectations_pass_when_met(policy: Policy) -> None:
    expect = read_expectation(
        {
            "accepted": True,
            "recipients": {
                "jsmith": {
                    "sees_students": ["S2", "S1"],
                    "reasons": [{"source": "automatic_alert", "via_parent": "Bullying"}],
                },
                "pdavies": {"sees_students": [], "access": "none"},
            },
            "withheld": [{"user": "tteach", "reason": "class_restriction"}],
            "warnings": [
                {
                    "code": "unknown_student_group",
                    "student_group": "Year 7 ",
                    "similar_to": "Year 7",
                },
                {"code": "recipient_cannot_see_students", "user": "pdavies"},
            ],
        }
    )
    assert differences(expect, RESTRICTED, policy) == ()


def test_section_7_expectations_say_how_a_decision_differs(policy: Policy) -> None:
    expect = read_expectation(
        {
            "accepted": True,
            "recipients": {
                "jsmith": {
                    "sees_students": ["S1"],
                    "reasons": [{"source": "automatic_alert", "via_parent": "Online safety"}],
                },
                "pdavies": {"sees_students": ["S1"]},
            },
            "withheld": [{"user": "tteach", "reason": "missing_permission"}],
            "warnings": [{"code": "unknown_student_group", "student_group": "Year 8"}],
        }
    )
    assert differences(expect, RESTRICTED, policy) == (
        "students jsmith sees: expected S1, got S1, S2",
        "reasons of jsmith: missing {source: automatic_alert, via_parent: Online safety}",
        "reasons of jsmith: unexpected {source: automatic_alert, rule: bullying-to-head-of-year, "
        "matched: {category: Cyberbullying}, via_parent: Bullying}",
        "students pdavies sees: expected S1, got none of them",
        "missing withheld {user: tteach, reason: missing_permission}",
        "unexpected withheld: tteach (automatic alert bullying-to-head-of-year) is restricted to "
        "students in 7B; none of the incident's students is in them",
        "missing warning {code: unknown_student_group, student_group: Year 8}",
        "unexpected warning recipient_cannot_see_students: …",
        "unexpected warning unknown_student_group: …",
    )


def test_sees_students_of_an_unrestricted_recipient_is_reported(policy: Policy) -> None:
    expect = read_expectation({"accepted": True, "recipients": {"jsmith": {"sees_students": []}}})
    decision = Decision("x", "r", True, None, (DECISION.recipients[0],), (), ())
    assert differences(expect, decision, policy) == (
        "students jsmith sees: expected none of them, got not restricted",
    )
