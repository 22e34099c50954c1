"""Checking a document against one of our JSON Schemas (``schemas/*.schema.json``).

Two tools: :func:`quick_check`, a fast yes/no answer, and :func:`schema_problems`, which
explains each jsonschema error in words a school admin understands.

jsonschema explains errors well but takes seconds on a trust-scale policy (20,000 rules);
jsonschema-rs answers "valid?" for the same schema in a fraction of that (0.03 s against
2.4 s).  Callers run jsonschema, for its messages, only on documents the quick check
refuses.  The two agree (a property test holds them to it); where a regular expression
is read more strictly by jsonschema-rs, the only cost is a jsonschema run that finds
nothing.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from alertpolicy.engine.errors import PathItem, Problem
from alertpolicy.engine.load.safeyaml import format_path

Check = Callable[[Any], bool]


@cache
def schema_document(name: str) -> dict[str, Any]:
    """``schemas/<name>.schema.json`` as published (read once)."""
    text = (files("alertpolicy.schemas") / f"{name}.schema.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def schema_validator(name: str) -> Draft202012Validator:
    """The compiled validator for ``schemas/<name>.schema.json``."""
    return Draft202012Validator(schema_document(name))


@cache
def quick_check(name: str) -> Check:
    """A fast valid-or-not check for ``schemas/<name>.schema.json`` (no messages)."""
    return jsonschema_rs.Draft202012Validator(schema_document(name)).is_valid


# ------------------------------------------------------------------ schema messages

_TYPE_WORDS = {
    "string": "text",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "integer": "a whole number",
    "number": "a number",
    "null": "nothing",
}


def describe(value: Any) -> str:
    """A value as an admin would read it in a message."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def suggest(value: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when ``value`` is close to one of ``choices``, else ``""``."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def schema_problems(
    error: ValidationError, code_prefix: str = "schema", root: str = "(top level)"
) -> Iterator[Problem]:
    """Problems (without location) explaining one schema error, each with its field path.

    ``root`` names the document itself in messages. Unknown fields get the path of the
    field itself, so they can be located by key.
    """
    path: tuple[PathItem, ...] = tuple(error.absolute_path)
    # jsonschema types these as "Any | Unset" (unset only before validation has run).
    instance: Any = error.instance
    keyword: Any = error.validator
    value: Any = error.validator_value
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    field = format_path(path) if path else root
    if "propertyNames" in error.absolute_schema_path and isinstance(instance, str):
        path = (*path, instance)
        field = format_path(path)
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        what = f"{field}: unknown field"
        if not path and code_prefix == "schema":
            what = "unknown top-level section"
        for extra in sorted((k for k in instance if k not in known), key=str):
            hint = suggest(extra, known)
            allowed = f"; expected one of: {', '.join(known)}" if known and not hint else ""
            yield Problem(
                f"{code_prefix}-unknown-field",
                f"{what} {extra!r}{hint}{allowed}",
                path=(*path, extra),
                value=extra,
            )
        return
    if keyword == "required" and isinstance(instance, dict):
        for name in value:
            if name not in instance:
                yield Problem(
                    f"{code_prefix}-missing-field",
                    f"{field}: missing required field {name!r}",
                    path=path,
                )
        return
    if keyword == "uniqueItems" and isinstance(instance, list):
        seen: list[Any] = []
        for index, item in enumerate(instance):
            if item in seen:
                yield Problem(
                    f"{code_prefix}-duplicate-item",
                    f"{field}: {describe(item)} is listed more than once",
                    path=(*path, index),
                    value=item,
                )
            else:
                seen.append(item)
        return
    if keyword == "type":
        expected = [value] if isinstance(value, str) else list(value)
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in expected)
        message = f"{field}: expected {words}, got {describe(instance)}"
    elif keyword == "enum":
        hint = suggest(instance, [str(v) for v in value])
        message = (
            f"{field}: {describe(instance)} is not allowed{hint}; "
            f"expected one of: {', '.join(str(v) for v in value)}"
        )
    elif keyword == "minItems":
        message = f"{field}: must list at least {value}" if value > 1 else f"{field}: is empty"
    elif keyword == "minLength":
        message = f"{field}: must not be empty"
    elif keyword == "minProperties":
        options = ", ".join(schema.get("properties", {}))
        message = f"{field}: must give at least one of: {options}"
    elif keyword == "pattern":
        what = schema.get("title", f"in the form {value}")
        message = f"{field}: {describe(instance)} is not {what}"
    else:
        message = f"{field}: {error.message}"
    yield Problem(f"{code_prefix}-{keyword}", message, path=path, value=_jsonable(instance))


def _jsonable(value: Any) -> Any:
    """``value`` if it is a JSON scalar or empty, else ``None`` (contents are not echoed)."""
    if isinstance(value, list | dict) and not value:
        return value
    return value if isinstance(value, str | int | float | bool) else None
