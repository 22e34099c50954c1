"""Reading incidents from a file or stdin: one JSON incident, or one per line (JSON lines).

Used by ``evaluate`` and ``replay``. Every incident is read and checked before any is
decided; each problem names the input, the line, the field and the value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alertpolicy.engine.check.incident import check_limits, decode_incident, parse_incident
from alertpolicy.engine.errors import (
    IncidentError,
    IncidentFileError,
    Location,
    Problem,
    ProblemsError,
)
from alertpolicy.engine.model import Incident, Policy

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class IncidentInput:
    """The incidents as given: the input's label and (line or ``None``, JSON text) pairs.

    ``line`` is ``None`` for an input holding one incident (not JSON lines).
    """

    label: str
    entries: Sequence[tuple[int | None, str]]

    @property
    def json_lines(self) -> bool:
        """Whether the input is JSON lines (one incident per line)."""
        return bool(self.entries) and self.entries[0][0] is not None


def read_input(source: str, data: bytes, json_lines: bool | None = None) -> IncidentInput:
    """The incidents in ``data``, read from ``source`` (a path, or ``-`` for stdin).

    Unless ``json_lines`` says, a ``.jsonl``/``.ndjson`` file, or stdin that is not one
    JSON document, is JSON lines (blank lines skipped); anything else holds one incident.
    """
    label = "<stdin>" if source == "-" else source
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise IncidentFileError(
            [Problem("incidents-unreadable", f"{label}: cannot read the incidents: {error}")]
        ) from error
    lines_wanted = source.endswith(JSON_LINES_SUFFIXES) if json_lines is None else json_lines
    if source == "-" and json_lines is None:
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            lines_wanted = True
    if not lines_wanted:
        return IncidentInput(label, [(None, text)])
    return IncidentInput(
        label, [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    )


def read_path(path: Path, json_lines: bool | None = None) -> IncidentInput:
    """The incidents in the file at ``path`` (see :func:`read_input`)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise IncidentFileError(
            [Problem("incidents-unreadable", f"cannot read {path}: {error.strerror or error}")]
        ) from error
    return read_input(str(path), data, json_lines)


def located(label: str, line: int | None, problem: Problem) -> Problem:
    """``problem`` placed at ``label`` (and line), its field and value named in the message."""
    message = problem.message
    if problem.path and str(problem.value) not in message:
        value = json.dumps(problem.value, ensure_ascii=False)
        message += f" (field {problem.field_name()}, value {value})"
    return Problem(
        problem.code,
        message,
        location=Location(label, line or 1, 1),
        path=problem.path,
        value=problem.value,
    )


def parse_input(given: IncidentInput, policy: Policy) -> list[Incident]:
    """Every incident of ``given``, checked against ``policy``.

    Raises :class:`IncidentError` with every problem of every incident (none is kept).
    """
    incidents, problems = [], []
    for line, text in given.entries:
        try:  # the service's own checks: plain JSON, text, limits, then the incident
            raw = decode_incident(text)
            check_limits(raw)
            incidents.append(parse_incident(raw, policy))
        except ProblemsError as error:
            problems += [located(given.label, line, p) for p in error.problems]
    if not given.entries:
        problems.append(located(given.label, None, Problem("incident-empty", "no incident given")))
    if problems:
        raise IncidentError(problems)
    return incidents
