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

A process that answers decisions is also tuned for them (:data:`SERVING_TUNING`), each
time it settles a revision it built.  A decision builds many short-lived containers and no
cycles, and the largest answers are megabytes of text: with the collector's default
thresholds, one large decision ran several collections that found nothing; with glibc's
default (adaptive) malloc thresholds, the memory of each large answer was handed back to
the kernel and faulted in again for the next.  Tuned before its first revision was built,
a worker kept megabytes that building had freed, so what is free is given back as the
tuning is applied.  A decision also reads thousands of scattered objects of the revision
(its rules, reasons and people): the revision's memory is backed by huge pages
(:func:`back_with_huge_pages`), so that those reads miss the processor's address cache
less often; not for many schools' small revisions (:data:`SCHOOLS_TUNING`).
``docs/performance.md`` has the figures.
"""

from __future__ import annotations

import ctypes
import gc
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial


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


DECIDING_THRESHOLDS = (20_000, 10, 10)
"""The cyclic collector's thresholds in a process answering decisions: a young
collection once 20,000 more containers are alive than at the last one, where the
default (700) ran several during each large decision; the older generations as by
default.  Much higher made the rare collection long enough to be a large decision's
slowest moment."""
MALLOC_KEEPS = 16 << 20
"""Allocations up to this size come from the heap, and twice this much free memory is
kept at its top before it is given back: room for the largest answer the limits allow
(its text, then its bytes), which glibc's adaptive thresholds, starting from 128 KiB,
kept giving back."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
HUGE_PAGE = 2 << 20
"""The size of a huge page (x86-64 and arm64 with 4 KiB pages)."""
MOSTLY_RESIDENT = 0.75
"""A mapping is backed by huge pages only when at least this share of it is resident
already (the heap, the interpreter's object arenas), so that little memory is added: a
thread's stack, say, is mostly never touched, and stays as it is."""
_MADV_HUGEPAGE, _MADV_COLLAPSE = 14, 25  # from Linux's mman-common.h (collapse: Linux 6.1)
_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) rw-p \S+ \S+ 0 +(\[heap\])?$")


def tune_for_deciding(huge_pages: bool) -> None:
    """Tune this process for answering decisions: the collector's thresholds, and where
    the C library allocates large answers; what the C library holds free now is given
    back; with ``huge_pages``, the process's memory backed by huge pages
    (:func:`back_with_huge_pages`).  For entry points that serve only."""
    gc.set_threshold(*DECIDING_THRESHOLDS)
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return
    mallopt, malloc_trim = getattr(libc, "mallopt", None), getattr(libc, "malloc_trim", None)
    if mallopt is not None and malloc_trim is not None:  # glibc; others' are left alone
        mallopt(_M_MMAP_THRESHOLD, MALLOC_KEEPS)
        mallopt(_M_TRIM_THRESHOLD, 2 * MALLOC_KEEPS)
        malloc_trim(0)
    if huge_pages:
        back_with_huge_pages(libc)


def back_with_huge_pages(libc: ctypes.CDLL) -> None:
    """Ask Linux to back this process's mostly resident private memory (its heap, its
    object arenas) with huge pages now, in whole huge pages.

    Nothing changes where the kernel cannot (before Linux 6.1, or with transparent huge
    pages turned off) or the memory map cannot be read.
    """
    try:
        madvise = libc.madvise
        with open("/proc/self/smaps", encoding="ascii") as smaps:
            ranges = list(_mostly_resident(smaps))
    except (OSError, AttributeError, ValueError):
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for start, end in ranges:
        if madvise(start, end - start, _MADV_HUGEPAGE) == 0:
            madvise(start, end - start, _MADV_COLLAPSE)


def _mostly_resident(smaps: Iterator[str]) -> Iterator[tuple[int, int]]:
    """The whole huge pages inside each private, anonymous, writable mapping of
    ``smaps`` (``/proc/self/smaps``) that is :data:`MOSTLY_RESIDENT`."""
    mapping: tuple[int, int] | None = None
    for line in smaps:
        if line[0] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
            found = _MAPPING.match(line.rstrip("\n"))
            mapping = (int(found[1], 16), int(found[2], 16)) if found else None
        elif mapping is not None and line.startswith("Rss:"):
            start, end = mapping
            if int(line.split()[1]) * 1024 >= MOSTLY_RESIDENT * (end - start):
                first = -(-start // HUGE_PAGE) * HUGE_PAGE
                last = end // HUGE_PAGE * HUGE_PAGE
                if first < last:
                    yield first, last
            mapping = None


def _settle_to_serve(huge_pages: bool) -> None:
    gc.freeze()
    tune_for_deciding(huge_pages)


SERVING_TUNING = HeapTuning(paused=collector_paused, settle=partial(_settle_to_serve, True))
""":data:`COLLECTOR_TUNING`, and the process tuned for deciding as it settles each revision
it built (:func:`tune_for_deciding`, huge pages included): for the entry points of
processes that answer decisions on one policy."""
SCHOOLS_TUNING = HeapTuning(paused=collector_paused, settle=partial(_settle_to_serve, False))
""":data:`SERVING_TUNING` without the huge pages: for processes that answer decisions for
many schools.  They settle a small revision per school, one after another, and answer
small decisions; backing each school's memory with huge pages as it settled made a
thousand schools slower to start and larger (``docs/performance.md``)."""


def serving_tuning(schools: bool) -> HeapTuning:
    """The tuning of a process answering decisions for many ``schools`` or for one policy."""
    return SCHOOLS_TUNING if schools else SERVING_TUNING
