"""Problems found in a policy, an incident or a request, as values with a location; and
every exception the product raises.

Every error or warning the product reports is a :class:`Problem`: a message a school
admin understands, where it was found (file, line, column) and the path of the field
inside the document.  It has one JSON shape, :meth:`Problem.to_json`, used by the CLI,
the HTTP API and the logs alike.  Exceptions only carry problems (or a plain reason); the
CLI and HTTP layers render them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]
PathItem = str | int


@dataclass(frozen=True, order=True, slots=True)
class Location:
    """A place in a policy file: path as given to the user, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def __reduce__(self) -> tuple[type[Location], tuple[str, int, int]]:
        # Pickled as a constructor call (fast), not slot by slot (many per policy).
        return Location, (self.file, self.line, self.column)


@dataclass(frozen=True)
class Problem:
    """One finding: what is wrong, where, and how serious it is.

    ``code`` is a stable machine-readable name (``duplicate-key``, ``unknown-user``,
    ``rule-never-sends`` ...); ``path`` is the field path inside the document
    (``("users", "jsmith", "user_group")``); ``value`` is the offending value if any.
    """

    code: str
    message: str
    location: Location | None = None
    path: tuple[PathItem, ...] = ()
    severity: Severity = "error"
    value: object = None
    related: tuple[Location, ...] = field(default=())

    def sort_key(self) -> tuple[tuple[str, int, int], str, str]:
        """Order problems by file, line, column, then code and message."""
        loc = self.location
        return (
            (loc.file, loc.line, loc.column) if loc else ("", 0, 0),
            self.code,
            self.message,
        )

    def render(self) -> str:
        """``file:line:col: severity: message`` as shown to people."""
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.severity}: {self.message}"

    def field_name(self) -> str:
        """The field path as a dotted string (``students.0.id``), or ``""`` for the root."""
        return ".".join(str(p) for p in self.path)

    def to_json(self) -> dict[str, Any]:
        """The one JSON shape of a problem, wherever it is shown.

        Every key is always present: ``severity``, ``code``, ``message``, ``file``,
        ``line``, ``column``, ``location`` (``file:line:col`` or null), ``field`` (dotted
        path, ``""`` for the whole document), ``value`` (the offending value or null) and
        ``related`` (other places, ``file:line:col``).
        """
        loc = self.location
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "location": str(loc) if loc else None,
            "field": self.field_name(),
            "value": json_safe(self.value),
            "related": [str(r) for r in self.related],
        }


def json_safe(value: object) -> Any:
    """``value`` as strict JSON can hold it: a float that is not finite becomes its text,
    anything that is not JSON data its ``repr``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    return repr(value)


def sorted_problems(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """Problems in a deterministic order (by place, then code), duplicates removed."""
    unique = {(p.sort_key(), p.field_name(), p.severity): p for p in problems}
    return tuple(unique[k] for k in sorted(unique))


# ------------------------------------------------------------------ exceptions


class ProblemsError(Exception):
    """Base for exceptions that carry a list of problems."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted_problems(problems)
        super().__init__("\n".join(p.render() for p in self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.problems,)


class PolicyError(ProblemsError):
    """The policy cannot be loaded: it has at least one error."""


class IncidentError(ProblemsError):
    """An incident is not acceptable input: wrong shape or unknown names."""


class IncidentFileError(ProblemsError):
    """A file of recorded incidents (JSON lines) cannot be read as incidents."""


class PolicyTestError(ProblemsError):
    """The policy's test files cannot be used: unreadable, schema-invalid or ambiguous."""


class FormatError(ProblemsError):
    """A file cannot be formatted: it does not read, or formatting would change it."""


class RequestRejected(ProblemsError):
    """A request refused before it is an incident: not JSON, too large, over a limit.

    ``status`` is the HTTP status it is answered with; ``code`` names the refusal in
    metrics (``bad_json``, ``too_large``, ``too_many_items`` ...).
    """

    def __init__(self, problems: Iterable[Problem], status: int = 400, code: str = "bad_request"):
        super().__init__(problems)
        self.status = status
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.problems, self.status, self.code)


class EngineError(RuntimeError):
    """durable-rules failed while compiling or evaluating: the answer cannot be trusted."""


class PolicyClosedError(EngineError):
    """The compiled policy was closed (replaced by a newer revision) and cannot evaluate."""


class NotReady(RuntimeError):
    """No policy revision can decide now (none loaded yet, the engine is being rebuilt,
    or the service is shutting down); the message says which."""


class NotHeld(RuntimeError):
    """A held revision was to be accepted, but a different one (or none) is held."""


class ReloadWorkerFailed(RuntimeError):
    """No reload worker process gave an answer (each was killed, crashed or hung)."""


class StartError(RuntimeError):
    """The service cannot start (port taken, unreadable token file, unusable state
    directory...); the message says what to fix."""
