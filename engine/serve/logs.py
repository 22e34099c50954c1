"""The service's own log: one line per event, on stderr, whatever a request contained.

Every record is formatted onto one line with control characters escaped (``\\n`` as
``\\\\n``), so that nothing a client sends (an incident id with a newline, a path with
``%0A``) can forge a log line.  uvicorn's server and access logs go through the same
handler.
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class OneLineFormatter(logging.Formatter):
    """A formatter whose every record, traceback included, is one escaped line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record on one line (see the module docstring)."""
        return escape_controls(super().format(record))


def configure_logging(level: str) -> None:
    """Send the service's log (and uvicorn's) to stderr at ``level``, one line a record."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
        logger.setLevel(level.upper())
