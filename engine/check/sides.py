"""Policies loaded and checked in a forked child process, and the two sides of a comparison.

Loading and checking a trust-scale policy takes seconds of pure-Python work that holds the
interpreter lock.  :func:`start_in_child` runs such work in a forked child that only
computes, pickles its answer down a pipe and exits, so this process stays free: the
service keeps answering requests during a reload (:func:`load_in_child`), and ``diff`` /
``replay`` load their two sides at once (:func:`load_sides`).  A policy's problems come
back as the same :class:`~.errors.ProblemsError`; when no child can answer (no
``fork`` on this platform, or the child died or hung) :class:`ChildUnavailable` says so and
the caller loads in its own process instead.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import pickle
import select
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, NamedTuple, TypeVar

import alertpolicy.engine.check.build  # noqa: F401  (load_source imports it lazily: import once, pre-fork)
from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.errors import PolicyError, ProblemsError
from alertpolicy.engine.load.files import PolicySource
from alertpolicy.engine.load.git import POLICY_PATH_MISSING, resolve_side
from alertpolicy.engine.model import Policy

T = TypeVar("T")

CHILD_TIMEOUT = 300.0
"""Seconds a child may take to answer before it is killed and the work done in-process."""

RELOAD_NICENESS = 10
"""How much lower a reload's child runs than the service (``nice``), so that requests come
first when the cores are busy.  Measured at trust scale with 2 workers under saturating
load and rewrites (tests/bench/bench_serve.py): at 0 the service answered 1,260/s with
p99 98 ms; at 5, 2,028/s with p99 25 ms; at 10, 2,400-2,530/s with p99 18-21 ms, each
reload then taking longer (rewrites closer together are coalesced).  On an idle machine
it changes nothing."""

_READ_SIZE = 1 << 20
_ANSWERED, _PROBLEMS = "answer", "problems"


class ChildUnavailable(RuntimeError):
    """No child process gave an answer: fork is unavailable, or the child died or hung."""


class LoadedSide(NamedTuple):
    """One side of a comparison: its checked policy and the label it is shown by."""

    policy: Policy
    label: str


def can_fork() -> bool:
    """Whether work can be run in a forked child process on this platform."""
    return sys.platform == "linux" and hasattr(os, "fork")


class ChildWork(Generic[T]):
    """Work running in a forked child process; :meth:`result` waits for its answer.

    The child runs only ``work``, pickles the answer (or its
    :class:`~.errors.ProblemsError`) to a pipe and leaves with ``os._exit``: it logs
    nothing, flushes nothing and runs no exit handlers, so it needs no lock another thread
    of this process may have held at the fork.  Any other failure in the child sends
    nothing, so the caller can do the work itself and see the error as it would without
    a child.
    """

    def __init__(
        self, work: Callable[[], T], timeout: float = CHILD_TIMEOUT, niceness: int = 0
    ) -> None:
        if not can_fork():
            raise ChildUnavailable("this platform cannot fork a child process")
        self._deadline = time.monotonic() + timeout
        reader, writer = os.pipe()
        try:
            pid = os.fork()
        except OSError as error:
            os.close(reader)
            os.close(writer)
            raise ChildUnavailable(f"could not fork a child process: {error}") from error
        if pid == 0:  # pragma: no cover  (the child; coverage is not collected there)
            os.close(reader)
            _answer_in_child(work, writer, niceness)
        os.close(writer)
        self._pid: int | None = pid
        self._reader = reader

    def result(self) -> T:
        """The child's answer; its problems error raised.

        Raises :class:`ChildUnavailable` when the child exited without an answer or did
        not answer in time.
        """
        try:
            data = self._read_all()
        except BaseException:
            self.cancel()
            raise
        os.close(self._reader)
        status = self._reap(kill=False)  # the pipe is closed: the child is exiting
        if status != 0 or not data:
            raise ChildUnavailable(f"the child process gave no answer (exit status {status})")
        kind, value = _unpickle(data)
        if kind == _PROBLEMS:
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child: its answer is not needed."""
        os.close(self._reader)
        self._reap(kill=True)

    def _read_all(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise ChildUnavailable("the child process did not answer in time")
            ready, _, _ = select.select([self._reader], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._reader, _READ_SIZE)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def _reap(self, kill: bool) -> int:
        """Wait for the child to end (killing it first if asked); its exit status."""
        pid, self._pid = self._pid, None
        if pid is None:
            return -1
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)


def _answer_in_child(work: Callable[[], T], writer: int, niceness: int) -> None:  # pragma: no cover
    """In the child: lower its priority, run ``work``, write its pickled answer, exit."""
    code = 1
    try:
        gc.freeze()  # leave the parent's objects alone: fewer pages copied, faster collections
        if niceness:
            os.nice(niceness)
        try:
            answer: tuple[str, object] = (_ANSWERED, work())
        except ProblemsError as error:
            answer = (_PROBLEMS, error)
        view = memoryview(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        while view:
            view = view[os.write(writer, view) :]
        code = 0
    except BaseException:  # no answer: the parent does the work itself
        code = 1
    finally:
        os._exit(code)


class _Frames:
    """The child's answer as a file for ``pickle.load``, read one pickle frame at a time.

    ``pickle.loads`` builds a trust-scale policy in one call (~70 ms) that never lets
    another thread run; reading through these Python methods gives other threads (the
    service's requests) their turn between frames.
    """

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative)."""
        return self._data.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Fill ``buffer``; how many bytes were read."""
        return self._data.readinto(buffer)

    def readline(self) -> bytes:
        """The rest of the current line."""
        return self._data.readline()


def _unpickle(data: bytes) -> tuple[str, object]:
    """The child's answer, unpickled and frozen without the collector running over it.

    Unpickling builds many long-lived objects and no garbage among them: collections
    while it runs, or later over its objects, would be pauses with the interpreter lock
    held (unfrozen, the compile that follows a trust-scale reload paused other threads
    for up to ~180 ms; frozen, ~45 ms).  Frozen (``gc.freeze``), they are still freed by
    reference counting.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        answer = pickle.load(_Frames(data))
        gc.freeze()
        return answer
    except Exception as error:
        raise ChildUnavailable(f"the child process's answer was unreadable: {error}") from error
    finally:
        if collecting:
            gc.enable()


def start_in_child(
    work: Callable[[], T], timeout: float = CHILD_TIMEOUT, niceness: int = 0
) -> ChildWork[T]:
    """``work`` started in a forked child process running ``niceness`` lower than this one.

    Raises :class:`ChildUnavailable` when no child can be started.
    """
    return ChildWork(work, timeout, niceness)


def load_in_child(source: PolicySource) -> Policy:
    """The policy in ``source``, loaded and checked in a forked child process.

    The child runs :data:`RELOAD_NICENESS` lower than this process.

    Raises the :class:`~.errors.PolicyError` loading it raises, and
    :class:`ChildUnavailable` when no child could answer (then load it in-process).
    """
    return start_in_child(lambda: load_source(source), niceness=RELOAD_NICENESS).result()


def load_side(side: str | None, policy_path: Path) -> LoadedSide:
    """One side, loaded and checked: ``None`` (the working tree), a directory or a git revision.

    A git revision where the policy directory does not exist (the commit before the policy
    was added, or the one removing it) is an empty policy: nobody is alerted of anything.
    Raises :class:`~.errors.ProblemsError` (a :class:`~.errors.PolicyError`
    for an invalid policy) with every problem, located.
    """
    try:
        source = resolve_side(side, policy_path)
    except PolicyError as error:
        if [p.code for p in error.problems] != [POLICY_PATH_MISSING]:
            raise
        label = f"{side}:{policy_path.as_posix()} (no policy there)"
        return LoadedSide(Policy(revision="none"), label)
    return LoadedSide(load_source(source), source.label)


def load_sides(
    base: str | None, head: str | None, policy_path: Path
) -> tuple[LoadedSide, LoadedSide]:
    """Base and head, loaded and checked (at the same time where the machine allows).

    Raises the base side's :class:`~.errors.ProblemsError` when it has one, else
    the head side's.
    """
    if not can_fork() or len(os.sched_getaffinity(0)) < 2:
        return load_side(base, policy_path), load_side(head, policy_path)
    try:
        head_work = start_in_child(lambda: load_side(head, policy_path))
    except ChildUnavailable:
        return load_side(base, policy_path), load_side(head, policy_path)
    try:
        base_side = load_side(base, policy_path)
    except BaseException:
        head_work.cancel()  # the base side failed: the head side is not needed
        raise
    try:
        return base_side, head_work.result()
    except ChildUnavailable:
        return base_side, load_side(head, policy_path)
