"""One service process assembled: coordinator, its subscribers, and the ASGI app.

:class:`Service` wires one policy's parts onto what every service shares (:mod:`.base`)
— the revision builder, the state directory, the coordinator and, as its subscribers,
the metrics, the log, the decision log and the watcher — and answers decisions under a
lease.  :func:`create_app` serves it with
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
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware

from alertpolicy.engine.serve.base import ServiceBase
from alertpolicy.engine.serve.coordinator import Coordinator
from alertpolicy.engine.serve.fleet import SchoolsService
from alertpolicy.engine.serve.gitpoll import first_fetch
from alertpolicy.engine.serve.metrics import ServeMetrics
from alertpolicy.engine.serve.middleware import AccessMiddleware
from alertpolicy.engine.serve.openapi import openapi_document
from alertpolicy.engine.serve.origin import DirectoryOrigin, GitOrigin, Origin
from alertpolicy.engine.serve.queue import ONE_POLICY
from alertpolicy.engine.serve.readiness import MARK_SECONDS, WorkerReadiness
from alertpolicy.engine.serve.repair import EngineRepair
from alertpolicy.engine.serve.revision import ReloadOutcome, Revision
from alertpolicy.engine.serve.routes import MULTIPROCESS_ENV, ROUTES
from alertpolicy.engine.serve.schoolroutes import SCHOOL_ROUTES
from alertpolicy.engine.serve.settings import ServeSettings
from alertpolicy.engine.serve.state import AcceptedStore
from alertpolicy.engine.serve.status import log_outcome
from alertpolicy.engine.serve.tuning import NO_TUNING, HeapTuning
from alertpolicy.engine.serve.ui import UI_ROUTES
from alertpolicy.engine.serve.watcher import PolicyWatcher

log = logging.getLogger("alertpolicy.serve")


class Served(Protocol):
    """What the HTTP side asks of a service, of one policy or of many schools."""

    settings: ServeSettings
    registry: CollectorRegistry
    metrics: ServeMetrics
    token: str | None

    def prepare(self) -> None:
        """What must work before the service listens."""

    def start(self, fall_back: bool = False) -> None:
        """Load (if not loaded yet), then follow the policies."""

    def request_reload(self, force: bool) -> None:
        """Reload soon (SIGHUP forces: rebuild even if unchanged)."""

    def compare_accepted(self) -> None:
        """Soon compare with what a sibling worker accepted (its SIGUSR1)."""

    def not_ready(self) -> str | None:
        """Why this process cannot decide now, or ``None``."""

    def close(self) -> None:
        """Stop everything."""


class Service(ServiceBase):
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
        super().__init__(
            settings, by_school=False, siblings=siblings, threads=1, queue_name="policy-reload"
        )
        guarded = settings.max_route_loss is not None
        builder = self._builder(tuning, with_coverage=guarded)
        origin: Origin = DirectoryOrigin(settings.policy_dir)
        if self.mirror is not None:
            origin = GitOrigin(self.mirror, settings.policy_dir)
        accepted = None
        if settings.state_dir is not None:
            accepted = AcceptedStore(settings.state_dir, origin.key)
        self.coordinator = Coordinator(
            origin,
            builder,
            max_route_loss=settings.max_route_loss,
            accepted=accepted,
            tuning=tuning,
        )
        self.repair = EngineRepair(self.coordinator, lambda: self.reload_metrics.set_ready(False))
        for subscriber in (self.reload_metrics.subscriber(), self._readiness, log_outcome):
            self.coordinator.subscribe(subscriber)
        if self.decision_log is not None:
            self.coordinator.subscribe(self.decision_log.reload)
        if siblings is not None:
            self.coordinator.subscribe(self._tell_siblings)

    def _readiness(self, outcome: ReloadOutcome, serving: Revision | None) -> None:
        self.reload_metrics.set_ready(self.coordinator.serving.not_ready is None)

    def prepare(self) -> None:
        """What must work before the service listens: the first load (refusing an
        invalid policy with :class:`PolicyError`)."""
        self.load()

    def load(self, fall_back: bool = False) -> None:
        """The first load (after a first fetch, for a policy in git); see
        :meth:`Coordinator.start`."""
        if self.poller is not None and self.poller.commit is None:
            first_fetch(self.poller)
        self.coordinator.start(fall_back)

    def start(self, fall_back: bool = False) -> None:
        """Load the policy (if not loaded yet), then follow it and reload on changes.

        The watcher takes its first look at the files before they are loaded, so that a
        change made while they load is not missed.  A policy in git is fetched every
        ``--git-poll`` seconds instead.
        """
        watcher = None
        if self.poller is None:
            watcher = PolicyWatcher(self.settings.policy_dir, self._changed)
            self.watcher = watcher
        if self.coordinator.current is None:
            self.load(fall_back)
        self.queue.start()
        if watcher is not None:
            self.coordinator.subscribe(watcher.on_reload)
            watcher.start()
        if self.poller is not None:
            self.poller.start()

    def reload(self, force: bool = False) -> ReloadOutcome:
        """Reload now (forced: rebuild even if unchanged, and fetch first from git; this
        reload loads what is fetched, so a new commit is not reloaded again)."""
        if force:
            self._fetch_first()
        return self.coordinator.reload(force)

    def _reload_queued(self, policy: str, force: bool) -> ReloadOutcome:
        return self.reload(force)

    def request_reload(self, force: bool) -> None:
        """Reload soon, at once (SIGHUP forces: rebuild even if unchanged)."""
        self.queue.request([ONE_POLICY], immediate=True, force=force)

    def compare_accepted(self) -> None:
        """Reload soon, at once: the reload compares the files with what was accepted."""
        self.queue.request([ONE_POLICY], immediate=True)

    def _changed(self) -> None:
        """The watcher saw the files change: reload after the quiet period."""
        self.queue.request([ONE_POLICY])

    def _fetched(self, commit: str) -> None:
        """The poller fetched a new commit: load it."""
        self.queue.request([ONE_POLICY], immediate=True)

    def decide(self, raw: object) -> tuple[bytes, str, str]:
        """The decision for a parsed incident: JSON body, incident id and outcome code.

        Raises :class:`IncidentError` for an invalid incident and :class:`NotReady`
        when no revision can decide (the engine failing counts: never a short answer).
        """
        return self._answer(self.coordinator, self.repair, raw)

    def status(self) -> dict[str, Any]:
        """``GET /v1/policy``."""
        return self._policy_status(self.coordinator)

    def not_ready(self) -> str | None:
        """Why this process cannot decide now, or ``None``."""
        return self.coordinator.serving.not_ready

    def close(self) -> None:
        """Stop watching, reloading and repairing; stop serving; close the decision log."""
        self._stop_following()
        self.repair.stop()
        self.coordinator.close()
        self._close_log()


def service_for(
    settings: ServeSettings,
    *,
    tuning: HeapTuning = NO_TUNING,
    siblings: Callable[[], None] | None = None,
) -> Service | SchoolsService:
    """The service process ``settings`` ask for: of one policy, or of many schools."""
    if settings.policies_dir is not None:
        return SchoolsService(settings, tuning=tuning, siblings=siblings)
    return Service(settings, tuning=tuning, siblings=siblings)


def _install_signals(service: Served, worker: bool) -> list[signal.Signals]:
    """SIGHUP rebuilds now; in a worker, SIGUSR1 compares with what a sibling accepted."""
    if threading.current_thread() is not threading.main_thread():
        return []
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: service.request_reload(True))
    installed = [signal.SIGHUP]
    if worker:
        loop.add_signal_handler(signal.SIGUSR1, service.compare_accepted)
        installed.append(signal.SIGUSR1)
    return installed


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Load the policy if not loaded yet (failing start-up if invalid), watch it, serve."""
    service: Served = app.state.service
    worker: bool = app.state.worker
    readiness: WorkerReadiness = app.state.readiness
    await run_in_threadpool(service.start, worker)
    installed = _install_signals(service, worker)
    marking = asyncio.create_task(_keep_marked(readiness)) if readiness.folder else None
    try:
        yield
    finally:
        if marking is not None:
            marking.cancel()
        for signum in installed:
            asyncio.get_running_loop().remove_signal_handler(signum)
        await run_in_threadpool(service.close)
        readiness.mark()


async def _keep_marked(readiness: WorkerReadiness) -> None:
    """Refresh this worker's readiness mark for its siblings, until cancelled."""
    while True:
        readiness.mark()
        await asyncio.sleep(MARK_SECONDS)


def create_app(service: Service | SchoolsService, worker: bool = False) -> Starlette:
    """The ASGI app serving ``service``, of one policy or of many schools (``worker``:
    one of several worker processes)."""
    app = Starlette(
        routes=SCHOOL_ROUTES if isinstance(service, SchoolsService) else [*ROUTES, *UI_ROUTES],
        middleware=[Middleware(AccessMiddleware, service=service)],
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.worker = worker
    shared = os.environ.get(MULTIPROCESS_ENV) if worker else None
    app.state.readiness = WorkerReadiness(shared, service.settings.workers, service.not_ready)
    app.state.openapi = openapi_document()
    log.debug("service app created (pid %d)", os.getpid())
    return app
