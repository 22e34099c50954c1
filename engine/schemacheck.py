"""Checking a document against one of our JSON Schemas (``schemas/*.schema.json``).

Two tools: :func:`quick_check`, a fast yes/no answer, and :func:`schema_problems`, which
explains each jsonschema error in words a school admin understands.

jsonschema explains errors well but takes seconds on a trust-scale policy (20,000 rules).
:func:`compile_check` turns a schema into plain Python checks that answer only "valid?";
callers run jsonschema, for its messages, only on documents this check refuses.
It knows exactly the keywords our schemas use and refuses to compile any other, so a
schema change can never be skipped silently. Where it is unsure (e.g. ``uniqueItems``
over non-text items) it answers "not valid", which only costs a full jsonschema run.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.errors import PathItem, Problem
from engine.load import format_path

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples"}
)
_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


class _Compiler:
    """Compiles one root schema; ``$ref``s point into its ``$defs``."""

    def __init__(self, root: Mapping[str, Any]):
        self.root = root
        self.defs: dict[str, Check] = {}
        self.compiling: set[str] = set()

    def ref(self, ref: str) -> Check:
        prefix = "#/$defs/"
        if not ref.startswith(prefix):
            raise ValueError(f"unsupported $ref {ref!r}")
        name = ref[len(prefix) :]
        if name in self.compiling:  # a recursive definition: look it up when checking
            return lambda v: self.defs[name](v)
        if name not in self.defs:
            self.compiling.add(name)
            self.defs[name] = self.compile(self.root["$defs"][name])
            self.compiling.discard(name)
        return self.defs[name]

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        checks: list[Check] = []
        for keyword, value in schema.items():
            if keyword in ANNOTATIONS:
                continue
            make = getattr(self, "kw_" + keyword.lstrip("$"), None)
            if make is None:
                raise ValueError(f"the quick schema check does not know the keyword {keyword!r}")
            checks.append(make(value, schema))
        if len(checks) == 1:
            return checks[0]

        def every(v: Any) -> bool:
            # A plain loop: all() over a generator costs a frame per check, on every node.
            for check in checks:  # noqa: SIM110
                if not check(v):
                    return False
            return True

        return every

    def kw_ref(self, value: str, schema: Mapping) -> Check:
        return self.ref(value)

    def kw_type(self, value: str | list[str], schema: Mapping) -> Check:
        if isinstance(value, str):
            return _TYPES[value]
        types = [_TYPES[t] for t in value]
        return lambda v: any(t(v) for t in types)

    def kw_enum(self, value: list, schema: Mapping) -> Check:
        if not all(isinstance(e, str) for e in value):
            raise ValueError("the quick schema check supports enums of strings only")
        allowed = frozenset(value)
        return lambda v: isinstance(v, str) and v in allowed

    def kw_pattern(self, value: str, schema: Mapping) -> Check:
        search = re.compile(value).search
        return lambda v: not isinstance(v, str) or search(v) is not None

    def kw_minLength(self, value: int, schema: Mapping) -> Check:
        return lambda v: not isinstance(v, str) or len(v) >= value

    def kw_minItems(self, value: int, schema: Mapping) -> Check:
        return lambda v: not isinstance(v, list) or len(v) >= value

    def kw_minProperties(self, value: int, schema: Mapping) -> Check:
        return lambda v: not isinstance(v, dict) or len(v) >= value

    def kw_uniqueItems(self, value: bool, schema: Mapping) -> Check:
        if not value:
            return lambda v: True

        def unique(v: Any) -> bool:
            if not isinstance(v, list):
                return True
            if not all(isinstance(i, str) for i in v):
                return False  # unsure (1 vs true, unhashable): let jsonschema decide
            return len(set(v)) == len(v)

        return unique

    def kw_required(self, value: list[str], schema: Mapping) -> Check:
        return lambda v: not isinstance(v, dict) or all(k in v for k in value)

    def kw_items(self, value: Any, schema: Mapping) -> Check:
        item = self.compile(value)

        def items(v: Any) -> bool:
            if isinstance(v, list):
                for i in v:
                    if not item(i):
                        return False
            return True

        return items

    def kw_propertyNames(self, value: Any, schema: Mapping) -> Check:
        name = self.compile(value)
        return lambda v: not isinstance(v, dict) or all(name(k) for k in v)

    def kw_properties(self, value: Mapping[str, Any], schema: Mapping) -> Check:
        props = {k: self.compile(s) for k, s in value.items()}

        def properties(v: Any) -> bool:
            if isinstance(v, dict):
                for k, check in props.items():
                    if k in v and not check(v[k]):
                        return False
            return True

        return properties

    def kw_additionalProperties(self, value: Any, schema: Mapping) -> Check:
        if "patternProperties" in schema:
            raise ValueError("the quick schema check does not support patternProperties")
        known = frozenset(schema.get("properties", {}))
        if value is False:
            return lambda v: not isinstance(v, dict) or all(k in known for k in v)
        extra = self.compile(value)

        def additional(v: Any) -> bool:
            if isinstance(v, dict):
                for k, x in v.items():
                    if k not in known and not extra(x):
                        return False
            return True

        return additional


def compile_check(schema: Mapping[str, Any]) -> Check:
    """A function telling whether a document is valid against ``schema``.

    Raises ``ValueError`` for a schema using a keyword this module does not implement.
    """
    return _Compiler(schema).compile(schema)


@cache
def schema_validator(name: str) -> Draft202012Validator:
    """The compiled validator for ``schemas/<name>.schema.json``."""
    schema = json.loads((files("schemas") / f"{name}.schema.json").read_text("utf-8"))
    return Draft202012Validator(schema)


@cache
def quick_check(name: str) -> Check:
    """A fast valid-or-not check for ``schemas/<name>.schema.json`` (no messages)."""
    return compile_check(schema_validator(name).schema)


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
    instance = error.instance
    keyword = error.validator
    value = error.validator_value
    field = format_path(path) if path else root
    if "propertyNames" in error.absolute_schema_path and isinstance(instance, str):
        path = (*path, instance)
        field = format_path(path)
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = list(error.schema.get("properties", {}))
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
        options = ", ".join(error.schema.get("properties", {}))
        message = f"{field}: must give at least one of: {options}"
    elif keyword == "pattern":
        what = error.schema.get("title", f"in the form {value}")
        message = f"{field}: {describe(instance)} is not {what}"
    else:
        message = f"{field}: {error.message}"
    yield Problem(f"{code_prefix}-{keyword}", message, path=path, value=_jsonable(instance))


def _jsonable(value: Any) -> Any:
    """``value`` if it is a JSON scalar or empty, else ``None`` (contents are not echoed)."""
    if isinstance(value, list | dict) and not value:
        return value
    return value if isinstance(value, str | int | float | bool) else None
