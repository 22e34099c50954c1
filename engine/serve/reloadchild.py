"""The reload child: reads, checks and summarises policy revisions, then exits.

:func:`build_in_child` is the entry point of a child process started by the service's
``forkserver`` (see :mod:`.builder`): a fresh, single-threaded process that only
computes, sends its pickled answer down a pipe and ends.  Loading a trust-scale policy is
seconds of pure-Python work; here it holds no lock of the service and, at lower priority,
leaves the cores to requests first.  This module is imported by the forkserver before it
forks any child, so each child starts with everything loading needs already imported.
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from alertpolicy.engine.audit.guard import coverage_of
from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.errors import ProblemsError
from alertpolicy.engine.load.files import PolicySource
from alertpolicy.engine.load.parsecache import ParseCache
from alertpolicy.engine.serve.buildcache import BuildCache, build_key
from alertpolicy.engine.serve.slim import served

PROCESS_NAME = "policy-reload"
"""The name ``ps``/``top`` show for a reload child (Linux)."""
ANSWERED, PROBLEMS = "answer", "problems"


def build_in_child(
    sources: tuple[PolicySource, ...],
    with_coverage: bool,
    answer: Connection,
    niceness: int,
    into: Path | None = None,
    slim: bool = False,
    parsed: Path | None = None,
    early: bool = False,
) -> None:
    """Load and check each of ``sources`` (and summarise it for the coverage guard) and
    send back the list of their answers, in order, each pickled on its own:
    ``(ANSWERED, (policy, coverage))`` or ``(PROBLEMS, error)``.  With ``into`` (a
    :class:`BuildCache` folder) each answer is kept there instead, and only the list of
    their keys is sent.  With ``slim``, each policy is sent without what only people read
    (:func:`.slim.served`): where each definition is, and descriptions.  With ``parsed``
    (a :class:`~alertpolicy.engine.load.parsecache.ParseCache` folder), files parsed by an
    earlier child are read from there, and files parsed now are kept there.  With
    ``early`` (one source, summarised, nothing kept), the answer is sent in two messages:
    first the list of the one answer without its summary, then ``(ANSWERED, coverage)``
    (none after problems), so that the parent can compile the policy meanwhile.

    Anything else that goes wrong sends nothing: the parent sees a child that ended
    without an answer, as when it is killed.  A parent gone by then (the service stopped)
    is no error.
    """
    if niceness:
        os.nice(niceness)
    _name_process()
    # This process only builds and exits: the collector can only cost time.
    gc.freeze()
    gc.disable()
    cache = BuildCache(into) if into is not None else None
    parse_cache = ParseCache(parsed) if parsed is not None else None
    if early:
        _send_early(sources, answer, parse_cache, slim)
        return
    answers: list[bytes | str] = []
    for source in sources:
        try:
            policy = load_source(source, parse_cache)
            coverage = coverage_of(policy) if with_coverage else None
            payload: tuple[str, object] = (ANSWERED, (served(policy) if slim else policy, coverage))
        except ProblemsError as error:
            payload = (PROBLEMS, error)
        data = _pickled(payload)
        if cache is None:
            answers.append(data)
            continue
        key = build_key(source, with_coverage, slim)
        cache.put(key, data)
        answers.append(key)
    if _send(answer, _pickled(answers)):
        answer.close()


def _send_early(
    sources: tuple[PolicySource, ...],
    answer: Connection,
    parse_cache: ParseCache | None,
    slim: bool,
) -> None:
    """Send the policy of the one source, then its summary (see :func:`build_in_child`)."""
    [source] = sources
    try:
        policy = load_source(source, parse_cache)
    except ProblemsError as error:
        _send(answer, _pickled([_pickled((PROBLEMS, error))]))
        return
    built = (ANSWERED, (served(policy) if slim else policy, None))
    if _send(answer, _pickled([_pickled(built)])):
        _send(answer, _pickled((ANSWERED, coverage_of(policy))))


def _pickled(value: object) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _send(answer: Connection, data: bytes) -> bool:
    """Send ``data``; whether the parent is still there to read it."""
    try:
        answer.send_bytes(data)
    except BrokenPipeError:
        return False  # the service stopped while this child built: nobody is waiting
    return True


def _name_process() -> None:
    """Show the process as :data:`PROCESS_NAME` (Linux ``comm``), where possible."""
    if not sys.platform.startswith("linux"):
        return
    try:
        with open("/proc/self/comm", "w", encoding="ascii") as comm:
            comm.write(PROCESS_NAME)
    except OSError:
        return
