"""The benchmark generator: a realistic trust (academy-scoped rules) and its incidents."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.check.lint import lint_policy
from alertpolicy.engine.model import Policy
from tests.bench.generate import SCALES, generate_incidents, generate_policy
from tests.bench.schools import YEARS, Academy, academies_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    """The generated trust-scale policy (generated and loaded once: it takes seconds)."""
    return load_policy(generate_policy(tmp_path_factory.mktemp("trust") / "policy", "trust"))


def academy_of(location_file: str) -> str | None:
    """The academy folder a definition was read from, None for shared or trust-wide ones."""
    parts = PurePosixPath(location_file).parts
    return parts[-2] if parts[-3] == "academies" else None


def student_groups_of(academy: Academy) -> set[str]:
    """Every student group of ``academy``: the academy, its years and its forms."""
    groups = {academy.name}
    for number in academy.students:
        groups.update(academy.groups_of(number))
    return groups


def test_the_trust_has_the_spec_totals_and_passes_lint(trust: Policy) -> None:
    assert len(trust.users) == 5_000 and len(trust.automatic_alerts) == 20_000
    assert len(trust.categories) == 60 and len(trust.user_groups) == 40
    assert len(trust.alert_groups) == 500 and SCALES["trust"].students == 50_000
    assert lint_policy(trust) == ()


def test_every_academy_rule_is_about_that_academys_students_only(trust: Policy) -> None:
    academies = {a.folder: a for a in academies_of(25)}
    groups = {folder: student_groups_of(a) for folder, a in academies.items()}
    trust_wide = []
    for rule in trust.automatic_alerts:
        assert rule.location is not None
        folder = academy_of(rule.location.file)
        if folder is None:
            trust_wide.append(rule)
            continue
        academy = academies[folder]
        if rule.when.student_groups:
            assert rule.match == "all", rule.id
            assert set(rule.when.student_groups) <= groups[folder], rule.id
        else:
            assert rule.when.students, rule.id
            assert all(int(s[1:]) in academy.students for s in rule.when.students), rule.id
    assert 0 < len(trust_wide) <= 10
    for rule in trust_wide:
        assert rule.when.categories and not (rule.when.students or rule.when.student_groups)


def test_trust_incidents_are_about_one_academy_and_chosen_from_it(trust: Policy) -> None:
    academies = {a.name: a for a in academies_of(25)}
    raw_incidents = generate_incidents(trust, 200, seed=4)
    assert raw_incidents == generate_incidents(trust, 200, seed=4)
    chose_someone = 0
    for raw in raw_incidents:
        incident = parse_incident(raw, trust)
        [academy] = {g for s in incident.students for g in s.groups if g in academies}
        folder = academies[academy].folder
        for student in incident.students:
            assert int(student.id[1:]) in academies[academy].students
            assert academy in student.groups and len(student.groups) == 3
        assert incident.reported_by is not None
        chosen = [trust.users[u].location for u in (incident.reported_by, *incident.alerts.users)]
        chosen += [trust.alert_groups[g].location for g in incident.alerts.alert_groups]
        assert all(loc is not None and academy_of(loc.file) == folder for loc in chosen)
        chose_someone += not incident.alerts.is_empty()
    assert 50 < chose_someone < 150


def test_school_incidents_are_about_its_year_and_form_groups(tmp_path: Path) -> None:
    school = load_policy(generate_policy(tmp_path / "policy", "school", seed=1))
    years = {f"Year {year}" for year in YEARS}
    for raw in generate_incidents(school, 100, seed=2):
        for student in parse_incident(raw, school).students:
            year, form = sorted(student.groups, key=len, reverse=True)
            assert year in years and form.startswith(year.removeprefix("Year "))


def test_a_deep_trust_uses_section_7_and_passes_lint(tmp_path: Path) -> None:
    deep = load_policy(generate_policy(tmp_path / "policy", "trust", depth=True))
    parents = set(deep.category_parents.values())
    assert len(parents) == 60 and len(deep.category_parents) == 240
    assert len(deep.categories) == 300
    restricted = [u for u in deep.users.values() if u.restricted_to]
    assert 0.07 < len(restricted) / len(deep.users) < 0.13
    assert deep.student_groups is not None and len(deep.student_groups) == 25 * (1 + 7 * 6)
    assert any(c in deep.category_parents for r in deep.automatic_alerts for c in r.when.categories)
    assert lint_policy(deep) == ()
    raws = generate_incidents(deep, 200, seed=3)
    in_sub = [r for r in raws if any(c in deep.category_parents for c in r["categories"])]
    assert 60 < len(in_sub) < 190
    for raw in raws:
        parse_incident(raw, deep)
