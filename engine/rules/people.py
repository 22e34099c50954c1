"""Who an alert names (SPEC 4.1, 4.2) and what a class-restricted user sees (7.2).

Alert groups and user groups are resolved to users at the revision being read; each user
an alert names comes with every :class:`Via` (how it names them).  A user may be
restricted to the students of some student groups: their own list replaces their user
group's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal, NamedTuple

from alertpolicy.engine.model import Policy, Student, Targets


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


Named = tuple[Literal["user", "user_group"], str, Via]
"""One user, or one whole user group, an alert names, and how."""


class Membership:
    """Who alerts name at one revision: alert groups and user groups resolved to users."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._users_of: dict[str, list[str]] = defaultdict(list)
        for user in policy.users.values():
            self._users_of[user.user_group].append(user.id)
        self._notified: dict[Targets, dict[str, tuple[Via, ...]]] = {}

    def users_of(self, user_group: str) -> Sequence[str]:
        """The users of ``user_group``, sorted."""
        return self._users_of.get(user_group, ())

    def named(self, targets: Targets) -> Iterator[Named]:
        """Every user and user group ``targets`` names, with how: its users, its user
        groups, then each alert group's users and user groups."""
        for user in targets.users:
            yield "user", user, Via("user", user)
        for group in targets.user_groups:
            yield "user_group", group, Via("user_group", group)
        for name in targets.alert_groups:
            alert_group = self.policy.alert_groups.get(name)
            if alert_group is None:
                continue
            for user in alert_group.users:
                yield "user", user, Via("alert_group", name)
            for group in alert_group.user_groups:
                yield "user_group", group, Via("alert_group", name, group)

    def notified(self, targets: Targets) -> dict[str, tuple[Via, ...]]:
        """Every user ``targets`` names (user groups resolved now), with each way."""
        found = self._notified.get(targets)
        if found is None:
            ways: dict[str, list[Via]] = defaultdict(list)
            for kind, name, via in self.named(targets):
                for user in (name,) if kind == "user" else self.users_of(name):
                    ways[user].append(via)
            users = self.policy.users
            found = {u: tuple(dict.fromkeys(v)) for u, v in ways.items() if u in users}
            self._notified[targets] = found
        return found

    def alert_group_members(self, name: str) -> dict[str, tuple[Via, ...]]:
        """The members of alert group ``name`` (users, and its user groups' users), how."""
        return self.notified(Targets(alert_groups=(name,)))

    def vias_of(self, targets: Targets, user_id: str) -> tuple[Via, ...]:
        """Every way ``targets`` names ``user_id`` (empty if it does not)."""
        own = self.policy.users[user_id].user_group
        return tuple(
            dict.fromkeys(
                via
                for kind, name, via in self.named(targets)
                if name == (user_id if kind == "user" else own)
            )
        )


# ------------------------------------------------------------------ class restrictions (7.2)


def restriction_of(policy: Policy, user_id: str) -> tuple[str, ...] | None:
    """The student groups ``user_id`` is restricted to (theirs, else their user group's)."""
    user = policy.users[user_id]
    if user.restricted_to is not None:
        return user.restricted_to
    return policy.user_groups[user.user_group].restricted_to


def sees_students(restricted_to: Iterable[str], students: Iterable[Student]) -> tuple[str, ...]:
    """The ids of ``students`` in at least one of the groups ``restricted_to``, sorted."""
    allowed = frozenset(restricted_to)
    return tuple(sorted({s.id for s in students if not allowed.isdisjoint(s.groups)}))
