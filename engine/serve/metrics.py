"""The service's Prometheus metrics, each beside what it measures.

:class:`ReloadMetrics` makes coordinator subscribers (reloads, the revision serving, a
held revision, whether the engine can decide); :class:`ServeMetrics` counts decisions
and requests; :class:`DecisionLogMetrics` counts what the decision log could not write;
:class:`GitMetrics` counts fetches of a policy repository.  A service of many schools
labels each school's series with ``school``.  With several worker processes the values
live in prometheus-client's multiprocess files and ``/metrics`` adds them up (see each
gauge's mode).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from alertpolicy.engine.serve.revision import ReloadOutcome, Revision

M = TypeVar("M", Counter, Gauge)


def _at(metric: M, values: tuple[str, ...], *more: str) -> M:
    """The series of ``metric`` for these label values (the metric itself if none)."""
    labels = (*values, *more)
    return metric.labels(*labels) if labels else metric


LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ReloadMetrics:
    """Metrics of reloads and of the revision serving, in ``registry``; with ``by_school``
    each series carries the school's name as the label ``school``."""

    def __init__(self, registry: CollectorRegistry, by_school: bool = False) -> None:
        school = ["school"] if by_school else []
        self.reloads = Counter(
            "alertpolicy_config_reloads",
            "Policy reloads, by result: success, failure, or held (by the coverage guard).",
            [*school, "result"],
            registry=registry,
        )
        self.last_successful = Gauge(
            "alertpolicy_config_last_reload_successful",
            "Whether the last policy reload succeeded (1) or failed (0); with several "
            "workers, 0 when any worker's last reload failed.",
            school,
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.last_success_time = Gauge(
            "alertpolicy_config_last_reload_success_timestamp_seconds",
            "Time of the last successful policy reload, in seconds since the epoch; with "
            "several workers, the earliest of their last successful reloads.",
            school,
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.held = Gauge(
            "alertpolicy_config_held",
            "Whether the coverage guard holds a revision back (1) or not (0); with several "
            "workers, 1 when any worker holds one.",
            school,
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.ready = Gauge(
            "alertpolicy_ready",
            "Whether a policy revision can decide (1) or not (0: none loaded, or its "
            "engine failed and is being rebuilt); with several workers, 0 when any cannot.",
            school,
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.child_failures = Counter(
            "alertpolicy_reload_child_failures",
            "Reload child processes that ended without an answer (killed, crashed, hung).",
            registry=registry,
        )
        self.info = Gauge(
            "alertpolicy_config_info",
            "The policy revision being served (1) or no longer served (0); with several "
            "workers, one series per worker process (pid).",
            [*school, "git", "revision"],
            registry=registry,
            multiprocess_mode="liveall",
        )
        self._described: dict[tuple[str, ...], tuple[str, ...]] = {}

    def subscriber(self, *school: str) -> Callable[[ReloadOutcome, Revision | None], None]:
        """A coordinator subscriber recording into the series of ``school`` (if any)."""
        for result in ("success", "failure", "held"):
            _at(self.reloads, school, result)

        def record(outcome: ReloadOutcome, serving: Revision | None) -> None:
            self.record(outcome, serving, school)

        return record

    def record(
        self, outcome: ReloadOutcome, serving: Revision | None, school: tuple[str, ...] = ()
    ) -> None:
        """Count ``outcome`` and describe the revision serving (of ``school``)."""
        if outcome.how != "rebuild":
            result = "failure" if not outcome.ok else "held" if outcome.newly_held else "success"
            _at(self.reloads, school, result).inc()
            _at(self.last_successful, school).set(1 if outcome.ok else 0)
            if outcome.ok:
                _at(self.last_success_time, school).set(outcome.at.timestamp())
        _at(self.held, school).set(1 if outcome.held else 0)
        if serving is not None:
            self._describe(school, (serving.git or "", serving.revision))

    def set_ready(self, ready: bool, *school: str) -> None:
        """Whether a revision (of ``school``) can decide now."""
        _at(self.ready, school).set(1 if ready else 0)

    def _describe(self, school: tuple[str, ...], labels: tuple[str, str]) -> None:
        """Mark ``labels`` (git, revision) as the revision serving, the previous one not."""
        before = self._described.get(school)
        if labels == before:
            return
        if before is not None:
            # Set to 0 before removing: worker processes' values live in shared files,
            # where removing a series does not erase it.
            self.info.labels(*school, *before).set(0)
            with warnings.catch_warnings():  # multiprocess mode keeps the 0 (its own warning)
                warnings.simplefilter("ignore", UserWarning)
                self.info.remove(*school, *before)
        self.info.labels(*school, *labels).set(1)
        self._described[school] = labels


class ServeMetrics:
    """Metrics of decisions and HTTP requests, in ``registry`` (decisions by school, with
    ``by_school``)."""

    def __init__(self, registry: CollectorRegistry, by_school: bool = False) -> None:
        self.decisions = Counter(
            "alertpolicy_decisions",
            "Incidents answered, by outcome (accepted, rejected, invalid, unavailable) and code.",
            [*(["school"] if by_school else []), "outcome", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "alertpolicy_decision_duration_seconds",
            "Time to answer POST /v1/decisions with a decision, body read to response.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "alertpolicy_http_requests",
            "HTTP requests, by route, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )


class DecisionLogMetrics:
    """What the decision log could not write, in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.dropped = Counter(
            "alertpolicy_decision_log_dropped",
            "Decision-log lines dropped because the log's queue was full (the disk could "
            "not keep up, or was full) or the service stopped before writing them.",
            registry=registry,
        )
        self.errors = Counter(
            "alertpolicy_decision_log_errors",
            "Failed attempts to write to the decision log (each retried while lines wait).",
            registry=registry,
        )


class GitMetrics:
    """Fetches of the policy repository (``--policy-git``), in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.fetches = Counter(
            "alertpolicy_git_fetches",
            "Fetches of the policy repository, by result: success or failure.",
            ["result"],
            registry=registry,
        )
        for result in ("success", "failure"):
            self.fetches.labels(result)
        self.last_success = Gauge(
            "alertpolicy_git_last_fetch_success_timestamp_seconds",
            "Time of the last successful fetch of the policy repository; with several "
            "workers, the earliest of theirs.",
            registry=registry,
            multiprocess_mode="livemin",
        )

    def record(self, ok: bool, at: datetime) -> None:
        """A fetch listener: count it, and note the time of a successful one."""
        self.fetches.labels("success" if ok else "failure").inc()
        if ok:
            self.last_success.set(at.timestamp())
