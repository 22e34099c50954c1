"""The optional bearer token: reading it, warning about its file, checking requests."""

from __future__ import annotations

import hmac
import logging
import os
import stat
from pathlib import Path

from alertpolicy.engine.errors import StartError

log = logging.getLogger("alertpolicy.serve")

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
"""Routes that never need the bearer token (probes)."""
CHALLENGE = 'Bearer realm="alertpolicy"'


def read_token(path: Path) -> str:
    """The bearer token in ``path`` (surrounding whitespace ignored).

    Raises :class:`StartError` when the file cannot be read or is empty, and warns (in
    the log) when other users can read it.
    """
    try:
        token = path.read_text(encoding="utf-8").strip()
        mode = os.stat(path).st_mode
    except (OSError, UnicodeDecodeError) as error:
        raise StartError(f"cannot read the token file {path}: {error}") from error
    if not token:
        raise StartError(f"the token file {path} is empty")
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "the token file %s can be read by other users (mode %s): anyone on this machine "
            "can use the service; make it readable by its owner only (chmod 600 %s)",
            path,
            stat.filemode(mode),
            path,
        )
    return token


def bearer_ok(token: str, authorization: bytes) -> bool:
    """Whether an ``Authorization`` header value carries ``token`` as a bearer token."""
    scheme, _, credential = authorization.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(
        credential.strip(), token.encode("utf-8")
    )


def challenge(authorization: bytes) -> str:
    """The ``WWW-Authenticate`` answer to a request without (or with a wrong) token."""
    return CHALLENGE + (', error="invalid_token"' if authorization else "")
