"""Problems and the errors that carry them survive pickling (errors cross process lines)."""

from __future__ import annotations

import pickle

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.errors import IncidentError, Location, PolicyError, Problem
from tests.helpers import REPO


def test_a_policy_error_from_the_loader_pickles_with_every_located_problem() -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(REPO / "tests/testdata/policies/many-problems")
    error = raised.value
    copied = pickle.loads(pickle.dumps(error))
    assert type(copied) is PolicyError
    assert copied.problems == error.problems
    assert [p.location for p in copied.problems] == [p.location for p in error.problems]
    assert str(copied) == str(error)


def test_an_incident_error_pickles_with_its_field_and_value() -> None:
    problem = Problem(
        "unknown-category",
        "categories[0]: unknown category 'Bulying' (did you mean 'Bullying'?)",
        path=("categories", 0),
        value="Bulying",
    )
    related = Problem("x", "y", Location("policy/users.yaml", 3, 5), related=(Location("a", 1, 1),))
    error = IncidentError([problem, related])
    copied = pickle.loads(pickle.dumps(error))
    assert type(copied) is IncidentError
    assert copied.problems == error.problems
    assert str(copied) == str(error)
