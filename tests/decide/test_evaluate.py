"""The engine (durable-rules) against the reference evaluator, the decision schema, threads."""

from __future__ import annotations

import dataclasses
import json
import threading
from importlib.resources import files

from hypothesis import given
from jsonschema import Draft202012Validator

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.compiled import compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.decide.explain import explain_decision
from alertpolicy.engine.model import ChosenAlerts, Incident, Student
from tests.helpers import TESTDATA
from tests.reference import reference_decision
from tests.strategies import ENGINE_SETTINGS, policy_with_incidents

DECISION_SCHEMA = Draft202012Validator(
    json.loads((files("alertpolicy.schemas") / "decision.schema.json").read_text("utf-8"))
)


@ENGINE_SETTINGS
@given(policy_with_incidents(count=20))
def test_engine_decides_exactly_as_the_reference(case) -> None:
    policy, incidents = case
    with compile_policy(policy) as compiled:
        for incident in incidents:
            decision = evaluate_incident(compiled, incident)
            assert decision == reference_decision(policy, incident)
            assert decision.to_json() == reference_decision(policy, incident).to_json()


@ENGINE_SETTINGS
@given(policy_with_incidents(count=5))
def test_every_decision_matches_the_schema_and_can_be_explained(case) -> None:
    policy, incidents = case
    with compile_policy(policy) as compiled:
        for incident in incidents:
            decision = evaluate_incident(compiled, incident)
            errors = [e.message for e in DECISION_SCHEMA.iter_errors(decision.to_json())]
            assert errors == []
            assert f"Incident {incident.id}:" in explain_decision(decision)


@ENGINE_SETTINGS
@given(policy_with_incidents(count=5))
def test_duplicated_categories_and_students_decide_like_the_deduplicated_incident(case) -> None:
    policy, incidents = case
    with compile_policy(policy) as compiled:
        for incident in incidents:
            doubled = dataclasses.replace(
                incident,
                categories=incident.categories * 2,
                students=incident.students * 2,
                alerts=ChosenAlerts(incident.alerts.users * 2, incident.alerts.alert_groups * 2),
            )
            assert evaluate_incident(compiled, doubled) == evaluate_incident(compiled, incident)


def test_fixture_decisions_match_the_schema() -> None:
    policy = load_policy(TESTDATA / "policies" / "eval-school")
    with compile_policy(policy) as compiled:
        for path in sorted((TESTDATA / "incidents").glob("eval-*.json")):
            incident = parse_incident(json.loads(path.read_text("utf-8")), policy)
            decision = evaluate_incident(compiled, incident).to_json()
            assert [e.message for e in DECISION_SCHEMA.iter_errors(decision)] == []


def test_the_schema_refuses_a_rejected_decision_with_recipients() -> None:
    policy = load_policy(TESTDATA / "policies" / "eval-school")
    raw = json.loads((TESTDATA / "incidents" / "eval-no-recipients.json").read_text("utf-8"))
    decision = reference_decision(policy, parse_incident(raw, policy)).to_json()
    decision["recipients"] = [
        {"user": "jsmith", "name": "Jane Smith", "email": "j@x", "access": "full", "reasons": []}
    ]
    assert list(DECISION_SCHEMA.iter_errors(decision))


def test_many_threads_get_the_same_decisions_as_one() -> None:
    policy = load_policy(TESTDATA / "policies" / "eval-school")
    groups = [("7A", "Year 7"), ("8B", "Year 8"), ("9C",)]
    categories = [("Bullying",), ("Self-harm", "Bullying"), ("Attendance",), ("Online safety",)]
    incidents = [
        Incident(
            f"INC-{n}",
            categories[n % 4],
            (Student("S1042" if n % 5 == 0 else f"S{n}", groups[n % 3]),),
            ChosenAlerts(alert_groups=("DSLs",) if n % 7 == 0 else ()),
        )
        for n in range(200)
    ]
    with compile_policy(policy) as compiled:
        expected = [evaluate_incident(compiled, incident) for incident in incidents]
        results: dict[int, list] = {}
        start = threading.Barrier(8)

        def worker(number: int) -> None:
            start.wait()
            results[number] = [evaluate_incident(compiled, incident) for incident in incidents]

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert expected == [reference_decision(policy, incident) for incident in incidents]
    assert len(results) == 8
    assert all(decisions == expected for decisions in results.values())


def two_academies_decision(case: str) -> dict:
    """The engine's decision (as JSON) on incident ``case`` of the two-academy trust."""
    policy = load_policy(TESTDATA / "policies" / "two-academies")
    raw = json.loads((TESTDATA / "incidents" / f"two-academies-{case}.json").read_text("utf-8"))
    incident = parse_incident(raw, policy)
    with compile_policy(policy) as compiled:
        decision = evaluate_incident(compiled, incident)
    assert decision == reference_decision(policy, incident)
    return decision.to_json()


def reasons_by_user(decision: dict) -> dict[str, list[tuple[str, dict]]]:
    """Each recipient's automatic-alert reasons as (rule, matched) pairs."""
    return {
        r["user"]: [(reason["rule"], reason["matched"]) for reason in r["reasons"]]
        for r in decision["recipients"]
    }


def test_an_academy_scoped_rule_fires_only_for_its_own_academys_students() -> None:
    decision = two_academies_decision("oakfield-watch-list")
    assert decision["withheld"] == [] and decision["accepted"]
    academy = {"student_group": "Oakfield Academy"}
    assert reasons_by_user(decision) == {
        "odsl": [
            ("oakfield-bullying-to-dsls", {"category": "Bullying", **academy}),
            ("oakfield-self-harm-to-dsls", {"category": "Self-harm", **academy}),
            (
                "oakfield-watch-list-bullying",
                {"category": "Bullying", "student": "O100", **academy},
            ),
        ],
        "ohoy9": [
            ("oakfield-year9-pastoral", {"category": "Bullying", "student_group": "Oakfield 9B"})
        ],
    }


def test_a_trust_wide_rule_fires_in_every_academy_beside_the_academys_own() -> None:
    decision = two_academies_decision("riverside-radicalisation")
    assert reasons_by_user(decision) == {
        "rdsl": [
            (
                "riverside-bullying-to-dsls",
                {"category": "Bullying", "student_group": "Riverside Academy"},
            )
        ],
        "tlead": [("trust-radicalisation-to-lead", {"category": "Radicalisation"})],
    }


@ENGINE_SETTINGS
@given(policy_with_incidents(count=5))
def test_groups_no_rule_names_change_nothing_but_warnings(case) -> None:
    policy, incidents = case
    with compile_policy(policy) as compiled:
        for incident in incidents:
            extra = tuple(f"Unnamed set {n}" for n in range(200))
            padded = dataclasses.replace(
                incident,
                students=tuple(
                    dataclasses.replace(s, groups=s.groups + extra) for s in incident.students
                ),
            )
            decision = evaluate_incident(compiled, padded)
            assert decision == reference_decision(policy, padded)
            plain = evaluate_incident(compiled, incident)
            assert (decision.recipients, decision.withheld) == (plain.recipients, plain.withheld)
