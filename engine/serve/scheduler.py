"""When reloads run: one thread, file changes after a quiet period, signals at once.

A burst of file events (an editor saving, a ``git checkout``, a ConfigMap swap) becomes
one reload, run once nothing has changed for ``debounce`` seconds; a signal (SIGHUP, a
sibling worker's acceptance) runs one at once.  Requests made while a reload runs are
coalesced into the next one, and a forced request (rebuild even if unchanged) stays
forced until it has run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("alertpolicy.reload")


class ReloadScheduler:
    """Runs ``reload(force)`` on its own thread when asked (see the module docstring)."""

    def __init__(self, reload: Callable[[bool], object], debounce: float = 0.25) -> None:
        self._reload = reload
        self.debounce = debounce
        self._cond = threading.Condition()
        self._pending = False
        self._immediate = False
        self._force = False
        self._due = 0.0
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="policy-reload", daemon=True)

    def start(self) -> None:
        """Start the reload thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop; a reload in progress finishes first."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def request(self, immediate: bool = False, force: bool = False) -> None:
        """Reload after the quiet period, or at once; ``force`` rebuilds even if unchanged."""
        with self._cond:
            self._pending = True
            self._immediate = self._immediate or immediate
            self._force = self._force or force
            self._due = time.monotonic() + self.debounce
            self._cond.notify_all()

    def _next(self) -> bool | None:
        """Wait for a due reload: whether it is forced; ``None`` when stopping."""
        with self._cond:
            while not self._pending and not self._stopping:
                self._cond.wait()
            while not self._stopping and not self._immediate:
                remaining = self._due - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._stopping:
                return None
            force = self._force
            self._pending = self._immediate = self._force = False
        return force

    def _run(self) -> None:
        while (force := self._next()) is not None:
            try:
                self._reload(force)
            except Exception:  # the reload thread must outlive any one failed reload
                log.exception("policy reload crashed")
