"""What a policy test case expects of a decision, and how a decision differs from it.

A case's ``expect:`` mapping (see :mod:`alertpolicy.engine.policytest.suite`) becomes an
:class:`Expectation`. Only what is written down is checked; a list that is written down
must match exactly, and an entry of ``withheld``, ``warnings`` or ``reasons`` matches
every actual entry that agrees on the fields it gives. :func:`differences` says, one
plain-English line each, where a decision departs from the expectation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from alertpolicy.engine.model import (
    Decision,
    DecisionWarning,
    MissingPermission,
    Policy,
    Reason,
    Withheld,
)


@dataclass(frozen=True)
class ExpectedReason:
    """One expected reason of a recipient; ``None`` fields match anything."""

    source: str
    alert_group: str | None = None
    rule: str | None = None
    matched: tuple[tuple[str, str], ...] | None = None
    via_parent: str | None = None

    def matches(self, reason: Reason) -> bool:
        """Whether ``reason`` agrees on every field this expectation gives."""
        return (
            self.source == reason.source
            and self.alert_group in (None, reason.alert_group)
            and self.rule in (None, reason.rule)
            and self.matched in (None, reason.matched)
            and self.via_parent in (None, reason.via_parent)
        )


@dataclass(frozen=True)
class ExpectedRecipient:
    """What is expected of one recipient; ``None`` means not checked."""

    user: str
    access: str | None = None
    reasons: tuple[ExpectedReason, ...] | None = None
    sees_students: tuple[str, ...] | None = None
    """The incident's students a class-restricted recipient can see, sorted."""


@dataclass(frozen=True)
class ExpectedWithheld:
    """One expected withheld entry; ``None`` fields match anything."""

    user: str
    reason: str
    source: str | None = None
    rule: str | None = None
    alert_group: str | None = None
    missing: tuple[MissingPermission, ...] | None = None

    def matches(self, withheld: Withheld) -> bool:
        """Whether ``withheld`` agrees on every field this expectation gives."""
        return (
            self.user == withheld.user
            and self.reason == withheld.reason
            and self.source in (None, withheld.source)
            and self.rule in (None, withheld.rule)
            and self.alert_group in (None, withheld.alert_group)
            and (self.missing is None or sorted(self.missing) == sorted(withheld.missing))
        )


@dataclass(frozen=True)
class ExpectedWarning:
    """One expected warning: its code and, if given, the user it names."""

    code: str
    user: str | None = None
    student_group: str | None = None
    similar_to: str | None = None

    def matches(self, warning: DecisionWarning) -> bool:
        """Whether ``warning`` has this code (and names this user, student group and
        similar group, where given)."""
        return (
            self.code == warning.code
            and self.user in (None, warning.user)
            and self.student_group in (None, warning.student_group)
            and self.similar_to in (None, warning.similar_to)
        )


@dataclass(frozen=True)
class Expectation:
    """The expected decision. ``None`` (and ``rejection_given=False``) means not checked."""

    accepted: bool
    rejection_given: bool = False
    rejection: str | None = None
    recipients: tuple[ExpectedRecipient, ...] | None = None
    withheld: tuple[ExpectedWithheld, ...] | None = None
    warnings: tuple[ExpectedWarning, ...] | None = None


# ------------------------------------------------------------------ reading


def read_expectation(data: Mapping[str, Any]) -> Expectation:
    """The expectation a test case's ``expect:`` mapping (already schema-checked) writes down."""
    return Expectation(
        accepted=data["accepted"],
        rejection_given="rejection" in data,
        rejection=data.get("rejection"),
        recipients=_expected_recipients(data["recipients"]) if "recipients" in data else None,
        withheld=(
            tuple(_expected_withheld(w) for w in data["withheld"]) if "withheld" in data else None
        ),
        warnings=(
            tuple(
                ExpectedWarning(w)
                if isinstance(w, str)
                else ExpectedWarning(
                    w["code"], w.get("user"), w.get("student_group"), w.get("similar_to")
                )
                for w in data["warnings"]
            )
            if "warnings" in data
            else None
        ),
    )


def _expected_recipients(
    data: list[str] | Mapping[str, Any],
) -> tuple[ExpectedRecipient, ...]:
    if isinstance(data, list):
        return tuple(ExpectedRecipient(user) for user in data)
    out = []
    for user, spec in data.items():
        spec = spec or {}
        reasons = spec.get("reasons")
        sees = spec.get("sees_students")
        out.append(
            ExpectedRecipient(
                user,
                access=spec.get("access"),
                reasons=tuple(_expected_reason(r) for r in reasons)
                if reasons is not None
                else None,
                sees_students=tuple(sorted(sees)) if sees is not None else None,
            )
        )
    return tuple(out)


def _expected_reason(data: Mapping[str, Any]) -> ExpectedReason:
    matched = data.get("matched")
    return ExpectedReason(
        source=data["source"],
        alert_group=data.get("alert_group"),
        rule=data.get("rule"),
        matched=tuple(sorted(matched.items())) if matched is not None else None,
        via_parent=data.get("via_parent"),
    )


def _expected_withheld(data: Mapping[str, Any]) -> ExpectedWithheld:
    missing = data.get("missing")
    return ExpectedWithheld(
        user=data["user"],
        reason=data["reason"],
        source=data.get("source"),
        rule=data.get("rule"),
        alert_group=data.get("alert_group"),
        missing=(
            tuple(MissingPermission(m["category"], m["permission"]) for m in missing)
            if missing is not None
            else None
        ),
    )


def _shown(entry: object) -> str:
    """An expected or actual entry as written in a test file: ``{user: x, reason: y}``."""
    parts = []
    as_dict = getattr(entry, "_asdict", None)  # a decision's values are named tuples
    for key, value in (as_dict() if as_dict is not None else vars(entry)).items():
        if value is None or value == ():
            continue
        if key == "matched":
            value = "{" + ", ".join(f"{kind}: {v}" for kind, v in value) + "}"
        elif key == "missing":
            value = ", ".join(f"{m.permission} on {m.category}" for m in value)
        elif key == "restricted_to":
            value = ", ".join(value)
        parts.append(f"{key}: {value}")
    return "{" + ", ".join(parts) + "}"


# ------------------------------------------------------------------ comparing


def differences(expect: Expectation, decision: Decision, policy: Policy) -> tuple[str, ...]:
    """How ``decision`` differs from ``expect``, one plain-English line each (empty: passed)."""
    out: list[str] = []
    if decision.accepted != expect.accepted:
        wanted = "accepted" if expect.accepted else "rejected"
        got = "accepted" if decision.accepted else "rejected"
        if decision.rejection is not None:
            got += f" ({decision.rejection.code}: {decision.rejection.message})"
        out.append(f"expected the incident to be {wanted}, but it was {got}")
    if expect.rejection_given:
        actual = decision.rejection.code if decision.rejection else None
        if actual != expect.rejection:
            out.append(f"rejection: expected {expect.rejection or 'none'}, got {actual or 'none'}")
    if expect.recipients is not None:
        out += _recipient_differences(expect.recipients, decision, policy)
    if expect.withheld is not None:
        out += _withheld_differences(expect.withheld, decision)
    if expect.warnings is not None:
        out += _warning_differences(expect.warnings, decision)
    return tuple(out)


def _who(policy: Policy, user: str) -> str:
    known = policy.users.get(user)
    return f"{user} ({known.name})" if known else f"{user} (no such user in the policy)"


def _reason_words(reason: Reason) -> str:
    if reason.source == "user":
        return "chosen by name"
    if reason.source == "alert_group":
        return f"alert group {reason.alert_group}"
    return f"automatic alert {reason.rule}"


def _recipient_differences(
    expected: tuple[ExpectedRecipient, ...], decision: Decision, policy: Policy
) -> Iterator[str]:
    actual = {r.user: r for r in decision.recipients}
    wanted = {e.user: e for e in expected}
    for user in sorted(set(wanted) - set(actual)):
        why = [w.message() for w in decision.withheld if w.user == user]
        tail = f" — withheld: {'; '.join(why)}" if why else ""
        yield f"missing recipient {_who(policy, user)}{tail}"
    for user in sorted(set(actual) - set(wanted)):
        via = ", ".join(_reason_words(r) for r in actual[user].reasons)
        yield f"unexpected recipient {_who(policy, user)} via {via}"
    for user in sorted(set(actual) & set(wanted)):
        expectation, recipient = wanted[user], actual[user]
        if expectation.access is not None and expectation.access != recipient.access:
            yield f"access of {user}: expected {expectation.access}, got {recipient.access}"
        wanted_sees = expectation.sees_students
        if wanted_sees is not None and wanted_sees != recipient.sees_students:
            got = recipient.sees_students
            shown = "not restricted" if got is None else ", ".join(got) or "none of them"
            yield (
                f"students {user} sees: expected {', '.join(wanted_sees) or 'none of them'}, "
                f"got {shown}"
            )
        if expectation.reasons is not None:
            missing, unexpected = _unmatched(expectation.reasons, recipient.reasons)
            yield from (f"reasons of {user}: missing {_shown(r)}" for r in missing)
            yield from (f"reasons of {user}: unexpected {_shown(r)}" for r in unexpected)


def _withheld_differences(
    expected: tuple[ExpectedWithheld, ...], decision: Decision
) -> Iterator[str]:
    missing, unexpected = _unmatched(expected, decision.withheld)
    yield from (f"missing withheld {_shown(entry)}" for entry in missing)
    yield from (f"unexpected withheld: {withheld.message()}" for withheld in unexpected)


def _warning_differences(
    expected: tuple[ExpectedWarning, ...], decision: Decision
) -> Iterator[str]:
    missing, unexpected = _unmatched(expected, decision.warnings)
    yield from (f"missing warning {_shown(entry)}" for entry in missing)
    yield from (f"unexpected warning {w.code}: {w.message}" for w in unexpected)


_Actual = TypeVar("_Actual", contravariant=True)
_Entry = TypeVar("_Entry", bound="_Matches[Any]")
_Got = TypeVar("_Got")


class _Matches(Protocol[_Actual]):
    def matches(self, actual: _Actual) -> bool: ...


def _unmatched(
    expected: Sequence[_Entry], actual: Sequence[_Got]
) -> tuple[list[_Entry], list[_Got]]:
    """The expected entries no actual one matches, and the actual ones no expected entry
    matches (each in its order)."""
    missing = [entry for entry in expected if not any(entry.matches(a) for a in actual)]
    unexpected = [got for got in actual if not any(e.matches(got) for e in expected)]
    return missing, unexpected
