"""Why alerts change between two revisions: which triggers and users an object change can
touch, and the object changes behind one user's change on one trigger."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from alertpolicy.engine.audit.alertmap import Standing, Trigger
from alertpolicy.engine.audit.atoms import AtomicMap
from alertpolicy.engine.audit.changes import Cause, ObjectChanges
from alertpolicy.engine.model import ALERT_PERMISSIONS, Policy
from alertpolicy.engine.rules import restriction_of

ACCESS_PERMISSIONS = frozenset({"view_incidents"})
"""The category permission access depends on (SPEC 4.3), besides the gate's."""

# ------------------------------------------------------------------ causes


def causes_of(
    trigger: Trigger,
    user: str,
    old: Standing | None,
    new: Standing | None,
    categories: Iterable[str],
    base: Policy,
    head: Policy,
    objects: ObjectChanges,
) -> tuple[Cause, ...]:
    """The object changes behind one user's alert change on one trigger (none: empty)."""
    found: list[Cause] = []
    reaches = (old.reaches if old else ()) + (new.reaches if new else ())
    for rule in sorted({r.rule for r in reaches if r.rule is not None}):
        if rule in objects.rules:
            found.append(objects.rules[rule])
    found.extend(c for c in objects.users.get(user, ()) if c.kind not in ACCESS_ONLY)
    groups = _groups_of(user, base, head)
    for group in sorted(groups):
        if group in objects.groups:
            found.append(objects.groups[group])
    cats = _categories(trigger, categories)
    found.extend(_moved(cats, objects))
    if trigger.kind != "alert_group":
        found.extend(_permission_changes(groups, cats, ALERT_PERMISSIONS, base, head, objects))
        for key in (user, *(f"user group:{g}" for g in sorted(groups))):
            if key in objects.restrictions:
                found.append(objects.restrictions[key])
        if objects.gate_switched:
            found.append(objects.gate_switched)
    alert_groups = {r.via.name for r in reaches if r.via.kind == "alert_group"}
    for name in sorted(alert_groups):
        for kind, member, change in objects.alert_groups.get(name, ()):
            if (
                kind == "group"
                or (kind == "user" and member == user)
                or (kind == "user_group" and member in groups)
            ):
                found.append(change)
    return tuple(dict.fromkeys(found))


def access_causes_of(
    trigger: Trigger,
    user: str,
    categories: Iterable[str],
    base: Policy,
    head: Policy,
    objects: ObjectChanges,
) -> tuple[Cause, ...]:
    """The object changes behind a change in how far ``user`` can open incidents in
    ``categories`` (SPEC 4.3): their user group or key, the group's ``view_incidents`` or
    system permissions, a category moved under another parent."""
    found: list[Cause] = [
        c for c in objects.users.get(user, ()) if c.kind in ACCESS_ONLY or c.kind == "user_moved"
    ]
    groups = _groups_of(user, base, head)
    cats = _categories(trigger, categories)
    found.extend(_moved(cats, objects))
    found.extend(_permission_changes(groups, cats, ACCESS_PERMISSIONS, base, head, objects))
    for group in sorted(groups):
        found.extend(objects.system.get(group, ()))
    return tuple(dict.fromkeys(found))


ACCESS_ONLY = frozenset({"key_holder_added", "key_holder_removed"})
"""User changes that alter access only, never whether an alert is sent."""


def _groups_of(user: str, base: Policy, head: Policy) -> set[str]:
    return {p.users[user].user_group for p in (base, head) if user in p.users}


def _categories(trigger: Trigger, categories: Iterable[str]) -> set[str]:
    return set(categories) | ({trigger.value} if trigger.kind == "category" else set())


def _moved(cats: set[str], objects: ObjectChanges) -> list[Cause]:
    return [objects.categories[c] for c in sorted(cats) if c in objects.categories]


def _permission_changes(
    groups: set[str],
    cats: set[str],
    permissions: Iterable[str],
    base: Policy,
    head: Policy,
    objects: ObjectChanges,
) -> list[Cause]:
    """Changes to ``permissions`` of ``groups`` on ``cats`` (or their parents, or ``*``)."""
    wanted = frozenset(permissions)
    parents = {p.category_parents.get(c) for p in (base, head) for c in cats} - {None}
    return [
        change
        for group in sorted(groups)
        for key, perm, change in objects.permissions.get(group, ())
        if perm in wanted and (key == "*" or key in cats or key in parents)
    ]


# ------------------------------------------------------------------ affected triggers


def affected_triggers(
    base: AtomicMap, head: AtomicMap, objects: ObjectChanges
) -> dict[Trigger, frozenset[str] | None]:
    """The triggers whose standings (or recipients' access) the object changes can alter,
    each with the users whose standing can change (``None``: any user).

    A category added or removed can change for anyone.  Otherwise a standing can change
    only for a user a changed rule names (on that rule's triggers), a member of a changed
    alert group (on the triggers of the rules naming it, and on the group itself), or a
    changed user (added, removed, moved, (de)activated, key holder or not, restricted to
    other student groups, or in a user group whose alert permissions, ``view_incidents``
    or system permissions changed, also by a category moving under another parent; on
    every trigger that reaches them).  A rule whose categories change because a
    sub-category moved counts as changed.  Switching the permission gate off or on can
    change for anyone, anywhere.
    """
    if objects.gate_switched:
        return dict.fromkeys(set(base.triggers()) | set(head.triggers()))
    whole: set[Trigger] = {Trigger("category", c) for c in objects.categories}
    users: set[str] = set(objects.users) | _restricted_anew(base, head)
    changed_groups = set(objects.groups) | set(objects.system) | _regranted(base, head, objects)
    changed_rules = set(objects.rules) | {
        rid
        for rid, condition in base.amap.conditions.items()
        if rid in head.amap.conditions and head.amap.conditions[rid].accepts != condition.accepts
    }
    per_user: dict[Trigger, set[str]] = defaultdict(set)
    for side in (base, head):
        users.update(u.id for u in side.policy.users.values() if u.user_group in changed_groups)
        rules = {r.id: r for r in side.policy.automatic_alerts}
        for rid in changed_rules:
            if rid in rules:
                notified = set(side.amap.notified(rules[rid]))
                for trigger in side.atoms_of(rules[rid]):
                    per_user[trigger] |= notified
        for ag in objects.alert_groups:
            members = set(side.amap.alert_group_members(ag))
            per_user[Trigger("alert_group", ag)] |= members
            for rule in side.policy.automatic_alerts:
                if ag in rule.notify.alert_groups:
                    for trigger in side.atoms_of(rule):
                        per_user[trigger] |= members
    for side in (base, head):
        for user in users:
            if user not in side.policy.users:
                continue
            for trigger in side.atoms_reaching(user):
                per_user[trigger].add(user)
            for ag in side.amap.alert_groups_of(user):
                per_user[Trigger("alert_group", ag)].add(user)
    found: dict[Trigger, frozenset[str] | None] = dict.fromkeys(whole)
    for trigger, names in per_user.items():
        if trigger not in found:
            found[trigger] = frozenset(names)
    return found


def _restricted_anew(base: AtomicMap, head: AtomicMap) -> set[str]:
    """Users whose class restriction (their own or their user group's) differs."""
    both = base.policy.users.keys() & head.policy.users.keys()
    return {u for u in both if restriction_of(base.policy, u) != restriction_of(head.policy, u)}


def _regranted(base: AtomicMap, head: AtomicMap, objects: ObjectChanges) -> set[str]:
    """User groups whose alert or access permissions changed, directly or because a
    category moved."""
    found = {
        g
        for g, changes in objects.permissions.items()
        if any(perm in ALERT_PERMISSIONS or perm in ACCESS_PERMISSIONS for _, perm, _ in changes)
    }
    old, new = base.amap, head.amap
    moved = [c for c in objects.categories if c in old.all_categories and c in new.all_categories]
    for group in base.policy.user_groups.keys() & head.policy.user_groups.keys():
        lacking = old.permissions.lacking, new.permissions.lacking
        if any(lacking[0](group, c) != lacking[1](group, c) for c in moved):
            found.add(group)
    return found
