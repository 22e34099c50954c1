"""``who`` and ``diff`` understand SPEC section 7: each change to it is its own cause.

The base is ``tests/testdata/policies/eval-domain-depth``; each head is a copy of it with
one file edited on disk, as a school's pull request would.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import jsonschema

from alertpolicy.engine.audit.alertmap import AlertMap, Trigger
from alertpolicy.engine.audit.diff import AlertChange, PolicyDiff, diff_policies
from alertpolicy.engine.audit.report import diff_text, who_json, who_text
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.model import Policy
from tests.helpers import POLICIES, SCHEMAS, edit

BASE = POLICIES / "eval-domain-depth"


def diff_after(tmp_path: Path, *edits: Callable[[Path], None]) -> tuple[PolicyDiff, Policy]:
    """The diff from the base to a copy with ``edits`` applied, and the head policy."""
    head = tmp_path / "head"
    shutil.copytree(BASE, head)
    for change in edits:
        change(head)
    head_policy = load_policy(head)
    result = diff_policies(load_policy(BASE), head_policy)
    schema = json.loads((SCHEMAS / "diff.schema.json").read_text("utf-8"))
    jsonschema.validate(result.to_json(), schema)
    return result, head_policy


def changes_of(diff: PolicyDiff, user: str) -> list[AlertChange]:
    return [c for c in diff.changes if c.user == user]


def test_a_sub_category_added_is_its_own_cause(tmp_path: Path) -> None:
    diff, _ = diff_after(
        tmp_path,
        edit(
            "policy.yaml",
            "  - {name: Cyberbullying, parent: Bullying}\n",
            "  - {name: Cyberbullying, parent: Bullying}\n  - {name: Sexting, parent: Bullying}\n",
        ),
    )
    [change] = [
        c for c in changes_of(diff, "hyear7") if c.trigger == Trigger("category", "Sexting")
    ]
    assert change.change == "gains"
    assert change.causes == ("category Sexting added (a sub-category of Bullying)",)
    assert ("category_added", "Sexting") in {(p.kind, p.subject) for p in diff.policy_changes}


def test_a_category_moved_under_a_parent_is_its_own_cause(tmp_path: Path) -> None:
    diff, _ = diff_after(
        tmp_path,
        edit("policy.yaml", "  - Attendance\n", "  - {name: Attendance, parent: Bullying}\n"),
    )
    trigger = Trigger("category", "Attendance")
    gains = {c.user for c in diff.changes if c.trigger == trigger and c.change == "gains"}
    assert gains == {"tteach", "ccover", "cnew"}  # the Bullying rules now fire for it
    for change in diff.changes:
        if change.trigger == trigger:
            assert "category Attendance made a sub-category of Bullying" in change.causes
    assert [p.detail for p in diff.policy_changes if p.kind == "category_moved"] == [
        "category Attendance made a sub-category of Bullying"
    ]


def test_a_restriction_added_changes_whom_an_alert_is_for_not_whether(tmp_path: Path) -> None:
    diff, _ = diff_after(
        tmp_path,
        edit(
            "policy.yaml",
            "  tteach: {name: Tom Teach, email: tteach@brookfield.example, "
            "user_group: Teaching Staff, key_holder: true}",
            "  tteach: {name: Tom Teach, email: tteach@brookfield.example, "
            "user_group: Teaching Staff, key_holder: true, restricted_to: {student_groups: [8A]}}",
        ),
    )
    found = changes_of(diff, "tteach")
    assert found and {c.change for c in found} == {"restriction_changed"}
    bullying = next(c for c in found if c.trigger == Trigger("category", "Bullying"))
    assert bullying.detail == "now alerted for students in 8A (before: any student)"
    assert bullying.causes == ("user tteach restricted to students in 8A",)
    assert "class restriction changes" in "\n".join(diff_text(diff))


def test_a_restriction_widened_is_its_own_cause(tmp_path: Path) -> None:
    diff, _ = diff_after(
        tmp_path,
        edit(
            "policy.yaml",
            "restricted_to: {student_groups: [7A, 7B]}",
            "restricted_to: {student_groups: [7A, 7B, 8A]}",
        ),
    )
    found = changes_of(diff, "ccover")
    assert found and {c.change for c in found} == {"restriction_changed"}
    assert found[0].causes == ("user group Cover: class restriction widened (+8A)",)
    # Carl's own restriction replaces the group's: nothing changes for him.
    assert not changes_of(diff, "cnew")
    assert ("restriction_widened", "Cover") in {(p.kind, p.subject) for p in diff.policy_changes}


def test_switching_the_gate_off_is_its_own_cause(tmp_path: Path) -> None:
    diff, _ = diff_after(
        tmp_path,
        edit(
            "policy.yaml",
            "automatic_alert_permission: every_category",
            "automatic_alert_permission: none",
        ),
    )
    [setting] = diff.settings
    assert setting.effect.startswith("permission gate switched off")
    gained = [c for c in diff.changes if c.change == "gains"]
    assert gained, "a group without the permissions now gets the alerts"
    for change in gained:
        assert "setting automatic_alert_permission every_category -> none" in change.causes


def test_who_with_a_student_group_answers_for_restricted_users() -> None:
    amap = AlertMap(load_policy(BASE))
    open_answer = amap.query(categories=["Bullying"])
    assert open_answer["ccover"].restricted_to == ("7A", "7B")
    assert open_answer["cnew"].restricted_to == ("7B",)
    in_7a = amap.query(categories=["Bullying"], student_groups=["7A"])
    assert in_7a["ccover"].restricted_to is None and in_7a["ccover"].alerted_in
    assert in_7a["cnew"].restricted_to == ("7B",)
    query = {"categories": ["Bullying"], "student_groups": ["7A"]}
    text = "\n".join(who_text(amap, in_7a, query))
    assert "cnew (Carl New), access full; only for students in 7B (class restriction" in text
    answer = who_json(amap, in_7a, query)
    cnew = next(a for a in answer["alerted"] if a["user"] == "cnew")
    assert cnew["only_for_students_in"] == ["7B"]
    assert "only_for_students_in" not in next(a for a in answer["alerted"] if a["user"] == "ccover")


def test_who_for_a_sub_category_names_the_parent_rule() -> None:
    amap = AlertMap(load_policy(BASE))
    standings = amap.standings(Trigger("category", "Cyberbullying"))
    reaches = {r.rule: r.matched for r in standings["hyear7"].reaches}
    assert reaches == {"bullying-to-head-of-year": "category Cyberbullying"}
    answer = amap.query(categories=["Cyberbullying"])
    [reach] = answer["hyear7"].reaches
    assert reach.matched == "category Cyberbullying (a sub-category of Bullying)"
