"""One side of a comparison (``diff``, ``replay``): a policy loaded from the working tree,
a directory or a git revision.

Loading the two sides at the same time, in two processes, is the command line's choice
(``cli.py``), made on top of :func:`load_side`.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.errors import PolicyError
from alertpolicy.engine.load.git import POLICY_PATH_MISSING, resolve_side
from alertpolicy.engine.model import Policy


class LoadedSide(NamedTuple):
    """One side of a comparison: its checked policy and the label it is shown by."""

    policy: Policy
    label: str


def load_side(side: str | None, policy_path: Path) -> LoadedSide:
    """One side, loaded and checked: ``None`` (the working tree), a directory or a git revision.

    A git revision where the policy directory does not exist (the commit before the policy
    was added, or the one removing it) is an empty policy: nobody is alerted of anything.
    Raises :class:`~alertpolicy.engine.errors.ProblemsError` (a
    :class:`~alertpolicy.engine.errors.PolicyError` for an invalid policy) with every
    problem, located.
    """
    try:
        source = resolve_side(side, policy_path)
    except PolicyError as error:
        if [p.code for p in error.problems] != [POLICY_PATH_MISSING]:
            raise
        label = f"{side}:{policy_path.as_posix()} (no policy there)"
        return LoadedSide(Policy(revision="none"), label)
    return LoadedSide(load_source(source), source.label)
