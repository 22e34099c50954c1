"""The diff of two policy revisions as one model, which every format renders.

A :class:`PolicyDiff` holds the setting changes, the object changes (each with the users
it affects) and the alert changes: per trigger and user, an alert gained or lost, a
withheld entry added or gone, a class restriction that changes which students an alert is
about, or a change in how far the user can open such incidents (access).  Every alert
change names the rules or chosen alert groups it comes through (:class:`Route`) and the
object changes that cause it.  ``to_json`` is ``schemas/diff.schema.json``; the text,
markdown and HTML forms are rendered from the same model (:mod:`.diffview`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, get_args

from alertpolicy.engine.audit.alertmap import Trigger
from alertpolicy.engine.audit.changes import PolicyChange, SettingChange
from alertpolicy.engine.model import Access

ChangeKind = Literal[
    "gains",
    "loses",
    "newly_withheld",
    "no_longer_withheld",
    "restriction_changed",
    "access_changed",
]
CHANGE_ORDER: tuple[ChangeKind, ...] = get_args(ChangeKind)
ACCESS_ORDER: tuple[Access, ...] = ("none", "needs_key", "full")


class Route(NamedTuple):
    """How an alert arrives: an automatic alert (``rule``) or a chosen ``alert_group``."""

    kind: Literal["rule", "alert_group"]
    name: str

    def label(self) -> str:
        """``rule year-7-bullying-to-tutor`` or ``alert group DSLs``."""
        return f"{'rule' if self.kind == 'rule' else 'alert group'} {self.name}"

    def to_json(self) -> dict[str, str]:
        """``{"rule": "..."}`` or ``{"alert_group": "..."}``."""
        return {self.kind: self.name}


@dataclass(frozen=True)
class AlertChange:
    """One user's alerts for one trigger change (see the module docstring).

    ``categories`` are the categories concerned for student, student-group and
    combination triggers, and for the access of a chosen alert group's members (empty
    when the trigger fixes the category); ``via`` the routes the alert comes (or came)
    through; ``reason`` why a user is withheld now (``inactive``, ``missing_permission``)
    for ``loses``/``newly_withheld``, with ``detail`` naming the missing permissions;
    ``access`` the access before and after for ``access_changed``.
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
    via: tuple[Route, ...] = ()
    access: tuple[Access, Access] | None = None

    def sort_key(self) -> tuple[tuple[int, str], str, int, tuple[str, ...], tuple[int, ...]]:
        """Order by trigger (kind, value), user, kind of change, categories, access."""
        access = tuple(ACCESS_ORDER.index(a) for a in self.access or ())
        return (
            self.trigger.sort_key(),
            self.user,
            CHANGE_ORDER.index(self.change),
            self.categories,
            access,
        )

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
            "via": [route.to_json() for route in self.via],
            "access": (
                {"before": self.access[0], "after": self.access[1]} if self.access else None
            ),
            "causes": list(self.causes),
        }


Affected = Mapping[str, Mapping[ChangeKind, tuple[str, ...]]]
"""Per object or setting change (by its ``detail``): the users it affects, by kind."""


@dataclass(frozen=True)
class PolicyDiff:
    """The difference between two policy revisions, ready to render."""

    base: tuple[str, str]
    head: tuple[str, str]
    settings: tuple[SettingChange, ...]
    policy_changes: tuple[PolicyChange, ...]
    changes: tuple[AlertChange, ...]
    affected: Affected
    names: Mapping[str, str]
    """The name of each user whose alerts change (at the head, else at the base)."""

    @property
    def changed(self) -> bool:
        """Whether anyone's alerts (withheld status, access) or a setting change."""
        return bool(self.changes or self.settings)

    def users_with(self, change: ChangeKind) -> list[str]:
        """Distinct users with at least one change of this kind, sorted."""
        return sorted({c.user for c in self.changes if c.change == change})

    def affects(self, detail: str) -> dict[ChangeKind, tuple[str, ...]]:
        """The users the object or setting change ``detail`` affects, by kind of change."""
        found = self.affected.get(detail, {})
        return {kind: found[kind] for kind in CHANGE_ORDER if found.get(kind)}

    def summary(self) -> str:
        """One line, each user counted once per direction: ``3 users gain alerts, 1
        loses; 2 users' access changes; enforcement switched on``."""
        if not self.changed:
            return "No change in who is alerted."
        count = {kind: len(self.users_with(kind)) for kind in CHANGE_ORDER}
        gain, lose = count["gains"], count["loses"]
        parts = []
        if gain and lose:
            parts.append(f"{_users(gain, 'gain')} alerts, {lose} lose{'s' if lose == 1 else ''}")
        elif gain or lose:
            parts.append(f"{_users(gain, 'gain') if gain else _users(lose, 'lose')} alerts")
        if count["newly_withheld"]:
            parts.append(f"{_users(count['newly_withheld'], 'become')} withheld")
        if count["no_longer_withheld"]:
            parts.append(f"{_users(count['no_longer_withheld'], 'are')} no longer withheld")
        if count["restriction_changed"]:
            who = _owners(count["restriction_changed"])
            parts.append(f"{who} class restriction changes which students they are alerted about")
        if count["access_changed"]:
            parts.append(f"{_owners(count['access_changed'])} access changes")
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
                "users_restriction_changed": len(self.users_with("restriction_changed")),
                "users_access_changed": len(self.users_with("access_changed")),
                "alert_changes": len(self.changes),
                "setting_changes": len(self.settings),
            },
            "settings": [
                {**s.to_json(), "affects": _lists(self.affects(s.detail))} for s in self.settings
            ],
            "policy_changes": [
                {**p.to_json(), "affects": _lists(self.affects(p.detail))}
                for p in self.policy_changes
            ],
            "changes": [{**c.to_json(), "name": self.names[c.user]} for c in self.changes],
        }


def _lists(affects: Mapping[ChangeKind, tuple[str, ...]]) -> dict[str, list[str]]:
    return {kind: list(users) for kind, users in affects.items()}


def _users(count: int, verb: str) -> str:
    """``1 user gains`` / ``3 users gain`` (``are``: ``1 user is``)."""
    if verb == "are":
        return "1 user is" if count == 1 else f"{count} users are"
    return f"{count} user {verb}s" if count == 1 else f"{count} users {verb}"


def _owners(count: int) -> str:
    """``1 user's`` / ``3 users'``."""
    return "1 user's" if count == 1 else f"{count} users'"
