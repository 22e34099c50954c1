"""The parent's end of a reload child (:mod:`.builder`): reading its answer, ending it."""

from __future__ import annotations

import io
import signal
from typing import Any


def stop_child(child: Any) -> None:
    """Wait briefly for ``child`` to exit; kill it if it does not."""
    child.join(timeout=5)
    if child.is_alive():
        child.kill()
        child.join()


def why_ended(exitcode: int | None) -> str:
    """Why a child that ended gave no answer, in words."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the reload child was killed by {name} before it answered"
    return f"the reload child ended with exit status {exitcode} without an answer"


class Frames:
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
