"""References of SPEC section 7: sub-category parents and declared student groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.errors import PolicyError, Problem
from alertpolicy.engine.model import StudentGroup
from tests.helpers import POLICIES, REPO

CASES = Path("tests/testdata/policies")


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def by_place(case: str) -> dict[str, Problem]:
    with pytest.raises(PolicyError) as caught:
        load_policy(CASES / case)
    return {str(p.location).removeprefix(f"{CASES}/{case}/"): p for p in caught.value.problems}


def test_sub_categories_are_one_level_deep_under_a_known_parent() -> None:
    found = by_place("subcategory-parents")
    assert {place: p.code for place, p in found.items()} == {
        "policy.yaml:6:30": "parent-category-is-a-sub-category",
        "policy.yaml:7:29": "unknown-parent-category",
        "policy.yaml:8:26": "parent-category-is-itself",
    }
    assert found["policy.yaml:6:30"].message == (
        "categories[3].parent: category 'Trolling' has parent 'Cyberbullying', which is "
        "itself a sub-category of 'Bullying': sub-categories are one level deep, so make "
        "'Trolling' a sub-category of 'Bullying' or list 'Cyberbullying' without a parent"
    )
    assert str(found["policy.yaml:6:30"].related[0]).endswith("policy.yaml:5:12")
    assert found["policy.yaml:7:29"].message == (
        "categories[4].parent: category 'Sexting' has unknown parent category 'Online Safty' "
        "(did you mean 'Online safety'?)"
    )


def test_groups_named_by_rules_and_restrictions_must_be_declared() -> None:
    found = by_place("student-groups-undeclared")
    assert {place: (p.code, p.message) for place, p in found.items()} == {
        "policy.yaml:10:42": (
            "unknown-student-group",
            "user_groups.Cover.restricted_to.student_groups[1]: unknown student group '7C'",
        ),
        "policy.yaml:18:38": (
            "unknown-student-group",
            "users.ccover.restricted_to.student_groups[0]: unknown student group '7a' "
            "(did you mean '7A'?)",
        ),
        "policy.yaml:22:53": (
            "unknown-student-group",
            "automatic alert 'year-7-bullying-to-cover', when.student_groups[0]: unknown "
            "student group 'year 7' "
            "(did you mean 'Year 7'?)",
        ),
        "policy.yaml:22:61": (
            "unknown-student-group",
            "automatic alert 'year-7-bullying-to-cover', when.student_groups[1]: unknown "
            "student group 'Year 8' "
            "(did you mean 'Year 7'?)",
        ),
    }


def test_without_declarations_any_group_may_be_named(tmp_path: Path) -> None:
    text = (POLICIES / "student-groups-undeclared" / "policy.yaml").read_text()
    start, end = text.index("student_groups:\n"), text.index("user_groups:")
    (tmp_path / "policy.yaml").write_text(text[:start] + text[end:])
    policy = load_policy(tmp_path)
    assert policy.student_groups is None
    assert policy.users["ccover"].restricted_to == ("7a",)
    assert policy.user_groups["Cover"].restricted_to == ("7B", "7C")


def test_the_section_7_fields_are_built() -> None:
    policy = load_policy(POLICIES / "eval-domain-depth")
    assert policy.category_parents == {"Cyberbullying": "Bullying", "Racist bullying": "Bullying"}
    assert policy.category_colours == {"Bullying": "#e67e22", "Racist bullying": "red"}
    assert policy.categories[:3] == ("Attendance", "Bullying", "Cyberbullying")
    assert policy.student_groups is not None
    assert policy.student_groups["7A"] == StudentGroup("7A", "tutor", 7)
    assert policy.student_groups["Child Protection Plan"] == StudentGroup("Child Protection Plan")
    assert policy.user_groups["Cover"].restricted_to == ("7A", "7B")
    assert policy.users["cnew"].restricted_to == ("7B",)
    assert policy.users["ccover"].restricted_to is None


def test_a_category_listed_as_a_name_and_as_a_mapping_in_one_file_is_a_duplicate(
    tmp_path: Path,
) -> None:
    (tmp_path / "p.yaml").write_text("categories: [Bullying, {name: Bullying, colour: red}]\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    (problem,) = caught.value.problems
    assert "category 'Bullying' is defined twice" in problem.message


def test_a_student_group_declared_in_two_files_names_both(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("student_groups: [Year 7]\n")
    (tmp_path / "b.yaml").write_text("student_groups: [{name: Year 7, kind: year}]\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    (problem,) = caught.value.problems
    assert "student group 'Year 7' is defined twice" in problem.message
    assert problem.related[0].file.endswith("a.yaml")


def test_bad_section_7_values_are_schema_errors(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "categories: [{name: Bullying, colour: 'not a colour'}, {name: X, parnet: Bullying}]\n"
        "student_groups: [{name: Year 7, kind: form, year: 20}]\n"
        "settings: {automatic_alert_permission: nobody}\n"
        "user_groups:\n  G: {restricted_to: {student_groups: []}}\n"
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path)
    messages = " | ".join(p.message for p in caught.value.problems)
    assert "automatic_alert_permission: 'nobody' is not allowed" in messages
    assert "restricted_to.student_groups: is empty" in messages
    assert len(caught.value.problems) >= 4
