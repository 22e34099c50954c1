"""Replay recorded incidents under two policy revisions: the decisions that would change.

Each incident (one JSON object per line, as ``evaluate`` takes them) is checked and
evaluated by the engine under the base and the head policy.  A decision changes when its
recipients, their access or reasons, the withheld entries, the warnings or the
acceptance (rejection) differ; an incident that is invalid under one side only (a
category removed, a user deleted) is a change too, reported with that side's errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alertpolicy.engine.audit.incidents import read_path
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.compiled import compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.errors import IncidentError, IncidentFileError, Location, Problem
from alertpolicy.engine.model import Decision, Incident, Policy


@dataclass(frozen=True)
class Outcome:
    """One side's answer for one incident: a decision, or the errors that refuse it."""

    decision: Decision | None
    errors: tuple[Problem, ...] = ()

    def comparable(self) -> object:
        """The decision without its revision (or the error messages), to compare sides."""
        if self.decision is None:
            return tuple(p.message for p in self.errors)
        out = self.decision.to_json()
        out.pop("policy_revision")
        return out


@dataclass(frozen=True)
class DecisionChange:
    """How one incident's decision differs between base and head."""

    incident: str
    line: int
    gained: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    details: tuple[str, ...] = field(default=())
    invalid: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The change as a JSON-ready mapping."""
        return {
            "incident": self.incident,
            "line": self.line,
            "recipients_gained": list(self.gained),
            "recipients_lost": list(self.lost),
            "details": list(self.details),
            "invalid": self.invalid,
        }


@dataclass(frozen=True)
class ReplayReport:
    """Every changed decision, with counts."""

    base: tuple[str, str]
    head: tuple[str, str]
    replayed: int
    changes: tuple[DecisionChange, ...]

    def summary(self) -> str:
        """``12 incidents replayed, 3 decisions change``."""
        n, m = self.replayed, len(self.changes)
        return (
            f"{n} incident{'s' if n != 1 else ''} replayed, "
            f"{m} decision{'s' if m != 1 else ''} change{'s' if m == 1 else ''}"
        )

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready mapping."""
        return {
            "base": {"label": self.base[0], "revision": self.base[1]},
            "head": {"label": self.head[0], "revision": self.head[1]},
            "replayed": self.replayed,
            "changed": len(self.changes),
            "summary": self.summary(),
            "changes": [c.to_json() for c in self.changes],
        }


def read_incidents(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON) for each non-blank line; :class:`IncidentFileError`."""
    given = read_path(path, json_lines=True)
    for number, line in given.entries:
        assert number is not None  # JSON lines: every entry has its line
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            raise IncidentFileError(
                [
                    Problem(
                        "incident-not-json",
                        f"line {number} is not valid JSON: {error.msg}",
                        Location(given.label, number, error.colno),
                    )
                ]
            ) from error


def _outcome(raw: object, policy: Policy, decide: Callable[[Incident], Decision]) -> Outcome:
    """The decision for ``raw`` under one side, or why it is refused."""
    try:
        incident = parse_incident(raw, policy)
    except IncidentError as error:
        return Outcome(None, error.problems)
    return Outcome(decide(incident))


def _describe(
    base: Decision, head: Decision
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(gained users, lost users, every other difference in words)."""
    old = {r.user: r for r in base.recipients}
    new = {r.user: r for r in head.recipients}
    details: list[str] = []
    if base.accepted != head.accepted or base.rejection != head.rejection:

        def state(d: Decision) -> str:
            code = d.rejection.code if d.rejection is not None else "?"
            return "accepted" if d.accepted else f"rejected ({code})"

        details.append(f"{state(base)} -> {state(head)}")
    for user in sorted(old.keys() & new.keys()):
        if old[user].access != new[user].access:
            details.append(f"{user}: access {old[user].access} -> {new[user].access}")
        if old[user].reasons != new[user].reasons:
            details.append(f"{user}: reasons changed")
        if old[user].sees_students != new[user].sees_students:
            details.append(f"{user}: the students they can see changed")
    for entry in sorted(set(head.withheld) - set(base.withheld)):
        details.append(f"newly withheld: {entry.message()}")
    for entry in sorted(set(base.withheld) - set(head.withheld)):
        details.append(f"no longer withheld: {entry.message()}")
    for warning in sorted(set(head.warnings) - set(base.warnings)):
        details.append(f"new warning: {warning.message}")
    for warning in sorted(set(base.warnings) - set(head.warnings)):
        details.append(f"warning gone: {warning.message}")
    return (
        tuple(sorted(new.keys() - old.keys())),
        tuple(sorted(old.keys() - new.keys())),
        tuple(details),
    )


def replay(
    incidents: Iterable[tuple[int, object]],
    base: Policy,
    head: Policy,
    labels: tuple[str, str] = ("base", "head"),
) -> ReplayReport:
    """Evaluate every incident under both policies; the decisions that change."""
    base_engine, head_engine = compile_policy(base), None
    try:
        head_engine = compile_policy(head)
        changes: list[DecisionChange] = []
        count = 0
        for number, raw in incidents:
            count += 1
            old = _outcome(raw, base, lambda i: evaluate_incident(base_engine, i))
            new = _outcome(raw, head, lambda i: evaluate_incident(head_engine, i))
            if old.comparable() == new.comparable():
                continue
            name = raw.get("id") if isinstance(raw, dict) else None
            incident = name if isinstance(name, str) else f"line {number}"
            if old.decision is None or new.decision is None:
                invalid = {
                    side: [p.render() for p in outcome.errors]
                    for side, outcome in (("base", old), ("head", new))
                    if outcome.decision is None
                }
                changes.append(DecisionChange(incident, number, invalid=invalid))
                continue
            gained, lost, details = _describe(old.decision, new.decision)
            changes.append(DecisionChange(incident, number, gained, lost, details))
    finally:
        base_engine.close()
        if head_engine is not None:
            head_engine.close()
    return ReplayReport(
        base=(labels[0], base.revision),
        head=(labels[1], head.revision),
        replayed=count,
        changes=tuple(changes),
    )


def replay_text(report: ReplayReport) -> list[str]:
    """The report as lines of text."""
    lines = [f"{report.base[0]} ({report.base[1]}) -> {report.head[0]} ({report.head[1]})"]
    for change in report.changes:
        lines.append(f"{change.incident} (line {change.line}):")
        lines.extend(f"  + {user} now receives the alert" for user in change.gained)
        lines.extend(f"  - {user} no longer receives the alert" for user in change.lost)
        lines.extend(f"  ~ {detail}" for detail in change.details)
        for side, errors in change.invalid.items():
            lines.append(f"  ! invalid under {side}:")
            lines.extend(f"      {error}" for error in errors)
    lines.append(report.summary())
    return lines
