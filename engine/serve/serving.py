"""The revision serving now, the leases requests hold on it, and whether it can decide.

A request takes a :meth:`Serving.lease` on the revision serving when it starts and
finishes on that revision even if another is swapped in meanwhile; a replaced revision
is closed (its durable-rules memory freed) only once its last lease is returned.  While
no revision can decide (none loaded yet, its engine failed and is being rebuilt, the
service is stopping) a lease is refused with :class:`~alertpolicy.engine.errors.NotReady`
saying why.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from alertpolicy.engine.errors import NotReady
from alertpolicy.engine.serve.revision import Revision


class Serving:
    """Holds the serving revision; every change to it happens under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: Revision | None = None
        self._down: str | None = None
        self._closed = False

    @property
    def current(self) -> Revision | None:
        """The revision serving now (even if its engine is down), or ``None``."""
        return self._current

    @property
    def not_ready(self) -> str | None:
        """Why no revision can decide now, or ``None`` when one can."""
        if self._closed:
            return "the service is shutting down"
        if self._current is None:
            return "no valid policy has been loaded yet"
        return self._down

    @contextmanager
    def lease(self) -> Iterator[Revision]:
        """The serving revision, kept open until the ``with`` block ends."""
        with self._lock:
            why = self.not_ready
            revision = self._current
            if why is not None or revision is None:
                raise NotReady(why or "no valid policy has been loaded yet")
            revision.leases += 1
        try:
            yield revision
        finally:
            self._release(revision)

    def _release(self, revision: Revision) -> None:
        with self._lock:
            revision.leases -= 1
            close_now = revision.retired and revision.leases == 0
        if close_now:
            revision.compiled.close()

    def swap(self, new: Revision | None) -> None:
        """Serve ``new`` (able to decide) and retire the old revision."""
        with self._lock:
            if self._closed and new is not None:
                new.compiled.close()
                return
            old, self._current = self._current, new
            self._down = None
            close_now = False
            if old is not None and old is not new:
                old.retired = True
                close_now = old.leases == 0
        if old is not None and close_now:
            old.compiled.close()

    def mark_down(self, revision: Revision, why: str) -> bool:
        """Record that ``revision`` cannot decide; True if it is serving and was not
        already marked (the caller then starts repairing it)."""
        with self._lock:
            if revision is not self._current or self._closed:
                return False
            first = self._down is None
            self._down = why
            return first

    def close(self) -> None:
        """Stop serving: no new leases; the last revision closes when its requests end."""
        with self._lock:
            self._closed = True
        self.swap(None)
