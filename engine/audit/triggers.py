"""The vocabulary of the alert map: triggers, the ways an alert reaches a user, and indexes.

A :class:`Trigger` is one thing an incident can carry that sends alerts (a category, a
student, a student group, a ``match: all`` rule's full condition, a chosen alert group);
:func:`rule_triggers` says which triggers a rule fires on, from its condition in
:mod:`alertpolicy.engine.rules` (so a rule listing a parent category fires on each of its
sub-categories); the :class:`ReverseIndex` finds every rule that names a user.  How an
alert names a user (:class:`Via`) is the routing rules' own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Literal, NamedTuple

from alertpolicy.engine.model import AutomaticAlert, MissingPermission, Policy, Targets
from alertpolicy.engine.rules import Condition, Membership, Permissions, Via

__all__ = [
    "INCIDENT",
    "KIND_WORDS",
    "Reach",
    "ReverseIndex",
    "Trigger",
    "Via",
    "combination_label",
    "lacks_text",
    "matched_label",
    "missing_permissions",
    "rule_triggers",
]

TriggerKindName = Literal["category", "student", "student_group", "combination", "alert_group"]
TRIGGER_KIND_ORDER: tuple[TriggerKindName, ...] = (
    "category",
    "student_group",
    "student",
    "combination",
    "alert_group",
)
KIND_WORDS = {
    "category": "category",
    "student": "student",
    "student_group": "student group",
    "combination": "combination",
    "alert_group": "alert group",
}
INCIDENT = "*"
"""Pseudo-category: "for the incident as described" (its categories are known)."""


class Trigger(NamedTuple):
    """One thing an incident can carry that sends alerts: ``kind`` and ``value``."""

    kind: TriggerKindName
    value: str

    def label(self) -> str:
        """The trigger in words: ``category Bullying``, ``student group Year 7`` ..."""
        if self.kind == "combination":
            return self.value
        return f"{KIND_WORDS[self.kind]} {self.value}"

    def sort_key(self) -> tuple[int, str]:
        """Order triggers by kind (categories first), then by value."""
        return (TRIGGER_KIND_ORDER.index(self.kind), self.value)


class Reach(NamedTuple):
    """One alert that reaches a user: ``rule`` (``None`` for a chosen alert group), how."""

    rule: str | None
    via: Via
    matched: str = ""

    def sort_key(self) -> tuple[str, tuple[str, str, str], str]:
        """Order by rule (chosen alert groups first), way, matched trigger."""
        return (self.rule or "", self.via.sort_key(), self.matched)


def combination_label(rule: AutomaticAlert) -> str:
    """The full condition of a ``match: all`` rule: ``category Bullying + student group Year 7``."""
    parts = []
    for kind, values in rule.when.by_kind().items():
        names = sorted(set(values))
        text = names[0] if len(names) == 1 else "(" + " or ".join(names) + ")"
        parts.append(f"{KIND_WORDS[kind]} {text}")
    return " + ".join(parts)


def rule_triggers(rule: AutomaticAlert, condition: Condition) -> tuple[Trigger, ...]:
    """The triggers a rule fires on: each value it accepts, or its full ``match: all``
    condition."""
    if condition.joint:
        return (Trigger("combination", combination_label(rule)),)
    found = [Trigger(kind, value) for kind, values in condition.accepts.items() for value in values]
    return tuple(sorted(set(found))) if len(found) > 1 else tuple(found)


def every_trigger(policy: Policy, fired: Iterable[Trigger]) -> list[Trigger]:
    """The triggers ``fired``, each category and each alert group of ``policy``; sorted."""
    found = set(fired)
    found.update(Trigger("category", c) for c in policy.categories)
    found.update(Trigger("alert_group", a) for a in policy.alert_groups)
    return sorted(found, key=Trigger.sort_key)


def rules_by_trigger(
    policy: Policy, triggers_of: Callable[[AutomaticAlert], Iterable[Trigger]]
) -> dict[Trigger, list[AutomaticAlert]]:
    """The rules of ``policy`` (in policy order) by each trigger ``triggers_of`` gives."""
    index: dict[Trigger, list[AutomaticAlert]] = defaultdict(list)
    for rule in policy.automatic_alerts:
        for trigger in triggers_of(rule):
            index[trigger].append(rule)
    return dict(index)


def matched_label(condition: Condition, values: Mapping[str, Iterable[str]]) -> str:
    """The values that make a rule fire, smallest of each kind (as decisions report them)."""
    parts = []
    for kind, value in condition.hits(values):
        parent = condition.via_parent.get(value) if kind == "category" else None
        via = f" (a sub-category of {parent})" if parent is not None else ""
        parts.append(f"{KIND_WORDS[kind]} {value}{via}")
    return " + ".join(parts)


class ReverseIndex:
    """Rules by the users and user groups their notify lists name; alert groups by member."""

    def __init__(self, policy: Policy, membership: Membership) -> None:
        self.by_name: dict[tuple[str, str], set[int]] = defaultdict(set)
        for index, rule in enumerate(policy.automatic_alerts):
            for kind, name, _via in membership.named(rule.notify):
                self.by_name[(kind, name)].add(index)
        self.alert_groups_by_name: dict[tuple[str, str], set[str]] = defaultdict(set)
        for group in policy.alert_groups:
            for kind, name, _via in membership.named(Targets(alert_groups=(group,))):
                self.alert_groups_by_name[(kind, name)].add(group)

    def alert_groups_of(self, policy: Policy, user_id: str) -> set[str]:
        """Alert groups with ``user_id`` as a member."""
        if user_id not in policy.users:
            return set()
        own = policy.users[user_id].user_group
        found = self.alert_groups_by_name.get(("user", user_id), set())
        return found | self.alert_groups_by_name.get(("user_group", own), set())

    def rules_reaching(self, policy: Policy, user_id: str) -> list[AutomaticAlert]:
        """Rules naming ``user_id`` directly, by user group or by alert group; policy order."""
        if user_id not in policy.users:
            return []
        own = policy.users[user_id].user_group
        indexes = self.by_name.get(("user", user_id), set())
        indexes = indexes | self.by_name.get(("user_group", own), set())
        return [policy.automatic_alerts[i] for i in sorted(indexes)]


def missing_permissions(
    permissions: Permissions, user_group: str, categories: Iterable[str]
) -> tuple[MissingPermission, ...]:
    """Every alert permission ``user_group`` lacks on ``categories``, sorted."""
    return tuple(
        sorted(
            MissingPermission(category, permission)
            for category in set(categories)
            for permission in permissions.lacking(user_group, category)
        )
    )


def lacks_text(missing: Iterable[MissingPermission], every: Iterable[str] = ()) -> str:
    """``view_incidents on Bullying, Self-harm; view_students on Self-harm`` (grouped).

    Categories equal to ``every`` (the policy's categories) read ``every category``.
    """
    by_permission: dict[str, list[str]] = defaultdict(list)
    for item in sorted(missing):
        by_permission[item.permission].append(item.category)
    everything = sorted(set(every))
    return "; ".join(
        f"{permission} on "
        + ("every category" if cats == everything and len(cats) > 1 else ", ".join(cats))
        for permission, cats in sorted(by_permission.items())
    )
