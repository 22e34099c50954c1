"""A decision (SPEC section 3) as typed, immutable, sorted values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from alertpolicy.engine.model.policy import Access

ReasonSource = Literal["user", "alert_group", "automatic_alert"]


@dataclass(frozen=True, order=True)
class Reason:
    """Why a recipient receives the alert.

    ``source`` is ``user`` (chosen by name), ``alert_group`` (chosen group, named in
    ``alert_group``) or ``automatic_alert`` (``rule`` fired; ``matched`` maps each trigger
    kind that fired to the value that matched, as sorted ``(kind, value)`` pairs;
    ``via_parent`` names the parent category the rule lists when the matched category is
    one of its sub-categories).
    """

    source: ReasonSource
    alert_group: str | None = None
    rule: str | None = None
    matched: tuple[tuple[str, str], ...] = ()
    via_parent: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The reason as in SPEC section 3."""
        out: dict[str, Any] = {"source": self.source}
        if self.alert_group is not None:
            out["alert_group"] = self.alert_group
        if self.rule is not None:
            out["rule"] = self.rule
        if self.source == "automatic_alert":
            out["matched"] = dict(self.matched)
        if self.via_parent is not None:
            out["via_parent"] = self.via_parent
        return out


@dataclass(frozen=True, order=True)
class MissingPermission:
    """A category permission a user's group lacks."""

    category: str
    permission: str


@dataclass(frozen=True, order=True)
class Recipient:
    """A user who receives the alert, how far they can open it, and every reason.

    ``sees_students`` is set for a user restricted to some student groups (SPEC 7.2): the
    incident's students they can see, sorted (possibly none); ``None`` for everyone else.
    """

    user: str
    name: str
    email: str
    access: Access
    reasons: tuple[Reason, ...]
    sees_students: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reasons", tuple(sorted(set(self.reasons))))

    def to_json(self) -> dict[str, Any]:
        """The recipient as in SPEC section 3."""
        out: dict[str, Any] = {
            "user": self.user,
            "name": self.name,
            "email": self.email,
            "access": self.access,
            "reasons": [r.to_json() for r in self.reasons],
        }
        if self.sees_students is not None:
            out["sees_students"] = list(self.sees_students)
        return out


WithheldReason = Literal["inactive", "missing_permission", "class_restriction"]


@dataclass(frozen=True, order=True)
class Withheld:
    """A user an alert would have gone to but did not, and why.

    ``source``/``alert_group``/``rule`` say which alert would have reached them;
    ``reason`` is ``inactive``, ``missing_permission`` (then ``missing`` lists the
    category permissions their user group lacks) or ``class_restriction`` (the user is
    restricted to the student groups ``restricted_to`` and none of the incident's students
    is in one of them).
    """

    user: str
    source: ReasonSource
    reason: WithheldReason
    alert_group: str | None = None
    rule: str | None = None
    missing: tuple[MissingPermission, ...] = ()
    restricted_to: tuple[str, ...] = ()

    def message(self) -> str:
        """The reason in plain English."""
        via = {
            "user": "chosen by name",
            "alert_group": f"member of chosen alert group {self.alert_group}",
            "automatic_alert": f"automatic alert {self.rule}",
        }[self.source]
        if self.reason == "inactive":
            return f"{self.user} ({via}) is an inactive user"
        if self.reason == "class_restriction":
            return (
                f"{self.user} ({via}) is restricted to students in "
                f"{', '.join(self.restricted_to)}; none of the incident's students is in them"
            )
        lacks = ", ".join(f"{m.permission} on {m.category}" for m in self.missing)
        return f"{self.user} ({via}): their user group lacks {lacks}"

    def to_json(self) -> dict[str, Any]:
        """The withheld entry as served in a decision."""
        out: dict[str, Any] = {"user": self.user, "source": self.source}
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
class DecisionWarning:
    """Something the reporter should know.

    ``nobody_alerted``; ``recipient_cannot_open`` and ``recipient_cannot_see_students``
    (naming ``user``); ``unknown_student_group`` (naming ``student_group``, and in
    ``similar_to`` the known group it differs from only by case, spaces or look-alikes).
    """

    code: str
    message: str
    user: str | None = None
    student_group: str | None = None
    similar_to: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The warning as served in a decision."""
        out: dict[str, Any] = {"code": self.code}
        if self.user is not None:
            out["user"] = self.user
        if self.student_group is not None:
            out["student_group"] = self.student_group
        if self.similar_to is not None:
            out["similar_to"] = self.similar_to
        out["message"] = self.message
        return out


@dataclass(frozen=True)
class Rejection:
    """Why an incident cannot be submitted: ``no_alert_chosen`` or ``no_recipients``."""

    code: Literal["no_alert_chosen", "no_recipients"]
    message: str

    def to_json(self) -> dict[str, Any]:
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
    warnings: tuple[DecisionWarning, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipients", tuple(sorted(self.recipients)))
        object.__setattr__(self, "withheld", tuple(sorted(set(self.withheld))))
        object.__setattr__(self, "warnings", tuple(sorted(set(self.warnings))))

    def to_json(self) -> dict[str, Any]:
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
