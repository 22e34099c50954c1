"""HTTP/1.1 with limits on the request line and headers: their size and how long they take.

uvicorn's httptools protocol has neither: a client can send headers without end, or one
byte a minute, and hold a connection (and memory) for as long as it likes.  This
subclass answers 431 when the request line and headers exceed ``max_header_bytes`` and
408 when they are not complete ``header_timeout`` seconds after the connection opened
or the request's first byte arrived (an idle keep-alive connection is uvicorn's to
close).  The clock is kept without a timer per request: each connection notes when its
head began, and one sweep per event loop, every :data:`SWEEP_SECONDS`, refuses the late.

Each connection's writes in one turn of the event loop leave in one system call
(:class:`WritesJoined`): uvicorn writes a response's head and body apart.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from alertpolicy.engine.errors import Problem
from alertpolicy.engine.serve.settings import DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_HEADER_BYTES

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
SWEEP_SECONDS = 0.25
"""How often the connections are checked for heads that are late."""


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits (see the module docstring)."""

    max_header_bytes = DEFAULT_MAX_HEADER_BYTES
    header_timeout = DEFAULT_HEADER_TIMEOUT
    _open: ClassVar[dict[asyncio.AbstractEventLoop, set[LimitedHttpProtocol]]] = {}
    """The connections of each event loop whose sweep is running."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0
        self._tail = b""
        self._head_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection: its first request line must arrive in time."""
        super().connection_made(transport)
        self.transport = WritesJoined(transport, self.loop)  # type: ignore[assignment]
        self._head_since = self.loop.time()
        connections = self._open.get(self.loop)
        if connections is None:
            connections = self._open[self.loop] = set()
            self.loop.call_later(SWEEP_SECONDS, _sweep, self.loop)
        connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: the sweep forgets it."""
        self._open.get(self.loop, set()).discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Refuse a request whose line and headers grow past the limit; parse the rest."""
        if self._reading_head:
            if self._head_since is None:
                self._head_since = self.loop.time()
            if not self._head_fits(data):
                message = f"the request line and headers are larger than {self.max_header_bytes}"
                self._refuse(431, "headers-too-large", f"{message} bytes")
                return
        super().data_received(data)

    def _head_fits(self, data: bytes) -> bool:
        """Count ``data`` towards the request's head (up to the blank line ending it)."""
        seen = self._tail + data if self._tail else data
        end = seen.find(b"\r\n\r\n")
        if end == -1:
            self._head_bytes += len(data)
            self._tail = seen[-3:]
        else:
            self._head_bytes += end + 4 - len(self._tail)
            self._reading_head = False
        return self._head_bytes <= self.max_header_bytes

    def on_headers_complete(self) -> None:
        """The headers arrived whole and in time."""
        self._head_since = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request is read: the next bytes begin the next request's head."""
        super().on_message_complete()
        self._reading_head, self._head_bytes, self._tail = True, 0, b""

    def late(self, now: float) -> bool:
        """Whether this connection's head has taken longer than the timeout."""
        since = self._head_since
        return since is not None and now - since > self.header_timeout

    def refuse_late(self) -> None:
        """Answer 408: the head did not arrive in time."""
        seconds = f"{self.header_timeout:g}"
        message = f"the request line and headers did not arrive within {seconds} s"
        self._refuse(408, "headers-too-slow", message)

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer ``status`` with one problem and close the connection."""
        self._head_since = None
        if self.transport.is_closing():
            return
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


def _sweep(loop: asyncio.AbstractEventLoop) -> None:
    """Refuse every connection of ``loop`` whose head is late; sweep again later."""
    connections = LimitedHttpProtocol._open.get(loop, set())
    now = loop.time()
    for connection in [c for c in connections if c.late(now)]:
        connection.refuse_late()
    if loop.is_closed():
        LimitedHttpProtocol._open.pop(loop, None)
        return
    loop.call_later(SWEEP_SECONDS, _sweep, loop)


def set_header_limits(max_header_bytes: int, header_timeout: float) -> None:
    """Use these limits for every connection of this process (an entry point's choice:
    uvicorn builds the protocol itself, in each worker process)."""
    LimitedHttpProtocol.max_header_bytes = max_header_bytes
    LimitedHttpProtocol.header_timeout = header_timeout


class WritesJoined:
    """A connection's transport whose writes in one turn of the event loop leave as one.

    uvicorn writes a response's head and its body apart, each a system call of its own;
    joined, an answer costs one.  Everything but writing and closing is the transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        """Send ``data`` with whatever else is written before the event loop turns."""
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(data)

    def _flush(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        """Send what is held, then close the connection."""
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
