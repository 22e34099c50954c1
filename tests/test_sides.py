"""Both sides of a comparison, loaded at once: the same policies and errors as one by one."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import PolicyError
from engine.load import load_policy
from engine.sides import load_side, load_sides

REPO = Path(__file__).resolve().parents[1]
CASES = Path("tests/testdata/policies")
GOOD, OTHER_GOOD = CASES / "small-school", CASES / "eval-school"
BAD, OTHER_BAD = CASES / "unknown-user-group", CASES / "many-problems"


@pytest.fixture(autouse=True)
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def rendered(error: PolicyError) -> list[str]:
    return [problem.render() for problem in error.problems]


def errors_of(directory: Path) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_policy(directory)
    return rendered(raised.value)


def test_both_sides_load_as_they_do_one_by_one() -> None:
    base, head = load_sides(str(GOOD), str(OTHER_GOOD), GOOD)
    assert base.policy == load_policy(GOOD) and head.policy == load_policy(OTHER_GOOD)
    assert (base.label, head.label) == (str(GOOD), str(OTHER_GOOD))
    assert head.policy.revision == load_policy(OTHER_GOOD).revision
    jsmith = head.policy.users["jsmith"]
    assert jsmith.location == load_policy(OTHER_GOOD).users["jsmith"].location


def test_the_working_tree_is_the_default_head() -> None:
    _, head = load_sides(str(OTHER_GOOD), None, GOOD)
    assert head == load_side(None, GOOD)


def test_an_invalid_head_reports_every_error_located_as_loading_it_alone_does() -> None:
    with pytest.raises(PolicyError) as raised:
        load_sides(str(GOOD), str(BAD), GOOD)
    assert rendered(raised.value) == errors_of(BAD)
    assert rendered(raised.value)[0].startswith(f"{BAD}/policy.yaml:11:73: error: ")


def test_an_invalid_base_is_reported_first_when_both_sides_are_invalid() -> None:
    with pytest.raises(PolicyError) as raised:
        load_sides(str(BAD), str(OTHER_BAD), GOOD)
    assert rendered(raised.value) == errors_of(BAD)


def test_an_invalid_base_with_a_valid_head() -> None:
    with pytest.raises(PolicyError) as raised:
        load_sides(str(OTHER_BAD), str(GOOD), GOOD)
    assert rendered(raised.value) == errors_of(OTHER_BAD)
