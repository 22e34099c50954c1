"""One canonical layout for policy files (``alertpolicy fmt``), keeping every comment.

The layout depends only on what a file says, not on how it was written:

- keys in the order the policy schema lists them (``id``, ``description``, ``notify``,
  ``when``, ``match`` for a rule); names the school chose (users, groups) keep their order;
- a list of plain values, or a mapping of plain values and such lists, on one line in
  flow style (``[a, b]``, ``{users: [a]}``) when it fits in :data:`WIDTH` columns and
  holds no comment; everything else in block style, two spaces a level;
- text in quotes only where YAML needs them (a name YAML would read as a boolean, a
  number or null, or one holding ``: `` or ``#``), then in double quotes.

Comments are kept by reading and writing with ruamel.yaml's round trip. Formatting never
changes what a file means: :func:`format_text` reads the result back with the policy
reader and refuses (:class:`FormatError`) if the data differ in any way.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase, CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, FoldedScalarString

from alertpolicy.engine.check.schema import schema_validator
from alertpolicy.engine.errors import FormatError, Location, Problem
from alertpolicy.engine.load.files import read_directory
from alertpolicy.engine.load.safeyaml import parse_file

WIDTH = 100
"""Longest line a flow-style list or mapping may make."""
Schema = dict[str, Any]


def _yaml() -> YAML:
    rt = YAML(typ="rt")
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.width = 4096  # never fold long text over lines
    rt.preserve_quotes = False
    return rt


# ------------------------------------------------------------------ schema


def _resolve(schema: Schema, root: Schema) -> Schema:
    """``schema`` with ``$ref`` (to ``#/$defs/...``) followed."""
    while "$ref" in schema:
        ref = schema["$ref"]
        target = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _alternative(schema: Schema, root: Schema, kind: str) -> Schema:
    """The ``oneOf``/``anyOf`` alternative of ``schema`` for a value of JSON type ``kind``."""
    schema = _resolve(schema, root)
    for key in ("oneOf", "anyOf"):
        for option in schema.get(key, ()):
            option = _resolve(option, root)
            if option.get("type") == kind:
                return option
    return schema


def _child(schema: Schema, root: Schema, key: object) -> tuple[Schema, bool]:
    """The schema of ``key``'s value, and whether it is an entry of a name-keyed mapping
    (a user, a user group, an alert group)."""
    schema = _alternative(schema, root, "object")
    if isinstance(key, str) and key in schema.get("properties", {}):
        return _resolve(schema["properties"][key], root), False
    extra = schema.get("additionalProperties")
    return (_resolve(extra, root), True) if isinstance(extra, dict) else ({}, False)


# ------------------------------------------------------------------ scalars


def needs_quotes(text: str) -> bool:
    """Whether ``text`` must be quoted to be read back as this text by the policy reader."""
    if text == "" or text != text.strip() or "\n" in text:
        return True
    document, problems = parse_file("x", "x", f"x: {text}\n".encode())
    if problems or document is None or document.data.get("x") != text:
        return True
    dumped: str = yaml.safe_dump(text, default_flow_style=True)
    return dumped.startswith(("'", '"'))


def _scalar(value: Any, indent: int = 0, prefix: int = 0) -> Any:
    """``value`` as written: quoted only where needed; long text folded over lines."""
    if not isinstance(value, str):
        return value
    text = str(value)
    if prefix + len(text) > WIDTH and text == " ".join(text.split()) and " " in text:
        return _folded(text, WIDTH - indent - 2)
    return DoubleQuotedScalarString(text) if needs_quotes(text) else text


def _folded(text: str, width: int) -> FoldedScalarString:
    """``text`` as a folded block (``>-``), broken at spaces to fit ``width`` columns."""
    folded = FoldedScalarString(text)
    breaks, start = [], 0
    while len(text) - start > width:
        space = text.rfind(" ", start, start + width + 1)
        if space <= start:
            space = text.find(" ", start + width)
            if space == -1:
                break
        breaks.append(space)
        start = space + 1
    folded.fold_pos = breaks  # type: ignore[attr-defined]
    return folded


def _shown(value: Any) -> str:
    """``value`` as it appears on one line, to measure it."""
    if isinstance(value, CommentedSeq):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, CommentedMap):
        return "{" + ", ".join(f"{_shown(k)}: {_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, DoubleQuotedScalarString):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


# ------------------------------------------------------------------ layout


def _has_comments(node: CommentedBase) -> bool:
    ca = node.ca
    return bool(ca.comment) or any(any(part for part in item if part) for item in ca.items.values())


def _flat(node: Any) -> bool:
    """A list of plain values, or a mapping of plain values and such lists."""
    if isinstance(node, CommentedSeq):
        return not any(isinstance(v, CommentedBase) for v in node) and not _has_comments(node)
    if isinstance(node, CommentedMap):
        return not _has_comments(node) and all(
            not isinstance(v, CommentedBase) or (isinstance(v, CommentedSeq) and _flat(v))
            for v in node.values()
        )
    return False


def _layout(
    node: Any, schema: Schema, root: Schema, indent: int, prefix: int, block: bool = True
) -> Any:
    """``node`` in the canonical layout.

    ``indent`` is the column its block content starts at, ``prefix`` the width of what
    precedes it on its line (``key: ``); ``block`` keeps a mapping in block style (the top
    level, and each user, user group and alert group).
    """
    if isinstance(node, CommentedMap):
        _order(node, _alternative(schema, root, "object"))
        for key in list(node):
            child, entry = _child(schema, root, key)
            shown_key = _scalar(key)
            width = indent + len(_shown(shown_key)) + 2
            node[key] = _layout(node[key], child, root, indent + 2, width, entry)
            _rekey(node, key, shown_key)
        _style(node, prefix, block)
        return node
    if isinstance(node, CommentedSeq):
        items = _resolve(_alternative(schema, root, "array").get("items", {}), root)
        for i, value in enumerate(node):
            node[i] = _layout(value, items, root, indent + 4, indent + 4, False)
        _style(node, prefix, block=False)
        return node
    return _scalar(node, indent - 2, prefix)


def _order(node: CommentedMap, schema: Schema) -> None:
    """Keys the schema names first, in its order; the others after, as written."""
    known = list(schema.get("properties", {}))
    ranked = sorted(node, key=lambda k: (known.index(k) if k in known else len(known),))
    for key in ranked:
        node.move_to_end(key)


def _rekey(node: CommentedMap, key: Any, shown: Any) -> None:
    """Replace ``key`` by ``shown`` (the same text, quoted or not) keeping its place."""
    if type(key) is type(shown):
        return
    keys = list(node)
    position = keys.index(key)
    value = node.pop(key)
    node.insert(position, shown, value)


def _style(node: CommentedMap | CommentedSeq, prefix: int, block: bool) -> None:
    """Flow style when ``node`` is flat, fits after ``prefix`` and is not kept ``block``."""
    if not block and _flat(node) and len(node) and prefix + len(_shown(node)) <= WIDTH:
        node.fa.set_flow_style()
    else:
        node.fa.set_block_style()


# ------------------------------------------------------------------ files


def format_text(file: str, text: str, schema_name: str = "policy") -> str:
    """``text`` (the policy file ``file``) in the canonical layout.

    Raises :class:`FormatError` when the file cannot be read, or if the formatted text
    would not read back as exactly the same data.
    """
    before, problems = parse_file(file, file, text.encode("utf-8"))
    if before is None or problems:
        raise FormatError(
            problems or [Problem("fmt-unreadable", "cannot read", Location(file, 1, 1))]
        )
    rt = _yaml()
    try:
        data = rt.load(text)
    except YAMLError as error:
        raise FormatError(
            [Problem("fmt-unreadable", f"cannot format: {error}", Location(file, 1, 1))]
        ) from None
    if data is None:
        return text
    root = schema_validator(schema_name).schema
    assert isinstance(root, dict)
    _layout(data, root, root, 0, 0)
    out = io.StringIO()
    rt.dump(data, out)
    formatted = out.getvalue()
    after, problems = parse_file(file, file, formatted.encode("utf-8"))
    if after is None or problems or after.data != before.data:
        raise FormatError(
            [
                Problem(
                    "fmt-would-change-meaning",
                    "formatting would change what this file means, so it was left as it is",
                    Location(file, 1, 1),
                )
            ]
        )
    return formatted


def format_directory(path: Path, write: bool) -> list[str]:
    """Format every policy file under ``path``; the files (as shown) the layout changes.

    With ``write`` false nothing is written. Raises :class:`FormatError` listing every file
    that cannot be formatted (nothing is written then), or :class:`PolicyError` when
    ``path`` holds no policy.
    """
    source = read_directory(path)
    problems: list[Problem] = []
    changed: list[tuple[str, str, str]] = []
    for relpath in sorted(source.files):
        shown = source.display_path(relpath)
        raw = source.files[relpath]
        try:
            text = raw.decode("utf-8")
            formatted = format_text(shown, text)
        except UnicodeDecodeError:
            _, found = parse_file(relpath, shown, raw)
            problems += found
            continue
        except FormatError as error:
            problems += error.problems
            continue
        if formatted != text:
            changed.append((relpath, shown, formatted))
    if problems:
        raise FormatError(problems)
    if write:
        for relpath, _, formatted in changed:
            (path / relpath).write_text(formatted, encoding="utf-8")
    return [shown for _, shown, _ in changed]
