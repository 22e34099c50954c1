"""The coordinator: the one object that decides which policy revision serves.

Modelled on Alertmanager's ``config/coordinator.go`` (a lock, the current config,
subscribers told after a reload), with the order of a reload kept in one place and made
safe: the next revision is read, checked and summarised to the side (in a reload child,
:mod:`.builder`), checked against the revision serving by the coverage guard
(:mod:`alertpolicy.engine.audit.guard`), compiled, and only then swapped in under the
lock; then every subscriber (metrics, decision log, log lines, watcher, sibling workers)
is told, once, in subscription order.  A subscriber that fails is logged and never
undoes the swap nor silences the others.  A request finishes on the revision it started
on (:mod:`.serving`).

A candidate that passes every check but trips the guard is *held*: the serving revision
stays, the held one is reported, and it is served only when accepted by name
(:meth:`Coordinator.accept`), or replaced by a later revision that passes (when the guard
compares, and against what: :mod:`.guarding`).  The last
accepted revision is kept in the state directory (:mod:`.state`), so a restart compares
against it too.  When the engine of the serving revision fails, that revision is rebuilt
in the background (:mod:`.repair`) and nothing is served meanwhile.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from alertpolicy.engine.audit.guard import DEFAULT_MAX_ROUTE_LOSS
from alertpolicy.engine.decide.compiled import CompiledPolicy, compile_policy
from alertpolicy.engine.errors import (
    EngineError,
    NotHeld,
    PolicyError,
    Problem,
    ReloadWorkerFailed,
)
from alertpolicy.engine.load.files import PolicySource, revision_of
from alertpolicy.engine.model import Policy
from alertpolicy.engine.serve.builder import RevisionBuilder
from alertpolicy.engine.serve.clock import utc_now
from alertpolicy.engine.serve.guarding import ReloadGuard
from alertpolicy.engine.serve.origin import DirectoryOrigin, Origin
from alertpolicy.engine.serve.revision import Candidate, Held, ReloadOutcome, Revision
from alertpolicy.engine.serve.serving import Serving
from alertpolicy.engine.serve.state import AcceptedStore
from alertpolicy.engine.serve.tuning import NO_TUNING, HeapTuning

log = logging.getLogger("alertpolicy.reload")

Subscriber = Callable[[ReloadOutcome, Revision | None], None]
"""Told every outcome, with the revision serving after it."""


class Coordinator:
    """Owns the serving revision of one policy (read from ``origin``, a policy directory
    when a path is given); see the module docstring.

    ``max_route_loss`` is the guard's threshold, ``None`` to turn the guard off;
    ``accepted`` keeps the last accepted revision across restarts (``None``: only in
    memory).  When ``builder`` builds without coverage summaries, the guard asks for
    them only when it has two revisions to compare.
    """

    def __init__(
        self,
        origin: Origin | Path,
        builder: RevisionBuilder,
        *,
        max_route_loss: float | None = DEFAULT_MAX_ROUTE_LOSS,
        accepted: AcceptedStore | None = None,
        tuning: HeapTuning = NO_TUNING,
    ) -> None:
        self.origin: Origin = DirectoryOrigin(origin) if isinstance(origin, Path) else origin
        self.builder = builder
        self.accepted = accepted
        self.guard = ReloadGuard(builder, max_route_loss, accepted)
        self.tuning = tuning
        self.serving = Serving()
        self._held: Held | None = None
        self._last: ReloadOutcome | None = None
        self._subscribers: list[Subscriber] = []
        self._reload_lock = threading.RLock()

    # ---------------------------------------------------------------- reading

    def subscribe(self, subscriber: Subscriber) -> None:
        """Tell ``subscriber`` every outcome from now on."""
        with self._reload_lock:
            self._subscribers.append(subscriber)

    @property
    def current(self) -> Revision | None:
        """The revision serving now, or ``None`` before the first good load."""
        return self.serving.current

    @property
    def held(self) -> Held | None:
        """The revision the coverage guard holds back, if any."""
        return self._held

    @property
    def last_reload(self) -> ReloadOutcome | None:
        """The latest outcome, or ``None`` before the first."""
        return self._last

    def lease(self) -> AbstractContextManager[Revision]:
        """The serving revision for one request (:meth:`Serving.lease`)."""
        return self.serving.lease()

    # ---------------------------------------------------------------- reloading

    def start(self, fall_back: bool = False, source: PolicySource | None = None) -> ReloadOutcome:
        """The first load: serve the policy on disk (or ``source``, just read from the
        origin), unless it trips the guard against the kept revision, which then serves
        while the new one is held.

        Raises :class:`PolicyError` for an invalid policy and
        :class:`ReloadWorkerFailed` when it could not be built at all; with
        ``fall_back`` (a worker process restarted while the files are broken) the kept
        revision serves instead, when there is one, and the failure is reported.
        """
        with self._reload_lock:
            at = utc_now()
            try:
                source = source or self.origin.read()
                candidate = self.builder.build(source)
            except (PolicyError, ReloadWorkerFailed) as error:
                kept = self.guard.kept(None, source.label if source else self.origin.label)
                if not fall_back or kept is None:
                    raise
                problems = error.problems if isinstance(error, PolicyError) else ()
                outcome = self._apply(kept, at, "start")
                outcome = dataclasses.replace(outcome, ok=False, errors=problems)
                self._tell(outcome)
                return outcome
            kept = self.guard.kept(candidate, candidate.label)
            held = None
            if kept is not None:
                reasons, candidate = self.guard.compare(kept, candidate, self.serving.current)
                if reasons:
                    held = Held(candidate, reasons, at)
            outcome = self._apply(kept if held and kept else candidate, at, "start")
            self._held = held
            outcome = dataclasses.replace(outcome, held=held)
            self._tell(outcome)
        return outcome

    def failed_start(self, error: PolicyError | ReloadWorkerFailed) -> ReloadOutcome:
        """Report a first load that failed (:meth:`start` raised ``error``) as its outcome,
        for a policy that must not stop the others (a school among many)."""
        with self._reload_lock:
            problems = (
                error.problems
                if isinstance(error, PolicyError)
                else (Problem("reload-child-failed", str(error)),)
            )
            outcome = self._failed(utc_now(), "start", problems)
            self._tell(outcome)
        return outcome

    def reload(self, force: bool = False) -> ReloadOutcome:
        """Read the policy directory and serve it if it passes every check and the guard.

        Unchanged files change nothing, unless ``force`` (SIGHUP, ``POST /-/reload``),
        which rebuilds the revision even so.
        """
        with self._reload_lock:
            at = utc_now()
            how = "forced" if force else "reload"
            try:
                outcome = self._next(self.origin.read(), at, force)
            except PolicyError as error:
                outcome = self._failed(at, how, error.problems)
            except ReloadWorkerFailed as error:
                outcome = self._failed(at, how, (Problem("reload-child-failed", str(error)),))
            except Exception as error:  # a failed compile must never stop the last good one
                log.exception("policy reload failed while compiling")
                message = f"the policy could not be compiled: {type(error).__name__}: {error}"
                outcome = self._failed(at, how, (Problem("policy-compile-failed", message),))
            self._tell(outcome)
        return outcome

    def accept(self, revision: str) -> ReloadOutcome:
        """Serve the held revision named ``revision`` (an operator accepted it).

        Raises :class:`NotHeld` when that is not the revision held.
        """
        with self._reload_lock:
            held = self._held
            if held is None or held.revision != revision:
                holding = f"{held.revision} is held" if held else "no revision is held"
                raise NotHeld(f"cannot accept {revision}: {holding}")
            outcome = self._apply(held.candidate, utc_now(), "accept")
            self._tell(outcome)
        return outcome

    def rebuild(self, revision: Revision) -> ReloadOutcome | None:
        """Compile ``revision``'s policy afresh and serve it again (its engine failed).

        ``None`` when another revision has replaced it meanwhile; an outcome that is not
        ``ok`` when compiling failed again.
        """
        with self._reload_lock:
            if self.serving.current is not revision:
                return None
            at = utc_now()
            try:
                outcome = self._apply(revision.candidate, at, "rebuild")
            except Exception as error:
                if not isinstance(error, EngineError):
                    log.exception("rebuilding the policy engine failed")
                message = f"the policy engine could not be rebuilt: {type(error).__name__}: {error}"
                outcome = self._failed(at, "rebuild", (Problem("engine-rebuild-failed", message),))
            self._tell(outcome)
        return outcome

    def close(self) -> None:
        """Stop serving: no new leases; the last revision closes when its requests end.
        The builder's parsed files are removed (a stopping service is ended by its signal
        again, which runs no exit handler)."""
        with self._reload_lock:
            self.serving.close()
            self.builder.close()

    # ---------------------------------------------------------------- the steps

    def _next(self, source: PolicySource, at: datetime, force: bool) -> ReloadOutcome:
        how = "forced" if force else "reload"
        wanted = revision_of(source)
        serving, held = self.serving.current, self._held
        if not force and serving is not None and wanted == serving.revision:
            self._held = None
            return ReloadOutcome(True, at, serving.revision, how=how)
        if not force and held is not None and wanted == held.revision:
            if self.accepted is not None and self.accepted.revision() == wanted:
                return self._apply(held.candidate, at, "accept")
            current = serving.revision if serving else None
            return ReloadOutcome(True, at, current, held=held, how=how)
        # A revision that will be compared with the one serving is summarised as it is
        # built, in the same child (not built again later for its summary), while this
        # process compiles it: most candidates are served.
        guarded = serving is not None and self.guard.on
        meanwhile = self._compile if guarded else None
        built = self.builder.build(source, guarded, meanwhile)
        try:
            reasons, candidate = self.guard.check(serving, built)
        except BaseException:
            self._drop_compiled(built)
            raise
        if reasons:
            self._drop_compiled(candidate)
            self._held = Held(candidate, reasons, at)
            current = serving.revision if serving else None
            return ReloadOutcome(True, at, current, held=self._held, how=how)
        return self._apply(candidate, at, how)

    def _compile(self, policy: Policy) -> CompiledPolicy:
        """``policy`` compiled, with the collector as tuned, taking what it shares with
        the serving revision from it."""
        serving = self.serving.current
        with self.tuning.paused():
            compiled = compile_policy(policy, like=serving.compiled if serving else None)
            self.tuning.settle()  # before the collector resumes, or it scans the revision
        return compiled

    @staticmethod
    def _drop_compiled(candidate: Candidate) -> None:
        """Free what was compiled for ``candidate`` (it is not served now)."""
        if candidate.compiled is not None:
            candidate.compiled.close()
            candidate.compiled = None

    def _apply(self, candidate: Candidate, at: datetime, how: str) -> ReloadOutcome:
        """Compile ``candidate`` (unless compiled as it was built), swap it in, keep it as
        accepted; the outcome."""
        before = self.serving.current
        compiled, candidate.compiled = candidate.compiled, None
        if compiled is None:
            compiled = self._compile(candidate.policy)
        if self.accepted is not None and self.accepted.revision() != candidate.revision:
            self.accepted.record(candidate.source)
        changed = before is None or before.revision != candidate.revision
        outcome = ReloadOutcome(True, at, candidate.revision, changed=changed, how=how)
        self._held, self._last = None, outcome  # reported with the swap, not after it
        self.serving.swap(Revision(candidate, compiled, loaded_at=at))
        return outcome

    def _failed(self, at: datetime, how: str, problems: tuple[Problem, ...]) -> ReloadOutcome:
        serving = self.serving.current
        current = serving.revision if serving else None
        return ReloadOutcome(False, at, current, errors=problems, held=self._held, how=how)

    def _tell(self, outcome: ReloadOutcome) -> None:
        """Record ``outcome`` and tell every subscriber, in order (caller holds the lock)."""
        self._last = outcome
        serving = self.serving.current
        for subscriber in list(self._subscribers):
            try:
                subscriber(outcome, serving)
            except Exception:  # a reporting failure must never undo or hide a reload
                log.exception("a reload subscriber failed")
