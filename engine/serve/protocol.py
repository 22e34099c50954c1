"""HTTP/1.1 with limits on the request line and headers: their size and how long they take.

uvicorn's httptools protocol has neither: a client can send headers without end, or one
byte a minute, and hold a connection (and memory) for as long as it likes.  This
subclass answers 431 when the request line and headers exceed ``max_header_bytes`` and
408 when they are not complete ``header_timeout`` seconds after the connection opened
or the request began (an idle keep-alive connection is uvicorn's to close).
"""

from __future__ import annotations

import asyncio
import json
from asyncio import TimerHandle
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from alertpolicy.engine.errors import Problem
from alertpolicy.engine.serve.settings import DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_HEADER_BYTES

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits (see the module docstring)."""

    max_header_bytes = DEFAULT_MAX_HEADER_BYTES
    header_timeout = DEFAULT_HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0
        self._tail = b""
        self._header_timer: TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection: its first request line must arrive in time."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: no timer outlives it."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Refuse a request whose line and headers grow past the limit; parse the rest."""
        if self._reading_head and not self._head_fits(data):
            self._refuse(
                431,
                "headers-too-large",
                f"the request line and headers are larger than {self.max_header_bytes} bytes",
            )
            return
        super().data_received(data)

    def _head_fits(self, data: bytes) -> bool:
        """Count ``data`` towards the request's head (up to the blank line ending it)."""
        seen = self._tail + data
        end = seen.find(b"\r\n\r\n")
        if end == -1:
            self._head_bytes += len(data)
            self._tail = seen[-3:]
        else:
            self._head_bytes += end + 4 - len(self._tail)
            self._reading_head = False
        return self._head_bytes <= self.max_header_bytes

    def on_message_begin(self) -> None:
        """A request begins: its headers must arrive in time."""
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        """The headers arrived whole and in time."""
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request is read: the next bytes begin the next request's head."""
        super().on_message_complete()
        self._reading_head, self._head_bytes, self._tail = True, 0, b""

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            seconds = f"{self.header_timeout:g}"
            message = f"the request line and headers did not arrive within {seconds} s"
            self._refuse(408, "headers-too-slow", message)

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer ``status`` with one problem and close the connection."""
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()
            return
        body = json.dumps({"errors": [Problem(code, message).to_json()]}).encode("utf-8")
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status]),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def set_header_limits(max_header_bytes: int, header_timeout: float) -> None:
    """Use these limits for every connection of this process (an entry point's choice:
    uvicorn builds the protocol itself, in each worker process)."""
    LimitedHttpProtocol.max_header_bytes = max_header_bytes
    LimitedHttpProtocol.header_timeout = header_timeout
