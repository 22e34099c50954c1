"""A trust's shared layer may define only what every school may name: users, user groups
and alert groups."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.errors import PolicyError
from alertpolicy.engine.load.files import read_directory
from alertpolicy.engine.load.schools import read_school
from tests.helpers import TESTDATA

TRUST = TESTDATA / "schools" / "oakfield-trust"


@pytest.fixture
def schools(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(TRUST, target)
    return target


def test_a_rule_in_the_trust_layer_is_an_error_at_its_key(schools: Path) -> None:
    (schools / "trust" / "rules.yaml").write_text(
        "# every school's bullying to the trust\n"
        "automatic_alerts:\n"
        "  - id: bullying-to-trust\n"
        "    notify: {alert_groups: [Trust Safeguarding]}\n"
        "    when: {categories: [Bullying]}\n"
        "categories: [Bullying]\n"
    )
    with pytest.raises(PolicyError) as raised:
        load_source(read_school(schools, "oakfield"))
    found = [p for p in raised.value.problems if p.code == "shared-section"]
    assert [(p.value, p.location.line, p.location.column) for p in found if p.location] == [
        ("automatic_alerts", 2, 1),
        ("categories", 6, 1),
    ]
    assert found[0].location is not None
    assert found[0].location.file.endswith("policies/trust/rules.yaml")
    assert "may define only users, user groups and alert groups" in found[0].message


def test_a_school_read_as_a_policy_of_its_own_has_no_trust_layer(schools: Path) -> None:
    with pytest.raises(PolicyError) as raised:  # its rules name the trust's alert group
        load_source(read_directory(schools / "oakfield"))
    assert [p.value for p in raised.value.problems] == ["Trust Safeguarding"]


def test_a_school_redefining_a_trust_user_is_a_duplicate_naming_both(schools: Path) -> None:
    users = schools / "riverside" / "users.yaml"
    users.write_text(
        users.read_text()
        + "  hwright: {name: H Wright, email: h@riverside.example, user_group: DSL}\n"
    )
    with pytest.raises(PolicyError) as raised:
        load_source(read_school(schools, "riverside"))
    [duplicate] = [p for p in raised.value.problems if "hwright" in p.message]
    files = {duplicate.location.file} | {r.file for r in duplicate.related}  # type: ignore[union-attr]
    assert any(f.endswith("trust/safeguarding.yaml") for f in files)
    assert any(f.endswith("riverside/users.yaml") for f in files)
