"""What changed between two policies' objects, in words a school admin reads.

Settings, categories, rules (added / removed / edited: which triggers, whom they notify,
``match``), users (added / removed / moved user group / (de)activated), user groups'
permissions, alert-group membership.  :func:`compare_objects` lists them and indexes them
by subject so that :mod:`alertpolicy.engine.audit.diff` can name the causes of each alert change.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alertpolicy.engine.model import AutomaticAlert, Policy, Targets, Triggers


@dataclass(frozen=True)
class SettingChange:
    """A school-wide setting that differs: its name, both values, what that does."""

    setting: str
    before: object
    after: object
    effect: str

    def to_json(self) -> dict[str, Any]:
        """The setting change as in ``schemas/diff.schema.json``."""
        return {
            "setting": self.setting,
            "before": self.before,
            "after": self.after,
            "effect": self.effect,
        }


@dataclass(frozen=True, order=True)
class PolicyChange:
    """One change to the policy's objects (``rule_edited``, ``user_moved`` ...), in words."""

    kind: str
    subject: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        """The object change as in ``schemas/diff.schema.json``."""
        return {"kind": self.kind, "subject": self.subject, "detail": self.detail}


SETTING_EFFECTS = {
    ("enforce_at_least_one_alert", True): "enforcement switched on: an incident with no "
    "alert is now rejected",
    ("enforce_at_least_one_alert", False): "enforcement switched off: an incident with no "
    "alert is now accepted (with a warning)",
    ("automatic_alerts_count_for_enforcement", True): "automatic alerts now count for "
    "enforcement: an incident need not choose an alert if an automatic alert reaches someone",
    ("automatic_alerts_count_for_enforcement", False): "automatic alerts no longer count for "
    "enforcement: the reporter must choose an alert",
    ("automatic_alert_permission", "any_category"): "permission gate relaxed: automatic "
    "alerts need permission on at least one of the incident's categories",
    ("automatic_alert_permission", "every_category"): "permission gate tightened: automatic "
    "alerts need permission on every one of the incident's categories",
    ("automatic_alert_permission", "none"): "permission gate switched off: automatic alerts "
    "reach every active user they name, even one who cannot open the incident",
}
GATE_OFF = "none"
"""The ``automatic_alert_permission`` that turns the gate off (SPEC 7.3)."""


def _names(values: Iterable[str]) -> str:
    """``a, b`` or ``(none)``."""
    listed = sorted(set(values))
    return ", ".join(listed) if listed else "(none)"


def _compare_lists(label: str, before: Iterable[str], after: Iterable[str]) -> list[str]:
    """``label +added -removed`` when two name lists differ."""
    old, new = set(before), set(after)
    if old == new:
        return []
    bits = [f"+{n}" for n in sorted(new - old)] + [f"-{n}" for n in sorted(old - new)]
    return [f"{label} {' '.join(bits)}"]


def describe_rule_edit(old: AutomaticAlert, new: AutomaticAlert) -> str:
    """What changed in a rule: ``when categories +Online safety; match any -> all``."""
    parts: list[str] = []
    for field, word in (
        ("categories", "categories"),
        ("students", "students"),
        ("student_groups", "student groups"),
    ):
        parts += _compare_lists(f"when {word}", getattr(old.when, field), getattr(new.when, field))
    for field, word in (
        ("users", "users"),
        ("user_groups", "user groups"),
        ("alert_groups", "alert groups"),
    ):
        parts += _compare_lists(
            f"notify {word}", getattr(old.notify, field), getattr(new.notify, field)
        )
    if old.match != new.match:
        parts.append(f"match {old.match} -> {new.match}")
    if old.description != new.description:
        parts.append("description edited")
    return "; ".join(parts)


def _same_rule(old: AutomaticAlert, new: AutomaticAlert) -> bool:
    """Whether two rules route alike (description and location aside)."""

    def norm_when(t: Triggers) -> tuple[frozenset[str], ...]:
        return (frozenset(t.categories), frozenset(t.students), frozenset(t.student_groups))

    def norm_notify(t: Targets) -> tuple[frozenset[str], ...]:
        return (frozenset(t.users), frozenset(t.user_groups), frozenset(t.alert_groups))

    return (
        norm_when(old.when) == norm_when(new.when)
        and norm_notify(old.notify) == norm_notify(new.notify)
        and old.match == new.match
    )


@dataclass
class ObjectChanges:
    """The two policies' object changes, indexed for finding causes."""

    settings: list[SettingChange]
    listing: list[PolicyChange]
    rules: dict[str, str]
    users: dict[str, list[str]]
    permissions: dict[str, list[tuple[str, str, str]]]
    """user group -> (category key, permission, ``granted``/``revoked``)."""
    groups: dict[str, str]
    alert_groups: dict[str, list[tuple[str, str, str]]]
    """alert group -> (``user``/``user_group``, name, ``added``/``removed``); or whole group."""
    categories: dict[str, str]
    """category -> added, removed, or moved to or from under a parent (SPEC 7.1)."""
    restrictions: dict[str, str] = dataclasses.field(default_factory=dict)
    """user or user group -> how its class restriction changed (SPEC 7.2)."""

    @property
    def gate_switched(self) -> str | None:
        """The setting change when the permission gate is switched off or on (SPEC 7.3)."""
        for setting in self.settings:
            if setting.setting == "automatic_alert_permission" and GATE_OFF in (
                setting.before,
                setting.after,
            ):
                return f"setting automatic_alert_permission {setting.before} -> {setting.after}"
        return None


def compare_objects(base: Policy, head: Policy) -> ObjectChanges:
    """Every change between the two policies' objects."""
    out = ObjectChanges([], [], {}, defaultdict(list), defaultdict(list), {}, defaultdict(list), {})
    _compare_settings(base, head, out)
    _compare_categories(base, head, out)
    _compare_restrictions(base, head, out)
    _compare_student_groups(base, head, out)
    _compare_rules(base, head, out)
    _compare_users(base, head, out)
    _compare_user_groups(base, head, out)
    _compare_alert_groups(base, head, out)
    out.listing.sort()
    return out


def _compare_settings(base: Policy, head: Policy, out: ObjectChanges) -> None:
    for name in (
        "enforce_at_least_one_alert",
        "automatic_alerts_count_for_enforcement",
        "automatic_alert_permission",
    ):
        before, after = getattr(base.settings, name), getattr(head.settings, name)
        if before != after:
            out.settings.append(SettingChange(name, before, after, SETTING_EFFECTS[(name, after)]))


def _compare_categories(base: Policy, head: Policy, out: ObjectChanges) -> None:
    for name in sorted(set(base.categories) | set(head.categories)):
        old, new = base.category_parents.get(name), head.category_parents.get(name)
        if name in base.categories and name in head.categories:
            if old == new:
                continue
            kind = "category_moved"
            if old is None:
                text = f"category {name} made a sub-category of {new}"
            elif new is None:
                text = f"category {name} no longer a sub-category of {old}"
            else:
                text = f"category {name} moved from under {old} to under {new}"
        else:
            verb = "added" if name in head.categories else "removed"
            parent = new if verb == "added" else old
            kind = f"category_{verb}"
            text = f"category {name} {verb}" + (f" (a sub-category of {parent})" if parent else "")
        out.categories[name] = text
        out.listing.append(PolicyChange(kind, name, text))


def _restriction_text(who: str, old: tuple[str, ...] | None, new: tuple[str, ...] | None) -> str:
    if old is None:
        return f"{who} restricted to students in {', '.join(new or ())}"
    if new is None:
        return f"{who} no longer restricted to some student groups"
    added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
    change = " ".join([*(f"+{g}" for g in added), *(f"-{g}" for g in removed)])
    verb = "widened" if not removed else "narrowed" if not added else "changed"
    return f"{who}: class restriction {verb} ({change})"


def _compare_restrictions(base: Policy, head: Policy, out: ObjectChanges) -> None:
    sides = (
        ("user", base.users, head.users),
        ("user group", base.user_groups, head.user_groups),
    )
    for what, before, after in sides:
        for name in sorted(before.keys() & after.keys()):
            old, new = before[name].restricted_to, after[name].restricted_to
            if old == new:
                continue
            text = _restriction_text(f"{what} {name}", old, new)
            key = name if what == "user" else f"user group:{name}"
            out.restrictions[key] = text
            kind = "restriction_added" if old is None else "restriction_removed"
            if old is not None and new is not None:
                kind = "restriction_widened" if set(new) >= set(old) else "restriction_narrowed"
            out.listing.append(PolicyChange(kind, name, text))


def _compare_student_groups(base: Policy, head: Policy, out: ObjectChanges) -> None:
    old, new = base.student_groups or {}, head.student_groups or {}
    for name in sorted(old.keys() ^ new.keys()):
        verb = "declared" if name in new else "no longer declared"
        kind = "student_group_declared" if name in new else "student_group_undeclared"
        out.listing.append(PolicyChange(kind, name, f"student group {name} {verb}"))


def _compare_rules(base: Policy, head: Policy, out: ObjectChanges) -> None:
    old = {r.id: r for r in base.automatic_alerts}
    new = {r.id: r for r in head.automatic_alerts}
    for rid in sorted(old.keys() | new.keys()):
        if rid not in new:
            out.rules[rid] = f"rule {rid} removed"
            out.listing.append(PolicyChange("rule_removed", rid, out.rules[rid]))
        elif rid not in old:
            out.rules[rid] = f"rule {rid} added"
            out.listing.append(PolicyChange("rule_added", rid, out.rules[rid]))
        elif not _same_rule(old[rid], new[rid]):
            out.rules[rid] = f"rule {rid} edited: {describe_rule_edit(old[rid], new[rid])}"
            out.listing.append(PolicyChange("rule_edited", rid, out.rules[rid]))


def _compare_users(base: Policy, head: Policy, out: ObjectChanges) -> None:
    for uid in sorted(base.users.keys() | head.users.keys()):
        old, new = base.users.get(uid), head.users.get(uid)
        found: list[tuple[str, str]] = []
        if old is None or new is None:
            kind = "added" if old is None else "removed"
            found.append((f"user_{kind}", f"user {uid} {kind}"))
        else:
            if old.user_group != new.user_group:
                found.append(
                    (
                        "user_moved",
                        f"{uid} moved from user group {old.user_group} to {new.user_group}",
                    )
                )
            if old.active != new.active:
                kind = "activated" if new.active else "deactivated"
                found.append((f"user_{kind}", f"{uid} {kind}"))
        for kind, text in found:
            out.users[uid].append(text)
            out.listing.append(PolicyChange(kind, uid, text))


def _compare_user_groups(base: Policy, head: Policy, out: ObjectChanges) -> None:
    for name in sorted(base.user_groups.keys() | head.user_groups.keys()):
        old, new = base.user_groups.get(name), head.user_groups.get(name)
        if old is None or new is None:
            kind = "added" if old is None else "removed"
            out.groups[name] = f"user group {name} {kind}"
            out.listing.append(PolicyChange(f"user_group_{kind}", name, out.groups[name]))
            continue
        keys = old.category_permissions.keys() | new.category_permissions.keys()
        for key in sorted(keys):
            before = old.category_permissions.get(key, frozenset())
            after = new.category_permissions.get(key, frozenset())
            for perm in sorted(before ^ after):
                verb = "granted" if perm in after else "revoked"
                out.permissions[name].append((key, perm, verb))
                where = "every category" if key == "*" else key
                text = f"user group {name}: {perm} on {where} {verb}"
                out.listing.append(PolicyChange(f"permission_{verb}", name, text))
        for perm in sorted(old.system_permissions ^ new.system_permissions):
            verb = "granted" if perm in new.system_permissions else "revoked"
            text = f"user group {name}: system permission {perm} {verb}"
            out.listing.append(PolicyChange(f"system_permission_{verb}", name, text))


def _compare_alert_groups(base: Policy, head: Policy, out: ObjectChanges) -> None:
    for name in sorted(base.alert_groups.keys() | head.alert_groups.keys()):
        old, new = base.alert_groups.get(name), head.alert_groups.get(name)
        if old is None or new is None:
            kind = "added" if old is None else "removed"
            out.alert_groups[name].append(("group", name, kind))
            out.listing.append(
                PolicyChange(f"alert_group_{kind}", name, f"alert group {name} {kind}")
            )
            continue
        for field, word in (("users", "user"), ("user_groups", "user_group")):
            before, after = set(getattr(old, field)), set(getattr(new, field))
            for member in sorted(before ^ after):
                verb = "added" if member in after else "removed"
                out.alert_groups[name].append((word, member, verb))
                text = (
                    f"{word.replace('_', ' ')} {member} {verb} "
                    f"{'to' if verb == 'added' else 'from'} alert group {name}"
                )
                out.listing.append(PolicyChange("alert_group_membership", name, text))
