"""``alertpolicy who``: who is alerted or withheld for a trigger, and a user's own triggers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from alertpolicy.cli import main
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.model import ChosenAlerts, Incident, Student
from tests.helpers import TESTDATA, engine_for

POLICY = TESTDATA / "policies" / "audit-map"


def who(*args: str) -> tuple[int, str]:
    """Run ``alertpolicy who`` on the audit-map policy: exit code and output."""
    result = CliRunner().invoke(main, ["who", "--policy", str(POLICY), *args])
    return result.exit_code, result.output


def test_combined_triggers_answer_for_one_incident() -> None:
    code, out = who("--category", "Bullying", "--student-group", "Year 7")
    assert code == 0
    assert "kbaker (Kate Baker), access full" in out
    assert "rule bullying-to-heads-of-year (category Bullying), as a member of user group" in out
    withheld = out[out.index("Withheld (2):") :]
    assert "oleft (Olive Left)" in withheld and "why: inactive user" in withheld
    assert "tteach (Tom Teach)" in withheld
    assert "lacks view_incidents on Bullying; view_students on Bullying" in withheld


def test_json_answer_is_the_engines_decision() -> None:
    code, out = who(
        "--category", "Bullying", "--student", "S2001", "--alert-group", "DSLs", "--format", "json"
    )
    assert code == 0
    answer = json.loads(out)
    policy = load_policy(POLICY)
    incident = Incident(
        "INC-who",
        ("Bullying",),
        (Student("S2001"),),
        ChosenAlerts(alert_groups=("DSLs",)),
    )
    with engine_for(policy) as decide:
        decision = decide(incident)
    assert [(a["user"], a["access"]) for a in answer["alerted"]] == [
        (r.user, r.access) for r in decision.recipients
    ]
    assert sorted({w["user"] for w in answer["withheld"]}) == sorted(
        {w.user for w in decision.withheld}
    )


def test_student_without_category_says_which_categories() -> None:
    code, out = who("--student", "S2001")
    assert code == 0
    assert "kbaker (Kate Baker); alerted for incidents in categories: Attendance, Bullying" in out
    assert (
        "kbaker (Kate Baker); withheld for: Child-on-child abuse, Online safety, Self-harm" in out
    )
    assert "add --category for the whole answer" in out


def test_alert_group_lists_members_and_inactive_ones() -> None:
    code, out = who("--alert-group", "Year 7 Team", "--format", "json")
    assert code == 0
    answer = json.loads(out)
    assert [a["user"] for a in answer["alerted"]] == ["kbaker", "tteach"]
    assert [(w["user"], w["reason"]) for w in answer["withheld"]] == [("oleft", "inactive")]


def test_user_profile_lists_own_triggers_and_memberships() -> None:
    code, out = who("--user", "tteach")
    assert code == 0
    assert (
        "year7-bullying-to-tutor: category Bullying and student group Year 7 (named directly)"
        in out
    )
    assert "note: their permissions stop this alert for incidents in: Bullying" in out
    assert "Year 7 Team (directly)" in out
    code, out = who("--user", "pdavies", "--format", "json")
    profile = json.loads(out)["users"][0]
    assert profile["alert_groups"] == [{"alert_group": "DSLs", "via_user_group": "DSL"}]
    assert [a["rule"] for a in profile["automatic_alerts"]] == ["self-harm-to-dsls"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say what to ask about"),
        (("--user", "tteach", "--category", "Bullying"), "cannot be combined"),
        (("--category", "Bulling"), "not in the policy: Bulling"),
        (("--user", "nobody"), "not in the policy: nobody"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    code, out = who(*args)
    assert code == 2
    assert message in out


def test_output_is_deterministic() -> None:
    args = ("--category", "Self-harm", "--student-group", "Year 7", "--format", "json")
    assert who(*args) == who(*args)
