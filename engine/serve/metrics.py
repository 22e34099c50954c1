"""The service's Prometheus metrics, each beside what it measures.

:class:`ReloadMetrics` is a coordinator subscriber (reloads, the revision serving, a
held revision, whether the engine can decide); :class:`ServeMetrics` counts decisions
and requests; :class:`DecisionLogMetrics` counts what the decision log could not write.
With several worker processes the values live in prometheus-client's multiprocess
files and ``/metrics`` adds them up (see each gauge's mode).
"""

from __future__ import annotations

import warnings

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from alertpolicy.engine.serve.revision import ReloadOutcome, Revision

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ReloadMetrics:
    """Metrics of reloads and of the revision serving, in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.reloads = Counter(
            "alertpolicy_config_reloads",
            "Policy reloads, by result: success, failure, or held (by the coverage guard).",
            ["result"],
            registry=registry,
        )
        for result in ("success", "failure", "held"):
            self.reloads.labels(result)
        self.last_successful = Gauge(
            "alertpolicy_config_last_reload_successful",
            "Whether the last policy reload succeeded (1) or failed (0); with several "
            "workers, 0 when any worker's last reload failed.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.last_success_time = Gauge(
            "alertpolicy_config_last_reload_success_timestamp_seconds",
            "Time of the last successful policy reload, in seconds since the epoch; with "
            "several workers, the earliest of their last successful reloads.",
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.held = Gauge(
            "alertpolicy_config_held",
            "Whether the coverage guard holds a revision back (1) or not (0); with several "
            "workers, 1 when any worker holds one.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.ready = Gauge(
            "alertpolicy_ready",
            "Whether a policy revision can decide (1) or not (0: none loaded, or its "
            "engine failed and is being rebuilt); with several workers, 0 when any cannot.",
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
            ["git", "revision"],
            registry=registry,
            multiprocess_mode="liveall",
        )
        self._described: tuple[str, str] | None = None

    def record(self, outcome: ReloadOutcome, serving: Revision | None) -> None:
        """Coordinator subscriber: count ``outcome`` and describe the revision serving."""
        if outcome.how != "rebuild":
            result = "failure" if not outcome.ok else "held" if outcome.newly_held else "success"
            self.reloads.labels(result).inc()
            self.last_successful.set(1 if outcome.ok else 0)
            if outcome.ok:
                self.last_success_time.set(outcome.at.timestamp())
        self.held.set(1 if outcome.held else 0)
        if serving is not None:
            self._describe((serving.git or "", serving.revision))

    def set_ready(self, ready: bool) -> None:
        """Whether a revision can decide now (the engine failed, or was rebuilt)."""
        self.ready.set(1 if ready else 0)

    def _describe(self, labels: tuple[str, str]) -> None:
        """Mark ``labels`` (git, revision) as the revision serving, the previous one not."""
        if labels == self._described:
            return
        if self._described is not None:
            # Set to 0 before removing: worker processes' values live in shared files,
            # where removing a series does not erase it.
            self.info.labels(*self._described).set(0)
            with warnings.catch_warnings():  # multiprocess mode keeps the 0 (its own warning)
                warnings.simplefilter("ignore", UserWarning)
                self.info.remove(*self._described)
        self.info.labels(*labels).set(1)
        self._described = labels


class ServeMetrics:
    """Metrics of decisions and HTTP requests, in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "alertpolicy_decisions",
            "Incidents answered, by outcome (accepted, rejected, invalid, unavailable) and code.",
            ["outcome", "code"],
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
