"""One side of a comparison (``diff``, ``replay``): a policy loaded from the working tree,
a directory or a git revision.

Loading the two sides at the same time, in two processes, is the command line's choice
(``commands/audit.py``), made on top of :func:`load_side`.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.errors import PolicyError
from alertpolicy.engine.load.git import POLICY_PATH_MISSING, resolve_side
from alertpolicy.engine.load.schools import resolve_school_side
from alertpolicy.engine.model import Policy


class LoadedSide(NamedTuple):
    """One side of a comparison: its checked policy and the label it is shown by."""

    policy: Policy
    label: str


def load_side(side: str | None, policy_path: Path, school: str | None = None) -> LoadedSide:
    """One side, loaded and checked: ``None`` (the working tree), a directory or a git revision.

    A git revision where the policy directory does not exist (the commit before the policy
    was added, or the one removing it) is an empty policy: nobody is alerted of anything.
    Raises :class:`~alertpolicy.engine.errors.ProblemsError` (a
    :class:`~alertpolicy.engine.errors.PolicyError` for an invalid policy) with every
    problem, located.  With ``school``, ``policy_path`` is a folder of schools and the
    side is that school of it (with the trust layer).
    """
    try:
        if school is None:
            source = resolve_side(side, policy_path)
        else:
            source = resolve_school_side(side, policy_path, school)
    except PolicyError as error:
        if [p.code for p in error.problems] != [POLICY_PATH_MISSING]:
            raise
        where = f"{policy_path.as_posix()}/{school}" if school else policy_path.as_posix()
        label = f"{side}:{where} (no policy there)"
        return LoadedSide(Policy(revision="none"), label)
    label = source.label
    if school is not None:
        label = f"{label}{school}" if label.endswith((":", "/")) else f"{label}/{school}"
    return LoadedSide(load_source(source), label)
