"""The values the coordinator deals in: a serving revision, a held one, a reload outcome."""

from __future__ import annotations

import pickle
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alertpolicy.engine.audit.guard import Coverage
from alertpolicy.engine.check.findings import policy_counts
from alertpolicy.engine.decide.compiled import CompiledPolicy
from alertpolicy.engine.errors import Problem
from alertpolicy.engine.load.files import PolicySource
from alertpolicy.engine.model import Policy
from alertpolicy.engine.serve.clock import iso


class Candidate:
    """A revision read, checked and summarised for the guard, not compiled yet.

    Its files are kept compressed (a service of many schools keeps every school's): they
    are read only to keep the revision in the state directory and to summarise it for
    the coverage guard.
    """

    __slots__ = ("_files", "compiled", "coverage", "git", "label", "policy", "shared")

    def __init__(self, source: PolicySource, policy: Policy, coverage: Coverage | None) -> None:
        self.label, self.git, self.shared = source.label, source.git, source.shared
        self._files = zlib.compress(pickle.dumps(dict(source.files)), 1)
        self.policy = policy
        self.coverage = coverage
        """The summary for the coverage guard; ``None`` when not made (yet)."""
        self.compiled: CompiledPolicy | None = None
        """The policy compiled while its summary was made, until it is served (or
        dropped, when the candidate is held)."""

    @property
    def source(self) -> PolicySource:
        """The files of the revision (decompressed at each call)."""
        files: dict[str, bytes] = pickle.loads(zlib.decompress(self._files))
        return PolicySource(self.label, files, self.git, self.shared)

    @property
    def revision(self) -> str:
        """The revision string, as decisions name it."""
        return self.policy.revision


@dataclass(eq=False)
class Revision:
    """One compiled policy revision, and how many requests are using it."""

    candidate: Candidate
    compiled: CompiledPolicy
    loaded_at: datetime
    leases: int = 0
    retired: bool = False

    @property
    def policy(self) -> Policy:
        """The checked policy."""
        return self.candidate.policy

    @property
    def revision(self) -> str:
        """The revision string (content hash, plus git commit when known)."""
        return self.candidate.revision

    @property
    def git(self) -> str | None:
        """The git commit the policy files came from, if they are in git."""
        return self.candidate.git

    def counts(self) -> dict[str, int]:
        """How many of each kind of thing the policy defines."""
        return policy_counts(self.policy)


@dataclass(frozen=True)
class Held:
    """A revision that passed every check but would lose coverage: not served."""

    candidate: Candidate
    reasons: tuple[Problem, ...]
    at: datetime

    @property
    def revision(self) -> str:
        """The held revision, as decisions would name it."""
        return self.candidate.revision

    def to_json(self) -> dict[str, Any]:
        """As in ``GET /v1/policy``: revision, since when, and every reason."""
        return {
            "revision": self.revision,
            "at": iso(self.at),
            "reasons": [reason.to_json() for reason in self.reasons],
        }

    def summary(self) -> str:
        """The reasons on one line, for the log."""
        return "; ".join(f"[{reason.code}] {reason.message}" for reason in self.reasons)


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload did: served a new revision, found nothing changed, held the
    candidate, rebuilt the engine, or failed."""

    ok: bool
    at: datetime
    revision: str | None
    """The revision serving after the reload (the old one after a failure or a hold)."""
    changed: bool = False
    errors: tuple[Problem, ...] = field(default=())
    held: Held | None = None
    """The revision held back by the coverage guard after this reload, if any."""
    how: str = "reload"
    """What ran: ``start``, ``reload``, ``forced``, ``accept``, ``rebuild``."""

    @property
    def newly_held(self) -> bool:
        """Whether this reload held a revision back (not one held before)."""
        return self.held is not None and self.held.at == self.at

    def to_json(self) -> dict[str, Any]:
        """The outcome as shown in ``GET /v1/policy`` and ``POST /-/reload``."""
        return {
            "ok": self.ok,
            "at": iso(self.at),
            "revision": self.revision,
            "changed": self.changed,
            "errors": [p.to_json() for p in self.errors],
            "held": self.held.to_json() if self.held else None,
        }
