"""The optional bearer token: reading it, warning about its file, checking requests.

The web view (``/ui/``) also takes the token as the password of HTTP Basic
authentication, so that a browser can ask for it (any user name).
"""

from __future__ import annotations

import base64
import binascii
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
BROWSER_PATHS = "/ui"
"""Routes under this prefix also take the token as a Basic password (a browser's login)."""
BROWSER_CHALLENGE = 'Basic realm="alertpolicy", charset="UTF-8"'


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


def basic_ok(token: str, authorization: bytes) -> bool:
    """Whether an ``Authorization`` header is HTTP Basic with ``token`` as its password."""
    scheme, _, credential = authorization.partition(b" ")
    if scheme.lower() != b"basic":
        return False
    try:
        decoded = base64.b64decode(credential.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    _, colon, password = decoded.partition(b":")
    return bool(colon) and hmac.compare_digest(password, token.encode("utf-8"))


def for_browser(path: str) -> bool:
    """Whether ``path`` is a page of the web view (``/ui`` and below)."""
    return path == BROWSER_PATHS or path.startswith(BROWSER_PATHS + "/")
