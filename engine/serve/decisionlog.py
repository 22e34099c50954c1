"""The service's append-only decision log: one JSON line per decision or reload.

Each decision line records when, which incident, which policy revision, the outcome, the
categories, every recipient with their reasons, and every withheld alert — and never a
student id, a student's name, an incident's metadata or a member of staff's name or email.
Lines are written whole, one ``write`` each, to a file opened for appending, so several
worker processes can share one log.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from alertpolicy.engine.model import Decision, Incident, Reason, Withheld
from alertpolicy.engine.serve.coordinator import ReloadOutcome, iso


def reason_record(reason: Reason) -> dict:
    """A recipient's reason, with any matched student id left out."""
    out = reason.to_json()
    if "matched" in out:
        out["matched"] = {k: v for k, v in out["matched"].items() if k != "student"}
    return out


def withheld_record(entry: Withheld) -> dict:
    """A withheld alert: who, through which alert, and why."""
    out = entry.to_json()
    out.pop("message", None)
    return out


def decision_record(decision: Decision, incident: Incident, at: datetime) -> dict:
    """The decision-log line of ``decision`` (no student ids, names or metadata)."""
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


def reload_record(outcome: ReloadOutcome) -> dict:
    """The decision-log line of a reload: success or failure, revision, error messages."""
    return {
        "event": "reload",
        "time": iso(outcome.at),
        "ok": outcome.ok,
        "changed": outcome.changed,
        "revision": outcome.revision,
        "errors": [p.render() for p in outcome.errors],
    }


class DecisionLog:
    """An append-only JSON-lines file; thread-safe, each line written and flushed whole."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()

    def write(self, record: dict) -> None:
        """Append ``record`` as one line."""
        line = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        data = (line + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                return
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])

    def decision(self, decision: Decision, incident: Incident) -> None:
        """Log one decision."""
        self.write(decision_record(decision, incident, datetime.now(UTC)))

    def reload(self, outcome: ReloadOutcome) -> None:
        """Log one reload."""
        self.write(reload_record(outcome))

    def close(self) -> None:
        """Close the file; later writes are dropped."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
