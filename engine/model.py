"""The policy, an incident and a decision as typed, immutable values.

The loader builds a :class:`Policy` once; everything downstream (compile, evaluate, lint,
diff, serve) reads these objects and never a raw YAML mapping.  Incidents and decisions
are here too so that every evaluator speaks the same types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from engine.errors import Location

CATEGORY_PERMISSIONS = ("view_students", "view_incidents", "add_incidents")
SYSTEM_PERMISSIONS = ("view_student_details", "view_students_list", "admin")
ALL_CATEGORIES = "*"
"""The ``category_permissions`` key that grants on every category, now and later."""

PermissionMode = Literal["every_category", "any_category"]
MatchMode = Literal["any", "all"]
Access = Literal["full", "needs_key", "none"]
TriggerKind = Literal["category", "student", "student_group"]
TRIGGER_KINDS: tuple[TriggerKind, ...] = ("category", "student", "student_group")
ALERT_PERMISSIONS = ("view_students", "view_incidents")
"""Category permissions a user group needs for its users to receive automatic alerts."""


class FrozenMap(dict):
    """A read-only mapping: every way of changing it raises ``TypeError``.

    A ``dict`` underneath, so that policies pickle (to load two revisions in parallel
    processes) and read as fast as a plain dict.
    """

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[type[FrozenMap], tuple[dict]]:
        return FrozenMap, (dict(self),)

    def __repr__(self) -> str:
        return f"frozen_map({dict.__repr__(self)})"


def frozen_map(items: Mapping | None = None) -> Mapping:
    """A read-only, key-sorted mapping (so iteration order is deterministic)."""
    items = items or {}
    return FrozenMap({k: items[k] for k in sorted(items)})


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class Settings:
    """School-wide switches (CPOMS Admin > Settings)."""

    enforce_at_least_one_alert: bool = False
    automatic_alerts_count_for_enforcement: bool = True
    automatic_alert_permission: PermissionMode = "every_category"
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class UserGroup:
    """A user group: system permissions and per-category permissions.

    ``category_permissions`` maps a category name (or ``"*"`` for every category) to the
    permissions granted on it.
    """

    name: str
    system_permissions: frozenset[str] = frozenset()
    category_permissions: Mapping[str, frozenset[str]] = field(default_factory=frozen_map)
    location: Location | None = field(default=None, compare=False)

    def grants(self, category: str, permission: str) -> bool:
        """Whether this group grants ``permission`` on ``category`` (directly or via ``*``)."""
        for key in (category, ALL_CATEGORIES):
            if permission in self.category_permissions.get(key, frozenset()):
                return True
        return False

    def has_system(self, permission: str) -> bool:
        """Whether this group grants the system permission ``permission``."""
        return permission in self.system_permissions


@dataclass(frozen=True)
class User:
    """A member of staff. ``id`` is the username the policy refers to them by."""

    id: str
    name: str
    email: str
    user_group: str
    key_holder: bool = False
    active: bool = True
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Targets:
    """Who to alert: users, every user of some user groups, members of alert groups."""

    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    alert_groups: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """True when no one at all is named."""
        return not (self.users or self.user_groups or self.alert_groups)


@dataclass(frozen=True)
class AlertGroup:
    """A named set of staff that can be chosen in one click (e.g. "DSLs")."""

    name: str
    description: str = ""
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Triggers:
    """When an automatic alert fires: categories, students (MIS ids), student groups."""

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


@dataclass(frozen=True)
class AutomaticAlert:
    """An automatic-alert rule: notify ``notify`` when ``when`` matches an incident."""

    id: str
    notify: Targets
    when: Triggers
    match: MatchMode = "any"
    description: str = ""
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PolicyFile:
    """One file the policy was read from: path relative to the policy root, content hash."""

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

    def group_of(self, user_id: str) -> UserGroup:
        """The user group of a user."""
        return self.user_groups[self.users[user_id].user_group]

    def users_in_group(self, user_group: str) -> tuple[str, ...]:
        """Ids of every user in ``user_group``, sorted."""
        return tuple(u.id for u in self.users.values() if u.user_group == user_group)


# ------------------------------------------------------------------------- incident


@dataclass(frozen=True)
class Student:
    """A student the incident is about: MIS id and the groups they are in."""

    id: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChosenAlerts:
    """Alerts the reporting member of staff chose by hand."""

    users: tuple[str, ...] = ()
    alert_groups: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """True when nobody was chosen."""
        return not (self.users or self.alert_groups)


@dataclass(frozen=True)
class Incident:
    """A submitted safeguarding concern (SPEC section 3)."""

    id: str
    categories: tuple[str, ...]
    students: tuple[Student, ...]
    alerts: ChosenAlerts = field(default_factory=ChosenAlerts)
    reported_by: str | None = None
    metadata: Mapping = field(default_factory=frozen_map, compare=False)

    def student_ids(self) -> frozenset[str]:
        """Every student id in the incident."""
        return frozenset(s.id for s in self.students)

    def student_groups(self) -> frozenset[str]:
        """Every student group any of the incident's students is in."""
        return frozenset(g for s in self.students for g in s.groups)

    def trigger_values(self) -> dict[TriggerKind, frozenset[str]]:
        """The incident's categories, students and student groups keyed by trigger kind."""
        return {
            "category": frozenset(self.categories),
            "student": self.student_ids(),
            "student_group": self.student_groups(),
        }


# ------------------------------------------------------------------------- decision

ReasonSource = Literal["user", "alert_group", "automatic_alert"]


@dataclass(frozen=True, order=True)
class Reason:
    """Why a recipient receives the alert.

    ``source`` is ``user`` (chosen by name), ``alert_group`` (chosen group, named in
    ``alert_group``) or ``automatic_alert`` (``rule`` fired; ``matched`` maps each trigger
    kind that fired to the value that matched, as sorted ``(kind, value)`` pairs).
    """

    source: ReasonSource
    alert_group: str | None = None
    rule: str | None = None
    matched: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict:
        """The reason as in SPEC section 3."""
        out: dict = {"source": self.source}
        if self.alert_group is not None:
            out["alert_group"] = self.alert_group
        if self.rule is not None:
            out["rule"] = self.rule
        if self.source == "automatic_alert":
            out["matched"] = dict(self.matched)
        return out


@dataclass(frozen=True, order=True)
class MissingPermission:
    """A category permission a user's group lacks."""

    category: str
    permission: str


@dataclass(frozen=True, order=True)
class Recipient:
    """A user who receives the alert, how far they can open it, and every reason."""

    user: str
    name: str
    email: str
    access: Access
    reasons: tuple[Reason, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "reasons", tuple(sorted(set(self.reasons))))

    def to_json(self) -> dict:
        """The recipient as in SPEC section 3."""
        return {
            "user": self.user,
            "name": self.name,
            "email": self.email,
            "access": self.access,
            "reasons": [r.to_json() for r in self.reasons],
        }


WithheldReason = Literal["inactive", "missing_permission"]


@dataclass(frozen=True, order=True)
class Withheld:
    """A user an alert would have gone to but did not, and why.

    ``source``/``alert_group``/``rule`` say which alert would have reached them;
    ``reason`` is ``inactive`` or ``missing_permission`` (then ``missing`` lists the
    category permissions their user group lacks).
    """

    user: str
    source: ReasonSource
    reason: WithheldReason
    alert_group: str | None = None
    rule: str | None = None
    missing: tuple[MissingPermission, ...] = ()

    def message(self) -> str:
        """The reason in plain English."""
        via = {
            "user": "chosen by name",
            "alert_group": f"member of chosen alert group {self.alert_group}",
            "automatic_alert": f"automatic alert {self.rule}",
        }[self.source]
        if self.reason == "inactive":
            return f"{self.user} ({via}) is an inactive user"
        lacks = ", ".join(f"{m.permission} on {m.category}" for m in self.missing)
        return f"{self.user} ({via}): their user group lacks {lacks}"

    def to_json(self) -> dict:
        """The withheld entry as served in a decision."""
        out: dict = {"user": self.user, "source": self.source}
        if self.alert_group is not None:
            out["alert_group"] = self.alert_group
        if self.rule is not None:
            out["rule"] = self.rule
        out["reason"] = self.reason
        if self.missing:
            out["missing"] = [
                {"category": m.category, "permission": m.permission} for m in sorted(self.missing)
            ]
        out["message"] = self.message()
        return out


@dataclass(frozen=True, order=True)
class Warning:
    """Something the reporter should know: ``nobody_alerted`` or ``recipient_cannot_open``."""

    code: str
    message: str
    user: str | None = None

    def to_json(self) -> dict:
        """The warning as served in a decision."""
        out: dict = {"code": self.code}
        if self.user is not None:
            out["user"] = self.user
        out["message"] = self.message
        return out


@dataclass(frozen=True)
class Rejection:
    """Why an incident cannot be submitted: ``no_alert_chosen`` or ``no_recipients``."""

    code: Literal["no_alert_chosen", "no_recipients"]
    message: str

    def to_json(self) -> dict:
        """The rejection as in SPEC section 3."""
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Decision:
    """The answer for one incident: recipients with reasons, or a rejection.

    Recipients, withheld entries and warnings are kept sorted, so equal decisions are
    equal values and serialise identically.
    """

    incident: str
    policy_revision: str
    accepted: bool
    rejection: Rejection | None
    recipients: tuple[Recipient, ...]
    withheld: tuple[Withheld, ...]
    warnings: tuple[Warning, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipients", tuple(sorted(self.recipients)))
        object.__setattr__(self, "withheld", tuple(sorted(set(self.withheld))))
        object.__setattr__(self, "warnings", tuple(sorted(set(self.warnings))))

    def to_json(self) -> dict:
        """The decision as in SPEC section 3."""
        return {
            "incident": self.incident,
            "policy_revision": self.policy_revision,
            "accepted": self.accepted,
            "rejection": self.rejection.to_json() if self.rejection else None,
            "recipients": [r.to_json() for r in self.recipients],
            "withheld": [w.to_json() for w in self.withheld],
            "warnings": [w.to_json() for w in self.warnings],
        }
