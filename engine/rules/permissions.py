"""The permission gate of automatic alerts, access, warnings and enforcement.

SPEC 4.2 (the gate: every / any category), 7.1 (permissions inherited by sub-categories),
7.3 (``automatic_alert_permission: none`` turns the gate off), 4.3 (access), the warnings
a recipient earns (4.1, 7.2, 7.3) and enforcement (4.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

from alertpolicy.engine.model import (
    ALERT_PERMISSIONS,
    ALL_CATEGORIES,
    Access,
    MissingPermission,
    Policy,
    Settings,
)

REMEMBERED = 4096
"""Most answers of :meth:`Permissions.gate` (and as many of :meth:`Permissions.may_open`)
remembered; past it they are forgotten and worked out again, so that incidents naming
ever new sets of categories cannot grow a serving revision's memory."""
_Answer = TypeVar("_Answer")

Missing = tuple[MissingPermission, ...]
"""Category permissions a user group lacks, sorted."""
RejectionCode = Literal["no_alert_chosen", "no_recipients"]
WarningCode = Literal["recipient_cannot_open", "recipient_cannot_see_students"]


class Permissions:
    """What each user group may do on each category, and the gate of automatic alerts.

    A group's permissions on a parent category apply to its sub-categories unless the
    group lists the sub-category itself; ``"*"`` adds to every category (SPEC 7.1).
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.mode = policy.settings.automatic_alert_permission
        self._lacking: dict[str, dict[str, tuple[str, ...]]] = {}
        self._alert_categories: dict[str, frozenset[str]] = {}
        self._gates: dict[tuple[str, tuple[str, ...]], Missing | None] = {}
        self._opens: dict[tuple[str, tuple[str, ...]], bool] = {}

    def granted(self, user_group: str, category: str) -> frozenset[str]:
        """The category permissions ``user_group`` has on ``category``."""
        listed = self.policy.user_groups[user_group].category_permissions
        own = listed.get(category)
        if own is None:
            parent = self.policy.category_parents.get(category)
            own = listed.get(parent, frozenset()) if parent is not None else frozenset()
        return own | listed.get(ALL_CATEGORIES, frozenset())

    def lacking(self, user_group: str, category: str) -> tuple[str, ...]:
        """The permissions automatic alerts need that ``user_group`` lacks on ``category``,
        sorted (empty when it has both)."""
        of_group = self._lacking.get(user_group)
        if of_group is None:
            of_group = self._lacking[user_group] = {}
        found = of_group.get(category)
        if found is None:
            granted = self.granted(user_group, category)
            found = of_group[category] = tuple(sorted(set(ALERT_PERMISSIONS) - granted))
        return found

    def gate(self, user_group: str, categories: Sequence[str]) -> Missing | None:
        """``None`` if automatic alerts may reach ``user_group``'s users for an incident in
        ``categories`` (sorted, distinct), else every permission it lacks (SPEC 4.2, 7.3).

        Remembered per user group and categories (:data:`REMEMBERED`): incidents ask the
        same again and again.
        """
        key = (user_group, tuple(categories))
        try:
            return self._gates[key]
        except KeyError:
            return _remember(self._gates, key, self._gate(user_group, key[1]))

    def _gate(self, user_group: str, categories: tuple[str, ...]) -> Missing | None:
        if self.mode == "none":
            return None
        missing = tuple(
            MissingPermission(category, permission)
            for category in categories
            for permission in self.lacking(user_group, category)
        )
        if not missing:
            return None
        if self.mode == "any_category" and any(not self.lacking(user_group, c) for c in categories):
            return None
        return missing

    def alert_categories(self, user_group: str) -> frozenset[str]:
        """The categories in which the gate lets automatic alerts reach ``user_group``."""
        found = self._alert_categories.get(user_group)
        if found is None:
            found = frozenset(
                c for c in self.policy.categories if self.gate(user_group, (c,)) is None
            )
            self._alert_categories[user_group] = found
        return found

    def may_open(self, user_group: str, categories: Sequence[str]) -> bool:
        """Whether ``user_group``'s users may open an incident in ``categories`` (given the
        key): ``view_incidents`` on its categories and both student system permissions
        (SPEC 4.3; the categories judged as ``every_category`` when the gate is off)."""
        key = (user_group, tuple(categories))
        try:
            return self._opens[key]
        except KeyError:
            return _remember(self._opens, key, self._may_open(user_group, key[1]))

    def _may_open(self, user_group: str, categories: tuple[str, ...]) -> bool:
        views = ["view_incidents" in self.granted(user_group, c) for c in categories]
        may_view = any(views) if self.mode == "any_category" else all(views)
        system = self.policy.user_groups[user_group].system_permissions
        return may_view and "view_student_details" in system and "view_students_list" in system

    def access(self, user_id: str, may_open: bool, sees: tuple[str, ...] | None) -> Access:
        """``full``, ``needs_key`` or ``none`` for a user whose group ``may_open`` the
        incident and who sees ``sees`` of its students (``None``: not restricted)."""
        if not may_open or sees == ():
            return "none"
        return "full" if self.policy.users[user_id].key_holder else "needs_key"


def recipient_warnings(
    settings: Settings, chosen: bool, may_open: bool, sees: tuple[str, ...] | None
) -> tuple[WarningCode, ...]:
    """The warnings a recipient earns: one who cannot open the incident, when chosen by
    the reporter or when the gate is off (4.1, 7.3); one chosen who can see none of its
    students (7.2)."""
    codes: list[WarningCode] = []
    if not may_open and (chosen or settings.automatic_alert_permission == "none"):
        codes.append("recipient_cannot_open")
    if chosen and sees == ():
        codes.append("recipient_cannot_see_students")
    return tuple(codes)


# ------------------------------------------------------------------ enforcement (4.4)


def rejection_code(
    settings: Settings, chose_anyone: bool, automatic_reached: bool, anyone_reached: bool
) -> RejectionCode | None:
    """Why an incident is rejected (SPEC 4.4), or ``None`` when it is accepted.

    ``chose_anyone``: the incident chooses a user or alert group; ``automatic_reached``:
    an automatic alert reaches someone; ``anyone_reached``: anyone at all receives it.
    """
    if not settings.enforce_at_least_one_alert:
        return None
    if not chose_anyone:
        if settings.automatic_alerts_count_for_enforcement and automatic_reached:
            return None
        return "no_alert_chosen"
    return None if anyone_reached else "no_recipients"


def _remember(
    memo: dict[tuple[str, tuple[str, ...]], _Answer],
    key: tuple[str, tuple[str, ...]],
    answer: _Answer,
) -> _Answer:
    """``answer`` remembered under ``key`` in ``memo``, which is emptied first when full."""
    if len(memo) >= REMEMBERED:
        memo.clear()
    memo[key] = answer
    return answer
