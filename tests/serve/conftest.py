"""Fixtures of the service tests: real servers on copies of real policies."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.serve.support import SMALL_SCHOOL, Server, serving


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers on copies of policies (default small-school); all stopped at the end."""
    copies = itertools.count()

    def make(*args: str, policy: Path = SMALL_SCHOOL, copy: bool = True) -> Server:
        target = policy
        if copy:
            target = tmp_path / f"policy-{next(copies)}"
            shutil.copytree(policy, target, symlinks=True)
        return Server(tmp_path, target, *args)

    yield from serving(make)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, mounted for the test (skipped where mounting is not allowed)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
