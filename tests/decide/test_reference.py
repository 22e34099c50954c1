"""SPEC section 4, rule by rule, against both evaluators (reference and engine).

Each case is a policy under ``tests/testdata/policies/eval-*`` and an incident under
``tests/testdata/incidents/eval-<case>.json``; the expected outcome is written out here in
the terms a safeguarding lead would check: who is alerted, with what access and why, who
is not and why, and whether the incident is accepted.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.compiled import CompiledPolicy, compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.model import Decision, Incident, Policy, Reason, Withheld
from tests.helpers import TESTDATA
from tests.reference import reference_decision

Decide = Callable[[str, str], Decision]


@pytest.fixture(scope="module")
def policies() -> dict[str, Policy]:
    """The evaluation fixture policies, loaded once."""
    return {
        name: load_policy(TESTDATA / "policies" / name)
        for name in ("eval-school", "eval-any-category", "eval-must-choose", "eval-no-enforcement")
    }


@pytest.fixture(scope="module")
def compiled(policies: dict[str, Policy]) -> Iterator[dict[str, CompiledPolicy]]:
    """Each fixture policy compiled into durable-rules, closed after the module."""
    out = {name: compile_policy(policy) for name, policy in policies.items()}
    yield out
    for revision in out.values():
        revision.close()


def read_incident(case: str, policy: Policy) -> Incident:
    """The incident file of ``case``, checked against the policy."""
    raw = json.loads((TESTDATA / "incidents" / f"eval-{case}.json").read_text("utf-8"))
    return parse_incident(raw, policy)


@pytest.fixture(params=["reference", "engine"])
def decide(request, policies, compiled) -> Decide:
    """``decide(policy, case)``: the decision of one evaluator for a case's incident."""

    def run(policy_name: str, case: str) -> Decision:
        policy = policies[policy_name]
        incident = read_incident(case, policy)
        if request.param == "reference":
            return reference_decision(policy, incident)
        return evaluate_incident(compiled[policy_name], incident)

    return run


def reason_text(reason: Reason) -> str:
    """``user``, ``alert_group:DSLs`` or ``rule-id(kind=value,...)``."""
    if reason.source == "user":
        return "user"
    if reason.source == "alert_group":
        return f"alert_group:{reason.alert_group}"
    return f"{reason.rule}({','.join(f'{k}={v}' for k, v in reason.matched)})"


def withheld_text(entry: Withheld) -> str:
    """``user via source/name: reason [missing...]``."""
    via = {"user": "user", "alert_group": entry.alert_group, "automatic_alert": entry.rule}
    text = f"{entry.user} via {via[entry.source]}: {entry.reason}"
    if entry.missing:
        text += " " + ",".join(f"{m.permission}@{m.category}" for m in entry.missing)
    return text


def summary(decision: Decision) -> dict:
    """What a safeguarding lead checks in a decision."""
    return {
        "accepted": decision.accepted,
        "rejection": decision.rejection.code if decision.rejection else None,
        "recipients": {
            r.user: (r.access, [reason_text(reason) for reason in r.reasons])
            for r in decision.recipients
        },
        "withheld": [withheld_text(w) for w in decision.withheld],
        "warnings": [f"{w.code}:{w.user}" if w.user else w.code for w in decision.warnings],
    }


def outcome(recipients=None, withheld=(), warnings=(), rejection=None) -> dict:
    """The expected summary."""
    return {
        "accepted": rejection is None,
        "rejection": rejection,
        "recipients": recipients or {},
        "withheld": list(withheld),
        "warnings": list(warnings),
    }


def test_chosen_user_is_alerted(decide: Decide) -> None:
    assert summary(decide("eval-school", "chosen-user")) == outcome({"jsmith": ("full", ["user"])})


def test_chosen_alert_group_alerts_its_user_groups_members_and_withholds_the_inactive(
    decide: Decide,
) -> None:
    assert summary(decide("eval-school", "chosen-alert-group")) == outcome(
        {
            "amoss": ("none", ["attendance-to-office(category=Attendance)"]),
            "jsmith": ("full", ["alert_group:DSLs"]),
            "rpatel": ("needs_key", ["alert_group:DSLs"]),
        },
        withheld=["dformer via DSLs: inactive"],
    )


def test_inactive_chosen_user_is_withheld(decide: Decide) -> None:
    assert summary(decide("eval-school", "inactive-chosen-user")) == outcome(
        {"jsmith": ("full", ["user"])}, withheld=["oleft via user: inactive"]
    )


def test_chosen_recipient_without_access_still_gets_it_with_a_warning(decide: Decide) -> None:
    decision = decide("eval-school", "chosen-without-access")
    assert summary(decision) == outcome(
        {"tteach": ("none", ["user"])}, warnings=["recipient_cannot_open:tteach"]
    )
    assert "Tom Teach" in decision.warnings[0].message


def test_match_any_fires_on_a_listed_student(decide: Decide) -> None:
    assert summary(decide("eval-school", "match-any")) == outcome(
        {"hyear7": ("full", ["watch-list-to-head-of-year(student=S1042)"])}
    )


def test_match_all_fires_when_every_listed_kind_matches(decide: Decide) -> None:
    assert summary(decide("eval-school", "match-all")) == outcome(
        {
            "hyear7": ("full", ["year7-to-head-of-year(student_group=Year 7)"]),
            "tteach": (
                "none",
                ["year7-bullying-to-tutor(category=Bullying,student_group=Year 7)"],
            ),
        },
        withheld=["oleft via year7-bullying-to-tutor: inactive"],
    )


def test_match_all_does_not_fire_on_one_kind_alone(decide: Decide) -> None:
    # Bullying, but in Year 8: the Year 7 tutor rule does not fire; nobody chose anyone.
    assert summary(decide("eval-school", "match-all-partial")) == outcome(
        rejection="no_alert_chosen"
    )


def test_student_group_trigger(decide: Decide) -> None:
    assert summary(decide("eval-school", "student-group")) == outcome(
        {
            "amoss": ("none", ["attendance-to-office(category=Attendance)"]),
            "hyear7": ("full", ["year7-to-head-of-year(student_group=Year 7)"]),
        }
    )


def test_every_category_gate_names_the_missing_permissions(decide: Decide) -> None:
    # Self-harm + bullying: the DSLs ("*") pass; the tutor and the head of year lack
    # permissions on Self-harm and are withheld, saying so.
    assert summary(decide("eval-school", "every-category-gate")) == outcome(
        {
            "jsmith": ("full", ["self-harm-to-dsls(category=Self-harm)"]),
            "rpatel": ("needs_key", ["self-harm-to-dsls(category=Self-harm)"]),
        },
        withheld=[
            "dformer via self-harm-to-dsls: inactive",
            "hyear7 via year7-to-head-of-year: missing_permission "
            "view_incidents@Self-harm,view_students@Self-harm",
            "oleft via year7-bullying-to-tutor: inactive",
            "tteach via year7-bullying-to-tutor: missing_permission "
            "view_incidents@Self-harm,view_students@Self-harm",
        ],
    )


def test_any_category_gate_needs_permission_on_one_category(decide: Decide) -> None:
    assert summary(decide("eval-any-category", "any-category")) == outcome(
        {"tteach": ("full", ["bullying-to-tutor(category=Bullying)"])}
    )


def test_access_full_needs_key_and_none(decide: Decide) -> None:
    assert summary(decide("eval-school", "access-levels")) == outcome(
        {
            "jsmith": ("full", ["user"]),
            "rpatel": ("needs_key", ["user"]),
            "tteach": ("none", ["user"]),
        },
        warnings=["recipient_cannot_open:tteach"],
    )


def test_user_reached_several_ways_appears_once_with_every_reason(decide: Decide) -> None:
    decision = decide("eval-school", "several-ways")
    assert summary(decision)["recipients"]["jsmith"] == (
        "full",
        ["alert_group:DSLs", "self-harm-to-dsls(category=Self-harm)", "user"],
    )
    assert [r.user for r in decision.recipients] == ["jsmith", "rpatel"]


def test_a_recipient_is_never_withheld(decide: Decide) -> None:
    # Tom is chosen, so he receives it, although the tutor rule alone would withhold him.
    decision = decide("eval-school", "recipient-never-withheld")
    assert summary(decision)["recipients"]["tteach"] == ("none", ["user"])
    assert not [w for w in decision.withheld if w.user == "tteach"]
    assert "hyear7 via year7-to-head-of-year: missing_permission " in " ".join(
        summary(decision)["withheld"]
    )


def test_enforcement_rejects_when_nothing_chosen_and_no_automatic_alert(decide: Decide) -> None:
    decision = decide("eval-school", "no-alert-chosen")
    assert summary(decision) == outcome(rejection="no_alert_chosen")
    assert "Choose at least one user or alert group" in decision.rejection.message


def test_enforcement_rejects_when_every_chosen_user_is_inactive(decide: Decide) -> None:
    assert summary(decide("eval-school", "no-recipients")) == outcome(
        withheld=["oleft via user: inactive"], rejection="no_recipients"
    )


def test_automatic_alerts_may_not_count_for_enforcement(decide: Decide) -> None:
    decision = decide("eval-must-choose", "must-choose")
    assert summary(decision) == outcome(rejection="no_alert_chosen")
    assert "automatic alerts do not count" in decision.rejection.message


def test_enforcement_off_accepts_an_incident_that_alerts_nobody_with_a_warning(
    decide: Decide,
) -> None:
    assert summary(decide("eval-no-enforcement", "nobody-alerted")) == outcome(
        warnings=["nobody_alerted"]
    )


def test_alert_group_membership_follows_the_user_group_at_this_revision(
    decide: Decide, policies: dict[str, Policy], request
) -> None:
    # Move Ravi out of the DSL user group: the DSLs alert group no longer reaches him.
    school = policies["eval-school"]
    users = dict(school.users)
    users["rpatel"] = dataclasses.replace(users["rpatel"], user_group="Pastoral")
    moved = dataclasses.replace(school, users=users, revision="sha256:moved")
    incident = read_incident("chosen-alert-group", moved)
    if request.node.callspec.params["decide"] == "reference":
        decision = reference_decision(moved, incident)
    else:
        with compile_policy(moved) as revision:
            decision = evaluate_incident(revision, incident)
    assert "rpatel" not in summary(decision)["recipients"]
    assert decision.policy_revision == "sha256:moved"


def test_decisions_are_deterministic_whatever_the_input_order(
    decide: Decide, policies: dict[str, Policy], compiled: dict[str, CompiledPolicy]
) -> None:
    school = policies["eval-school"]
    incident = read_incident("every-category-gate", school)
    shuffled = dataclasses.replace(
        incident,
        categories=tuple(reversed(incident.categories)),
        students=tuple(
            dataclasses.replace(s, groups=tuple(reversed(s.groups))) for s in incident.students
        ),
    )
    first = decide("eval-school", "every-category-gate")
    again = evaluate_incident(compiled["eval-school"], shuffled)
    assert json.dumps(first.to_json()) == json.dumps(again.to_json())
    assert [r.user for r in first.recipients] == sorted(r.user for r in first.recipients)
    assert list(first.withheld) == sorted(first.withheld)
