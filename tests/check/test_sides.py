"""Policies loaded in a child process, and both sides of a comparison loaded at once.

The same policies and errors as loading in this process, one by one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.sides import (
    ChildUnavailable,
    load_in_child,
    load_side,
    load_sides,
    start_in_child,
)
from alertpolicy.engine.errors import PolicyError
from alertpolicy.engine.load.files import read_directory
from tests.helpers import REPO

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


def test_a_policy_loaded_in_a_child_is_the_one_loaded_here() -> None:
    policy = load_in_child(read_directory(OTHER_GOOD))
    assert policy == load_policy(OTHER_GOOD)
    assert policy.revision == load_policy(OTHER_GOOD).revision
    assert policy.users["jsmith"].location == load_policy(OTHER_GOOD).users["jsmith"].location


def test_an_invalid_policy_loaded_in_a_child_raises_every_error_located() -> None:
    with pytest.raises(PolicyError) as raised:
        load_in_child(read_directory(BAD))
    assert type(raised.value) is PolicyError
    assert rendered(raised.value) == errors_of(BAD)


def test_a_child_that_dies_gives_no_answer() -> None:
    with pytest.raises(ChildUnavailable, match="exit status 3"):
        start_in_child(lambda: os._exit(3)).result()


def test_an_unexpected_error_in_the_child_is_left_for_the_caller_to_meet() -> None:
    with pytest.raises(ChildUnavailable, match="no answer"):
        start_in_child(lambda: 1 // 0).result()


def test_a_child_that_does_not_answer_in_time_is_stopped() -> None:
    with pytest.raises(ChildUnavailable, match="in time"):
        start_in_child(lambda: time.sleep(60), timeout=0.2).result()


def test_a_child_runs_at_the_lower_priority_it_was_given() -> None:
    here = os.nice(0)
    assert start_in_child(lambda: os.nice(0), niceness=5).result() == min(here + 5, 19)
    assert start_in_child(lambda: os.nice(0)).result() == here
    assert os.nice(0) == here


def test_a_large_answer_arrives_whole_across_many_pickle_frames() -> None:
    answer = {f"user-{n}": (n, "x" * (n % 97)) for n in range(50_000)}
    assert start_in_child(lambda: answer).result() == answer
