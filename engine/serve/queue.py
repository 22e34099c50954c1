"""When reloads run, for one policy or for every school of a folder of schools.

A burst of changes to a policy (an editor saving, a ``git checkout``, a ConfigMap swap)
becomes one reload of it, once nothing has changed for ``debounce`` seconds; a request
``immediate`` (a signal, ``POST /-/reload``, a sibling worker's acceptance, a new commit)
runs as soon as a thread is free, and stays immediate when more changes follow.  A forced
request (rebuild even if unchanged) stays forced until it has run.  Requests for a policy
whose reload is running are kept for after it, so no policy is ever reloaded by two
threads at once; ``threads`` reloads of different policies run side by side (each waits
for its own reload child).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

log = logging.getLogger("alertpolicy.reload")

THREADS = 2
"""Reloads of different schools that may run at once."""
ONE_POLICY = ""
"""How a service of one policy names it."""


class ReloadQueue:
    """Runs ``reload(policy, force)`` on its own threads (named ``name``) when asked; a
    policy is named by a string (a school's name, or :data:`ONE_POLICY`)."""

    def __init__(
        self,
        reload: Callable[[str, bool], object],
        debounce: float = 0.25,
        threads: int = THREADS,
        name: str = "school-reload",
    ) -> None:
        self._reload = reload
        self.debounce = debounce
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}
        self._immediate: set[str] = set()
        self._forced: set[str] = set()
        self._running: set[str] = set()
        self._stopping = False
        self._threads = [
            threading.Thread(
                target=self._run, name=name if threads == 1 else f"{name}-{n}", daemon=True
            )
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

    def request(
        self, policies: Iterable[str], immediate: bool = False, force: bool = False
    ) -> None:
        """Reload each of ``policies`` after the quiet period, or at once; ``force``
        rebuilds even if unchanged."""
        now = time.monotonic()
        with self._cond:
            for policy in policies:
                if immediate:
                    self._due[policy] = min(self._due.get(policy, now), now)
                    self._immediate.add(policy)
                elif policy not in self._immediate:
                    self._due[policy] = now + self.debounce
                if force:
                    self._forced.add(policy)
            self._cond.notify_all()

    def pending(self) -> int:
        """Policies waiting for a reload or reloading now."""
        with self._cond:
            return len(self._due) + len(self._running)

    def _next(self) -> tuple[str, bool] | None:
        """Wait for a policy whose reload is due: it and whether forced; ``None`` when
        stopping."""
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                ready = [p for p, due in self._due.items() if due <= now and p not in self._running]
                if ready:
                    policy = min(ready, key=self._due.__getitem__)
                    del self._due[policy]
                    self._immediate.discard(policy)
                    force = policy in self._forced
                    self._forced.discard(policy)
                    self._running.add(policy)
                    return policy, force
                waiting = [due for p, due in self._due.items() if p not in self._running]
                self._cond.wait(max(0.0, min(waiting) - now) if waiting else None)
            return None

    def _run(self) -> None:
        while (job := self._next()) is not None:
            policy, force = job
            try:
                self._reload(policy, force)
            except Exception:  # a reload thread must outlive any one failed reload
                of = f" of school {policy}" if policy else ""
                log.exception("reloading the policy%s crashed", of)
            finally:
                with self._cond:
                    self._running.discard(policy)
                    self._cond.notify_all()
