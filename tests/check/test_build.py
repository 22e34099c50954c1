"""Schema, merging and references of a policy."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.errors import PolicyError, Problem
from alertpolicy.engine.model import Policy
from alertpolicy.engine.rules import Permissions
from tests.helpers import REPO

CASES = Path("tests/testdata/policies")


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="module")
def school() -> Policy:
    return load_policy(REPO / CASES / "small-school")


def problems(case: str) -> tuple[Problem, ...]:
    with pytest.raises(PolicyError) as caught:
        load_policy(CASES / case)
    return caught.value.problems


def by_place(case: str) -> dict[str, Problem]:
    return {str(p.location).removeprefix(f"{CASES}/{case}/"): p for p in problems(case)}


def test_policy_is_built_from_every_file(school: Policy) -> None:
    assert school.categories == (
        "Bullying",
        "Self-harm",
        "Online safety",
        "Attendance",
        "Child-on-child abuse",
    )
    assert school.settings.enforce_at_least_one_alert is True
    assert school.settings.automatic_alert_permission == "every_category"
    dsl = school.user_groups["DSL"]
    permissions = Permissions(school)
    assert "view_incidents" in permissions.granted("DSL", "Self-harm") and dsl.has_system("admin")
    assert "view_students" not in permissions.granted("Teaching Staff", "Bullying")
    assert school.users["oleft"].active is False
    assert school.users["jsmith"].key_holder is True
    assert school.users["rbrown"].key_holder is False
    assert school.alert_groups["DSLs"].user_groups == ("DSL",)
    assert school.alert_groups["Pastoral Team"].users == ("mokafor", "rbrown")


def test_rules_keep_their_file_order_and_defaults(school: Policy) -> None:
    ids = [r.id for r in school.automatic_alerts]
    assert ids[0] == "self-harm-to-dsls" and ids[-1] == "looked-after-student-to-dsl"
    year7 = next(r for r in school.automatic_alerts if r.id == "year7-attendance-to-head-of-year")
    assert year7.match == "all"
    assert year7.when.student_groups == ("Year 7",)
    assert school.automatic_alerts[1].match == "any"
    assert school.automatic_alerts[-1].when.students == ("S1042",)
    assert str(school.automatic_alerts[0].location).endswith("automatic_alerts.yaml:2:5")


def test_files_carry_their_sha256(school: Policy) -> None:
    paths = [f.path for f in school.files]
    assert paths == sorted(paths) and "users.yaml" in paths
    users = next(f for f in school.files if f.path == "users.yaml")
    raw = (REPO / CASES / "small-school" / "users.yaml").read_bytes()
    assert users.sha256 == hashlib.sha256(raw).hexdigest()
    assert school.revision.startswith("sha256:")


def test_defaults_when_settings_are_absent(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("categories: [Bullying]\n")
    policy = load_policy(tmp_path)
    assert policy.settings.enforce_at_least_one_alert is False
    assert policy.settings.automatic_alerts_count_for_enforcement is True
    assert policy.settings.automatic_alert_permission == "every_category"


# ----------------------------------------------------------------- schema messages


def test_schema_errors_in_admin_language() -> None:
    found = by_place("schema-wrong-type")
    assert found["policy.yaml:2:31"].message == (
        "settings.automatic_alert_permission: 'every category' is not allowed (did you mean "
        "'every_category'?); expected one of: every_category, any_category, none"
    )
    assert found["policy.yaml:3:13"].message == "categories: expected a list, got 'Bullying'"
    assert "'view_all_students' is not allowed" in found["policy.yaml:6:33"].message
    assert found["policy.yaml:8:91"].message == (
        "users.jsmith.key_holder: expected true or false, got 'yes'"
    )
    assert found["policy.yaml:9:3"].message == "users.tteach: missing required field 'email'"
    assert found["policy.yaml:12:14"].message == (
        "alert_groups.DSLs.members: expected a mapping, got a list"
    )
    assert "is not an id of letters, digits" in found["policy.yaml:14:9"].message
    assert "must give at least one of: users, user_groups" in found["policy.yaml:15:13"].message
    assert (
        found["policy.yaml:16:24"].message
        == "automatic alert 'bullying to dsl', when.categories: is empty"
    )
    assert "'every' is not allowed; expected one of: any, all" in found["policy.yaml:17:12"].message
    assert len(found) == 10


def test_unknown_fields_point_at_the_key_and_suggest_the_right_one() -> None:
    found = by_place("unknown-field")
    assert found["policy.yaml:4:5"].message == (
        "user_groups.DSL: unknown field 'permissions' (did you mean 'system_permissions'?)"
    )
    assert "unknown field 'notfy' (did you mean 'notify'?)" in found["policy.yaml:9:5"].message
    assert found["policy.yaml:11:1"].message == (
        "unknown top-level section 'alert_group' (did you mean 'alert_groups'?)"
    )


# ----------------------------------------------------------- duplicates and references


def test_user_defined_in_two_files_names_both_places() -> None:
    (problem,) = problems("user-in-two-files")
    assert problem.code == "duplicate-definition"
    assert str(problem.location) == f"{CASES}/user-in-two-files/staff-secondary.yaml:4:3"
    assert problem.message == (
        f"user 'jsmith' is defined twice: here and at "
        f"{CASES}/user-in-two-files/staff-primary.yaml:3:3"
    )


@pytest.mark.parametrize(
    ("section", "body", "what"),
    [
        ("user_groups", "DSL: {}", "user group"),
        ("alert_groups", "DSLs: {}", "alert group"),
        ("settings", "enforce_at_least_one_alert: true", "setting"),
    ],
)
def test_same_key_in_two_files(tmp_path: Path, section: str, body: str, what: str) -> None:
    (tmp_path / "a.yaml").write_text(f"{section}:\n  {body}\n")
    (tmp_path / "b.yaml").write_text(f"{section}:\n  {body}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    (problem,) = caught.value.problems
    assert problem.location is not None and problem.location.file.endswith("b.yaml")
    assert f"{what} " in problem.message and "defined twice" in problem.message
    assert problem.related[0].file.endswith("a.yaml")


def test_category_in_two_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("categories: [Bullying, Neglect]\n")
    (tmp_path / "b.yaml").write_text("categories: [Self-harm, Neglect]\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    (problem,) = caught.value.problems
    assert "category 'Neglect' is defined twice" in problem.message
    assert (problem.location.line, problem.location.column) == (1, 25)


def test_duplicate_rule_ids_within_and_across_files() -> None:
    found = by_place("duplicate-rule-id")
    assert set(found) == {"base.yaml:15:9", "year7.yaml:2:9"}
    assert found["base.yaml:15:9"].code == "duplicate-rule-id"
    assert "'bullying-to-dsl' is defined twice" in found["base.yaml:15:9"].message
    assert f"{CASES}/duplicate-rule-id/base.yaml:9:9" in found["year7.yaml:2:9"].message


def test_unknown_user_groups_everywhere_they_are_named() -> None:
    found = by_place("unknown-user-group")
    assert found["policy.yaml:11:73"].message == (
        "users.tteach.user_group: unknown user group 'Teaching staff' "
        "(did you mean 'Teaching Staff'?)"
    )
    assert "unknown user group 'DSLs' (did you mean 'DSL'?)" in found["policy.yaml:14:46"].message
    assert found["policy.yaml:17:28"].message == (
        "automatic alert 'bullying-to-teachers', notify.user_groups[0]: "
        "unknown user group 'Teachers'"
    )
    assert {p.code for p in found.values()} == {"unknown-user-group"}


def test_unknown_categories_in_rules_and_permissions() -> None:
    found = by_place("unknown-category")
    assert found["policy.yaml:8:7"].code == "unknown-category"
    assert "'Online Safety' (did you mean 'Online safety'?)" in found["policy.yaml:8:7"].message
    assert found["policy.yaml:14:25"].message == (
        "automatic alert 'self-harm-to-dsl', when.categories[0]: unknown category 'Self harm' "
        "(did you mean 'Self-harm'?)"
    )


def test_star_is_not_a_category(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("categories: [Bullying, '*']\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    assert caught.value.problems[0].code == "reserved-category"
