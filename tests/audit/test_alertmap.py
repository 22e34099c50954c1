"""The alert map agrees with the engine, trigger by trigger and query by query."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertpolicy.engine.audit.alertmap import INCIDENT, AlertMap, Standing, Trigger, Via
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.model import Decision, Incident, Policy
from tests import strategies
from tests.helpers import TESTDATA, engine_for, trigger_incident, unenforced
from tests.reference import reference_decision, visible

SMALL_SCHOOL = TESTDATA / "policies" / "small-school"
AUDIT_SCHOOL = TESTDATA / "policies" / "audit-map"
Decide = Callable[[Incident], Decision]


def decided_pairs(decision: Decision) -> tuple[set, set]:
    """(user, rule or alert group) pairs alerted, and (user, source key, reason) withheld."""
    alerted = {
        (r.user, reason.rule or reason.alert_group)
        for r in decision.recipients
        for reason in r.reasons
        if reason.source != "user"
    }
    withheld = {
        (w.user, w.rule or w.alert_group, w.reason) for w in decision.withheld if w.source != "user"
    }
    return alerted, withheld


def withheld_reason(standing: Standing) -> str:
    """Why the map says a user is withheld, in a decision's words."""
    return "inactive" if standing.inactive else "missing_permission"


def in_their_groups(incident: Incident, standing: Standing) -> Incident:
    """``incident`` with its first student also in the first group ``standing`` is
    restricted to (so that the restricted user can see them)."""
    assert standing.restricted_to is not None
    first, *others = incident.students
    seen = replace(first, groups=(*first.groups, standing.restricted_to[0]))
    return replace(incident, students=(seen, *others))


def check_map(policy: Policy, decide: Decide) -> int:
    """Every trigger's standings equal the engine's decision on that trigger's incident.

    A user whose standing says they are alerted only for students in some groups (a class
    restriction) is withheld for the trigger's own incident and alerted once its student
    is also in one of those groups.
    """
    amap = AlertMap(policy)
    checked = 0
    for trigger in amap.triggers():
        standings = amap.standings(trigger)
        keys = {r.id for r in amap.rules_for(trigger)} or {trigger.value}
        categories = (trigger.value,) if trigger.kind == "category" else policy.categories
        for category in categories:
            incident = trigger_incident(amap, trigger, category)
            decision = decide(incident)
            alerted, withheld = decided_pairs(decision)
            expected_alerted, expected_withheld = set(), set()
            for user, standing in standings.items():
                here = INCIDENT if trigger.kind in ("category", "alert_group") else category
                names = {r.rule or r.via.name for r in standing.reaches}
                restricted = standing.restricted_to is not None and here in standing.automatic_in
                unseen = restricted and not visible(standing.restricted_to or (), incident)
                for name in names:
                    if here in standing.alerted_in and unseen and name in keys:
                        expected_withheld.add((user, name, "class_restriction"))
                    elif here in standing.alerted_in:
                        expected_alerted.add((user, name))
                    elif here in standing.withheld_in:
                        expected_withheld.add((user, name, withheld_reason(standing)))
                if unseen:
                    seen, _ = decided_pairs(decide(in_their_groups(incident, standing)))
                    assert {(user, n) for n in names} <= seen, (trigger, user)
                elif here in standing.alerted_in and standing.access is not None:
                    recipient = next(r for r in decision.recipients if r.user == user)
                    assert recipient.access == standing.access, (trigger, user)
            assert {p for p in alerted if p[1] in keys} == expected_alerted, (trigger, category)
            assert {w for w in withheld if w[1] in keys} == expected_withheld, (trigger, category)
            checked += 1
    return checked


def check_query(policy: Policy, incident: Incident, decide: Decide) -> None:
    """A query with an incident's values equals the engine's decision on it."""
    incident = replace(incident, alerts=replace(incident.alerts, users=()))
    standings = AlertMap(policy).query(
        categories=incident.categories,
        students=incident.student_ids(),
        student_groups=incident.student_groups(),
        alert_groups=incident.alerts.alert_groups,
    )
    alerted, withheld = decided_pairs(decide(incident))
    expected_alerted, expected_withheld = set(), set()
    for user, standing in standings.items():
        for reach in standing.reaches:
            name = reach.rule or reach.via.name
            restricted = reach.rule is not None and standing.restricted_to is not None
            chosen = any(r.rule is None for r in standing.reaches)
            if restricted and standing.automatic_in:
                if not chosen:  # a chosen recipient is never also withheld
                    expected_withheld.add((user, name, "class_restriction"))
            elif standing.automatic_in if reach.rule else standing.alerted_in:
                expected_alerted.add((user, name))
            elif not standing.alerted_in:
                expected_withheld.add((user, name, withheld_reason(standing)))
    assert alerted == expected_alerted
    assert withheld == expected_withheld


@pytest.mark.parametrize("fixture", [SMALL_SCHOOL, AUDIT_SCHOOL], ids=lambda p: p.name)
def test_every_trigger_of_a_fixture_matches_the_engine(fixture: Path) -> None:
    policy = load_policy(fixture)
    with engine_for(policy) as decide:
        assert check_map(policy, decide) > 10


@settings(strategies.ENGINE_SETTINGS, max_examples=40)
@given(strategies.policies())
def test_every_trigger_of_random_policies_matches_the_engine(policy: Policy) -> None:
    with engine_for(policy) as decide:
        check_map(policy, decide)


@settings(strategies.ENGINE_SETTINGS, max_examples=300)
@given(strategies.policy_with_incidents(count=5))
def test_queries_with_categories_match_the_reference(case: tuple) -> None:
    policy, incidents = case
    for incident in incidents:
        check_query(policy, incident, lambda i: reference_decision(unenforced(policy), i))


@settings(strategies.ENGINE_SETTINGS, max_examples=300)
@given(strategies.policies(), st.data())
def test_open_category_query_is_each_category_answer(policy: Policy, data: st.DataObject) -> None:
    """``who --student S`` (no category) says per category what ``--category C`` adds."""
    students = data.draw(strategies.subset(strategies.STUDENTS, min_size=1))
    groups = data.draw(strategies.subset(strategies.STUDENT_GROUPS))
    amap = AlertMap(policy)
    open_answer = amap.query(students=students, student_groups=groups)
    for category in policy.categories:
        fixed = amap.query(categories=[category], students=students, student_groups=groups)
        by_category = {
            u: s for u, s in amap.standings(Trigger("category", category)).items() if s.reaches
        }
        for user, standing in fixed.items():
            rules = set(standing.rules())
            own = set(open_answer[user].rules()) if user in open_answer else set()
            only_category = set(by_category[user].rules()) if user in by_category else set()
            if category in (open_answer[user].alerted_in if user in open_answer else ()):
                assert standing.alerted_in
            assert rules <= own | only_category


def test_gate_depends_on_category_for_a_student_trigger() -> None:
    policy = load_policy(AUDIT_SCHOOL)
    standing = AlertMap(policy).standings(Trigger("student", "S2001"))["kbaker"]
    assert standing.status == "depends"
    assert standing.alerted_in == {"Attendance", "Bullying"}
    assert "Self-harm" in standing.withheld_in


def test_inactive_users_are_withheld_and_memberships_say_how() -> None:
    policy = load_policy(AUDIT_SCHOOL)
    amap = AlertMap(policy)
    left = amap.standings(Trigger("alert_group", "Year 7 Team"))["oleft"]
    assert left.status == "withheld" and left.inactive
    profile = amap.profile("pdavies")
    assert Via("alert_group", "DSLs", "DSL") in profile.alert_groups


def test_profile_notes_where_permissions_stop_an_alert() -> None:
    policy = load_policy(AUDIT_SCHOOL)
    profile = AlertMap(policy).profile("tteach")
    by_rule = {a.rule: a for a in profile.alerts}
    assert by_rule["year7-bullying-to-tutor"].blocked_categories == ("Bullying",)


def test_map_is_deterministic() -> None:
    policy = load_policy(AUDIT_SCHOOL)
    first = [(t, AlertMap(policy).standings(t)) for t in AlertMap(policy).triggers()]
    second = [(t, AlertMap(policy).standings(t)) for t in AlertMap(policy).triggers()]
    assert first == second
    assert [t for t, _ in first] == sorted((t for t, _ in first), key=Trigger.sort_key)


@settings(strategies.ENGINE_SETTINGS, max_examples=300)
@given(strategies.policies())
def test_standings_of_some_users_are_those_of_the_whole_map(policy: Policy) -> None:
    amap, fresh = AlertMap(policy), AlertMap(policy)
    for trigger in amap.triggers():
        everyone = amap.standings(trigger)
        for user in policy.users:
            alone = fresh.standings(trigger, frozenset({user}))
            assert alone == ({user: everyone[user]} if user in everyone else {}), (trigger, user)
