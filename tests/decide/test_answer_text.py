"""The decision's JSON text, written directly, is the JSON of its dictionaries, byte for byte.

The service answers with :meth:`Decision.to_json_text`; every other reader (the CLI, the
golden files, the decision log) uses :meth:`Decision.to_json`.  They must never differ.
"""

from __future__ import annotations

import json

from hypothesis import given

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.compiled import compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.model import (
    Decision,
    DecisionWarning,
    MissingPermission,
    Reason,
    Recipient,
    Rejection,
    Withheld,
)
from tests.helpers import INCIDENTS, POLICIES
from tests.strategies import ENGINE_SETTINGS, policy_with_incidents


def dumped(decision: Decision) -> str:
    """The decision as the service wrote it before: its dictionaries, compact JSON."""
    return json.dumps(decision.to_json(), ensure_ascii=False, separators=(",", ":"))


@ENGINE_SETTINGS
@given(policy_with_incidents(count=10))
def test_the_text_of_random_decisions_is_their_json(case) -> None:
    policy, incidents = case
    with compile_policy(policy) as compiled:
        for incident in incidents:
            decision = evaluate_incident(compiled, incident)
            assert decision.to_json_text() == dumped(decision)


def test_the_text_of_the_example_school_decisions_is_their_json() -> None:
    policy = load_policy(POLICIES / "northfield-before-section-7")
    lines = (INCIDENTS / "northfield-before-section-7.jsonl").read_text("utf-8").splitlines()
    with compile_policy(policy) as compiled:
        for line in lines:
            decision = evaluate_incident(compiled, parse_incident(json.loads(line), policy))
            assert decision.to_json_text() == dumped(decision)


def test_text_that_json_escapes_is_escaped_the_same_way() -> None:
    odd = 'Zoë "quoted" \\ back\nslash\t\u2028 \x01'
    decision = Decision(
        incident=odd,
        policy_revision="sha256:abc",
        accepted=False,
        rejection=Rejection("no_recipients", odd),
        recipients=(
            Recipient(
                odd,
                odd,
                odd,
                "none",
                (
                    Reason(
                        "automatic_alert", rule=odd, matched=(("category", odd),), via_parent=odd
                    ),
                ),
                (odd,),
            ),
        ),
        withheld=(
            Withheld(
                odd,
                "automatic_alert",
                "missing_permission",
                None,
                odd,
                (MissingPermission(odd, "view_incidents"),),
            ),
            Withheld(odd, "alert_group", "inactive", odd),
            Withheld(odd, "automatic_alert", "class_restriction", rule=odd, restricted_to=(odd,)),
        ),
        warnings=(DecisionWarning("unknown_student_group", odd, None, odd, odd),),
    )
    assert decision.to_json_text() == dumped(decision)
