"""Whose alerts change between two policy revisions, and why.

:func:`diff_policies` compares two loaded policies.  First their objects: settings, rules
added / removed / edited, users added / removed / moved group / (de)activated, category
permissions granted or revoked per user group, alert-group membership, categories.  Then
the alert maps (:mod:`.alertmap`) of the triggers those object changes can touch:
every user who gains or loses an alert for a trigger, or becomes (or stops being) withheld,
each with its causes in plain words, picked from the object changes that concern that user
and that trigger.  Setting changes are listed on their own (enforcement alters rejections,
not who is alerted).

The object comparison is in :mod:`alertpolicy.engine.audit.changes`.  Only the (trigger, user) pairs
an object change can affect are compared (see :func:`affected_triggers`); ``full=True``
compares every trigger and gives the same answer.  For student, student-group and
combination triggers, categories are compared on the categories both revisions have; a
category added or removed shows under its own category trigger.  Renderers for text,
markdown and JSON are in :mod:`alertpolicy.engine.audit.report`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from alertpolicy.engine.audit.alertmap import (
    INCIDENT,
    AlertMap,
    Standing,
    Trigger,
    lacks_text,
    missing_permissions,
)
from alertpolicy.engine.audit.causes import affected_triggers, causes_of
from alertpolicy.engine.audit.changes import (
    ObjectChanges,
    PolicyChange,
    SettingChange,
    compare_objects,
)
from alertpolicy.engine.model import Policy

ChangeKind = Literal[
    "gains", "loses", "newly_withheld", "no_longer_withheld", "restriction_changed"
]
CHANGE_ORDER: tuple[ChangeKind, ...] = (
    "gains",
    "loses",
    "newly_withheld",
    "no_longer_withheld",
    "restriction_changed",
)


@dataclass(frozen=True)
class AlertChange:
    """A user's alerts for one trigger change: gains, loses, newly / no longer withheld.

    ``categories`` are the categories concerned for student, student-group and
    combination triggers (empty when the trigger fixes them: category, alert group);
    ``reason`` is why a user is withheld now (``inactive``, ``missing_permission``) for
    ``loses``/``newly_withheld``, with ``detail`` naming the missing permissions.
    """

    trigger: Trigger
    user: str
    change: ChangeKind
    categories: tuple[str, ...]
    reason: str | None
    detail: str
    causes: tuple[str, ...]
    every_category: bool = False
    """True when ``categories`` are every category both revisions have."""

    def sort_key(self) -> tuple[tuple[int, str], str, int]:
        """Order by trigger (kind, value), user, then kind of change."""
        return (self.trigger.sort_key(), self.user, CHANGE_ORDER.index(self.change))

    def to_json(self) -> dict[str, Any]:
        """The alert change as in ``schemas/diff.schema.json``."""
        return {
            "trigger": {"kind": self.trigger.kind, "value": self.trigger.value},
            "user": self.user,
            "change": self.change,
            "categories": list(self.categories),
            "every_category": self.every_category,
            "reason": self.reason,
            "detail": self.detail,
            "causes": list(self.causes),
        }


@dataclass(frozen=True)
class PolicyDiff:
    """The difference between two policy revisions, ready to render."""

    base: tuple[str, str]
    head: tuple[str, str]
    settings: tuple[SettingChange, ...]
    policy_changes: tuple[PolicyChange, ...]
    changes: tuple[AlertChange, ...]

    @property
    def changed(self) -> bool:
        """Whether anyone's alerts (or withheld status) or a setting change."""
        return bool(self.changes or self.settings)

    def users_with(self, change: ChangeKind) -> list[str]:
        """Distinct users with at least one change of this kind, sorted."""
        return sorted({c.user for c in self.changes if c.change == change})

    def summary(self) -> str:
        """One line: ``3 users gain alerts, 1 loses; enforcement switched on``."""
        if not self.changed:
            return "No change in who is alerted."
        parts = []
        gain, lose = len(self.users_with("gains")), len(self.users_with("loses"))
        if gain and lose:
            parts.append(f"{_users(gain, 'gain')} alerts, {lose} lose{'s' if lose == 1 else ''}")
        elif gain or lose:
            parts.append(f"{_users(gain, 'gain') if gain else _users(lose, 'lose')} alerts")
        newly = len(self.users_with("newly_withheld"))
        if newly:
            parts.append(f"{_users(newly, 'become')} withheld")
        if not (gain or lose or newly) and self.changes:
            parts.append("only withheld entries change")
        if not self.changes:
            parts.append("no change in who is alerted")
        parts.extend(s.effect.split(":")[0] for s in self.settings)
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The whole diff as in ``schemas/diff.schema.json`` (stable order)."""
        return {
            "base": {"label": self.base[0], "revision": self.base[1]},
            "head": {"label": self.head[0], "revision": self.head[1]},
            "changed": self.changed,
            "summary": {
                "text": self.summary(),
                "users_gaining": len(self.users_with("gains")),
                "users_losing": len(self.users_with("loses")),
                "users_newly_withheld": len(self.users_with("newly_withheld")),
                "users_no_longer_withheld": len(self.users_with("no_longer_withheld")),
                "alert_changes": len(self.changes),
                "setting_changes": len(self.settings),
            },
            "settings": [s.to_json() for s in self.settings],
            "policy_changes": [p.to_json() for p in self.policy_changes],
            "changes": [c.to_json() for c in self.changes],
        }


def _users(count: int, verb: str) -> str:
    """``1 user gains`` / ``3 users gain``."""
    return f"{count} user {verb}s" if count == 1 else f"{count} users {verb}"


# ------------------------------------------------------------------ the diff


def _restrict(
    standing: Standing | None, common: frozenset[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """(alerted_in, withheld_in) on the categories both revisions share."""
    if standing is None:
        return frozenset(), frozenset()
    return standing.alerted_in & common, standing.withheld_in & common


def _withheld_detail(
    amap: AlertMap, standing: Standing, categories: Iterable[str]
) -> tuple[str, str]:
    """(reason, detail) for a user withheld in ``categories`` under ``amap``'s policy."""
    if standing.inactive:
        return "inactive", f"{standing.user} is inactive"
    policy = amap.policy
    cats = [c for c in categories if c != INCIDENT]
    group = policy.users[standing.user].user_group
    lacks = lacks_text(missing_permissions(amap.permissions, group, cats), policy.categories)
    return "missing_permission", f"their user group lacks {lacks}"


def _trigger_changes(
    trigger: Trigger,
    base_map: AlertMap,
    head_map: AlertMap,
    common: frozenset[str],
    objects: ObjectChanges,
    users: frozenset[str] | None = None,
) -> list[AlertChange]:
    """Every user's change for one trigger (of ``users`` only, when given)."""
    old_all = base_map.standings(trigger, users)
    new_all = head_map.standings(trigger, users)
    out: list[AlertChange] = []
    for user in sorted(old_all.keys() | new_all.keys()):
        old, new = old_all.get(user), new_all.get(user)
        a0, w0 = _restrict(old, common)
        a1, w1 = _restrict(new, common)
        if a0 == a1 and w0 == w1:
            if (
                a1
                and old is not None
                and new is not None
                and old.restricted_to != new.restricted_to
            ):
                out.append(
                    _restriction_change(trigger, user, old, new, base_map, head_map, objects)
                )
            continue
        lost = a0 - a1
        pieces: list[tuple[ChangeKind, frozenset[str]]] = [
            ("gains", a1 - a0),
            ("loses", lost),
            ("newly_withheld", (w1 - w0) - lost),
            ("no_longer_withheld", (w0 - w1) - (a1 - a0)),
        ]
        for change, cats in pieces:
            if not cats:
                continue
            shown = tuple(sorted(cats - {INCIDENT}))
            if trigger.kind == "category":
                shown = ()
            reason, detail = None, ""
            if change in ("loses", "newly_withheld") and new is not None and cats & w1:
                reason, detail = _withheld_detail(head_map, new, shown or (trigger.value,))
            elif change == "loses":
                detail = "no longer notified"
            why = causes_of(
                trigger, user, old, new, shown, base_map.policy, head_map.policy, objects
            )
            every = bool(shown) and set(shown) == common - {INCIDENT}
            out.append(AlertChange(trigger, user, change, shown, reason, detail, why, every))
    return out


def _restriction_change(
    trigger: Trigger,
    user: str,
    old: Standing,
    new: Standing,
    base_map: AlertMap,
    head_map: AlertMap,
    objects: ObjectChanges,
) -> AlertChange:
    """A user still alerted on ``trigger``, but for the students of other groups."""

    def only(groups: tuple[str, ...] | None) -> str:
        return f"students in {', '.join(groups)}" if groups else "any student"

    detail = f"now alerted for {only(new.restricted_to)} (before: {only(old.restricted_to)})"
    why = causes_of(trigger, user, old, new, (), base_map.policy, head_map.policy, objects)
    return AlertChange(trigger, user, "restriction_changed", (), "class_restriction", detail, why)


def diff_policies(
    base: Policy, head: Policy, *, full: bool = False, labels: tuple[str, str] = ("base", "head")
) -> PolicyDiff:
    """Compare two policies: setting changes, object changes and every alert change."""
    objects = compare_objects(base, head)
    base_map = AlertMap(base, with_access=False)
    head_map = AlertMap(head, with_access=False)
    if full:
        triggers = dict.fromkeys(set(base_map.triggers()) | set(head_map.triggers()))
    else:
        triggers = affected_triggers(base_map, head_map, objects)
    common = frozenset(base.categories) & frozenset(head.categories) | {INCIDENT}
    changes: list[AlertChange] = []
    for trigger in sorted(triggers, key=Trigger.sort_key):
        changes.extend(
            _trigger_changes(trigger, base_map, head_map, common, objects, triggers[trigger])
        )
    changes.sort(key=AlertChange.sort_key)
    return PolicyDiff(
        base=(labels[0], base.revision),
        head=(labels[1], head.revision),
        settings=tuple(objects.settings),
        policy_changes=tuple(objects.listing),
        changes=tuple(changes),
    )
