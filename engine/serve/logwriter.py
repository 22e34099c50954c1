"""Appending JSON lines to a file without ever making the caller wait.

:class:`LineWriter` takes records on a bounded queue (:meth:`LineWriter.put` never
blocks: when the queue is full the record is dropped and counted) and writes them from a
thread of its own.  Each batch of lines is written under an exclusive ``flock`` (worker
processes share the file), into space reserved for it first (``fallocate``), so that a
full disk refuses the batch before any of it is written and no reader ever sees a line
that is later taken back.  Where the file system cannot reserve, a write that fails
part-way is cut back to where the batch began: a line is in the file whole or not at all.
A failed batch is kept and retried, with back-off, until the disk has room again.  A
reader that takes a shared ``flock`` sees whole lines only.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from alertpolicy.engine.serve.clock import iso, utc_now

log = logging.getLogger("alertpolicy.decisionlog")

QUEUE_LINES = 10_000
"""Records waiting to be written before new ones are dropped."""
BATCH_LINES = 500
"""Most lines written in one go."""
FIRST_RETRY_SECONDS = 0.1
LONGEST_RETRY_SECONDS = 5.0
_FALLOC_FL_KEEP_SIZE = 1  # from Linux's falloc.h: reserve, without growing the file
_CANNOT_RESERVE = {errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def encode_line(record: dict[str, Any]) -> bytes:
    """``record`` as one JSON line (sorted keys; control characters escaped by JSON)."""
    text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8", "backslashreplace")


class LineWriter:
    """A JSON-lines file appended to from a background thread (see the module doc)."""

    def __init__(
        self,
        path: Path,
        capacity: int = QUEUE_LINES,
        on_dropped: Callable[[int], None] | None = None,
        on_error: Callable[[OSError], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=capacity)
        self._on_dropped = on_dropped
        self._on_error = on_error
        self.dropped = 0
        self.errors = 0
        self.written = 0
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def put(self, record: dict[str, Any]) -> bool:
        """Queue ``record`` for writing; False (and counted as dropped) if the queue is full."""
        if self._closing.is_set():
            self._drop(1)
            return False
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._drop(1)
            return False
        return True

    def status(self) -> dict[str, Any]:
        """What was written, waits, was dropped, and the last error (for ``/v1/policy``)."""
        return {
            "path": str(self.path),
            "written": self.written,
            "queued": self._queue.qsize(),
            "dropped": self.dropped,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at) if self.last_error_at else None,
        }

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (for up to ``timeout`` seconds), then close the file."""
        self._closing.set()
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            return  # still retrying a full disk: what is left is dropped with the process
        os.close(self._fd)

    def _drop(self, count: int) -> None:
        self.dropped += count
        if self._on_dropped is not None:
            self._on_dropped(count)

    def _run(self) -> None:
        batch: list[bytes] = []
        delay = FIRST_RETRY_SECONDS
        stopping = False
        while True:
            if not batch:
                if stopping:
                    return
                stopping = self._take(batch)
                if not batch:
                    continue
            try:
                self._append(b"".join(batch))
            except OSError as error:
                self._failed(error)
                if self._closing.is_set() and stopping:
                    self._drop(len(batch))
                    return
                time.sleep(delay)
                delay = min(delay * 2, LONGEST_RETRY_SECONDS)
                continue
            self.written += len(batch)
            batch = []
            delay = FIRST_RETRY_SECONDS

    def _take(self, batch: list[bytes]) -> bool:
        """Fill ``batch`` with waiting lines (waiting for the first); True at the end."""
        record = self._queue.get()
        while record is not None:
            batch.append(encode_line(record))
            if len(batch) >= BATCH_LINES:
                return False
            try:
                record = self._queue.get_nowait()
            except queue.Empty:
                return False
        return True

    def _append(self, data: bytes) -> None:
        """Append ``data`` whole, or leave the file as it was and raise."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            start = os.lseek(self._fd, 0, os.SEEK_END)
            reserve(self._fd, start, len(data))
            written = 0
            try:
                while written < len(data):
                    written += os.write(self._fd, data[written:])
            except OSError:
                if written:
                    os.ftruncate(self._fd, start)
                raise
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _failed(self, error: OSError) -> None:
        self.errors += 1
        self.last_error = f"{error.strerror or error} (writing {self.path})"
        self.last_error_at = utc_now()
        if self.errors == 1 or self.errors % 100 == 0:
            log.error("decision log: %s; will retry", self.last_error)
        if self._on_error is not None:
            self._on_error(error)


def _libc_fallocate() -> Callable[..., int] | None:
    """Linux's ``fallocate`` from the C library, or ``None`` where there is none."""
    try:
        function = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    function.restype = ctypes.c_int
    return function


_fallocate = _libc_fallocate()


def reserve(fd: int, start: int, length: int) -> None:
    """Reserve ``length`` bytes of disk for the file ``fd`` from ``start`` on, without
    changing its size: :class:`OSError` (``ENOSPC``) when the disk has no room.  Nothing
    is reserved, and nothing raised, where the file system or the system cannot."""
    if _fallocate is None or length == 0:
        return
    if _fallocate(fd, _FALLOC_FL_KEEP_SIZE, start, length) != 0:
        code = ctypes.get_errno()
        if code not in _CANNOT_RESERVE:
            raise OSError(code, os.strerror(code))
