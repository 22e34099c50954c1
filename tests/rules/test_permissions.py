"""The permission gate remembers its answers, within a bound, and they stay right."""

from __future__ import annotations

import itertools
from pathlib import Path

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.rules import Permissions
from alertpolicy.engine.rules.permissions import REMEMBERED
from tests.bench.generate import generate_policy


def test_incidents_naming_ever_new_categories_do_not_grow_what_is_remembered(
    tmp_path: Path,
) -> None:
    policy = load_policy(generate_policy(tmp_path / "school", "school"))
    groups = sorted(policy.user_groups)
    combinations = itertools.combinations(sorted(policy.categories), 3)
    asked = [(g, c) for c, g in zip(combinations, itertools.cycle(groups), strict=False)]
    assert len(asked) > 2 * REMEMBERED
    permissions = Permissions(policy)
    answers = [(permissions.gate(g, c), permissions.may_open(g, c)) for g, c in asked]
    assert len(permissions._gates) <= REMEMBERED
    assert len(permissions._opens) <= REMEMBERED
    # Asked again, after most were forgotten, and of a fresh gate: the same answers.
    fresh = Permissions(policy)
    assert [(permissions.gate(g, c), permissions.may_open(g, c)) for g, c in asked] == answers
    assert [(fresh.gate(g, c), fresh.may_open(g, c)) for g, c in asked] == answers
