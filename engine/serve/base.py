"""What a service process of one policy and one of many schools share.

:class:`ServiceBase` opens what both services have — the metrics (labelled by school
for many schools), the token, the decision log, the poller of a policy in git and the
reload queue — tells sibling workers when a reload changed the revision serving,
answers a decision and reports a policy's state in ``GET /v1/policy``, and closes what
it opened.  :class:`~.app.Service` and :class:`~.fleet.SchoolsService` add what a
policy, or a folder of schools, needs besides.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from alertpolicy.engine.serve.auth import read_token
from alertpolicy.engine.serve.buildcache import BuildCache
from alertpolicy.engine.serve.builder import RevisionBuilder
from alertpolicy.engine.serve.coordinator import Coordinator
from alertpolicy.engine.serve.deciding import decide_serving, decision_answer
from alertpolicy.engine.serve.decisionlog import open_decision_log
from alertpolicy.engine.serve.gitpoll import GitPoller, git_mirror
from alertpolicy.engine.serve.metrics import GitMetrics, ReloadMetrics, ServeMetrics
from alertpolicy.engine.serve.queue import THREADS, ReloadQueue
from alertpolicy.engine.serve.repair import EngineRepair
from alertpolicy.engine.serve.revision import ReloadOutcome, Revision
from alertpolicy.engine.serve.settings import ServeSettings
from alertpolicy.engine.serve.status import guard_status, policy_status
from alertpolicy.engine.serve.tuning import HeapTuning


class Stoppable(Protocol):
    """Something the service starts and stops (a watcher)."""

    def stop(self) -> None:
        """Stop it."""


class ServiceBase(ABC):
    """The parts both services share (see the module docstring).

    ``by_school`` labels the metrics with each school's name; ``siblings`` is called
    after every reload that changed a revision serving, so that other worker processes
    compare their own (see :mod:`.workers`); ``threads`` reloads run side by side.
    """

    def __init__(
        self,
        settings: ServeSettings,
        *,
        by_school: bool,
        siblings: Callable[[], None] | None,
        threads: int = THREADS,
        queue_name: str = "school-reload",
    ) -> None:
        self.settings = settings
        self.siblings = siblings
        self.registry = CollectorRegistry()
        self.metrics = ServeMetrics(self.registry, by_school=by_school)
        self.reload_metrics = ReloadMetrics(self.registry, by_school=by_school)
        self.token = read_token(settings.token_file) if settings.token_file else None
        self.decision_log = open_decision_log(settings.decision_log, self.registry)
        self.mirror = git_mirror(settings)
        self.poller: GitPoller | None = None
        if self.mirror is not None:
            git_metrics = GitMetrics(self.registry)
            self.poller = GitPoller(
                self.mirror, settings.git_poll, self._fetched, on_fetch=git_metrics.record
            )
        self.queue = ReloadQueue(
            self._reload_queued, settings.debounce_ms / 1000, threads=threads, name=queue_name
        )
        self.watcher: Stoppable | None = None

    @abstractmethod
    def _fetched(self, commit: str) -> None:
        """The poller fetched a new commit: load what it changed."""

    @abstractmethod
    def _reload_queued(self, policy: str, force: bool) -> object:
        """The reload the queue runs for ``policy``."""

    def _builder(
        self, tuning: HeapTuning, *, with_coverage: bool, slim: bool = False
    ) -> RevisionBuilder:
        """The revision builder, counting its reload children's failures (and sharing
        what it built through ``--build-cache``, when set)."""
        cache = self.settings.build_cache
        return RevisionBuilder(
            with_coverage=with_coverage,
            tuning=tuning,
            on_child_failure=lambda _why: self.reload_metrics.child_failures.inc(),
            cache=BuildCache(cache) if cache else None,
            slim=slim,
        )

    def _tell_siblings(self, outcome: ReloadOutcome, serving: Revision | None) -> None:
        """Coordinator subscriber: tell the sibling workers a reload changed the revision
        serving (what they started on needs no telling)."""
        if outcome.changed and outcome.how != "start" and self.siblings is not None:
            self.siblings()

    def _fetch_first(self) -> None:
        """Fetch now, for a reload that loads what is fetched itself."""
        if self.poller is not None:
            self.poller.fetch_now(tell=False)

    def _answer(
        self, coordinator: Coordinator, repair: EngineRepair, raw: object, school: str = ""
    ) -> tuple[bytes, str, str]:
        """The decision for a parsed incident by ``coordinator``'s revision (of
        ``school``), logged: JSON body, incident id and outcome code."""
        decision, incident = decide_serving(coordinator, repair, raw)
        if self.decision_log is not None:
            self.decision_log.decision(decision, incident, school=school)
        return decision_answer(decision)

    def _policy_status(self, coordinator: Coordinator) -> dict[str, Any]:
        """``GET /v1/policy`` of ``coordinator``'s policy, with its source in git."""
        decision_log = self.decision_log.status() if self.decision_log else None
        status = policy_status(coordinator, guard_status(self.settings), decision_log)
        return self._with_source(status)

    def _with_source(self, status: dict[str, Any]) -> dict[str, Any]:
        """``status`` with the policy repository's state, for a policy in git."""
        if self.poller is not None:
            status["source"] = self.poller.status()
        return status

    def _stop_following(self) -> None:
        """Stop fetching, watching and reloading."""
        if self.poller is not None:
            self.poller.stop()
        if self.watcher is not None:
            self.watcher.stop()
        self.queue.stop()

    def _close_log(self) -> None:
        if self.decision_log is not None:
            self.decision_log.close()
