"""One service process assembled: coordinator, its subscribers, and the ASGI app.

:class:`Service` wires the parts together — the revision builder, the state directory,
the coordinator and, as its subscribers, the metrics, the log, the decision log and the
watcher — and answers decisions under a lease.  :func:`create_app` serves it with
Starlette; its lifespan loads the policy (if not loaded yet), starts watching, and
reloads on SIGHUP (and, in a worker, on SIGUSR1: a sibling accepted a revision).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware

from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.errors import EngineError, NotReady
from alertpolicy.engine.serve.auth import read_token
from alertpolicy.engine.serve.builder import RevisionBuilder
from alertpolicy.engine.serve.coordinator import Coordinator
from alertpolicy.engine.serve.decisionlog import DecisionLog
from alertpolicy.engine.serve.metrics import DecisionLogMetrics, ReloadMetrics, ServeMetrics
from alertpolicy.engine.serve.middleware import AccessMiddleware
from alertpolicy.engine.serve.openapi import openapi_document
from alertpolicy.engine.serve.repair import EngineRepair
from alertpolicy.engine.serve.revision import ReloadOutcome, Revision
from alertpolicy.engine.serve.routes import ROUTES
from alertpolicy.engine.serve.scheduler import ReloadScheduler
from alertpolicy.engine.serve.settings import ServeSettings
from alertpolicy.engine.serve.state import AcceptedStore
from alertpolicy.engine.serve.status import log_outcome, policy_status
from alertpolicy.engine.serve.tuning import NO_TUNING, HeapTuning
from alertpolicy.engine.serve.ui import UI_ROUTES
from alertpolicy.engine.serve.watcher import PolicyWatcher

log = logging.getLogger("alertpolicy.serve")


class Service:
    """One service process (see the module docstring).

    ``siblings`` is called after every reload that changed the revision serving, so that
    other worker processes compare their own (see :mod:`.workers`).
    """

    def __init__(
        self,
        settings: ServeSettings,
        *,
        tuning: HeapTuning = NO_TUNING,
        siblings: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.metrics = ServeMetrics(self.registry)
        self.reload_metrics = ReloadMetrics(self.registry)
        self.token = read_token(settings.token_file) if settings.token_file else None
        self.decision_log: DecisionLog | None = None
        if settings.decision_log is not None:
            log_metrics = DecisionLogMetrics(self.registry)
            self.decision_log = DecisionLog(
                settings.decision_log,
                on_dropped=log_metrics.dropped.inc,
                on_error=lambda _error: log_metrics.errors.inc(),
            )
        guarded = settings.max_route_loss is not None
        builder = RevisionBuilder(
            with_coverage=guarded,
            tuning=tuning,
            on_child_failure=lambda _why: self.reload_metrics.child_failures.inc(),
        )
        accepted = None
        if settings.state_dir is not None:
            accepted = AcceptedStore(settings.state_dir, settings.policy_dir)
        self.coordinator = Coordinator(
            settings.policy_dir,
            builder,
            max_route_loss=settings.max_route_loss,
            accepted=accepted,
            tuning=tuning,
        )
        self.repair = EngineRepair(self.coordinator)
        self.scheduler = ReloadScheduler(self.coordinator.reload, settings.debounce_ms / 1000)
        self.watcher: PolicyWatcher | None = None
        for subscriber in (self.reload_metrics.record, self._readiness, log_outcome):
            self.coordinator.subscribe(subscriber)
        if self.decision_log is not None:
            self.coordinator.subscribe(self.decision_log.reload)
        if siblings is not None:
            self.coordinator.subscribe(_tell_siblings(siblings))

    def _readiness(self, outcome: ReloadOutcome, serving: Revision | None) -> None:
        self.reload_metrics.set_ready(self.coordinator.serving.not_ready is None)

    def start(self, fall_back: bool = False) -> None:
        """Load the policy (if not loaded yet), then watch it and reload on changes.

        The watcher takes its first look at the files before they are loaded, so that a
        change made while they load is not missed.
        """
        self.watcher = PolicyWatcher(self.settings.policy_dir, self.scheduler.request)
        if self.coordinator.current is None:
            self.coordinator.start(fall_back)
        self.scheduler.start()
        self.coordinator.subscribe(self.watcher.on_reload)
        self.watcher.start()

    def decide(self, raw: object) -> tuple[bytes, str, str]:
        """The decision for a parsed incident: JSON body, incident id and outcome code.

        Raises :class:`IncidentError` for an invalid incident and :class:`NotReady`
        when no revision can decide (the engine failing counts: never a short answer).
        """
        with self.coordinator.lease() as revision:
            incident = parse_incident(raw, revision.policy)
            try:
                decision = evaluate_incident(revision.compiled, incident)
            except EngineError as error:
                self.reload_metrics.set_ready(False)
                self.repair.engine_failed(revision, error)
                raise NotReady(
                    "the policy engine failed on this incident and is being rebuilt; "
                    "submit it again shortly"
                ) from error
        body = decision.to_json_text()
        if self.decision_log is not None:
            self.decision_log.decision(decision, incident)
        code = decision.rejection.code if decision.rejection else ""
        return body.encode("utf-8"), decision.incident, code

    def status(self) -> dict[str, Any]:
        """``GET /v1/policy``."""
        settings = self.settings
        guard = {
            "enabled": settings.max_route_loss is not None,
            "max_route_loss": settings.max_route_loss,
            "state_dir": str(settings.state_dir) if settings.state_dir else None,
        }
        decision_log = self.decision_log.status() if self.decision_log else None
        return policy_status(self.coordinator, guard, decision_log)

    def close(self) -> None:
        """Stop watching, reloading and repairing; stop serving; close the decision log."""
        if self.watcher is not None:
            self.watcher.stop()
        self.scheduler.stop()
        self.repair.stop()
        self.coordinator.close()
        if self.decision_log is not None:
            self.decision_log.close()


def _tell_siblings(siblings: Callable[[], None]) -> Callable[[ReloadOutcome, object], None]:
    """A subscriber calling ``siblings`` when a reload changed the revision serving."""

    def tell(outcome: ReloadOutcome, serving: object) -> None:
        if outcome.changed and outcome.how != "start":
            siblings()

    return tell


def _install_signals(service: Service, worker: bool) -> list[signal.Signals]:
    """SIGHUP rebuilds now; in a worker, SIGUSR1 compares with what a sibling accepted."""
    if threading.current_thread() is not threading.main_thread():
        return []
    loop = asyncio.get_running_loop()
    request = service.scheduler.request
    loop.add_signal_handler(signal.SIGHUP, lambda: request(immediate=True, force=True))
    installed = [signal.SIGHUP]
    if worker:
        loop.add_signal_handler(signal.SIGUSR1, lambda: request(immediate=True))
        installed.append(signal.SIGUSR1)
    return installed


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Load the policy if not loaded yet (failing start-up if invalid), watch it, serve."""
    service: Service = app.state.service
    worker: bool = app.state.worker
    await run_in_threadpool(service.start, worker)
    installed = _install_signals(service, worker)
    try:
        yield
    finally:
        for signum in installed:
            asyncio.get_running_loop().remove_signal_handler(signum)
        await run_in_threadpool(service.close)


def create_app(service: Service, worker: bool = False) -> Starlette:
    """The ASGI app serving ``service`` (``worker``: one of several worker processes)."""
    app = Starlette(
        routes=[*ROUTES, *UI_ROUTES],
        middleware=[Middleware(AccessMiddleware, service=service)],
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.worker = worker
    app.state.openapi = openapi_document()
    log.debug("service app created (pid %d)", os.getpid())
    return app
