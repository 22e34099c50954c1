"""What changed between two policies' objects, in words a school admin reads.

Settings, categories, rules (added / removed / edited: which categories, students and
student groups it fires for, whom it notifies, ``match``), users (added / removed / moved
user group / (de)activated / key holder), user groups' permissions, alert-group
membership, class restrictions and declared student groups.  :func:`compare_objects`
lists them and indexes them by subject, so that the diff can name, for each alert that
changes, the object changes behind it (:mod:`.causes`).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from alertpolicy.engine.audit.ruleedits import RuleEdit, rule_edits
from alertpolicy.engine.model import Policy

__all__ = [
    "GATE_OFF",
    "Cause",
    "ObjectChanges",
    "PolicyChange",
    "RuleEdit",
    "SettingChange",
    "compare_objects",
]


@dataclass(frozen=True)
class SettingChange:
    """A school-wide setting that differs: its name, both values, what that does."""

    setting: str
    before: object
    after: object
    effect: str

    @property
    def detail(self) -> str:
        """The change in words: ``setting automatic_alert_permission every_category -> none``."""
        return f"setting {self.setting} {self.before} -> {self.after}"

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
    """One change to the policy's objects (``rule_edited``, ``user_moved`` ...), in words.

    ``edits`` says, for an edited rule, each part that changed.
    """

    kind: str
    subject: str
    detail: str
    edits: tuple[RuleEdit, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The object change as in ``schemas/diff.schema.json`` (without whom it affects)."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "detail": self.detail,
            "edits": [edit.to_json() for edit in self.edits],
        }


Cause = PolicyChange | SettingChange
"""What an alert change is traced back to: a change to an object, or to a setting."""

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


@dataclass
class ObjectChanges:
    """The two policies' object changes, indexed by subject for finding causes."""

    settings: list[SettingChange] = dataclasses.field(default_factory=list)
    listing: list[PolicyChange] = dataclasses.field(default_factory=list)
    rules: dict[str, PolicyChange] = dataclasses.field(default_factory=dict)
    users: dict[str, list[PolicyChange]] = dataclasses.field(
        default_factory=lambda: defaultdict(list)
    )
    """user -> added, removed, moved, (de)activated, key holder or not."""
    permissions: dict[str, list[tuple[str, str, PolicyChange]]] = dataclasses.field(
        default_factory=lambda: defaultdict(list)
    )
    """user group -> (category key, category permission, change)."""
    system: dict[str, list[PolicyChange]] = dataclasses.field(
        default_factory=lambda: defaultdict(list)
    )
    """user group -> its system permissions granted or revoked."""
    groups: dict[str, PolicyChange] = dataclasses.field(default_factory=dict)
    """user group -> added or removed."""
    alert_groups: dict[str, list[tuple[str, str, PolicyChange]]] = dataclasses.field(
        default_factory=lambda: defaultdict(list)
    )
    """alert group -> (``user``/``user_group``/``group``, member, change)."""
    categories: dict[str, PolicyChange] = dataclasses.field(default_factory=dict)
    """category -> added, removed, or moved to or from under a parent (SPEC 7.1)."""
    restrictions: dict[str, PolicyChange] = dataclasses.field(default_factory=dict)
    """user, or ``user group:<name>`` -> how its class restriction changed (SPEC 7.2)."""

    @property
    def gate_switched(self) -> SettingChange | None:
        """The setting change when the permission gate is switched off or on (SPEC 7.3)."""
        for setting in self.settings:
            if setting.setting == "automatic_alert_permission" and GATE_OFF in (
                setting.before,
                setting.after,
            ):
                return setting
        return None

    def add(self, change: PolicyChange) -> PolicyChange:
        """List ``change`` and return it (for indexing)."""
        self.listing.append(change)
        return change


def compare_objects(base: Policy, head: Policy) -> ObjectChanges:
    """Every change between the two policies' objects."""
    out = ObjectChanges()
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
        out.categories[name] = out.add(PolicyChange(kind, name, text))


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
            kind = "restriction_added" if old is None else "restriction_removed"
            if old is not None and new is not None:
                kind = "restriction_widened" if set(new) >= set(old) else "restriction_narrowed"
            out.restrictions[key] = out.add(PolicyChange(kind, name, text))


def _compare_student_groups(base: Policy, head: Policy, out: ObjectChanges) -> None:
    old, new = base.student_groups or {}, head.student_groups or {}
    for name in sorted(old.keys() ^ new.keys()):
        verb = "declared" if name in new else "no longer declared"
        kind = "student_group_declared" if name in new else "student_group_undeclared"
        out.add(PolicyChange(kind, name, f"student group {name} {verb}"))


def _compare_rules(base: Policy, head: Policy, out: ObjectChanges) -> None:
    old = {r.id: r for r in base.automatic_alerts}
    new = {r.id: r for r in head.automatic_alerts}
    for rid in sorted(old.keys() | new.keys()):
        if rid not in new:
            out.rules[rid] = out.add(PolicyChange("rule_removed", rid, f"rule {rid} removed"))
        elif rid not in old:
            out.rules[rid] = out.add(PolicyChange("rule_added", rid, f"rule {rid} added"))
        elif old[rid] != new[rid]:  # (their location aside)
            edits = rule_edits(old[rid], new[rid])
            routing = tuple(e for e in edits if e.field != "description")
            if routing:
                text = f"rule {rid} edited: " + "; ".join(e.text() for e in edits)
                out.rules[rid] = out.add(PolicyChange("rule_edited", rid, text, edits))


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
            if old.key_holder != new.key_holder:
                now = "now holds a key" if new.key_holder else "no longer holds a key"
                kind = "key_holder_added" if new.key_holder else "key_holder_removed"
                found.append((kind, f"{uid} {now}"))
        for kind, text in found:
            out.users[uid].append(out.add(PolicyChange(kind, uid, text)))


def _came_or_went(what: str, name: str, old: object) -> PolicyChange:
    """``user group Pastoral added`` (no ``old`` one) or ``... removed``."""
    kind = "added" if old is None else "removed"
    return PolicyChange(f"{what.replace(' ', '_')}_{kind}", name, f"{what} {name} {kind}")


def _compare_user_groups(base: Policy, head: Policy, out: ObjectChanges) -> None:
    for name in sorted(base.user_groups.keys() | head.user_groups.keys()):
        old, new = base.user_groups.get(name), head.user_groups.get(name)
        if old is None or new is None:
            out.groups[name] = out.add(_came_or_went("user group", name, old))
            continue
        keys = old.category_permissions.keys() | new.category_permissions.keys()
        for key in sorted(keys):
            before = old.category_permissions.get(key, frozenset())
            after = new.category_permissions.get(key, frozenset())
            for perm in sorted(before ^ after):
                verb = "granted" if perm in after else "revoked"
                where = "every category" if key == "*" else key
                text = f"user group {name}: {perm} on {where} {verb}"
                change = out.add(PolicyChange(f"permission_{verb}", name, text))
                out.permissions[name].append((key, perm, change))
        for perm in sorted(old.system_permissions ^ new.system_permissions):
            verb = "granted" if perm in new.system_permissions else "revoked"
            text = f"user group {name}: system permission {perm} {verb}"
            out.system[name].append(out.add(PolicyChange(f"system_permission_{verb}", name, text)))


def _compare_alert_groups(base: Policy, head: Policy, out: ObjectChanges) -> None:
    for name in sorted(base.alert_groups.keys() | head.alert_groups.keys()):
        old, new = base.alert_groups.get(name), head.alert_groups.get(name)
        if old is None or new is None:
            change = out.add(_came_or_went("alert group", name, old))
            out.alert_groups[name].append(("group", name, change))
            continue
        for field, word in (("users", "user"), ("user_groups", "user_group")):
            before, after = set(getattr(old, field)), set(getattr(new, field))
            for member in sorted(before ^ after):
                verb = "added" if member in after else "removed"
                text = (
                    f"{word.replace('_', ' ')} {member} {verb} "
                    f"{'to' if verb == 'added' else 'from'} alert group {name}"
                )
                change = out.add(PolicyChange("alert_group_membership", name, text))
                out.alert_groups[name].append((word, member, change))
