"""The vocabulary of the alert map: triggers, the ways an alert names a user, and indexes.

A :class:`Trigger` is one thing an incident can carry that sends alerts (a category, a
student, a student group, a ``match: all`` rule's full condition, a chosen alert group);
a :class:`Via` is how an alert names a user; :func:`rule_triggers` says which triggers a
rule fires on, :func:`fires` whether it fires for given incident values; the
:class:`ReverseIndex` finds every rule that names a user.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Literal, NamedTuple

from alertpolicy.engine.model import ALERT_PERMISSIONS, AutomaticAlert, MissingPermission, Policy

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


class Via(NamedTuple):
    """How an alert names a user.

    ``kind`` ``user`` (by name), ``user_group`` (every user of group ``name``) or
    ``alert_group`` (member of alert group ``name``; ``through`` is the user group inside
    the alert group that makes them a member, ``None`` when they are named directly).
    """

    kind: Literal["user", "user_group", "alert_group"]
    name: str
    through: str | None = None

    def describe(self) -> str:
        """The way in plain words: ``as a member of alert group DSLs (user group DSL)``."""
        if self.kind == "user":
            return "named directly"
        if self.kind == "user_group":
            return f"as a member of user group {self.name}"
        if self.through is None:
            return f"as a member of alert group {self.name}"
        return f"as a member of alert group {self.name} (via user group {self.through})"

    def sort_key(self) -> tuple[str, str, str]:
        """Order by kind, name, then user group (direct membership first)."""
        return (self.kind, self.name, self.through or "")


class Reach(NamedTuple):
    """One alert that reaches a user: ``rule`` (``None`` for a chosen alert group), how."""

    rule: str | None
    via: Via
    matched: str = ""

    def sort_key(self) -> tuple:
        """Order by rule (chosen alert groups first), way, matched trigger."""
        return (self.rule or "", self.via.sort_key(), self.matched)


def fires_open(rule: AutomaticAlert, values: Mapping[str, frozenset[str]]) -> bool:
    """Whether ``rule`` fires on these students/groups, whatever the incident's category.

    ``match: any`` needs a listed student or group; ``match: all`` needs every listed
    non-category kind to match (a listed category then limits the rule's scope).
    """
    others = [v for k, v in rule.when.by_kind().items() if k != "category"]
    hits = [bool(values[k] & set(v)) for k, v in rule.when.by_kind().items() if k != "category"]
    if not others:
        return False
    return all(hits) if rule.match == "all" else any(hits)


def combination_label(rule: AutomaticAlert) -> str:
    """The full condition of a ``match: all`` rule: ``category Bullying + student group Year 7``."""
    parts = []
    for kind, values in rule.when.by_kind().items():
        names = sorted(set(values))
        text = names[0] if len(names) == 1 else "(" + " or ".join(names) + ")"
        parts.append(f"{KIND_WORDS[kind]} {text}")
    return " + ".join(parts)


def rule_triggers(rule: AutomaticAlert) -> tuple[Trigger, ...]:
    """The triggers a rule fires on: each listed value, or its full ``match: all`` condition."""
    kinds = rule.when.by_kind()
    if rule.match == "all" and len(kinds) > 1:
        return (Trigger("combination", combination_label(rule)),)
    found = [Trigger(kind, value) for kind, values in kinds.items() for value in values]
    return tuple(sorted(set(found))) if len(found) > 1 else tuple(found)


def fires(rule: AutomaticAlert, values: Mapping[str, frozenset[str]]) -> bool:
    """Whether ``rule`` fires for an incident with these trigger values (SPEC 4.2)."""
    hits = [bool(values.get(kind, frozenset()) & set(v)) for kind, v in rule.when.by_kind().items()]
    if not hits:
        return False
    return all(hits) if rule.match == "all" else any(hits)


def matched_label(rule: AutomaticAlert, values: Mapping[str, frozenset[str]]) -> str:
    """The values that made ``rule`` fire, smallest of each kind (as the engine reports)."""
    parts = []
    for kind, listed in rule.when.by_kind().items():
        hit = sorted(values.get(kind, frozenset()) & set(listed))
        if hit:
            parts.append(f"{KIND_WORDS[kind]} {hit[0]}")
    return " + ".join(parts)


class ReverseIndex:
    """Rules by what their notify lists name; alert groups by their members."""

    def __init__(self, policy: Policy) -> None:
        self.by_user: dict[str, list[int]] = defaultdict(list)
        self.by_group: dict[str, list[int]] = defaultdict(list)
        self.by_alert_group: dict[str, list[int]] = defaultdict(list)
        for index, rule in enumerate(policy.automatic_alerts):
            for name in rule.notify.users:
                self.by_user[name].append(index)
            for name in rule.notify.user_groups:
                self.by_group[name].append(index)
            for name in rule.notify.alert_groups:
                self.by_alert_group[name].append(index)
        self.ags_of_user: dict[str, set[str]] = defaultdict(set)
        self.ags_of_group: dict[str, set[str]] = defaultdict(set)
        for group in policy.alert_groups.values():
            for name in group.users:
                self.ags_of_user[name].add(group.name)
            for name in group.user_groups:
                self.ags_of_group[name].add(group.name)

    def alert_groups_of(self, policy: Policy, user_id: str) -> set[str]:
        """Alert groups with ``user_id`` as a member."""
        if user_id not in policy.users:
            return set()
        own = policy.users[user_id].user_group
        return self.ags_of_user.get(user_id, set()) | self.ags_of_group.get(own, set())

    def rules_reaching(self, policy: Policy, user_id: str) -> list[AutomaticAlert]:
        """Rules naming ``user_id`` directly, by user group or by alert group; policy order."""
        if user_id not in policy.users:
            return []
        own = policy.users[user_id].user_group
        indexes = set(self.by_user.get(user_id, ())) | set(self.by_group.get(own, ()))
        for alert_group in self.alert_groups_of(policy, user_id):
            indexes.update(self.by_alert_group.get(alert_group, ()))
        return [policy.automatic_alerts[i] for i in sorted(indexes)]


def missing_permissions(
    policy: Policy, user_id: str, categories: Iterable[str]
) -> tuple[MissingPermission, ...]:
    """Every alert permission ``user_id``'s group lacks on ``categories``, sorted."""
    group = policy.group_of(user_id)
    return tuple(
        sorted(
            MissingPermission(category, permission)
            for category in set(categories)
            for permission in ALERT_PERMISSIONS
            if not group.grants(category, permission)
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
