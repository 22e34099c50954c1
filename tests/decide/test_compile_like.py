"""A revision compiled like the one serving decides exactly as one compiled afresh.

A reload compiles the next revision taking what it shares with the serving one from it
(the trigger index while the rules are equal, who the rules name while the people are).
Each edit below is one an admin makes; each changes some decision, and the revision
compiled like the one before gives every incident the decision a fresh compile and the
reference reading of the SPEC give.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.compiled import CompiledPolicy, compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.model import Incident, Policy, frozen_map
from tests.bench.generate import generate_incidents, generate_policy
from tests.reference import reference_decision

Edit = Callable[[Policy], Policy]


def notified_user(policy: Policy) -> str:
    """A member of staff the first rule naming users directly notifies."""
    return next(rule.notify.users[0] for rule in policy.automatic_alerts if rule.notify.users)


def with_user(policy: Policy, user_id: str, **changes: object) -> Policy:
    """``policy`` with one member of staff changed."""
    users = dict(policy.users)
    users[user_id] = dataclasses.replace(users[user_id], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(policy, users=frozen_map(users))


def renamed(policy: Policy) -> Policy:
    """A member of staff's name corrected (rules and people unchanged)."""
    user_id = notified_user(policy)
    return with_user(policy, user_id, name=policy.users[user_id].name + " Jr")


def left(policy: Policy) -> Policy:
    """A member of staff the rules notify has left (inactive)."""
    return with_user(policy, notified_user(policy), active=False)


def moved(policy: Policy) -> Policy:
    """A member of staff moved to another user group."""
    user_id = notified_user(policy)
    other = next(g for g in policy.user_groups if g != policy.users[user_id].user_group)
    return with_user(policy, user_id, user_group=other)


def restricted(policy: Policy) -> Policy:
    """A member of staff restricted to one student group no incident names."""
    return with_user(policy, notified_user(policy), restricted_to=("Nobody's class",))


def permissions_withdrawn(policy: Policy) -> Policy:
    """Every user group's category permissions withdrawn (rules and people unchanged)."""
    groups = {
        name: dataclasses.replace(group, category_permissions=frozen_map())
        for name, group in policy.user_groups.items()
    }
    return dataclasses.replace(policy, user_groups=frozen_map(groups))


def rules_halved(policy: Policy) -> Policy:
    """Every other automatic alert deleted."""
    return dataclasses.replace(policy, automatic_alerts=policy.automatic_alerts[::2])


EDITS = [renamed, left, moved, restricted, permissions_withdrawn, rules_halved]


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> tuple[Policy, list[Incident]]:
    """A generated school and 300 generated incidents about it."""
    policy = load_policy(generate_policy(tmp_path_factory.mktemp("school") / "p", "school"))
    return policy, [parse_incident(raw, policy) for raw in generate_incidents(policy, 300, 3)]


@pytest.fixture(scope="module")
def before(school: tuple[Policy, list[Incident]]) -> Iterator[CompiledPolicy]:
    """The school compiled: the revision serving before the edit."""
    with compile_policy(school[0]) as compiled:
        yield compiled


@pytest.mark.parametrize("edit", EDITS, ids=lambda edit: edit.__name__)
def test_a_revision_compiled_like_the_last_decides_as_one_compiled_afresh(
    school: tuple[Policy, list[Incident]], before: CompiledPolicy, edit: Edit
) -> None:
    policy, incidents = school
    edited = edit(policy)
    with compile_policy(edited, like=before) as like, compile_policy(edited) as fresh:
        old = [evaluate_incident(before, incident) for incident in incidents]
        new = [evaluate_incident(like, incident) for incident in incidents]
        assert new == [evaluate_incident(fresh, incident) for incident in incidents]
    assert new == [reference_decision(edited, incident) for incident in incidents]
    changed = [a.to_json() != b.to_json() for a, b in zip(old, new, strict=True)]
    assert any(changed), f"{edit.__name__} changed no decision: the case tests nothing"


def test_an_edit_to_names_or_permissions_keeps_the_trigger_index_and_whom_rules_name(
    school: tuple[Policy, list[Incident]], before: CompiledPolicy
) -> None:
    for edit in (renamed, permissions_withdrawn):
        with compile_policy(edit(school[0]), like=before) as like:
            assert like.index is before.index
            assert like.tables is before.tables
    with compile_policy(left(school[0]), like=before) as like:
        assert like.index is before.index
        assert like.tables is not before.tables
    with compile_policy(rules_halved(school[0]), like=before) as like:
        assert like.index is not before.index


def test_compiling_like_a_closed_revision_still_decides(
    school: tuple[Policy, list[Incident]],
) -> None:
    policy, incidents = school
    closed = compile_policy(policy)
    closed.close()
    with compile_policy(renamed(policy), like=closed) as like:
        assert [evaluate_incident(like, i) for i in incidents[:20]] == [
            reference_decision(renamed(policy), i) for i in incidents[:20]
        ]
