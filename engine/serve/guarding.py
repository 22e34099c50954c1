"""The coverage guard at reload: whether a candidate revision may replace the one serving.

The comparison itself is :func:`alertpolicy.engine.audit.guard.compare_coverage`; this
module decides when it is asked and against what: never for the first revision, nor for a
revision already accepted (by an operator, or by a sibling worker's guard); against the
revision serving on a reload, and against the revision kept in the state directory
(:mod:`.state`) when a service starts.  Coverage summaries are made in a reload child
(:mod:`.builder`) only when a comparison needs them.
"""

from __future__ import annotations

import logging

from alertpolicy.engine.audit.guard import compare_coverage
from alertpolicy.engine.errors import PolicyError, Problem, ReloadWorkerFailed
from alertpolicy.engine.load.files import revision_of
from alertpolicy.engine.serve.builder import RevisionBuilder
from alertpolicy.engine.serve.revision import Candidate, Revision
from alertpolicy.engine.serve.state import AcceptedStore

log = logging.getLogger("alertpolicy.reload")

Reasons = tuple[Problem, ...]
"""Why a candidate is held (empty: it may serve)."""


class ReloadGuard:
    """The coverage guard of one policy: ``max_route_loss`` its threshold (``None``: off),
    ``accepted`` the store of the last accepted revision (``None``: none kept)."""

    def __init__(
        self,
        builder: RevisionBuilder,
        max_route_loss: float | None,
        accepted: AcceptedStore | None,
    ) -> None:
        self.builder = builder
        self.max_route_loss = max_route_loss
        self.accepted = accepted

    @property
    def on(self) -> bool:
        """Whether candidates are compared at all."""
        return self.max_route_loss is not None

    def check(self, serving: Revision | None, candidate: Candidate) -> tuple[Reasons, Candidate]:
        """Why ``candidate`` must be held instead of replacing ``serving``, and
        ``candidate`` (with its coverage summary when one was made)."""
        if serving is None or candidate.revision == serving.revision:
            return (), candidate
        if self.accepted is not None and self.accepted.revision() == candidate.revision:
            return (), candidate  # accepted already: by an operator, or a sibling's guard
        return self.compare(serving.candidate, candidate, serving)

    def compare(
        self, against: Candidate, candidate: Candidate, serving: Revision | None
    ) -> tuple[Reasons, Candidate]:
        """Why ``candidate`` must be held against ``against`` (none: it may serve), and
        ``candidate`` with its coverage summary (made now if it had none).  A summary made
        for the revision ``serving`` is kept on it, for the next comparison."""
        if self.max_route_loss is None:
            return (), candidate
        against, candidate = self.builder.summarised(against, candidate)
        if serving is not None and serving.candidate.revision == against.revision:
            serving.candidate.coverage = against.coverage
        if against.coverage is None or candidate.coverage is None:
            return (), candidate
        return compare_coverage(
            against.coverage, candidate.coverage, self.max_route_loss
        ), candidate

    def kept(self, candidate: Candidate | None, label: str) -> Candidate | None:
        """The kept revision, built, when there is one and it is not ``candidate`` (and,
        beside a ``candidate``, only when the guard is on)."""
        if self.accepted is None:
            return None
        source = self.accepted.load(label)
        if source is None or (candidate and revision_of(source) == candidate.revision):
            return None
        if candidate and not self.on:
            return None
        try:
            return self.builder.build(source)
        except (PolicyError, ReloadWorkerFailed) as error:
            log.warning("the kept revision cannot be loaded; ignoring it: %s", error)
            return None
