"""Building the next policy revision in a child process, never in the serving one.

A :class:`RevisionBuilder` hands the files of a revision to a reload child
(:mod:`.reloadchild`) started by a ``forkserver`` multiprocessing context: the forkserver
is a fresh interpreter launched (fork + exec) before the service starts its threads, and
each child is forked from it, so no process running uvicorn or watchdog threads ever
forks.  The child answers with the checked policy and its coverage summary, pickled;
this process reads the answer a pickle frame at a time (so requests get their turn
between frames) with the collector paused, as its entry point chose (:mod:`.tuning`).
A revision about to be served is sent before its coverage summary is made, so that this
process compiles it while the child summarises it.

A child that ends without an answer (killed by the OOM killer, crashed, hung past the
timeout) is retried in a new child, a bounded number of times with back-off; each such
failure is reported, and when every attempt fails the reload fails with
:class:`~alertpolicy.engine.errors.ReloadWorkerFailed`.  The policy is never loaded in
this process instead: that is what would take a trust-scale server from 150 MB to 2 GB
and stall its requests for seconds.

With many policies (a folder of schools) one child builds several revisions, and with a
:class:`~.buildcache.BuildCache` every answer is kept for the service's other workers:
:meth:`RevisionBuilder.prebuild` builds a whole folder of schools before the workers
start, in as many children at once as there are cores.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, TypeVar

from alertpolicy.engine.decide.compiled import CompiledPolicy
from alertpolicy.engine.errors import PolicyError, ProblemsError, ReloadWorkerFailed
from alertpolicy.engine.load.files import PolicySource
from alertpolicy.engine.model import Policy
from alertpolicy.engine.serve import reloadchild
from alertpolicy.engine.serve.buildcache import BuildCache, build_key
from alertpolicy.engine.serve.childpipe import Frames, stop_child, why_ended
from alertpolicy.engine.serve.revision import Candidate
from alertpolicy.engine.serve.scratch import ScratchFolder
from alertpolicy.engine.serve.tuning import NO_TUNING, HeapTuning

log = logging.getLogger("alertpolicy.reload")
_T = TypeVar("_T")

ATTEMPTS = 3
"""Children tried for one revision before the reload fails."""
BACKOFF_SECONDS = 1.0
"""Wait before the second attempt; doubled before each later one."""
CHILD_TIMEOUT = 300.0
"""Seconds a child may take to answer before it is killed (and counted as failed)."""
RELOAD_NICENESS = 10
"""How much lower a reload child runs than the service (``nice``), so that requests come
first when the cores are busy (README, "Performance")."""
START_METHOD = "forkserver"
"""How reload children are started: forked from a clean, single-threaded server process."""
BATCH = 25
"""Revisions one child builds when many are built at once (:meth:`prebuild`)."""


def reload_context() -> BaseContext:
    """The multiprocessing context reload children are started from.

    The forkserver preloads :mod:`.reloadchild` (and through it everything loading a
    policy needs), so that each child starts with those modules imported.
    """
    context = multiprocessing.get_context(START_METHOD)
    context.set_forkserver_preload(["__main__", reloadchild.__name__])
    return context


def start_reload_server() -> None:
    """Start the forkserver now: an entry point calls this before it starts threads."""
    reload_context()
    from multiprocessing import forkserver

    forkserver.ensure_running()


class RevisionBuilder:
    """Reads, checks and summarises revisions in reload children (see the module doc).

    ``with_coverage`` makes every build summarise the revision for the coverage guard;
    without it, :meth:`summarised` makes the summaries only when the guard needs them.
    ``cache`` shares built revisions with the service's other workers; ``slim`` keeps
    only what serving needs (:func:`.slim.served`).
    """

    def __init__(
        self,
        *,
        with_coverage: bool = True,
        tuning: HeapTuning = NO_TUNING,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF_SECONDS,
        timeout: float = CHILD_TIMEOUT,
        niceness: int = RELOAD_NICENESS,
        on_child_failure: Callable[[str], None] | None = None,
        cache: BuildCache | None = None,
        slim: bool = False,
    ) -> None:
        self.with_coverage = with_coverage
        self.slim = slim
        self.tuning = tuning
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.niceness = niceness
        self.on_child_failure = on_child_failure
        self.cache = cache
        self._context = reload_context()
        self._parsed: ScratchFolder | None = None

    def close(self) -> None:
        """Remove the files reload children parsed (a later build parses afresh)."""
        parsed, self._parsed = self._parsed, None
        if parsed is not None:
            parsed.remove()

    def _parse_folder(self) -> Path:
        """The folder where reload children keep the files they parsed, for the next
        (:mod:`alertpolicy.engine.load.parsecache`): made when first needed, removed by
        :meth:`close` (or with this builder)."""
        if self._parsed is None:
            self._parsed = ScratchFolder("parsed")
        return self._parsed.path

    def build(
        self,
        source: PolicySource,
        with_coverage: bool = False,
        meanwhile: Callable[[Policy], CompiledPolicy] | None = None,
    ) -> Candidate:
        """The checked revision in ``source``, with its coverage summary when this builder
        always makes one or ``with_coverage`` asks for it.

        With ``meanwhile`` (compiling, for a revision about to be served), a summary made
        without a shared cache is made while this process calls ``meanwhile`` with the
        checked policy: the child sends the policy first, then its summary, and the
        candidate keeps what ``meanwhile`` made (:attr:`Candidate.compiled`).

        Raises :class:`PolicyError` with every problem of an invalid policy, and
        :class:`ReloadWorkerFailed` when no child answered after every attempt.
        """
        summarise = self.with_coverage or with_coverage
        if meanwhile is not None and summarise and self.cache is None:
            return self._retried(lambda: self._attempt_early(source, meanwhile))
        [answer] = self._answers([source], summarise)
        return self._candidate(source, answer)

    def summarised(self, *candidates: Candidate) -> list[Candidate]:
        """``candidates`` with their coverage summaries, made (in one child) for those
        built without."""
        missing = [c.source for c in candidates if c.coverage is None]
        made = iter(self._answers(missing, True)) if missing else iter(())
        return [
            c if c.coverage is not None else self._candidate(c.source, next(made))
            for c in candidates
        ]

    def prebuild(
        self,
        sources: Sequence[PolicySource],
        parallel: int = 0,
        stopping: Callable[[], bool] = lambda: False,
    ) -> int:
        """Build every one of ``sources`` not yet in the cache into it, :data:`BATCH` per
        child, ``parallel`` children at once (default: one per core); how many were
        built.  A child that fails leaves its revisions to be built when asked for; no
        batch starts once ``stopping()`` (the service is stopping)."""
        cache = self.cache
        if cache is None:
            return 0
        todo = [s for s in sources if not cache.has(s, self.with_coverage, self.slim)]
        batches = [tuple(todo[n : n + BATCH]) for n in range(0, len(todo), BATCH)]
        workers = parallel or len(os.sched_getaffinity(0))

        def run(batch: tuple[PolicySource, ...]) -> int:
            if stopping():
                return 0
            try:
                keys = self._attempt(batch, self.with_coverage, into=cache)
            except ReloadWorkerFailed as why:
                log.warning("building %d revisions at once failed: %s", len(batch), why)
                return 0
            return len(keys)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            return sum(pool.map(run, batches))

    def _answers(self, sources: list[PolicySource], with_coverage: bool) -> list[bytes]:
        """The children's answers for ``sources`` (from the cache where it has them)."""
        cache = self.cache
        if cache is None:
            return self._built(sources, with_coverage)
        answers: list[bytes] = []
        for source in sources:
            found = cache.find(source, with_coverage, self.slim)
            if found is None:
                key = build_key(source, with_coverage, self.slim)
                with cache.building(key):
                    found = cache.find(source, with_coverage, self.slim)
                    if found is None:
                        [found] = self._built([source], with_coverage)
                        cache.put(key, found)
            answers.append(found)
        return answers

    def _built(self, sources: list[PolicySource], with_coverage: bool) -> list[bytes]:
        """The answers of a child for ``sources`` (retried as :meth:`_retried` does)."""
        answers = self._retried(lambda: self._attempt(tuple(sources), with_coverage))
        return [a for a in answers if isinstance(a, bytes)]

    def _retried(self, attempt_once: Callable[[], _T]) -> _T:
        """What ``attempt_once`` gives, tried again in a new child after a failed one."""
        failures: list[str] = []
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return attempt_once()
            except ReloadWorkerFailed as why:
                failures.append(str(why))
                log.warning(
                    "reload child failed (attempt %d of %d): %s", attempt + 1, self.attempts, why
                )
                if self.on_child_failure is not None:
                    self.on_child_failure(str(why))
        raise ReloadWorkerFailed(
            f"no reload child gave an answer in {self.attempts} attempts: {'; '.join(failures)}"
        )

    def _attempt(
        self,
        sources: tuple[PolicySource, ...],
        with_coverage: bool,
        into: BuildCache | None = None,
    ) -> list[bytes | str]:
        folder = into.folder if into is not None else None
        niceness = self.niceness if into is None else 0
        child, reader = self._start(sources, with_coverage, niceness, folder, False)
        try:
            data = self._receive(child, reader, time.monotonic() + self.timeout)
        finally:
            reader.close()
            stop_child(child)
        answers: list[bytes | str] = pickle.loads(data)
        return answers

    def _attempt_early(
        self, source: PolicySource, meanwhile: Callable[[Policy], CompiledPolicy]
    ) -> Candidate:
        """One child builds ``source``, sends the policy, then summarises it while this
        process calls ``meanwhile`` with the policy (see :meth:`build`)."""
        deadline = time.monotonic() + self.timeout
        child, reader = self._start((source,), True, self.niceness, None, True)
        compiled: CompiledPolicy | None = None
        try:
            [answer] = pickle.loads(self._receive(child, reader, deadline))
            kind, value = self._unpickle(answer)
            if kind == reloadchild.PROBLEMS:
                assert isinstance(value, ProblemsError)
                raise PolicyError(value.problems)
            policy, _ = value
            compiled = meanwhile(policy)
            _, coverage = self._unpickle(self._receive(child, reader, deadline))
        except BaseException:
            if compiled is not None:
                compiled.close()
            raise
        finally:
            reader.close()
            stop_child(child)
        candidate = Candidate(source, policy, coverage)
        candidate.compiled = compiled
        return candidate

    def _start(
        self,
        sources: tuple[PolicySource, ...],
        with_coverage: bool,
        niceness: int,
        folder: Path | None,
        early: bool,
    ) -> tuple[Any, Connection]:
        """A reload child started on ``sources``, and the end of the pipe it answers on."""
        reader, writer = self._context.Pipe(duplex=False)
        parsed = self._parse_folder()
        child = self._context.Process(  # type: ignore[attr-defined]
            target=reloadchild.build_in_child,
            args=(sources, with_coverage, writer, niceness, folder, self.slim, parsed, early),
            name=reloadchild.PROCESS_NAME,
            daemon=True,
        )
        try:
            child.start()
        except OSError as error:
            reader.close()
            writer.close()
            raise ReloadWorkerFailed(f"could not start a reload child: {error}") from error
        writer.close()
        return child, reader

    def _receive(self, child: Any, reader: Connection, deadline: float) -> bytes:
        """The child's next message; :class:`ReloadWorkerFailed` when it sends none by
        ``deadline`` or ends first."""
        try:
            if not reader.poll(max(0.0, deadline - time.monotonic())):
                raise ReloadWorkerFailed(
                    f"the reload child did not answer within {self.timeout:g} s"
                )
            return reader.recv_bytes()
        except (EOFError, OSError):
            reader.close()
            stop_child(child)
            raise ReloadWorkerFailed(why_ended(child.exitcode)) from None

    def _candidate(self, source: PolicySource, data: bytes) -> Candidate:
        """The revision a child's answer holds; :class:`PolicyError` for its problems."""
        kind, value = self._unpickle(data)
        if kind == reloadchild.PROBLEMS:
            assert isinstance(value, ProblemsError)
            raise PolicyError(value.problems)
        policy, coverage = value
        return Candidate(source, policy, coverage)

    def _unpickle(self, data: bytes) -> tuple[str, Any]:
        """The child's answer, read a frame at a time with the collector as tuned (settled
        before the collector resumes: else its first collection scans the whole answer)."""
        with self.tuning.paused():
            try:
                answer: tuple[str, Any] = pickle.load(Frames(data))
            except Exception as error:
                raise ReloadWorkerFailed(
                    f"the reload child's answer was unreadable: {error}"
                ) from error
            self.tuning.settle()
        return answer
