"""Why alerts change between two revisions: which triggers and users an object change can
touch, and the object changes behind one user's change on one trigger, in plain words."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from alertpolicy.engine.audit.alertmap import AlertMap, Standing, Trigger
from alertpolicy.engine.audit.changes import ObjectChanges
from alertpolicy.engine.model import ALERT_PERMISSIONS, Policy
from alertpolicy.engine.rules import restriction_of

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
    cats = set(categories) | ({trigger.value} if trigger.kind == "category" else set())
    for category in sorted(cats):
        if category in objects.categories:
            found.append(objects.categories[category])
    parents = {p.category_parents.get(c) for p in (base, head) for c in cats} - {None}
    for group in sorted(groups) if trigger.kind != "alert_group" else ():
        for key, perm, verb in objects.permissions.get(group, ()):
            if perm in ALERT_PERMISSIONS and (key == "*" or key in cats or key in parents):
                where = "every category" if key == "*" else key
                found.append(f"user group {group}: {perm} on {where} {verb}")
    if trigger.kind != "alert_group":
        for key in (user, *(f"user group:{g}" for g in sorted(groups))):
            if key in objects.restrictions:
                found.append(objects.restrictions[key])
        if objects.gate_switched:
            found.append(objects.gate_switched)
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
    changed user (added, removed, moved, (de)activated, restricted to other student
    groups, or in a user group whose alert permissions changed, also by a category moving
    under another parent; on every trigger that reaches them).  A rule whose categories
    change because a sub-category moved counts as changed.  Switching the permission gate
    off or on can change for anyone, anywhere.
    """
    if objects.gate_switched:
        return dict.fromkeys(set(base.triggers()) | set(head.triggers()))
    whole: set[Trigger] = {Trigger("category", c) for c in objects.categories}
    users: set[str] = set(objects.users) | _restricted_anew(base, head)
    changed_groups = set(objects.groups) | _regranted(base, head, objects)
    changed_rules = set(objects.rules) | {
        rid
        for rid, condition in base.conditions.items()
        if rid in head.conditions and head.conditions[rid].accepts != condition.accepts
    }
    per_user: dict[Trigger, set[str]] = defaultdict(set)
    for side in (base, head):
        users.update(u.id for u in side.policy.users.values() if u.user_group in changed_groups)
        rules = {r.id: r for r in side.policy.automatic_alerts}
        for rid in changed_rules:
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


def _restricted_anew(base: AlertMap, head: AlertMap) -> set[str]:
    """Users whose class restriction (their own or their user group's) differs."""
    both = base.policy.users.keys() & head.policy.users.keys()
    return {u for u in both if restriction_of(base.policy, u) != restriction_of(head.policy, u)}


def _regranted(base: AlertMap, head: AlertMap, objects: ObjectChanges) -> set[str]:
    """User groups whose alert permissions changed, directly or because a category moved."""
    found = {
        g
        for g, changes in objects.permissions.items()
        if any(perm in ALERT_PERMISSIONS for _, perm, _ in changes)
    }
    moved = [c for c in objects.categories if c in base.all_categories and c in head.all_categories]
    for group in base.policy.user_groups.keys() & head.policy.user_groups.keys():
        if any(
            base.permissions.lacking(group, c) != head.permissions.lacking(group, c) for c in moved
        ):
            found.add(group)
    return found
