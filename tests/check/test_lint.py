"""Safeguarding lint: one fixture per warning, each a small school with one mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.lint import lint_policy
from alertpolicy.engine.errors import Problem
from tests.bench.generate import generate_policy
from tests.helpers import REPO

CASES = Path("tests/testdata/policies")


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def warnings(case: str) -> tuple[Problem, ...]:
    return lint_policy(load_policy(CASES / case))


def only(case: str) -> Problem:
    (warning,) = warnings(case)
    assert warning.severity == "warning"
    return warning


@pytest.mark.parametrize("case", ["small-school", "lint-clean"])
def test_well_set_up_schools_have_no_warnings(case: str) -> None:
    assert warnings(case) == ()


def test_rule_that_can_never_reach_a_teacher_without_permission() -> None:
    warning = only("lint-rule-never-sends")
    assert warning.code == "rule-never-sends"
    assert str(warning.location) == f"{CASES}/lint-rule-never-sends/policy.yaml:37:5"
    assert warning.message.startswith(
        "automatic alert self-harm-to-class-teacher cannot alert tteach (Tom Teach, named "
        "directly): user group Teaching Staff lacks view_students and view_incidents on "
        "Self-harm"
    )


def test_rule_without_categories_to_a_group_with_no_alert_permission(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "categories: [Bullying]\n"
        "user_groups:\n"
        "  DSL: {category_permissions: {'*': [view_students, view_incidents]}}\n"
        "  Office Staff: {category_permissions: {'*': [add_incidents]}}\n"
        "users:\n"
        "  jsmith: {name: Jane Smith, email: j@x.example, user_group: DSL}\n"
        "  pclerk: {name: Pat Clerk, email: p@x.example, user_group: Office Staff}\n"
        "automatic_alerts:\n"
        "  - id: looked-after-child\n"
        "    notify: {users: [jsmith], user_groups: [Office Staff]}\n"
        "    when: {students: ['S1042']}\n"
    )
    found = [w for w in lint_policy(load_policy(tmp_path)) if w.code == "rule-never-sends"]
    assert [w.message.split(":")[0] for w in found] == [
        "automatic alert looked-after-child can never alert the users of user group "
        "Office Staff (named directly)"
    ]
    assert "view_students and view_incidents on any category" in found[0].message


def test_alert_group_members_are_checked_too(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "categories: [Self-harm]\n"
        "user_groups:\n"
        "  DSL: {category_permissions: {'*': [view_students, view_incidents]}}\n"
        "  Teaching Staff: {category_permissions: {Self-harm: [view_students]}}\n"
        "users:\n"
        "  jsmith: {name: Jane Smith, email: j@x.example, user_group: DSL}\n"
        "  tteach: {name: Tom Teach, email: t@x.example, user_group: Teaching Staff}\n"
        "alert_groups:\n"
        "  Year 7 Team: {members: {users: [jsmith, tteach]}}\n"
        "automatic_alerts:\n"
        "  - id: self-harm-to-year-7\n"
        "    notify: {alert_groups: [Year 7 Team]}\n"
        "    when: {categories: [Self-harm]}\n"
    )
    (warning,) = [w for w in lint_policy(load_policy(tmp_path)) if w.code == "rule-never-sends"]
    assert "tteach (Tom Teach, member of alert group Year 7 Team)" in warning.message
    assert "lacks view_incidents on Self-harm" in warning.message


def test_empty_alert_group() -> None:
    warning = only("lint-alert-group-empty")
    assert warning.code == "alert-group-empty"
    assert str(warning.location) == f"{CASES}/lint-alert-group-empty/policy.yaml:25:3"
    assert "alert group Year 6 Team has no members" in warning.message


def test_alert_group_whose_members_are_all_inactive() -> None:
    warning = only("lint-alert-group-all-inactive")
    assert warning.code == "alert-group-all-inactive"
    assert str(warning.location) == f"{CASES}/lint-alert-group-all-inactive/policy.yaml:27:3"
    assert "every member of alert group Governors is inactive" in warning.message


def test_category_no_automatic_alert_reaches_anyone_about() -> None:
    warning = only("lint-category-unalerted")
    assert warning.code == "category-unalerted"
    assert warning.path == ("categories", "Attendance")
    assert str(warning.location) == f"{CASES}/lint-category-unalerted/policy.yaml:5:35"
    assert "no automatic alert reaches anyone about category Attendance" in warning.message


def test_unalerted_category_is_placed_in_the_file_that_declares_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    policy = tmp_path / "policy"
    policy.mkdir()
    (policy / "categories.yaml").write_text("categories:\n  - Bullying\n")
    (policy / "more-categories.yaml").write_text("categories:\n  - Self-harm\n  - Neglect\n")
    (policy / "staff.yaml").write_text(
        "settings: {enforce_at_least_one_alert: true}\n"
        "user_groups:\n"
        "  DSL:\n"
        "    system_permissions: [admin]\n"
        "    category_permissions: {'*': [view_students, view_incidents]}\n"
        "users:\n"
        "  jsmith: {name: Jane Smith, email: j@x.example, user_group: DSL, key_holder: true}\n"
        "automatic_alerts:\n"
        "  - id: bullying-and-self-harm-to-dsl\n"
        "    notify: {users: [jsmith]}\n"
        "    when: {categories: [Bullying, Self-harm]}\n"
    )
    (warning,) = lint_policy(load_policy(Path("policy")))
    assert warning.code == "category-unalerted"
    assert str(warning.location) == "policy/more-categories.yaml:3:5"
    assert "about category Neglect" in warning.message


def test_student_only_rules_do_not_count_for_a_category(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "settings: {enforce_at_least_one_alert: true}\n"
        "categories: [Neglect]\n"
        "user_groups:\n"
        "  DSL:\n"
        "    system_permissions: [admin]\n"
        "    category_permissions: {'*': [view_students, view_incidents]}\n"
        "users:\n"
        "  jsmith: {name: Jane Smith, email: j@x.example, user_group: DSL, key_holder: true}\n"
        "automatic_alerts:\n"
        "  - id: looked-after-child\n"
        "    notify: {users: [jsmith]}\n"
        "    when: {students: ['S1042']}\n"
    )
    (warning,) = lint_policy(load_policy(tmp_path))
    assert warning.code == "category-unalerted"


def test_enforcement_off() -> None:
    warning = only("lint-enforcement-off")
    assert warning.code == "enforcement-off"
    assert str(warning.location) == f"{CASES}/lint-enforcement-off/policy.yaml:3:3"
    assert "enforce_at_least_one_alert is off" in warning.message


def test_no_active_admin_key_holder() -> None:
    warning = only("lint-no-admin-key-holder")
    assert warning.code == "no-admin-key-holder"
    assert str(warning.location) == f"{CASES}/lint-no-admin-key-holder/policy.yaml:19:3"
    assert warning.message == (
        "no active user is an Admin Key Holder (key_holder: true in a user group with the "
        "admin system permission): nobody can manage alerts; give an active user of DSL "
        "key_holder: true, for example jsmith (Jane Smith) here"
    )


ADMIN_GROUP_WITHOUT_ACTIVE_USERS = (
    "categories: [Bullying]\n"
    "user_groups:\n"
    "  Teaching Staff: {category_permissions: {Bullying: [view_students, view_incidents]}}\n"
    "  DSL:\n"
    "    system_permissions: [admin]\n"
    "    category_permissions: {'*': [view_students, view_incidents]}\n"
    "users:\n"
    "  tteach: {name: Tom Teach, email: t@x.example, user_group: Teaching Staff}\n"
    "  oleft: {name: Olive Left, email: o@x.example, user_group: DSL, key_holder: true,"
    " active: false}\n"
)


def lint_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> list[Problem]:
    """Lint a policy of one file, ``policy/p.yaml``, read from ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "p.yaml").write_text(text)
    return list(lint_policy(load_policy(Path("policy"))))


def test_admin_group_with_no_active_user_is_where_to_add_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = lint_one_file(tmp_path, monkeypatch, ADMIN_GROUP_WITHOUT_ACTIVE_USERS)
    (warning,) = [w for w in found if w.code == "no-admin-key-holder"]
    assert str(warning.location) == "policy/p.yaml:4:3"
    assert warning.message.endswith(
        "user group DSL has the admin permission but no active user: add an active user "
        "with key_holder: true to it"
    )


def test_without_any_admin_group_the_first_user_group_is_where_to_grant_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = ADMIN_GROUP_WITHOUT_ACTIVE_USERS.replace("[admin]", "[]")
    found = lint_one_file(tmp_path, monkeypatch, text)
    (warning,) = [w for w in found if w.code == "no-admin-key-holder"]
    assert str(warning.location) == "policy/p.yaml:3:3"
    assert warning.message.endswith(
        "no user group has the admin system permission: add admin to the system_permissions "
        "of a group such as Teaching Staff (here) and make one of its active users a key_holder"
    )


def test_every_warning_names_a_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = ADMIN_GROUP_WITHOUT_ACTIVE_USERS.replace("[admin]", "[]")
    found = lint_one_file(tmp_path, monkeypatch, text)
    assert [(w.code, str(w.location)) for w in found] == [
        ("enforcement-off", "policy/p.yaml:1:1"),  # no settings: the top of the file
        ("category-unalerted", "policy/p.yaml:1:14"),
        ("no-admin-key-holder", "policy/p.yaml:3:3"),
    ]


def test_inactive_user_still_named_in_a_rule() -> None:
    warning = only("lint-inactive-user-named")
    assert warning.code == "inactive-user-named"
    assert str(warning.location) == f"{CASES}/lint-inactive-user-named/policy.yaml:31:5"
    assert warning.message == (
        "automatic alert bullying-to-class-teacher names inactive user oleft (Olive Left): "
        "they receive nothing from it"
    )


def test_generated_school_policy_loads_and_passes_lint(tmp_path: Path) -> None:
    policy = load_policy(generate_policy(tmp_path / "policy", "school", seed=3))
    assert len(policy.users) == 250 and len(policy.automatic_alerts) == 300
    assert len(policy.categories) == 40 and len(policy.user_groups) == 15
    assert len(policy.alert_groups) == 20
    assert lint_policy(policy) == ()


def test_generated_policy_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    one = generate_policy(tmp_path / "one", "school", seed=7)
    two = generate_policy(tmp_path / "two", "school", seed=7)
    other = generate_policy(tmp_path / "other", "school", seed=8)

    def contents(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.yaml")}

    assert contents(one) == contents(two)
    assert contents(one) != contents(other)


def test_permission_gate_switched_off() -> None:
    warning = only("lint-permission-gate-off")  # and no rule-never-sends: the gate is off
    assert warning.code == "permission-gate-off"
    assert str(warning.location) == f"{CASES}/lint-permission-gate-off/policy.yaml:4:3"
    assert warning.field_name() == "settings.automatic_alert_permission"
    assert "automatic_alert_permission is none: the permission gate is off" in warning.message


def test_rule_id_naming_a_student_it_lists() -> None:
    warning = only("lint-rule-id-names-student")
    assert warning.code == "rule-id-names-student"
    assert warning.field_name() == "automatic_alerts.3.id"
    assert warning.message.startswith(
        "automatic alert watch-s1042-and-S2001 has student id S1042, S2001 in its id"
    )


def test_both_alert_permissions_from_different_keys_can_alert(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "categories: [Bullying]\n"
        "user_groups:\n"
        "  Pastoral: {category_permissions: {'*': [view_students], Bullying: [view_incidents]}}\n"
        "users:\n"
        "  hyear: {name: Helen Year, email: h@x.example, user_group: Pastoral}\n"
        "automatic_alerts:\n"
        "  - id: watch-list\n"
        "    notify: {users: [hyear]}\n"
        "    when: {students: ['S1']}\n"
    )
    assert not [w for w in lint_policy(load_policy(tmp_path)) if w.code == "rule-never-sends"]


def test_a_sub_category_is_alerted_through_a_rule_on_its_parent() -> None:
    policy = load_policy(CASES / "eval-domain-depth")
    assert not [w for w in lint_policy(policy) if w.code == "category-unalerted"]
