"""The coverage guard: what a candidate revision loses against the revision serving."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings

from alertpolicy.engine.audit.alertmap import AlertMap
from alertpolicy.engine.audit.guard import Coverage, alert_routes, compare_coverage, coverage_of
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.errors import Problem
from alertpolicy.engine.model import Policy
from tests import strategies
from tests.helpers import EXAMPLE_POLICY, TESTDATA, edit

SMALL_SCHOOL = TESTDATA / "policies" / "small-school"


def coverage(path: Path) -> Coverage:
    return coverage_of(load_policy(path))


@pytest.fixture
def school(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(SMALL_SCHOOL, target)
    return target


def after(school: Path, change: Callable[[Path], None]) -> list[tuple[str, str]]:
    """(code, message) of each reason the guard gives for ``change`` to ``school``."""
    before = coverage(school)
    change(school)
    return [(p.code, p.message) for p in compare_coverage(before, coverage(school))]


def test_the_same_revision_loses_nothing() -> None:
    assert compare_coverage(coverage(EXAMPLE_POLICY), coverage(EXAMPLE_POLICY)) == ()


def test_routes_are_the_users_the_alert_map_alerts_per_trigger() -> None:
    routes = alert_routes(load_policy(SMALL_SCHOOL))
    assert ("jsmith", "category", "Self-harm") in routes
    assert ("jsmith", "student", "S1042") in routes
    assert ("oleft", "category", "Bullying") not in routes  # inactive
    assert ("tteach", "alert_group", "Year 7 Team") in routes
    assert len(routes) == 15


def test_a_permission_revoked_adds_a_rule_that_can_never_send(school: Path) -> None:
    reasons = after(
        school,
        edit(
            "user_groups.yaml",
            "      Bullying: [view_students, view_incidents, add_incidents]",
            "      Bullying: [view_students, add_incidents]",
        ),
    )
    added = [message for code, message in reasons if code == "guard-warning-added"]
    assert any("rule-never-sends" in m and "bullying-to-pastoral" in m for m in added)


def test_enforcement_switched_off_is_a_warning_added(school: Path) -> None:
    reasons = after(
        school,
        edit(
            "settings.yaml", "enforce_at_least_one_alert: true", "enforce_at_least_one_alert: false"
        ),
    )
    assert [code for code, _ in reasons] == ["guard-warning-added"]
    assert "enforcement-off" in reasons[0][1]


def test_an_alert_group_emptied_is_a_warning_added(school: Path) -> None:
    reasons = after(
        school,
        edit("alert_groups.yaml", "members: {users: [mokafor, tteach]}", "members: {}"),
    )
    assert any("alert-group-empty" in message for _, message in reasons)


def test_renaming_a_user_in_a_warning_it_already_had_adds_nothing(school: Path) -> None:
    edit(
        "user_groups.yaml",
        "      Bullying: [view_students, view_incidents, add_incidents]",
        "      Bullying: [view_students, add_incidents]",
    )(school)
    assert after(school, edit("users.yaml", "Rachel Brown", "Rachel Browne")) == []


def test_a_rule_moved_to_another_file_is_not_a_lost_file(school: Path) -> None:
    def move(policy: Path) -> None:
        text = (policy / "automatic_alerts.yaml").read_text(encoding="utf-8")
        (policy / "automatic_alerts.yaml").unlink()
        (policy / "safeguarding" / "rules.yaml").parent.mkdir()
        (policy / "safeguarding" / "rules.yaml").write_text(text, encoding="utf-8")

    assert after(school, move) == []


def test_a_file_emptied_names_what_it_defined(school: Path) -> None:
    extra = school / "tutors.yaml"
    extra.write_text(
        "automatic_alerts:\n"
        "  - {id: year7-bullying-to-tutor, notify: {users: [tteach]},\n"
        "     when: {categories: [Bullying], student_groups: [Year 7]}, match: all}\n"
        "  - {id: year8-bullying-to-tutor, notify: {users: [tteach]},\n"
        "     when: {categories: [Bullying], student_groups: [Year 8]}, match: all}\n",
        encoding="utf-8",
    )
    reasons = after(school, lambda p: (p / "tutors.yaml").write_text("# moving\n"))
    emptied = [message for code, message in reasons if code == "guard-file-emptied"]
    assert len(emptied) == 1
    assert "tutors.yaml defines nothing any more" in emptied[0]
    assert "2 automatic alerts (year7-bullying-to-tutor, year8-bullying-to-tutor)" in emptied[0]


def test_the_route_threshold_is_a_share_of_the_serving_routes(school: Path) -> None:
    before = coverage(school)
    edit("users.yaml", "user_group: Pastoral}", "user_group: Pastoral, active: false}")(school)
    now = coverage(school)  # rbrown inactive: loses 3 of 15 routes (20%)

    def lost(share: float) -> list[Problem]:
        reasons = compare_coverage(before, now, share)
        return [p for p in reasons if p.code == "guard-routes-lost"]

    assert lost(0.25) == []
    [reason] = lost(0.10)
    assert reason.code == "guard-routes-lost"
    assert "3 of the 15" in reason.message and "rbrown (3)" in reason.message
    assert reason.value == {"lost": 3, "routes": 15, "users": ["rbrown"]}


@settings(strategies.ENGINE_SETTINGS, max_examples=100)
@given(strategies.policies())
def test_alert_routes_are_the_alerted_standings_of_the_alert_map(policy: Policy) -> None:
    amap = AlertMap(policy, with_access=False)
    standings = {
        (user, trigger.kind, trigger.value)
        for trigger in amap.triggers()
        for user, standing in amap.standings(trigger).items()
        if standing.alerted_in
    }
    assert alert_routes(policy) == standings
