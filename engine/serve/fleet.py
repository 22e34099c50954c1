"""One service process for many schools (``alertpolicy serve --policies DIR``).

:class:`SchoolsService` wires a :class:`~.schools.SchoolRegistry` (one coordinator per
school) to what the schools share: the metrics (every series labelled with its school),
the decision log (every line naming its school), the reload threads (:mod:`.queue`),
and what notices changes — the watcher of the folder of schools (:mod:`.schoolwatch`)
or, for schools in git, the poller (:mod:`.gitpoll`), which reloads only the schools a
new commit changed.  Each school's revisions are built without coverage summaries; the
coverage guard has them made when it has two revisions of a school to compare.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from alertpolicy.engine.load.schools import school_folders
from alertpolicy.engine.serve.base import ServiceBase
from alertpolicy.engine.serve.coordinator import Subscriber
from alertpolicy.engine.serve.gitpoll import first_fetch
from alertpolicy.engine.serve.origin import GitSchools, Origin, SchoolOrigin
from alertpolicy.engine.serve.revision import ReloadOutcome, Revision
from alertpolicy.engine.serve.schools import School, SchoolRegistry
from alertpolicy.engine.serve.schoolwatch import SchoolsWatcher
from alertpolicy.engine.serve.settings import ServeSettings
from alertpolicy.engine.serve.status import log_outcome
from alertpolicy.engine.serve.tuning import NO_TUNING, HeapTuning

log = logging.getLogger("alertpolicy.serve")

LOADER_STOP_SECONDS = 30.0
"""How long stopping waits for the school being loaded when the service stops."""


class SchoolsService(ServiceBase):
    """One service process for every school of ``settings.policies_dir``."""

    def __init__(
        self,
        settings: ServeSettings,
        *,
        tuning: HeapTuning = NO_TUNING,
        siblings: Callable[[], None] | None = None,
    ) -> None:
        assert settings.policies_dir is not None
        super().__init__(settings, by_school=True, siblings=siblings)
        builder = self._builder(tuning, with_coverage=False, slim=True)
        self.git: GitSchools | None = None
        discover: Callable[[], tuple[tuple[str, ...], tuple[str, ...]]]
        origin_of: Callable[[str], Origin]
        if self.mirror is not None:
            self.git = GitSchools(self.mirror, settings.policies_dir)
            discover, origin_of = self.git.schools, self.git.origin
        else:
            policies = settings.policies_dir
            discover = partial(school_folders, policies)
            origin_of = partial(SchoolOrigin, policies)
        self.schools = SchoolRegistry(
            discover,
            origin_of,
            builder,
            self._subscribers,
            engine_down=partial(self.reload_metrics.set_ready, False),
            max_route_loss=settings.max_route_loss,
            state_dir=settings.state_dir,
            tuning=tuning,
        )
        self._commit: str | None = None
        self._commit_lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._closing = threading.Event()

    def _subscribers(self, school: str) -> Sequence[Subscriber]:
        """What a school's coordinator tells after each reload."""
        found: list[Subscriber] = [
            self.reload_metrics.subscriber(school),
            partial(self._readiness, school),
            partial(log_outcome, school=school),
        ]
        if self.decision_log is not None:
            found.append(partial(self.decision_log.reload, school=school))
        if self.siblings is not None:
            found.append(self._tell_siblings)
        return found

    def _reload_queued(self, school: str, force: bool) -> None:
        self.schools.reload(school, force)

    def _readiness(self, school: str, outcome: ReloadOutcome, serving: Revision | None) -> None:
        found = self.schools.get(school)
        ready = found is not None and found.coordinator.serving.not_ready is None
        self.reload_metrics.set_ready(ready, school)

    # ------------------------------------------------------------------ lifecycle

    def prepare(self) -> None:
        """What must work before the service listens: for schools in git, a first fetch
        (:class:`StartError` if it fails and nothing was fetched before)."""
        if self.poller is not None:
            if self.poller.commit is None:
                first_fetch(self.poller)
            self._commit = self.poller.commit

    def start(self, fall_back: bool = False) -> None:
        """Load every school on a thread of its own, then follow them all.

        The service answers meanwhile: ``/healthz`` 200, ``/readyz`` 503 (the schools are
        being loaded), each school's routes 503 until its policy is loaded.  The watcher
        takes its first look before the schools are read, so that nothing changed while
        they load is missed (the changes wait for the reload threads).
        """
        policies = self.settings.policies_dir
        if self.poller is None and policies is not None:
            watcher = SchoolsWatcher(
                policies, self.schools.names, self._changed, self.schools.refresh
            )
            self.watcher = watcher
            watcher.start()
        self._loader = threading.Thread(target=self._load, name="schools-load", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        try:
            self.prepare()
            started = time.monotonic()
            self.schools.start()
            seconds = time.monotonic() - started
            log.info("%d schools loaded in %.1f s", len(self.schools.names()), seconds)
        except Exception:  # the service still answers, saying it is not ready
            log.exception("loading the schools' policies failed")
        finally:
            if not self._closing.is_set():
                self.queue.start()
                if self.poller is not None:
                    self.poller.start()

    def request_reload(self, force: bool) -> None:
        """Look at every school soon (SIGHUP, ``POST /-/reload``): new schools start,
        changed ones reload.  Never blocks (it may be called on the event loop)."""
        threading.Thread(target=self._look_again, name="schools-look", daemon=True).start()

    def compare_accepted(self) -> None:
        """Soon compare the schools whose accepted revision a sibling worker changed (its
        SIGUSR1) with it; never blocks."""
        threading.Thread(target=self._look_at_accepted, name="schools-look", daemon=True).start()

    def _look_at_accepted(self) -> None:
        self.queue.request(self.schools.accepted_changed(), immediate=True)

    def _look_again(self) -> None:
        if self.poller is not None:  # every school is looked at next, changed or not
            self._fetch_first()
            self._new_commit()
        self.schools.refresh()
        self.queue.request(self.schools.names(), immediate=True)

    def reload(self, school: str, force: bool = True) -> ReloadOutcome | None:
        """Reload one school now (``POST /-/schools/{school}/reload``); ``None`` when no
        school has that name."""
        found = self.schools.get(school)
        if found is None:
            return None
        if force and self.poller is not None:  # this school is reloaded next, here
            self._fetch_first()
            self._reload_changed(self._new_commit(), but=school)
        return found.coordinator.reload(force)

    def not_ready(self) -> str | None:
        """Why this process cannot decide for a school with a valid policy, or ``None``."""
        return self.schools.not_ready()

    def close(self) -> None:
        """Stop following, reloading and serving; close the decision log."""
        self._closing.set()
        self.schools.close()
        if self._loader is not None:
            self._loader.join(timeout=LOADER_STOP_SECONDS)
        self._stop_following()
        self._close_log()

    def _changed(self, schools: Iterable[str]) -> None:
        self.queue.request(schools)

    def _fetched(self, commit: str) -> None:
        """A new commit: reload the schools it changed, start the schools it added."""
        self._reload_changed(self._new_commit())

    def _new_commit(self) -> list[str]:
        """The schools changed since the commit seen last (new ones started), if the
        poller has fetched a new commit since."""
        with self._commit_lock:
            before, commit = self._commit, self.poller.commit if self.poller else None
            self._commit = commit
        if self.git is None or before is None or commit is None or commit == before:
            return []
        self.schools.refresh()
        changed = self.git.changed_schools(self.schools.names(), before, commit)
        if changed:
            log.info("commit %s changes %d school(s)", commit[:12], len(changed))
        return changed

    def _reload_changed(self, schools: list[str], but: str = "") -> None:
        self.queue.request([name for name in schools if name != but], immediate=True)

    # ------------------------------------------------------------------ answering

    def school(self, name: str) -> School | None:
        """The school called ``name``, or ``None``."""
        return self.schools.get(name)

    def decide(self, school: School, raw: object) -> tuple[bytes, str, str]:
        """The decision for an incident of ``school`` (see :meth:`.app.Service.decide`)."""
        return self._answer(school.coordinator, school.repair, raw, school=school.name)

    def status(self, school: School) -> dict[str, Any]:
        """``GET /v1/schools/{school}/policy``."""
        return {"school": school.name, **self._policy_status(school.coordinator)}

    def overview(self) -> dict[str, Any]:
        """``GET /v1/schools``: every school in one line each, and what is not served."""
        schools = []
        for name in self.schools.names():
            coordinator = self.schools.get(name).coordinator  # type: ignore[union-attr]
            current, last, held = coordinator.current, coordinator.last_reload, coordinator.held
            schools.append(
                {
                    "school": name,
                    "revision": current.revision if current else None,
                    "ready": coordinator.serving.not_ready is None,
                    "last_reload_ok": last.ok if last else None,
                    "held": held.revision if held else None,
                }
            )
        return self._with_source(
            {
                "schools": schools,
                "not_served": sorted(self.schools.misnamed),
                "ready": self.schools.not_ready() is None,
                "not_ready": self.schools.not_ready(),
            }
        )
