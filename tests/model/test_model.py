"""The policy model: immutable values that still pickle (to load in another process)."""

from __future__ import annotations

import copy
import pickle

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.model import Policy, frozen_map
from tests.helpers import REPO

SCHOOL = REPO / "tests/testdata/policies/small-school"


def mutations(mapping: dict) -> list:
    """Every way of changing a mapping in place, as calls."""
    key = next(iter(mapping))
    return [
        lambda: mapping.__setitem__("intruder", None),
        lambda: mapping.__delitem__(key),
        lambda: mapping.pop(key),
        lambda: mapping.popitem(),
        lambda: mapping.setdefault("intruder", None),
        lambda: mapping.update(intruder=None),
        lambda: mapping.clear(),
        lambda: mapping.__ior__({"intruder": None}),
    ]


def read_only_maps(policy: Policy) -> list:
    group = next(iter(policy.user_groups.values()))
    return [
        policy.users,
        policy.user_groups,
        policy.alert_groups,
        policy.category_locations,
        group.category_permissions,
    ]


def test_a_frozen_map_is_read_only_and_sorted() -> None:
    mapping = frozen_map({"Self-harm": 2, "Bullying": 1})
    assert list(mapping) == ["Bullying", "Self-harm"]
    for mutate in mutations(mapping):
        with pytest.raises(TypeError, match="read-only"):
            mutate()
    assert mapping == {"Bullying": 1, "Self-harm": 2}


def test_a_loaded_policy_round_trips_through_pickle_equal_and_still_read_only() -> None:
    policy = load_policy(SCHOOL)
    copied = pickle.loads(pickle.dumps(policy))
    assert copied == policy
    assert copied.revision == policy.revision
    # fields left out of equality survive too
    assert copied.category_locations == policy.category_locations != {}
    assert [u.location for u in copied.users.values()] == [
        u.location for u in policy.users.values()
    ]
    assert [r.location for r in copied.automatic_alerts] == [
        r.location for r in policy.automatic_alerts
    ]
    for mapping in read_only_maps(copied):
        for mutate in mutations(mapping):
            with pytest.raises(TypeError):
                mutate()
    assert copied == policy


def test_copies_of_a_policy_stay_read_only() -> None:
    policy = load_policy(SCHOOL)
    for copied in (copy.copy(policy), copy.deepcopy(policy)):
        assert copied == policy
        with pytest.raises(TypeError):
            copied.users["intruder"] = None  # type: ignore[index]


def test_a_policy_using_section_7_pickles_and_stays_read_only() -> None:
    policy = load_policy(REPO / "tests/testdata/policies/eval-domain-depth")
    again = pickle.loads(pickle.dumps(policy))
    assert again == policy
    assert again.category_parents == {"Cyberbullying": "Bullying", "Racist bullying": "Bullying"}
    assert again.student_groups is not None and "7A" in again.student_groups
    for mapping in (again.category_parents, again.category_colours, again.student_groups):
        with pytest.raises(TypeError):
            mapping["intruder"] = None  # type: ignore[index]
