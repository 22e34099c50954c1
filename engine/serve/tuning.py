"""Process-wide tuning of the cyclic garbage collector, chosen by an entry point.

Loading and compiling a large policy builds hundreds of thousands of long-lived objects
and no garbage among them.  Left to the cyclic collector, they are rescanned over and
over (a trust-scale load took 9 s instead of 2.5 s; collections over a serving revision
paused requests for up to ~180 ms), so a process that loads large policies pauses the
collector while it builds one and then freezes (``gc.freeze``) what it built: frozen
objects are skipped by collections and still freed by reference counting.

Library code never changes this process-wide state itself: it calls the
:class:`HeapTuning` it was given, and only an entry point (``alertpolicy serve``, a
worker process, a reload child, the CLI) passes :data:`COLLECTOR_TUNING`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass


@dataclass(frozen=True)
class HeapTuning:
    """What to do around building a revision: ``paused`` wraps the build, ``settle`` runs
    once a built revision is kept, still inside ``paused`` (what was built is frozen before
    the collector resumes, else its first collection scans all of it).  The default does
    nothing."""

    paused: Callable[[], AbstractContextManager[None]] = nullcontext
    settle: Callable[[], None] = lambda: None


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the ``with`` block (as it was, after)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


NO_TUNING = HeapTuning()
"""Leave the collector alone (library default, tests)."""
COLLECTOR_TUNING = HeapTuning(paused=collector_paused, settle=gc.freeze)
"""Pause the collector while building, freeze what was built (entry points only)."""
