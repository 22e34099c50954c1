"""Submitted incidents: from bytes to a checked Incident, and everything refused on the way.

Each refusal names the field, the value and (for limits) the limit; nothing that is not
plain JSON, not text or over a limit gets as far as the engine.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import (
    GROUPS_PER_STUDENT,
    LIST_LIMITS,
    MAX_DEPTH,
    MAX_TEXT_LENGTH,
    MAX_TRIGGER_VALUES,
    check_limits,
    decode_incident,
    parse_incident,
)
from alertpolicy.engine.errors import IncidentError, RequestRejected
from alertpolicy.engine.model import Incident, Policy, Student
from tests.helpers import REPO, incident


@pytest.fixture(scope="module")
def school() -> Policy:
    return load_policy(REPO / "tests" / "testdata" / "policies" / "small-school")


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


# ------------------------------------------------------------------ refused before parsing


def rejected(body: str | bytes) -> RequestRejected:
    """What :func:`decode_incident` then :func:`check_limits` refuse ``body`` with."""
    with pytest.raises(RequestRejected) as caught:
        check_limits(decode_incident(body))
    return caught.value


def small_school_incident(**changes: object) -> dict[str, object]:
    return {**incident("small-school-bullying"), **changes}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"id": "INC-1", "categories": ["Bullying"]', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        ('{"id": "INC-1", "id": "INC-2"}', "appears twice"),
        ('{"id": NaN}', "NaN is not a JSON number"),
        ('{"students": [{"id": 1e999}]}', "the number 1e999 is too large"),
        ("[" * 40 + "]" * 40, f"nested deeper than {MAX_DEPTH}"),
        ("[" * 1000 + "]" * 1000, f"nested deeper than {MAX_DEPTH}"),
        ("[" * 30000 + "]" * 30000, f"nested deeper than {MAX_DEPTH}"),
        ('{"id": 1' + "0" * 5000 + "}", "not valid JSON"),
    ],
)
def test_what_is_not_plain_json_is_refused_400(body: str | bytes, expected: str) -> None:
    error = rejected(body)
    assert error.status == 400 and error.code == "bad_json"
    assert expected in error.problems[0].message


@pytest.mark.parametrize(
    ("where", "body"),
    [
        ("id", '{"id": "INC-\\ud800", "categories": ["Bullying"], "students": [{"id": "S1"}]}'),
        ("students.0.id", '{"id": "I", "categories": ["B"], "students": [{"id": "\\udfff"}]}'),
        (
            "students.0.groups.1",
            '{"id": "I", "categories": ["Bullying"], "students": [{"id": "S1", '
            '"groups": ["7A", "Year 7\\ud83d"]}]}',
        ),
        ("metadata.\\ud800", '{"metadata": {"\\ud800": 1}}'),
    ],
)
def test_a_lone_surrogate_is_not_text_422_naming_the_field(where: str, body: str) -> None:
    error = rejected(body)
    assert error.status == 422 and error.code == "not_text"
    [problem] = error.problems
    assert problem.code == "not-text" and problem.field_name() == where
    json.dumps(problem.to_json(), ensure_ascii=False).encode("utf-8")  # the answer is text


def test_a_surrogate_pair_is_text() -> None:
    raw = decode_incident('{"id": "INC-\\ud83d\\ude00"}')
    check_limits(raw)
    assert raw == {"id": "INC-\U0001f600"}


def test_too_many_students_groups_or_trigger_values_are_422_naming_the_limit() -> None:
    most = LIST_LIMITS[("students",)]
    many_students = small_school_incident(students=[{"id": f"S{i}"} for i in range(most + 1)])
    [problem] = rejected(json.dumps(many_students)).problems
    assert (problem.field_name(), problem.value) == ("students", most + 1)
    assert f"at most {most} items" in problem.message

    groups = [f"G{i}" for i in range(GROUPS_PER_STUDENT + 1)]
    many_groups = small_school_incident(students=[{"id": "S1", "groups": groups}])
    [problem] = rejected(json.dumps(many_groups)).problems
    assert problem.field_name() == "students.0.groups"
    assert f"at most {GROUPS_PER_STUDENT} groups per student" in problem.message

    per_student = MAX_TRIGGER_VALUES // most  # each student is listed too: one too many
    sets = [f"Set {j}" for j in range(per_student - 1)]
    spread = [{"id": f"S{i}", "groups": sets} for i in range(most)]
    [problem] = rejected(json.dumps(small_school_incident(students=spread))).problems
    assert problem.field_name() == "" and problem.value == 1 + most * per_student
    assert f"at most {MAX_TRIGGER_VALUES} categories, students and student groups" in (
        problem.message
    )


def test_the_548_kb_incident_is_refused_before_any_work() -> None:
    groups = [f"Group {j}" for j in range(100)]
    students = [{"id": f"S{i:05}", "groups": groups} for i in range(500)]
    body = json.dumps(small_school_incident(students=students))
    assert len(body) > 500_000
    error = rejected(body)
    assert error.status == 422
    assert {p.code for p in error.problems} == {"too-many-items"}


def test_a_whole_class_is_within_the_limits() -> None:
    form = [
        {"id": f"S{i}", "groups": ["Year 9", "9B", f"Maths set {i % 4}", "KS4", "Oakfield"]}
        for i in range(30)
    ]
    raw = small_school_incident(students=form, categories=["Bullying", "Online safety"])
    check_limits(decode_incident(json.dumps(raw)))


def test_an_id_or_name_longer_than_the_limit_is_refused() -> None:
    long = "x" * (MAX_TEXT_LENGTH + 1)
    body = small_school_incident(students=[{"id": "S1", "groups": [long]}])
    [problem] = rejected(json.dumps(body)).problems
    assert problem.code == "too-long" and problem.field_name() == "students.0.groups.0"
    assert problem.value == MAX_TEXT_LENGTH + 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"students": 5}, "students"),
        ({"students": True}, "students"),
        ({"students": [5]}, "students.0"),
        ({"students": [{"id": "S1", "groups": "7A"}]}, "students.0.groups"),
        ({"categories": "Bullying"}, "categories"),
        ({"alerts": []}, "alerts"),
        ({"alerts": {"users": "jsmith"}}, "alerts.users"),
        ({"reported_by": 7}, "reported_by"),
        ({"students": [{"id": 1e300}]}, "students.0.id"),
    ],
)
def test_wrong_types_anywhere_are_an_incident_error_naming_the_field(
    school: Policy, changes: dict[str, object], field: str
) -> None:
    raw = small_school_incident(**changes)
    check_limits(raw)
    with pytest.raises(IncidentError) as caught:
        parse_incident(raw, school)
    assert field in [p.field_name() for p in caught.value.problems]
    for problem in caught.value.problems:
        json.dumps(problem.to_json(), allow_nan=False)


def test_the_incident_schema_states_the_limits_that_are_checked() -> None:
    schema = json.loads((REPO / "schemas" / "incident.schema.json").read_text("utf-8"))
    properties = schema["properties"]
    assert properties["categories"]["maxItems"] == LIST_LIMITS[("categories",)]
    assert properties["students"]["maxItems"] == LIST_LIMITS[("students",)]
    student = properties["students"]["items"]["properties"]
    assert student["groups"]["maxItems"] == GROUPS_PER_STUDENT
    alerts = properties["alerts"]["properties"]
    assert alerts["users"]["maxItems"] == LIST_LIMITS[("alerts", "users")]
    assert alerts["alert_groups"]["maxItems"] == LIST_LIMITS[("alerts", "alert_groups")]
    assert properties["id"]["maxLength"] == student["id"]["maxLength"] == MAX_TEXT_LENGTH
    assert f"at most {MAX_TRIGGER_VALUES} listed trigger values" in schema["description"]
