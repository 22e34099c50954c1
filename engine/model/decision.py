"""A decision (SPEC section 3) as typed, immutable, sorted values.

The values a decision holds many of (recipients, reasons, withheld entries, warnings,
missing permissions) are named tuples: a large incident's decision holds thousands, and
tuples hash, compare and sort without calling back into Python.  :meth:`Decision.to_json_text`
writes the decision's JSON text directly, each reason's text remembered (a revision gives
the same reasons to many recipients and many incidents).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from json.encoder import encode_basestring
from typing import Any, Literal, NamedTuple, TypeVar

from alertpolicy.engine.model.policy import Access

_Item = TypeVar("_Item", bound=tuple[Any, ...])
ReasonSource = Literal["user", "alert_group", "automatic_alert"]


class Reason(NamedTuple):
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


@lru_cache(maxsize=1 << 15)
def _reason_text(reason: Reason) -> str:
    return _dumps(reason.to_json())


def _dumps(value: object) -> str:
    """``value`` as the service writes JSON: compact, not ASCII-escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class MissingPermission(NamedTuple):
    """A category permission a user's group lacks."""

    category: str
    permission: str


class Recipient(NamedTuple):
    """A user who receives the alert, how far they can open it, and every reason.

    ``reasons`` are sorted, each once (:meth:`reached` makes them so).  ``sees_students``
    is set for a user restricted to some student groups (SPEC 7.2): the incident's
    students they can see, sorted (possibly none); ``None`` for everyone else.
    """

    user: str
    name: str
    email: str
    access: Access
    reasons: tuple[Reason, ...]
    sees_students: tuple[str, ...] | None = None

    @classmethod
    def reached(
        cls,
        user: str,
        name: str,
        email: str,
        access: Access,
        reasons: Sequence[Reason],
        sees_students: tuple[str, ...] | None = None,
    ) -> Recipient:
        """The recipient reached for every one of ``reasons`` (repeats allowed)."""
        distinct = _sorted_distinct(reasons) if len(reasons) > 1 else tuple(reasons)
        return cls(user, name, email, access, distinct, sees_students)

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

    def to_json_text(self) -> str:
        """:meth:`to_json` as compact JSON text."""
        parts: list[str] = []
        self.write_json(parts)
        return "".join(parts)

    def write_json(self, parts: list[str]) -> None:
        """Append the pieces of :meth:`to_json_text` to ``parts``."""
        sees = self.sees_students
        parts += (
            f'{{"user":{_text(self.user)},"name":{_text(self.name)},"email":'
            f'{_text(self.email)},"access":{_text(self.access)},"reasons":[',
            ",".join([_reason_text(r) for r in self.reasons]),
            "]}" if sees is None else f'],"sees_students":[{",".join(map(_text, sees))}]}}',
        )


WithheldReason = Literal["inactive", "missing_permission", "class_restriction"]


class Withheld(NamedTuple):
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
        head = _withheld_head(self.source, self.reason, self.alert_group, self.rule)
        cause = _withheld_cause(self.reason, self.missing, self.restricted_to)
        return f"{self.user}{head[2]}{cause[2]}"

    def to_json(self) -> dict[str, Any]:
        """The withheld entry as served in a decision."""
        return {"user": self.user, **self.to_json_fields(), "message": self.message()}

    def to_json_fields(self) -> dict[str, Any]:
        """The fields of :meth:`to_json` between ``user`` and ``message``."""
        out: dict[str, Any] = {"source": self.source}
        if self.alert_group is not None:
            out["alert_group"] = self.alert_group
        if self.rule is not None:
            out["rule"] = self.rule
        out["reason"] = self.reason
        if self.missing:
            out["missing"] = _missing_json(self.missing)
        return out


def _missing_json(missing: tuple[MissingPermission, ...]) -> list[dict[str, str]]:
    """A withheld entry's ``missing`` as served: each permission, sorted."""
    return [{"category": m.category, "permission": m.permission} for m in sorted(missing)]


@lru_cache(maxsize=1 << 14)
def _withheld_head(
    source: ReasonSource, reason: WithheldReason, alert_group: str | None, rule: str | None
) -> tuple[str, str, str]:
    """For the alert a withheld entry names: the JSON text of its fields before
    ``missing`` (each followed by a comma), the message's words naming the alert as JSON
    text without quotes, and those words as they are."""
    fields = Withheld("", source, reason, alert_group, rule).to_json_fields()
    via = {
        "user": "chosen by name",
        "alert_group": f"member of chosen alert group {alert_group}",
        "automatic_alert": f"automatic alert {rule}",
    }[source]
    words = f" ({via})"
    return _fields_text(fields), _text(words)[1:-1], words


@lru_cache(maxsize=1 << 12)
def _withheld_cause(
    reason: WithheldReason, missing: tuple[MissingPermission, ...], restricted_to: tuple[str, ...]
) -> tuple[str, str, str]:
    """For why an entry is withheld: the JSON text of its ``missing`` field (followed by
    a comma; empty without one), the message's words saying why as JSON text with its
    closing quote, and those words as they are."""
    if reason == "inactive":
        words = " is an inactive user"
    elif reason == "class_restriction":
        words = (
            f" is restricted to students in {', '.join(restricted_to)}; "
            "none of the incident's students is in them"
        )
    else:
        lacks = ", ".join(f"{m.permission} on {m.category}" for m in missing)
        words = f": their user group lacks {lacks}"
    missing_text = _fields_text({"missing": _missing_json(missing)}) if missing else ""
    return missing_text, _text(words)[1:], words


def _fields_text(fields: dict[str, Any]) -> str:
    """``fields`` as JSON object members, each followed by a comma."""
    return "".join(f"{_text(key)}:{_dumps(value)}," for key, value in fields.items())


class DecisionWarning(NamedTuple):
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

    def to_json_text(self) -> str:
        """:meth:`to_json` as compact JSON text."""
        named = [
            f'"{key}":{_text(value)},'
            for key, value in (
                ("user", self.user),
                ("student_group", self.student_group),
                ("similar_to", self.similar_to),
            )
            if value is not None
        ]
        return f'{{"code":{_text(self.code)},{"".join(named)}"message":{_text(self.message)}}}'


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
        object.__setattr__(self, "withheld", _sorted_distinct(self.withheld))
        object.__setattr__(self, "warnings", _sorted_distinct(self.warnings))

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

    def to_json_text(self) -> str:
        """:meth:`to_json` as compact JSON text, as the service answers (without writing the
        whole decision as dictionaries first)."""
        rejection = _dumps(self.rejection.to_json()) if self.rejection else "null"
        # Every piece goes into one list joined once: a large decision's text is megabytes.
        parts = [
            f'{{"incident":{_dumps(self.incident)},"policy_revision":'
            f'{_dumps(self.policy_revision)},"accepted":{_dumps(self.accepted)},'
            f'"rejection":{rejection},"recipients":['
        ]
        for number, recipient in enumerate(self.recipients):
            if number:
                parts.append(",")
            recipient.write_json(parts)
        parts.append('],"withheld":[')
        _write_withheld(parts, self.withheld)
        parts.append('],"warnings":[')
        parts.append(",".join([w.to_json_text() for w in self.warnings]))
        parts.append("]}")
        return "".join(parts)


_text = encode_basestring
"""A JSON string, as :func:`_dumps` writes it."""


def _sorted_distinct(items: Iterable[_Item]) -> tuple[_Item, ...]:
    """``items`` sorted, each once.  Equal items sort next to each other, so they are
    dropped there, without hashing any (a withheld entry's permission list hashes slowly)."""
    return tuple([item for item, _ in groupby(sorted(items))])


def _write_withheld(parts: list[str], withheld: tuple[Withheld, ...]) -> None:
    """Append each entry's :meth:`Withheld.to_json` as compact JSON text to ``parts``,
    comma-separated: its user's id, then the (remembered) text of the alert it names and of
    why it is withheld; why is looked up by identity within the decision (its entries
    share their permission lists, which hash slowly)."""
    causes: dict[tuple[object, ...], tuple[str, str, str]] = {}
    comma = ""
    for entry in withheld:
        _, source, reason, alert_group, rule, missing, restricted_to = entry
        head = _withheld_head(source, reason, alert_group, rule)
        why = (reason, id(missing), id(restricted_to))
        cause = causes.get(why)
        if cause is None:
            cause = causes[why] = _withheld_cause(reason, missing, restricted_to)
        user = _text(entry.user)
        # JSON escapes each character on its own: the message is the user's escaped id
        # (without its closing quote) followed by the escaped rest (without its opening one).
        parts += (
            comma, '{"user":', user, ",", head[0], cause[0], '"message":', user[:-1], head[1],
            cause[1], "}",
        )  # fmt: skip
        comma = ","
