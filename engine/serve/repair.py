"""Repairing the serving revision when its engine fails, without ever answering short.

durable-rules can fail inside one evaluation (it ran out of memory, a C-level error):
that revision's engine can no longer be trusted.  The request is answered 503 (never a
decision with fewer recipients), the revision is marked down, so that every request is
answered 503, ``/readyz`` fails and ``GET /v1/policy`` says why, and its policy is
compiled afresh on a thread of its own, retried with back-off until it works or another
revision replaces it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from alertpolicy.engine.serve.coordinator import Coordinator
from alertpolicy.engine.serve.revision import Revision

log = logging.getLogger("alertpolicy.reload")

FIRST_RETRY_SECONDS = 1.0
"""Wait before compiling again after a failed rebuild; doubled each time."""
LONGEST_RETRY_SECONDS = 60.0
"""Longest wait between rebuild attempts."""


class EngineRepair:
    """Rebuilds a revision whose engine failed (see the module docstring); tells
    ``down`` (once, not on every decision) when an engine fails.  ``whose`` names the
    policy in what a request is answered (`` of school x``; empty for the only one)."""

    def __init__(self, coordinator: Coordinator, down: Callable[[], None], whose: str = "") -> None:
        self.coordinator = coordinator
        self.down = down
        self.whose = whose
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def engine_failed(self, revision: Revision, error: BaseException) -> None:
        """``revision``'s engine failed on a request: report it down, stop serving it,
        rebuild it."""
        self.down()
        why = (
            f"the policy engine failed on revision {revision.revision} "
            f"({type(error).__name__}: {error}); rebuilding it"
        )
        if not self.coordinator.serving.mark_down(revision, why):
            return
        log.error("%s", why)
        thread = threading.Thread(
            target=self._rebuild, args=(revision,), name="engine-repair", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def stop(self) -> None:
        """Stop repairing (a rebuild in progress finishes first)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _rebuild(self, revision: Revision) -> None:
        delay = FIRST_RETRY_SECONDS
        attempt = 1
        while not self._stopping.is_set():
            outcome = self.coordinator.rebuild(revision)
            if outcome is None or outcome.ok:
                if outcome is not None:
                    log.info("policy engine rebuilt: serving %s again", revision.revision)
                return
            why = (
                f"the policy engine of revision {revision.revision} failed and rebuilding it "
                f"failed {attempt} time(s) ({outcome.errors[0].message}); retrying in "
                f"{delay:g} s"
            )
            self.coordinator.serving.mark_down(revision, why)
            attempt += 1
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, LONGEST_RETRY_SECONDS)
