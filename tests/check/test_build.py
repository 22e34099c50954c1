"""Schema, merging and references of a policy; and checking submitted incidents."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.errors import IncidentError, PolicyError, Problem
from alertpolicy.engine.model import Incident, Policy, Student
from alertpolicy.engine.rules import Permissions
from tests.helpers import REPO

CASES = Path("tests/testdata/policies")
INCIDENTS = REPO / "tests" / "testdata" / "incidents"


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


def incident(name: str) -> object:
    return json.loads((INCIDENTS / f"{name}.json").read_text())


# ----------------------------------------------------------------- the built Policy


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


# ---------------------------------------------------------------------- incidents


def test_valid_incident(school: Policy) -> None:
    parsed = parse_incident(incident("small-school-bullying"), school)
    assert parsed.id == "INC-2026-0042"
    assert parsed.reported_by == "tteach"
    assert parsed.categories == ("Bullying",)
    assert parsed.students == (Student("S1001", ("7A", "Year 7")),)
    assert parsed.alerts.users == ()
    assert parsed.alerts.alert_groups == ("DSLs",)
    assert parsed.metadata["summary"] == "Name-calling in the lunch queue"


def test_misspelt_field_is_refused_not_ignored(school: Policy) -> None:
    with pytest.raises(IncidentError) as caught:
        parse_incident(incident("misspelt-alerts-field"), school)
    found = {p.path: p for p in caught.value.problems}
    assert found[("alert",)].message == "incident: unknown field 'alert' (did you mean 'alerts'?)"
    assert found[("alert",)].value == "alert"
    assert found[("students", 0, "year")].message.startswith("students[0]: unknown field 'year'")


def test_unknown_names_each_with_path_and_value(school: Policy) -> None:
    with pytest.raises(IncidentError) as caught:
        parse_incident(incident("unknown-names"), school)
    found = {(p.path, p.value, p.code) for p in caught.value.problems}
    assert found == {
        (("categories", 1), "Self harm", "unknown-category"),
        (("alerts", "users", 1), "jsmtih", "unknown-user"),
        (("alerts", "alert_groups", 0), "DSL", "unknown-alert-group"),
        (("reported_by",), "tteacher", "unknown-user"),
    }
    messages = [p.message for p in caught.value.problems]
    assert "alerts.users[1]: unknown user 'jsmtih' (did you mean 'jsmith'?)" in messages


def test_whole_number_student_id_becomes_text(school: Policy) -> None:
    parsed = parse_incident(incident("numeric-student-id"), school)
    assert parsed.students == (Student("1042", ("Year 7",)),)


def test_fractional_or_boolean_student_id_is_refused(school: Policy) -> None:
    with pytest.raises(IncidentError) as caught:
        parse_incident(incident("fractional-student-id"), school)
    found = {p.path: p.message for p in caught.value.problems}
    assert found == {
        ("students", 0, "id"): "students[0].id: expected text or a whole number, got 1042.5",
        ("students", 1, "id"): "students[1].id: expected text or a whole number, got true",
    }


def test_required_fields_and_at_least_one(school: Policy) -> None:
    with pytest.raises(IncidentError) as caught:
        parse_incident({"categories": [], "students": []}, school)
    messages = sorted(p.message for p in caught.value.problems)
    assert messages == [
        "categories: is empty",
        "incident: missing required field 'id'",
        "students: is empty",
    ]


def test_incident_strings_are_nfc_normalised(school: Policy) -> None:
    raw = {"id": "INC-1", "categories": ["Bullying"], "students": [{"id": "Zoe\u0308"}]}
    assert parse_incident(raw, school).students[0].id == "Zo\u00eb"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
NAMES = st.sampled_from(["Bullying", "Self-harm", "Neglect", "jsmith", "DSLs", "x", ""])
INCIDENTISH = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=5), st.integers()), "categories": st.lists(NAMES)},
    optional={
        "students": st.lists(
            st.fixed_dictionaries(
                {"id": st.one_of(st.text(max_size=4), st.integers(), st.floats(), st.booleans())},
                optional={"groups": st.lists(NAMES), "form": JSON},
            ),
            max_size=3,
        ),
        "alerts": st.fixed_dictionaries(
            {}, optional={"users": st.lists(NAMES), "alert_groups": st.lists(NAMES)}
        ),
        "reported_by": st.one_of(NAMES, st.integers()),
        "metadata": JSON,
        "alert": JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(JSON, INCIDENTISH))
def test_any_json_is_an_incident_or_an_incident_error(school: Policy, raw: object) -> None:
    try:
        parsed = parse_incident(raw, school)
    except IncidentError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.message and isinstance(problem.path, tuple)
            json.dumps(problem.to_json())
    else:
        assert isinstance(parsed, Incident)
        assert parsed.categories and parsed.students
        assert set(parsed.categories) <= set(school.categories)


def test_wrong_shape_and_unknown_names_are_all_reported_together(school: Policy) -> None:
    with pytest.raises(IncidentError) as caught:
        parse_incident(incident("wrong-shape-and-unknown-names"), school)
    found = [(p.path, p.value, p.code) for p in caught.value.problems]
    assert found == [
        (("students",), [], "incident-minItems"),
        (("alerts", "alert_groups"), "DSLs", "incident-type"),
        (("categories", 2), 7, "incident-type"),
        (("urgent",), "urgent", "incident-unknown-field"),
        (("categories", 1), "Cyber bullying", "unknown-category"),
        (("alerts", "users", 1), "dhead", "unknown-user"),
    ]
