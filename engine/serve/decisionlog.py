"""The service's append-only decision log: one JSON line per decision or reload.

Each decision line records when, which incident, which policy revision, the outcome, the
categories, every recipient with their reasons, and every withheld alert, built from an
allow-list of fields: never a student id, a student-group name (``matched`` keeps only
the category), a student's name, an incident's metadata, or a member of staff's name or
email.  Writing happens off the event loop (:mod:`.logwriter`): a slow or full disk
never costs a decision.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from alertpolicy.engine.model import Decision, Incident, Reason, Withheld
from alertpolicy.engine.serve.clock import iso, utc_now
from alertpolicy.engine.serve.logwriter import LineWriter
from alertpolicy.engine.serve.metrics import DecisionLogMetrics
from alertpolicy.engine.serve.revision import ReloadOutcome, Revision

LOGGED_MATCH = frozenset({"category"})
"""Trigger kinds whose matched value may be logged (student ids and groups may not)."""


def reason_record(reason: Reason) -> dict[str, Any]:
    """A recipient's reason: its source, rule or alert group, and the category matched."""
    out: dict[str, Any] = {"source": reason.source}
    if reason.alert_group is not None:
        out["alert_group"] = reason.alert_group
    if reason.rule is not None:
        out["rule"] = reason.rule
    if reason.source == "automatic_alert":
        out["matched"] = {kind: value for kind, value in reason.matched if kind in LOGGED_MATCH}
    return out


def withheld_record(entry: Withheld) -> dict[str, Any]:
    """A withheld alert: who, through which alert, and why."""
    out: dict[str, Any] = {"user": entry.user, "source": entry.source, "reason": entry.reason}
    if entry.alert_group is not None:
        out["alert_group"] = entry.alert_group
    if entry.rule is not None:
        out["rule"] = entry.rule
    if entry.missing:
        out["missing"] = [
            {"category": m.category, "permission": m.permission} for m in sorted(entry.missing)
        ]
    return out


def decision_record(decision: Decision, incident: Incident, at: datetime) -> dict[str, Any]:
    """The decision-log line of ``decision`` (see the module docstring for what is left out)."""
    return {
        "event": "decision",
        "time": iso(at),
        "incident": decision.incident,
        "revision": decision.policy_revision,
        "accepted": decision.accepted,
        "rejection": decision.rejection.code if decision.rejection else None,
        "categories": sorted(set(incident.categories)),
        "recipients": [
            {
                "user": r.user,
                "access": r.access,
                "reasons": [reason_record(reason) for reason in r.reasons],
            }
            for r in decision.recipients
        ],
        "withheld": [withheld_record(w) for w in decision.withheld],
        "warnings": [
            {"code": w.code, **({"user": w.user} if w.user else {})} for w in decision.warnings
        ],
    }


def reload_record(outcome: ReloadOutcome) -> dict[str, Any]:
    """The decision-log line of a reload: result, revision serving, held one, problems."""
    return {
        "event": "reload",
        "time": iso(outcome.at),
        "how": outcome.how,
        "ok": outcome.ok,
        "changed": outcome.changed,
        "revision": outcome.revision,
        "held": outcome.held.revision if outcome.held else None,
        "errors": [p.to_json() for p in outcome.errors],
    }


def _of(school: str, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` naming ``school`` after its event (unchanged without a school)."""
    return {"event": record["event"], "school": school, **record} if school else record


class DecisionLog:
    """The decision log at ``path``; see the module docstring."""

    def __init__(
        self,
        path: Path,
        on_dropped: Callable[[int], None] | None = None,
        on_error: Callable[[OSError], None] | None = None,
    ) -> None:
        self.writer = LineWriter(path, on_dropped=on_dropped, on_error=on_error)

    def decision(self, decision: Decision, incident: Incident, school: str = "") -> None:
        """Log one decision (queued; never blocks), of ``school`` when one service serves
        many."""
        self.writer.put(_of(school, decision_record(decision, incident, utc_now())))

    def reload(self, outcome: ReloadOutcome, serving: Revision | None, school: str = "") -> None:
        """Coordinator subscriber: log one reload (of ``school``)."""
        self.writer.put(_of(school, reload_record(outcome)))

    def status(self) -> dict[str, Any]:
        """What the log wrote, dropped, and its last error (for ``GET /v1/policy``)."""
        return self.writer.status()

    def close(self) -> None:
        """Write what is queued, then close the file."""
        self.writer.close()


def open_decision_log(path: Path | None, registry: CollectorRegistry) -> DecisionLog | None:
    """The decision log at ``path`` (``None`` without a path), counting the lines it drops
    and its failed writes in ``registry``."""
    if path is None:
        return None
    log_metrics = DecisionLogMetrics(registry)
    return DecisionLog(
        path,
        on_dropped=log_metrics.dropped.inc,
        on_error=lambda _error: log_metrics.errors.inc(),
    )
