"""Hot reload of the policy a service serves: the coordinator and the file watcher.

The :class:`Coordinator` owns the revision being served (policy + compiled engine).
:meth:`Coordinator.reload` reads, checks and compiles the next revision to the side and
swaps it in only when every step passed; otherwise the last good revision keeps serving and
the failure (every problem, with ``file:line:col``) is kept for ``GET /v1/policy``.  A
request holds a :meth:`Coordinator.lease` on the revision it started on; a replaced revision
is closed only once its last lease is returned.

The :class:`PolicyWatcher` turns file-system events under the policy directory into
debounced reloads on a worker thread, and re-arms itself when the directory disappears and
comes back (a ``git checkout``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.check.findings import policy_counts
from alertpolicy.engine.check.sides import ChildUnavailable, load_in_child
from alertpolicy.engine.decide.compiled import CompiledPolicy, compile_policy
from alertpolicy.engine.errors import PolicyError, Problem
from alertpolicy.engine.load.files import (
    POLICY_SUFFIXES,
    TESTS_FOLDER,
    PolicySource,
    read_directory,
    revision_of,
)
from alertpolicy.engine.model import Policy

log = logging.getLogger("alertpolicy.reload")


def utc_now() -> datetime:
    """The current time in UTC, to the millisecond."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 UTC with a ``Z`` (``2026-01-31T09:30:00.123Z``)."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NoPolicyLoaded(RuntimeError):
    """No valid policy revision has been loaded yet (or the service is shutting down)."""


@dataclass
class Revision:
    """One loaded and compiled policy revision, and how many requests are using it."""

    policy: Policy
    compiled: CompiledPolicy
    git: str | None
    loaded_at: datetime
    leases: int = 0
    retired: bool = False

    @property
    def revision(self) -> str:
        """The revision string (content hash, plus git commit when known)."""
        return self.policy.revision

    def counts(self) -> dict[str, int]:
        """How many of each kind of thing the policy defines."""
        return policy_counts(self.policy)


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload did: loaded a new revision, found nothing changed, or failed."""

    ok: bool
    at: datetime
    revision: str | None
    """The revision serving after the reload (the old one after a failure)."""
    changed: bool = False
    errors: tuple[Problem, ...] = field(default=())

    def to_json(self) -> dict:
        """The outcome as shown in ``GET /v1/policy`` and ``POST /-/reload``."""
        return {
            "ok": self.ok,
            "at": iso(self.at),
            "revision": self.revision,
            "changed": self.changed,
            "errors": [problem_json(p) for p in self.errors],
        }


def problem_json(problem: Problem) -> dict:
    """A problem as JSON, with its place as one ``file:line:col`` string too."""
    out = problem.to_json()
    out["location"] = str(problem.location) if problem.location else None
    return out


class ReloadMetrics:
    """The Prometheus metrics of the policy reloads, in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.reloads = Counter(
            "alertpolicy_config_reloads",
            "Policy reloads, by result (success or failure).",
            ["result"],
            registry=registry,
        )
        for result in ("success", "failure"):
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
        """Count ``outcome`` and describe the revision now serving."""
        self.reloads.labels("success" if outcome.ok else "failure").inc()
        self.last_successful.set(1 if outcome.ok else 0)
        if outcome.ok:
            self.last_success_time.set(outcome.at.timestamp())
        if serving is not None:
            self._describe((serving.git or "", serving.revision))

    def _describe(self, labels: tuple[str, str]) -> None:
        """Mark ``labels`` (git, revision) as the revision serving, the previous one not."""
        if labels == self._described:
            return
        if self._described is not None:
            # Set to 0 before removing: worker processes' values live in shared files,
            # where removing a series does not erase it.
            self.info.labels(*self._described).set(0)
            self.info.remove(*self._described)
        self.info.labels(*labels).set(1)
        self._described = labels


class Coordinator:
    """Owns the policy revision being served and replaces it, safely, on reload.

    Reloads are serialised.  A reload whose files hash to the revision already serving
    changes nothing (no rebuild).  ``on_reload`` is called with every outcome.
    """

    def __init__(
        self,
        policy_dir: Path,
        registry: CollectorRegistry | None = None,
        on_reload: Callable[[ReloadOutcome], None] | None = None,
    ) -> None:
        self.policy_dir = Path(policy_dir)
        self.registry = registry or CollectorRegistry()
        self.metrics = ReloadMetrics(self.registry)
        self.on_reload = on_reload
        self._current: Revision | None = None
        self._last: ReloadOutcome | None = None
        self._state_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._closed = False

    # ---------------------------------------------------------------- serving

    @property
    def current(self) -> Revision | None:
        """The revision serving now, or ``None`` before the first good load."""
        return self._current

    @property
    def last_reload(self) -> ReloadOutcome | None:
        """The outcome of the latest reload, or ``None`` before the first."""
        return self._last

    @contextmanager
    def lease(self) -> Iterator[Revision]:
        """The current revision, kept open until the ``with`` block ends."""
        with self._state_lock:
            revision = self._current
            if revision is None:
                raise NoPolicyLoaded("no valid policy has been loaded")
            revision.leases += 1
        try:
            yield revision
        finally:
            self._release(revision)

    def _release(self, revision: Revision) -> None:
        with self._state_lock:
            revision.leases -= 1
            close_now = revision.retired and revision.leases == 0
        if close_now:
            revision.compiled.close()

    def _swap(self, new: Revision | None) -> None:
        """Serve ``new`` and retire the old revision (closed once no request uses it)."""
        with self._state_lock:
            old, self._current = self._current, new
            close_now = False
            if old is not None:
                old.retired = True
                close_now = old.leases == 0
        if old is not None and close_now:
            old.compiled.close()

    def close(self) -> None:
        """Stop serving: no new leases; the last revision closes when its requests end."""
        with self._reload_lock:
            self._closed = True
            self._swap(None)

    # ---------------------------------------------------------------- reloading

    def reload(self) -> ReloadOutcome:
        """Read, check and compile the policy directory; serve it if every check passed."""
        with self._reload_lock:
            at = utc_now()
            if self._closed:
                raise NoPolicyLoaded("the service is shutting down")
            try:
                outcome = self._next_revision(at)
            except PolicyError as error:
                outcome = self._failed(at, error.problems)
            except Exception as error:  # a failed compile must never stop the last good one
                log.exception("policy reload failed while compiling")
                problem = Problem(
                    "policy-compile-failed",
                    f"the policy could not be compiled: {type(error).__name__}: {error}",
                )
                outcome = self._failed(at, (problem,))
            self._last = outcome
            self.metrics.record(outcome, self._current)
        self._log(outcome)
        if self.on_reload is not None:
            self.on_reload(outcome)
        return outcome

    def _next_revision(self, at: datetime) -> ReloadOutcome:
        source = read_policy_source(self.policy_dir)
        serving = self._current
        if serving is not None and serving.revision == revision_of(source):
            return ReloadOutcome(ok=True, at=at, revision=serving.revision, changed=False)
        policy = load_policy_source(source)
        compiled = compile_policy(policy)
        self._swap(Revision(policy, compiled, source.git, loaded_at=at))
        return ReloadOutcome(ok=True, at=at, revision=policy.revision, changed=True)

    def _failed(self, at: datetime, problems: tuple[Problem, ...]) -> ReloadOutcome:
        serving = self._current.revision if self._current else None
        return ReloadOutcome(ok=False, at=at, revision=serving, errors=tuple(problems))

    @staticmethod
    def _log(outcome: ReloadOutcome) -> None:
        """Log a reload; a failed first load is left to the caller, which refuses to start."""
        if not outcome.ok and outcome.revision:
            log.warning(
                "policy reload failed (%d errors; still serving %s):\n%s",
                len(outcome.errors),
                outcome.revision,
                "\n".join(p.render() for p in outcome.errors),
            )
        elif outcome.ok and outcome.changed:
            log.info("policy reloaded: now serving %s", outcome.revision)

    def status(self) -> dict:
        """The revision serving and the last reload, as served by ``GET /v1/policy``."""
        serving = self._current
        out: dict = {
            "revision": None,
            "git": None,
            "files": [],
            "counts": None,
            "loaded_at": None,
            "last_reload": self._last.to_json() if self._last else None,
        }
        if serving is not None:
            out.update(
                revision=serving.revision,
                git=serving.git,
                files=[{"path": f.path, "sha256": f.sha256} for f in serving.policy.files],
                counts=serving.counts(),
                loaded_at=iso(serving.loaded_at),
            )
        return out


def read_policy_source(policy_dir: Path) -> PolicySource:
    """The files of the policy directory, labelled with the path as given to ``--policy``."""
    label = policy_dir.as_posix().rstrip("/") or "."
    source = read_directory(policy_dir)
    return dataclasses.replace(source, label=label)


def load_policy_source(source: PolicySource) -> Policy:
    """The checked policy in ``source``, loaded in a child process where possible.

    Parsing and checking a large policy holds the interpreter lock for seconds; in a
    child process it leaves this one free to answer requests.  Raises
    :class:`~alertpolicy.engine.errors.PolicyError` with every problem either way.
    """
    try:
        return load_in_child(source)
    except ChildUnavailable as reason:
        log.warning("policy loaded in the serving process (no child process: %s)", reason)
        return load_source(source)


# -------------------------------------------------------------------- watching

WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
"""Events that can change a policy (opening or reading a file cannot)."""


def is_policy_path(policy_dir: Path, path: str, is_directory: bool) -> bool:
    """Whether a change at ``path`` can change the policy read from ``policy_dir``."""
    target = Path(path)
    if target == policy_dir:
        return True
    try:
        parts = target.relative_to(policy_dir).parts
    except ValueError:
        return False
    if parts[0] == TESTS_FOLDER or any(part.startswith(".") for part in parts):
        return False
    return is_directory or target.suffix in POLICY_SUFFIXES


class _Handler(FileSystemEventHandler):
    """Passes the events that concern the policy directory to the watcher."""

    def __init__(self, watcher: PolicyWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = [event.src_path, getattr(event, "dest_path", "")]
        paths = [p if isinstance(p, str) else p.decode() for p in paths if p]
        root = self.watcher.policy_dir
        if any(Path(p) == root for p in paths):
            self.watcher.root_changed()
        elif any(is_policy_path(root, p, event.is_directory) for p in paths):
            self.watcher.request_reload()


class PolicyWatcher:
    """Reloads the coordinator's policy when its files change, after a quiet period.

    A burst of events (an editor saving, a ``git checkout``) becomes one reload, run on
    the watcher's own thread once nothing has changed for ``debounce`` seconds.
    """

    def __init__(self, coordinator: Coordinator, debounce: float = 0.25) -> None:
        self.coordinator = coordinator
        self.policy_dir = coordinator.policy_dir.resolve()
        self.debounce = debounce
        self._cond = threading.Condition()
        self._pending = False
        self._immediate = False
        self._due = 0.0
        self._stopping = False
        self._rearm = False
        self._observer = Observer()
        self._handler = _Handler(self)
        self._policy_watch: ObservedWatch | None = None
        self._thread = threading.Thread(target=self._run, name="policy-reload", daemon=True)

    def start(self) -> None:
        """Start watching the policy directory (and its parent) and reloading."""
        parent = self.policy_dir.parent
        self._observer.schedule(self._handler, str(parent), event_filter=WATCHED_EVENTS)
        self._arm()
        self._observer.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; a reload in progress finishes first."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._observer.stop()
        self._observer.join(timeout=5)
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def request_reload(self, immediate: bool = False) -> None:
        """Reload after the quiet period (or at once, for SIGHUP)."""
        with self._cond:
            self._pending = True
            self._immediate = self._immediate or immediate
            self._due = time.monotonic() + self.debounce
            self._cond.notify_all()

    def root_changed(self) -> None:
        """The policy directory itself appeared, vanished or moved: re-arm, then reload."""
        with self._cond:
            self._rearm = True
        self.request_reload()

    def _arm(self) -> None:
        """Watch the policy directory recursively (again), if it exists."""
        if self._policy_watch is not None:
            try:
                self._observer.unschedule(self._policy_watch)
            except KeyError:
                log.debug("policy directory watch was already gone")
            self._policy_watch = None
        if self.policy_dir.is_dir():
            self._policy_watch = self._observer.schedule(
                self._handler, str(self.policy_dir), recursive=True, event_filter=WATCHED_EVENTS
            )

    def _next(self) -> bool:
        """Wait for a due reload; False when stopping."""
        with self._cond:
            while not self._pending and not self._stopping:
                self._cond.wait()
            while not self._stopping and not self._immediate:
                remaining = self._due - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._stopping:
                return False
            self._pending = self._immediate = False
            rearm, self._rearm = self._rearm, False
        if rearm:
            self._arm()
        return True

    def _run(self) -> None:
        while self._next():
            try:
                self.coordinator.reload()
            except NoPolicyLoaded:
                return
            except Exception:  # the watcher thread must outlive any one failed reload
                log.exception("policy reload crashed")
