"""The listening socket, bound before anything else starts."""

from __future__ import annotations

import socket

from alertpolicy.engine.errors import StartError

BACKLOG = 2048
"""Connections the kernel queues before they are accepted (uvicorn's default)."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket (shared by worker processes, if any).

    Made with ``proto=IPPROTO_TCP`` (uvicorn's own leaves it 0), so that asyncio turns
    Nagle's algorithm off on each connection: without it every response waits ~40 ms
    for a delayed ACK.  Raises :class:`StartError` when the address is taken or invalid.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as error:
        raise StartError(f"cannot listen on {host}:{port}: {error.strerror or error}") from error
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except (OSError, OverflowError) as error:
        sock.close()
        reason = getattr(error, "strerror", None) or str(error)
        raise StartError(f"cannot listen on {host}:{port}: {reason}") from error
    sock.set_inheritable(True)
    return sock
