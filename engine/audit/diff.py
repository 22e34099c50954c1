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

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from alertpolicy.engine.audit.alertmap import (
    INCIDENT,
    AlertMap,
    Standing,
    Trigger,
    lacks_text,
    missing_permissions,
)
from alertpolicy.engine.audit.changes import (
    ObjectChanges,
    PolicyChange,
    SettingChange,
    compare_objects,
)
from alertpolicy.engine.model import ALERT_PERMISSIONS, Policy

ChangeKind = Literal["gains", "loses", "newly_withheld", "no_longer_withheld"]
CHANGE_ORDER: tuple[ChangeKind, ...] = ("gains", "loses", "newly_withheld", "no_longer_withheld")


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

    def sort_key(self) -> tuple:
        """Order by trigger (kind, value), user, then kind of change."""
        return (self.trigger.sort_key(), self.user, CHANGE_ORDER.index(self.change))

    def to_json(self) -> dict:
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

    def to_json(self) -> dict:
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


# ------------------------------------------------------------------ causes


def _causes(
    trigger: Trigger,
    user: str,
    old: Standing | None,
    new: Standing | None,
    categories: Iterable[str],
    base: Policy,
    head: Policy,
    objects: ObjectChanges,
) -> tuple[str, ...]:
    """The object changes behind one user's change on one trigger, in plain words."""
    found: list[str] = []
    reaches = (old.reaches if old else ()) + (new.reaches if new else ())
    for rule in sorted({r.rule for r in reaches if r.rule is not None}):
        if rule in objects.rules:
            found.append(objects.rules[rule])
    found.extend(objects.users.get(user, ()))
    groups = {p.users[user].user_group for p in (base, head) if user in p.users}
    for group in sorted(groups):
        if group in objects.groups:
            found.append(objects.groups[group])
    if trigger.kind == "category" and trigger.value in objects.categories:
        found.append(objects.categories[trigger.value])
    cats = set(categories) | ({trigger.value} if trigger.kind == "category" else set())
    for group in sorted(groups) if trigger.kind != "alert_group" else ():
        for key, perm, verb in objects.permissions.get(group, ()):
            if perm in ALERT_PERMISSIONS and (key == "*" or key in cats):
                where = "every category" if key == "*" else key
                found.append(f"user group {group}: {perm} on {where} {verb}")
    alert_groups = {r.via.name for r in reaches if r.via.kind == "alert_group"}
    for name in sorted(alert_groups):
        for kind, member, verb in objects.alert_groups.get(name, ()):
            if kind == "group":
                found.append(f"alert group {name} {verb}")
            elif (kind == "user" and member == user) or (kind == "user_group" and member in groups):
                word = kind.replace("_", " ")
                found.append(
                    f"{word} {member} {verb} {'to' if verb == 'added' else 'from'} "
                    f"alert group {name}"
                )
    return tuple(dict.fromkeys(found)) or ("the policy's routing changed",)


# ------------------------------------------------------------------ affected triggers


def affected_triggers(
    base: AlertMap, head: AlertMap, objects: ObjectChanges
) -> dict[Trigger, frozenset[str] | None]:
    """The triggers whose standings the object changes can alter, each with the users
    whose standing can change (``None``: any user).

    A category added or removed can change for anyone.  Otherwise a standing can change
    only for a user a changed rule names (on that rule's triggers), a member of a changed
    alert group (on the triggers of the rules naming it, and on the group itself), or a
    changed user (added, removed, moved, (de)activated, or in a user group whose alert
    permissions changed; on every trigger that reaches them).
    """
    whole: set[Trigger] = {Trigger("category", c) for c in objects.categories}
    users: set[str] = set(objects.users)
    changed_groups = set(objects.groups) | {
        g
        for g, changes in objects.permissions.items()
        if any(perm in ALERT_PERMISSIONS for _, perm, _ in changes)
    }
    per_user: dict[Trigger, set[str]] = defaultdict(set)
    for side in (base, head):
        users.update(u.id for u in side.policy.users.values() if u.user_group in changed_groups)
        rules = {r.id: r for r in side.policy.automatic_alerts}
        for rid in objects.rules:
            if rid in rules:
                notified = set(side.notified(rules[rid]))
                for trigger in side.triggers_of(rules[rid]):
                    per_user[trigger] |= notified
        for ag in objects.alert_groups:
            members = set(side.alert_group_members(ag))
            per_user[Trigger("alert_group", ag)] |= members
            for rule in side.policy.automatic_alerts:
                if ag in rule.notify.alert_groups:
                    for trigger in side.triggers_of(rule):
                        per_user[trigger] |= members
    for side in (base, head):
        for user in users:
            if user not in side.policy.users:
                continue
            for trigger in side.triggers_reaching(user):
                per_user[trigger].add(user)
            for ag in side.alert_groups_of(user):
                per_user[Trigger("alert_group", ag)].add(user)
    found: dict[Trigger, frozenset[str] | None] = dict.fromkeys(whole)
    for trigger, names in per_user.items():
        if trigger not in found:
            found[trigger] = frozenset(names)
    return found


# ------------------------------------------------------------------ the diff


def _restrict(standing: Standing | None, common: frozenset[str]) -> tuple[frozenset, frozenset]:
    """(alerted_in, withheld_in) on the categories both revisions share."""
    if standing is None:
        return frozenset(), frozenset()
    return standing.alerted_in & common, standing.withheld_in & common


def _withheld_detail(policy: Policy, standing: Standing, categories: Iterable[str]) -> tuple:
    """(reason, detail) for a user withheld in ``categories`` under ``policy``."""
    if standing.inactive:
        return "inactive", f"{standing.user} is inactive"
    cats = [c for c in categories if c != INCIDENT]
    lacks = lacks_text(missing_permissions(policy, standing.user, cats), policy.categories)
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
                reason, detail = _withheld_detail(head_map.policy, new, shown or (trigger.value,))
            elif change == "loses":
                detail = "no longer notified"
            causes = _causes(
                trigger, user, old, new, shown, base_map.policy, head_map.policy, objects
            )
            every = bool(shown) and set(shown) == common - {INCIDENT}
            out.append(AlertChange(trigger, user, change, shown, reason, detail, causes, every))
    return out


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
