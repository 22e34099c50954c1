"""Running git: one command, its output, or a :class:`PolicyError` saying why it failed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from alertpolicy.engine.errors import PolicyError, Problem


def fail(code: str, message: str) -> PolicyError:
    """A :class:`PolicyError` holding one problem."""
    return PolicyError([Problem(code, message)])


def run_git(
    repo_dir: Path,
    *args: str,
    stdin: bytes | None = None,
    timeout: float | None = None,
    code: str = "git-failed",
) -> bytes:
    """Standard output of ``git -C repo_dir args``; :class:`PolicyError` (``code``) if git
    fails or takes longer than ``timeout`` seconds.  git never prompts for a password."""
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", "-C", str(repo_dir), *args],
            input=stdin,
            capture_output=True,
            check=False,
            timeout=timeout,
            env=environment,
        )
    except OSError as error:
        raise fail("git-unavailable", f"cannot run git: {error}") from error
    except subprocess.TimeoutExpired as error:
        raise fail(code, f"git {args[0]} did not finish within {timeout:g} s") from error
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip()
        raise fail(code, f"git {args[0]} failed: {detail}")
    return done.stdout
