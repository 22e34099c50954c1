"""The two sides of a comparison (``diff``, ``replay``), each loaded and checked.

Loading and checking a trust-scale policy takes seconds and the two sides do not depend
on each other, so where the platform can fork and more than one CPU is free the head
side is loaded in a child process while this process loads the base side.  Errors are
the same as loading one side after the other: the base side's first, else the head's.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import NamedTuple

import engine.validate  # noqa: F401  (load_source imports it lazily: import once, pre-fork)
from engine.errors import ProblemsError
from engine.gitsource import resolve_side
from engine.load import load_source
from engine.model import Policy


class LoadedSide(NamedTuple):
    """One side of a comparison: its checked policy and the label it is shown by."""

    policy: Policy
    label: str


def load_side(side: str | None, policy_path: Path) -> LoadedSide:
    """One side, loaded and checked: ``None`` (the working tree), a directory or a git revision.

    Raises :class:`~engine.errors.ProblemsError` (a :class:`~engine.errors.PolicyError`
    for an invalid policy) with every problem, located.
    """
    source = resolve_side(side, policy_path)
    return LoadedSide(load_source(source), source.label)


def load_sides(
    base: str | None, head: str | None, policy_path: Path
) -> tuple[LoadedSide, LoadedSide]:
    """Base and head, loaded and checked (at the same time where the machine allows).

    Raises the base side's :class:`~engine.errors.ProblemsError` when it has one, else
    the head side's.
    """
    if not _can_load_in_parallel():
        return load_side(base, policy_path), load_side(head, policy_path)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(target=_send_side, args=(sender, head, policy_path), daemon=True)
    worker.start()
    sender.close()
    try:
        base_side = load_side(base, policy_path)
        head_side = _receive_side(receiver, head, policy_path)
    finally:
        receiver.close()
        if worker.is_alive():
            worker.kill()  # the base side failed: the head side is not needed
        worker.join()
    return base_side, head_side


def _can_load_in_parallel() -> bool:
    """Whether a child process can be forked safely and has a CPU of its own."""
    return sys.platform == "linux" and len(os.sched_getaffinity(0)) > 1


def _send_side(sender: Connection, side: str | None, policy_path: Path) -> None:
    """In the child: load ``side`` and send the :class:`LoadedSide` or its problems error.

    Any other failure sends nothing; the parent then loads the side itself, so that an
    unexpected error surfaces there exactly as it would without a child.
    """
    try:
        answer: LoadedSide | ProblemsError = load_side(side, policy_path)
    except ProblemsError as error:
        answer = error
    except Exception:
        return
    sender.send(answer)
    sender.close()


def _receive_side(receiver: Connection, side: str | None, policy_path: Path) -> LoadedSide:
    """The side the child loaded, its error raised; loaded here if the child gave no answer."""
    collecting = gc.isenabled()
    gc.disable()  # unpickling builds many long-lived objects; nothing to collect among them
    try:
        answer = receiver.recv()
    except EOFError:
        return load_side(side, policy_path)
    finally:
        if collecting:
            gc.enable()
    if isinstance(answer, ProblemsError):
        raise answer
    return answer
