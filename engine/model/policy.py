"""The policy as typed, immutable values: settings, user groups, users, alert groups, rules.

The loader builds a :class:`Policy` once; everything downstream (compile, evaluate, lint,
diff, serve) reads these objects and never a raw YAML mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from alertpolicy.engine.errors import Location


def by_fields(self: Any) -> tuple[type[Any], tuple[Any, ...]]:
    """Pickle a slotted dataclass as its constructor call: a frozen slotted dataclass's
    own state methods run Python code per field and made loading a policy ~10x slower."""
    return type(self), tuple(getattr(self, name) for name in self.__slots__)


CATEGORY_PERMISSIONS = ("view_students", "view_incidents", "add_incidents")
SYSTEM_PERMISSIONS = ("view_student_details", "view_students_list", "admin")
ALL_CATEGORIES = "*"
"""The ``category_permissions`` key that grants on every category, now and later."""

PermissionMode = Literal["every_category", "any_category", "none"]
"""How the permission gate of automatic alerts judges an incident's categories (SPEC 4.2,
7.3): on every category, on at least one, or not at all (``none``: the gate is off)."""
MatchMode = Literal["any", "all"]
Access = Literal["full", "needs_key", "none"]
TriggerKind = Literal["category", "student", "student_group"]
TRIGGER_KINDS: tuple[TriggerKind, ...] = ("category", "student", "student_group")
StudentGroupKind = Literal["year", "tutor", "class", "other"]
ALERT_PERMISSIONS = ("view_students", "view_incidents")
"""Category permissions a user group needs for its users to receive automatic alerts."""


class FrozenMap(dict[Any, Any]):
    """A read-only mapping: every way of changing it raises ``TypeError``.

    A ``dict`` underneath, so that policies pickle (to load two revisions in parallel
    processes) and read as fast as a plain dict.
    """

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[type[FrozenMap], tuple[dict[Any, Any]]]:
        return FrozenMap, (dict(self),)

    def __repr__(self) -> str:
        return f"frozen_map({dict.__repr__(self)})"


def frozen_map(items: Mapping[Any, Any] | None = None) -> Mapping[Any, Any]:
    """A read-only, key-sorted mapping (so iteration order is deterministic)."""
    items = items or {}
    return FrozenMap({k: items[k] for k in sorted(items)})


@dataclass(frozen=True, slots=True)
class Settings:
    """School-wide switches (CPOMS Admin > Settings)."""

    __reduce__ = by_fields

    enforce_at_least_one_alert: bool = False
    automatic_alerts_count_for_enforcement: bool = True
    automatic_alert_permission: PermissionMode = "every_category"
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class UserGroup:
    """A user group: system permissions and per-category permissions.

    ``category_permissions`` maps a category name (or ``"*"`` for every category) to the
    permissions granted on it.
    """

    __reduce__ = by_fields

    name: str
    system_permissions: frozenset[str] = frozenset()
    category_permissions: Mapping[str, frozenset[str]] = field(default_factory=frozen_map)
    location: Location | None = field(default=None, compare=False)
    restricted_to: tuple[str, ...] | None = None
    """Student groups its users are restricted to (SPEC 7.2), sorted; ``None``: unrestricted."""

    def has_system(self, permission: str) -> bool:
        """Whether this group grants the system permission ``permission``."""
        return permission in self.system_permissions


@dataclass(frozen=True, slots=True)
class User:
    """A member of staff. ``id`` is the username the policy refers to them by."""

    __reduce__ = by_fields

    id: str
    name: str
    email: str
    user_group: str
    key_holder: bool = False
    active: bool = True
    location: Location | None = field(default=None, compare=False)
    restricted_to: tuple[str, ...] | None = None
    """The user's own class restriction (SPEC 7.2), sorted: it replaces their user group's.
    ``None``: the user group's restriction (if any) applies."""


@dataclass(frozen=True, slots=True)
class Targets:
    """Who to alert: users, every user of some user groups, members of alert groups."""

    __reduce__ = by_fields

    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    alert_groups: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """True when no one at all is named."""
        return not (self.users or self.user_groups or self.alert_groups)


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """A named set of staff that can be chosen in one click (e.g. "DSLs")."""

    __reduce__ = by_fields

    name: str
    description: str = ""
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Triggers:
    """When an automatic alert fires: categories, students (MIS ids), student groups."""

    __reduce__ = by_fields

    categories: tuple[str, ...] = ()
    students: tuple[str, ...] = ()
    student_groups: tuple[str, ...] = ()

    def by_kind(self) -> dict[TriggerKind, tuple[str, ...]]:
        """The non-empty trigger lists keyed by kind (``category``, ``student``, ...)."""
        kinds: dict[TriggerKind, tuple[str, ...]] = {
            "category": self.categories,
            "student": self.students,
            "student_group": self.student_groups,
        }
        return {k: v for k, v in kinds.items() if v}


@dataclass(frozen=True, slots=True)
class AutomaticAlert:
    """An automatic-alert rule: notify ``notify`` when ``when`` matches an incident."""

    __reduce__ = by_fields

    id: str
    notify: Targets
    when: Triggers
    match: MatchMode = "any"
    description: str = ""
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class StudentGroup:
    """A student group the school declares (SPEC 7.4): a year, tutor group, class ..."""

    __reduce__ = by_fields

    name: str
    kind: StudentGroupKind | None = None
    year: int | None = None
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """One file the policy was read from: path relative to the policy root, content hash."""

    __reduce__ = by_fields

    path: str
    sha256: str


@dataclass(frozen=True)
class Policy:
    """A whole, loaded and checked policy: one revision of a school's alert routing."""

    settings: Settings = field(default_factory=Settings)
    categories: tuple[str, ...] = ()
    user_groups: Mapping[str, UserGroup] = field(default_factory=frozen_map)
    users: Mapping[str, User] = field(default_factory=frozen_map)
    alert_groups: Mapping[str, AlertGroup] = field(default_factory=frozen_map)
    automatic_alerts: tuple[AutomaticAlert, ...] = ()
    files: tuple[PolicyFile, ...] = ()
    revision: str = ""
    """Content hash of the policy files, plus the git commit where the policy is in git."""
    category_locations: Mapping[str, Location] = field(default_factory=frozen_map, compare=False)
    """Where each category is declared (in a ``categories:`` list)."""
    category_parents: Mapping[str, str] = field(default_factory=frozen_map)
    """Each sub-category's parent (SPEC 7.1); empty when the policy has no sub-categories."""
    category_colours: Mapping[str, str] = field(default_factory=frozen_map)
    """The colour a category is shown in, where the policy gives one."""
    student_groups: Mapping[str, StudentGroup] | None = None
    """The student groups the school declares (SPEC 7.4); ``None`` when it declares none."""

    def group_of(self, user_id: str) -> UserGroup:
        """The user group of a user."""
        return self.user_groups[self.users[user_id].user_group]

    def users_in_group(self, user_group: str) -> tuple[str, ...]:
        """Ids of every user in ``user_group``, sorted."""
        return tuple(u.id for u in self.users.values() if u.user_group == user_group)
