"""When the schools of a folder of schools reload: a few threads for all of them.

:class:`ReloadQueue` is :class:`~.scheduler.ReloadScheduler` for many policies at once:
a burst of changes to one school becomes one reload of that school once nothing has
changed for ``debounce`` seconds; a request ``immediate`` runs as soon as a thread is
free; a forced request stays forced until it has run.  Requests for a school whose
reload is running are kept for after it, and no school is ever reloaded by two threads
at once.  ``threads`` reloads run side by side (each waits for its own reload child).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

log = logging.getLogger("alertpolicy.reload")

THREADS = 2
"""Reloads of different schools that may run at once."""


class ReloadQueue:
    """Runs ``reload(school, force)`` on its own threads when asked."""

    def __init__(
        self,
        reload: Callable[[str, bool], object],
        debounce: float = 0.25,
        threads: int = THREADS,
    ) -> None:
        self._reload = reload
        self.debounce = debounce
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}
        self._forced: set[str] = set()
        self._running: set[str] = set()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._run, name=f"school-reload-{n}", daemon=True)
            for n in range(threads)
        ]

    def start(self) -> None:
        """Start the reload threads."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop; reloads in progress finish first."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=60)

    def request(self, schools: Iterable[str], immediate: bool = False, force: bool = False) -> None:
        """Reload each of ``schools`` after the quiet period, or at once; ``force``
        rebuilds even if unchanged."""
        due = time.monotonic() + (0.0 if immediate else self.debounce)
        with self._cond:
            for school in schools:
                if immediate and school in self._due:
                    self._due[school] = min(self._due[school], due)
                else:
                    self._due[school] = due
                if force:
                    self._forced.add(school)
            self._cond.notify_all()

    def pending(self) -> int:
        """Schools waiting for a reload or reloading now."""
        with self._cond:
            return len(self._due) + len(self._running)

    def _next(self) -> tuple[str, bool] | None:
        """Wait for a school whose reload is due: it and whether forced; ``None`` when
        stopping."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                ready = [s for s, due in self._due.items() if due <= now and s not in self._running]
                if ready:
                    school = min(ready, key=self._due.__getitem__)
                    del self._due[school]
                    force = school in self._forced
                    self._forced.discard(school)
                    self._running.add(school)
                    return school, force
                waiting = [due for s, due in self._due.items() if s not in self._running]
                self._cond.wait(max(0.0, min(waiting) - now) if waiting else None)
            return None

    def _run(self) -> None:
        while (job := self._next()) is not None:
            school, force = job
            try:
                self._reload(school, force)
            except Exception:  # a reload thread must outlive any one failed reload
                log.exception("reloading the policy of school %s crashed", school)
            finally:
                with self._cond:
                    self._running.discard(school)
                    self._cond.notify_all()
