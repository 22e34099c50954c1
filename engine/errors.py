"""Problems found in a policy or an incident, as values with a location.

Every error or warning the product reports is a :class:`Problem`: a message a school
admin understands, where it was found (file, line, column) and the path of the field
inside the document.  Exceptions only carry problems; the CLI and HTTP layers render them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]
PathItem = str | int


@dataclass(frozen=True, order=True)
class Location:
    """A place in a policy file: path as given to the user, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


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

    def sort_key(self) -> tuple:
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

    def to_json(self) -> dict:
        """A JSON-ready mapping of this problem."""
        loc = self.location
        out: dict = {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "field": self.field_name(),
        }
        if self.value is not None:
            out["value"] = self.value
        if self.related:
            out["related"] = [str(r) for r in self.related]
        return out


def sorted_problems(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """Problems in a deterministic order (by place, then code), duplicates removed."""
    unique = {(p.sort_key(), p.field_name(), p.severity): p for p in problems}
    return tuple(unique[k] for k in sorted(unique))


class ProblemsError(Exception):
    """Base for exceptions that carry a list of problems."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted_problems(problems)
        super().__init__("\n".join(p.render() for p in self.problems))

    def __reduce__(self) -> tuple[type[ProblemsError], tuple[tuple[Problem, ...]]]:
        return type(self), (self.problems,)


class PolicyError(ProblemsError):
    """The policy cannot be loaded: it has at least one error."""


class IncidentError(ProblemsError):
    """An incident is not acceptable input: wrong shape or unknown names."""


class EngineError(RuntimeError):
    """durable-rules failed while compiling or evaluating: the answer cannot be trusted."""


class PolicyClosedError(EngineError):
    """The compiled policy was closed (replaced by a newer revision) and cannot evaluate."""
