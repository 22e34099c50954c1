"""A YAML syntax error in plain words, at the line to fix, with the likely fix.

libyaml reports where it gave up, in its own words ("mapping values are not allowed in
this context"), often a line after the mistake.  :func:`syntax_problem` reads the lines
around that place and names the usual causes instead: a line indented differently from
its neighbours, a tab, a colon inside an unquoted value, a key without a colon, a quote
or bracket never closed.  What it cannot explain keeps libyaml's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from alertpolicy.engine.errors import Location, Problem


@dataclass(frozen=True)
class _Lines:
    """The file's lines, to look at the neighbours of the place libyaml stopped."""

    lines: list[str]

    def text(self, number: int) -> str:
        """Line ``number`` (1-based), or ``""`` past the end."""
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""

    def previous(self, number: int) -> int:
        """The nearest line before ``number`` with content (not blank, not a comment)."""
        for candidate in range(number - 1, 0, -1):
            stripped = self.text(candidate).strip()
            if stripped and not stripped.startswith("#"):
                return candidate
        return 0

    def indent(self, number: int) -> int:
        """How many spaces line ``number`` starts with."""
        line = self.text(number)
        return len(line) - len(line.lstrip(" "))


def _spaces(count: int) -> str:
    return f"{count} space{'s' if count != 1 else ''}"


def _mapping_values(lines: _Lines, line: int, column: int) -> tuple[int, str]:
    """Explain "mapping values are not allowed": (line to fix, plain words and fix)."""
    text = lines.text(line)
    before = text[: column - 1]
    if re.search(r":\s", before.lstrip(" -")):
        key = before.split(":", 1)[0].strip(" -")
        return line, (
            f"the value of {key!r} contains ': ', which YAML reads as the start of another "
            f'key; put the whole value in quotes: {key}: "{text.split(":", 1)[1].strip()}"'
        )
    previous = lines.previous(line)
    prior = lines.text(previous)
    if previous and ":" not in prior and not prior.strip().startswith("-"):
        return previous, (
            f"line {previous} has no ':' after its key, so YAML reads it as text running on "
            f"into line {line}; write it as `key: value`"
        )
    if previous and lines.indent(line) > lines.indent(previous):
        before_previous = lines.previous(previous)
        if before_previous and lines.indent(before_previous) == lines.indent(line):
            return previous, (
                f"line {previous} is indented by {_spaces(lines.indent(previous))}, the lines "
                f"around it by {_spaces(lines.indent(line))}; indentation is structure in "
                f"YAML: indent line {previous} like its neighbours"
            )
        return line, (
            f"line {line} is indented deeper ({_spaces(lines.indent(line))}) than line "
            f"{previous}, which already has a value; line it up with line {previous} "
            f"({_spaces(lines.indent(previous))})"
        )
    return line, "a key appears where YAML expects a plain value; check the indentation"


def _explain(
    error: yaml.MarkedYAMLError, lines: _Lines, line: int, column: int
) -> tuple[int, int, str] | None:
    """(line, column, plain words with the fix) for the causes recognised, else ``None``."""
    problem = error.problem or ""
    context = error.context or ""
    start = error.context_mark
    char = lines.text(line)[column - 1 : column]
    if problem.startswith("found character") and "cannot start any token" in problem:
        if char == "\t" or "\t" in lines.text(line)[: column - 1]:
            return (
                line,
                column,
                (
                    "a tab character is used for indentation; YAML allows only spaces: "
                    "replace the tab with spaces"
                ),
            )
        return line, column, f"a value cannot start with {char!r} unquoted: put it in quotes"
    if problem.startswith("mapping values are not allowed"):
        fix_line, words = _mapping_values(lines, line, column)
        return fix_line, (column if fix_line == line else lines.indent(fix_line) + 1), words
    if "quoted scalar" in context and start is not None:
        quote = lines.text(start.line + 1)[start.column : start.column + 1] or '"'
        return (
            start.line + 1,
            start.column + 1,
            (f"the quote ({quote}) opened here is never closed: close it at the end of the value"),
        )
    if "flow sequence" in context or "flow mapping" in context:
        opening, closing = ("[", "]") if "sequence" in context else ("{", "}")
        at = (start.line + 1, start.column + 1) if start is not None else (line, column)
        return (
            at[0],
            at[1],
            (
                f"the {opening} opened here is not closed with {closing} (or an item in it holds "
                f"a character such as ':' or '#' and must be put in quotes)"
            ),
        )
    if problem.startswith("did not find expected key") or problem.startswith(
        "did not find expected '-'"
    ):
        previous = lines.previous(line)
        what = "list item" if "'-'" in problem else "key"
        if previous and lines.indent(previous) != lines.indent(line):
            return (
                line,
                lines.indent(line) + 1,
                (
                    f"line {line} is indented by {_spaces(lines.indent(line))}, which lines it up "
                    f"with no {what} above it; indent it like the {what}s it belongs with "
                    f"(line {previous} has {_spaces(lines.indent(previous))})"
                ),
            )
        return line, column, f"line {line} does not fit where it is: expected another {what}"
    if problem.startswith("could not find expected ':'") and start is not None:
        return (
            start.line + 1,
            start.column + 1,
            (f"line {start.line + 1} has no ':' after its key; write it as `key: value`"),
        )
    if problem.startswith("found undefined alias"):
        return line, column, "this alias (*name) refers to no anchor (&name) defined before it"
    return None


def syntax_problem(file: str, text: str, error: yaml.YAMLError) -> Problem:
    """The ``yaml-syntax`` problem for ``error``, raised reading ``text`` (``file``)."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    explained = None
    if isinstance(error, yaml.MarkedYAMLError):
        explained = _explain(error, _Lines(text.splitlines()), line, column)
    if explained is not None:
        line, column, words = explained
    else:
        words = getattr(error, "problem", None) or str(error)
        context, context_mark = error_context(error)
        if context and context_mark is not None and context_mark is not mark:
            where = f"line {context_mark.line + 1}, column {context_mark.column + 1}"
            words = f"{words} ({context} that starts at {where})"
    return Problem("yaml-syntax", f"YAML syntax error: {words}", Location(file, line, column))


def error_context(error: yaml.YAMLError) -> tuple[str | None, yaml.Mark | None]:
    """libyaml's "while parsing ..." context of ``error`` and where it starts, if any."""
    return getattr(error, "context", None), getattr(error, "context_mark", None)
