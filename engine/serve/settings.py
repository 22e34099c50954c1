"""Everything one service process needs to know, and how worker processes receive it.

``alertpolicy serve`` turns its options into :class:`ServeSettings`; with ``--workers N``
the settings travel to each worker process (started by uvicorn with ``spawn``) as one
JSON environment variable.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alertpolicy.engine.audit.guard import DEFAULT_MAX_ROUTE_LOSS

ENV_SETTINGS = "ALERTPOLICY_SERVE_SETTINGS"
"""The environment variable carrying the settings to worker processes."""
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
"""Largest request line and headers accepted (larger: 431)."""
DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a client may take to send its request line and headers (then: 408)."""
DEFAULT_GIT_POLL = 10.0
"""Seconds between two fetches of ``--policy-git`` (git-sync's default period)."""
_PATHS = (
    "policy_dir",
    "token_file",
    "decision_log",
    "state_dir",
    "policies_dir",
    "git_mirror",
    "build_cache",
)


@dataclass(frozen=True)
class ServeSettings:
    """The options of ``alertpolicy serve`` (see ``alertpolicy serve --help``).

    ``state_dir`` ``None`` keeps no state across restarts (``--state-dir none``);
    ``max_route_loss`` ``None`` turns the coverage guard off (``--no-coverage-guard``).
    ``policies_dir`` serves a folder of schools instead of ``policy_dir``; with
    ``policy_git`` (a repository) either names a folder inside it, read from the
    ``git_ref`` fetched every ``git_poll`` seconds into ``git_mirror``.  ``build_cache``
    is where the workers of one service share what they built (set by the entry point).
    """

    policy_dir: Path
    token_file: Path | None = None
    decision_log: Path | None = None
    state_dir: Path | None = None
    max_route_loss: float | None = DEFAULT_MAX_ROUTE_LOSS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    debounce_ms: int = 250
    log_level: str = "info"
    workers: int = 1
    policies_dir: Path | None = None
    policy_git: str | None = None
    git_ref: str = "main"
    git_poll: float = DEFAULT_GIT_POLL
    git_mirror: Path | None = None
    build_cache: Path | None = None

    def to_env(self) -> dict[str, str]:
        """The settings as the environment variable worker processes read."""
        values: dict[str, Any] = dataclasses.asdict(self)
        for key in _PATHS:
            values[key] = str(values[key]) if values[key] is not None else None
        return {ENV_SETTINGS: json.dumps(values, sort_keys=True)}

    @classmethod
    def from_env(cls) -> ServeSettings:
        """The settings a parent process put in the environment (see :meth:`to_env`)."""
        values: dict[str, Any] = json.loads(os.environ[ENV_SETTINGS])
        for key in _PATHS:
            values[key] = Path(values[key]) if values[key] is not None else None
        return cls(**values)
