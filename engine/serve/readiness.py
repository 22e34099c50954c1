"""Whether every worker process can decide: ``/readyz`` of a service with ``--workers N``.

A load balancer sends the next request to the service, and the service hands it to any of
its workers; so a worker answers ``/readyz`` for them all.  It is ready only when it can
decide itself and every one of the N workers says it can: while one is still loading its
policies (a service of a thousand schools takes a minute), or rebuilding a failed engine,
the service is not ready, and says how many workers are.

Each worker keeps a mark in a folder shared by the workers (beside their metrics): a file
named after its process id, present while it can decide.  It refreshes its mark every
:data:`MARK_SECONDS` and whenever it answers ``/readyz`` (the file is written only when
its readiness changes); marks of processes that have ended are not counted (a replaced
worker has a new id).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

MARK_SECONDS = 0.25
"""How often each worker refreshes its mark."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerReadiness:
    """This worker's mark among its siblings' (inert with one process)."""

    def __init__(self, shared: str | None, workers: int, not_ready: Callable[[], str | None]):
        """``shared``: the folder the workers share (``None``: a single process);
        ``workers``: how many there are; ``not_ready``: why this process cannot decide
        now, or ``None``."""
        self.folder = Path(shared) / "ready" if shared and workers > 1 else None
        self.workers = workers
        self.not_ready = not_ready
        self._marked: bool | None = None
        if self.folder is not None:
            self.folder.mkdir(exist_ok=True)

    def mark(self) -> str | None:
        """Refresh this worker's mark; why it cannot decide, or ``None``."""
        why = self.not_ready()
        ready = why is None
        if self.folder is not None and ready != self._marked:  # the file only when it changes
            mark = self.folder / str(os.getpid())
            if ready:
                mark.touch()
            else:
                mark.unlink(missing_ok=True)
            self._marked = ready
        return why

    def why_not_ready(self) -> str | None:
        """Why the service cannot decide for every request (this worker, or not every
        worker ready), or ``None``."""
        why = self.mark()
        if why is not None or self.folder is None:
            return why
        ready = sum(
            1 for mark in self.folder.iterdir() if mark.name.isdigit() and _alive(int(mark.name))
        )
        if ready < self.workers:
            return f"{ready} of {self.workers} workers can decide; the others are loading"
        return None
