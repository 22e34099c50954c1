"""Read policy files as plain data, refusing every YAML trap, and keep where each value was.

YAML is parsed into nodes (never constructed into objects), then converted to plain
Python data here: text, numbers, true/false, null, lists and mappings.  Refused, each
with ``file:line:column``: syntax errors, files that are not UTF-8, a top level that is
not a mapping, duplicate keys, tags beyond plain data (``!!python/object``, ``!custom``),
merge keys (``<<``), and aliases that expand beyond a small budget (billion laughs).

:func:`parse_source` reads every file of a policy into :class:`Document` values; checking
them and building the policy is :mod:`alertpolicy.engine.check.build`'s work.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from alertpolicy.engine.errors import Location, PathItem, Problem
from alertpolicy.engine.load.document import (
    Document,
    FieldPath,
    Loader,
    describe_path,
    format_path,
    implicit_type_hint,
    is_plain,
    location_of,
    nfc,
    quoted_hint,
)
from alertpolicy.engine.load.files import PolicySource
from alertpolicy.engine.load.syntax import syntax_problem

__all__ = [
    "Document",
    "describe_path",
    "format_path",
    "implicit_type_hint",
    "is_plain",
    "location_of",
    "nfc",
    "parse_file",
    "parse_source",
    "quoted_hint",
]

ALIAS_BUDGET = 10_000
"""How many nodes aliases (``*name``) may add to one file when expanded."""
MAX_DEPTH = 64
"""How deeply lists and mappings may nest in a policy file."""
C_SAFE_DEPTH = 5_000
"""Nesting libyaml's composer handles safely; it recurses in C and crashes far deeper."""

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL = (f"{_TAG}{t}" for t in ("str", "int", "float", "bool", "null"))
SEQ, MAP, MERGE, TIMESTAMP = (f"{_TAG}{t}" for t in ("seq", "map", "merge", "timestamp"))
_PLAIN_TAGS = frozenset({STR, INT, FLOAT, BOOL, NULL, SEQ, MAP, TIMESTAMP})

# Plain scalars YAML 1.2 reads as numbers although YAML 1.1 (PyYAML) reads them as text:
# an exponent without a dot or sign (1e3), and 0o octal.  Editors and other tools use 1.2.
_YAML12_FLOAT = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")
_YAML12_OCTAL = re.compile(r"^0o[0-7]+$")
_NUMBER_START = frozenset("0123456789+-.")
_CONSTRUCTOR = SafeConstructor()


class _TooBig(Exception):
    """Aliases expanded beyond the budget, or nesting went too deep."""

    def __init__(self, problem: Problem):
        self.problem = problem


class _Converter:
    """Turns one file's node tree into plain data, collecting problems as it goes."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []
        self.converted: set[int] = set()
        self.open: set[int] = set()
        self.alias_nodes = 0
        self.loose_booleans: list[tuple[tuple[PathItem, ...], yaml.ScalarNode]] = []

    def problem(self, code: str, message: str, node: yaml.Node, path: FieldPath, **kw: Any) -> None:
        self.problems.append(Problem(code, message, location_of(self.file, node), path=path, **kw))

    def convert(self, node: yaml.Node, path: FieldPath, expanding: bool) -> Any:
        if node.__class__ is yaml.ScalarNode:
            if expanding:
                self.count_expanded(node, path)
            if node.tag == STR and (node.style or node.value[:1] not in _NUMBER_START):
                return nfc(node.value)  # the common case, kept fast
            if node.tag not in _PLAIN_TAGS:
                self.tag_problem(node, path)
            elif node.tag == BOOL and node.value.lower() not in ("true", "false"):
                self.loose_booleans.append((path, node))
            return self.scalar(node)
        key = id(node)
        if key in self.open:
            raise _TooBig(
                Problem(
                    "yaml-alias",
                    "an alias refers to the list or mapping it is inside; "
                    "the value would be endless",
                    location_of(self.file, node),
                    path=path,
                )
            )
        if key in self.converted:
            expanding = True  # met again: this is an alias (*name) being expanded
        self.converted.add(key)
        if expanding:
            self.count_expanded(node, path)
        if len(path) > MAX_DEPTH:
            raise _TooBig(
                Problem(
                    "yaml-too-deep",
                    f"lists and mappings nest more than {MAX_DEPTH} levels deep here",
                    location_of(self.file, node),
                    path=path,
                )
            )
        if node.tag not in _PLAIN_TAGS:
            self.tag_problem(node, path)
        self.open.add(key)
        try:
            if isinstance(node, yaml.SequenceNode):
                return [
                    self.convert(item, (*path, i), expanding) for i, item in enumerate(node.value)
                ]
            assert isinstance(node, yaml.MappingNode)
            return self.mapping(node, path, expanding)
        finally:
            self.open.discard(key)

    def count_expanded(self, node: yaml.Node, path: FieldPath) -> None:
        self.alias_nodes += 1
        if self.alias_nodes > ALIAS_BUDGET:
            raise _TooBig(
                Problem(
                    "yaml-alias-budget",
                    f"aliases (*name) expand this file beyond {ALIAS_BUDGET} values; "
                    "write the values out instead of repeating them through aliases",
                    location_of(self.file, node),
                    path=path,
                )
            )

    def tag_problem(self, node: yaml.Node, path: FieldPath) -> None:
        self.problem(
            "yaml-tag",
            f"the tag {node.tag.replace(_TAG, '!!')} is not allowed: a policy holds "
            "plain data only (text, numbers, true/false, lists and mappings)",
            node,
            path,
        )

    def mapping(self, node: yaml.MappingNode, path: FieldPath, expanding: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE:
                self.problem(
                    "yaml-merge-key",
                    "merge keys (<<) are not supported in a policy: write the keys out, "
                    "so that every value is visible where it applies",
                    key_node,
                    path,
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(
                    "yaml-complex-key",
                    "a key must be a name, not a list or mapping",
                    key_node,
                    path,
                )
                continue
            name = nfc(key_node.value)
            if name in first_seen:
                first = location_of(self.file, first_seen[name])
                self.problem(
                    "duplicate-key",
                    f"duplicate key {name!r}: it is already defined at line {first.line} "
                    f"(column {first.column}); YAML would silently keep only one of them",
                    key_node,
                    (*path, name),
                    value=name,
                    related=(first,),
                )
                continue
            first_seen[name] = key_node
            key_value = self.scalar(key_node)
            if key_node.tag not in _PLAIN_TAGS:
                self.problem(
                    "yaml-tag",
                    f"the tag {key_node.tag.replace(_TAG, '!!')} is not allowed on a key: "
                    "a policy holds plain data only",
                    key_node,
                    (*path, name),
                )
            elif key_value != name:
                hint = implicit_type_hint(key_node.value, key_value)
                self.problem(
                    "yaml-implicit-type",
                    f"{format_path((*path, name))}: {hint}",
                    key_node,
                    (*path, name),
                    value=name,
                )
            out[name] = self.convert(value_node, (*path, name), expanding)
        return out

    def scalar(self, node: yaml.ScalarNode) -> Any:
        text = node.value
        tag = node.tag
        if tag == STR or tag not in _PLAIN_TAGS:
            if not node.style and tag == STR and text[:1] in _NUMBER_START:
                if _YAML12_FLOAT.match(text):
                    return float(text)
                if _YAML12_OCTAL.match(text):
                    return int(text[2:], 8)
            # One object for each text a file repeats (user groups, categories...): a
            # policy then pickles, and is kept in memory, with each text once.
            return sys.intern(nfc(text))
        if tag == BOOL:
            return _CONSTRUCTOR.construct_yaml_bool(node)
        if tag == INT:
            return _CONSTRUCTOR.construct_yaml_int(node)
        if tag == FLOAT:
            return _CONSTRUCTOR.construct_yaml_float(node)
        if tag == NULL:
            return None
        return nfc(text)


def parse_file(relpath: str, file: str, raw: bytes) -> tuple[Document | None, list[Problem]]:
    """Parse one policy file; the document is ``None`` when nothing usable could be read."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [_not_utf8(file, raw, error)]
    text = text.removeprefix("\ufeff")
    try:
        too_deep = _too_deep(text)
        if too_deep is not None:
            return None, [
                Problem(
                    "yaml-too-deep",
                    f"lists and mappings nest more than {MAX_DEPTH} levels deep here",
                    Location(file, too_deep.line + 1, too_deep.column + 1),
                )
            ]
        root = yaml.compose(text, Loader=Loader)
    except yaml.YAMLError as error:
        return None, [syntax_problem(file, text, error)]
    except RecursionError:
        return None, [
            Problem(
                "yaml-too-deep",
                "lists and mappings nest too deeply to read",
                Location(file, 1, 1),
            )
        ]
    if root is None:
        return Document(relpath, file, {}, None), []
    if not isinstance(root, yaml.MappingNode):
        what = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        return None, [
            Problem(
                "not-a-mapping",
                f"a policy file must be a mapping of sections (settings, categories, "
                f"user_groups, users, alert_groups, automatic_alerts), but this file is {what}",
                location_of(file, root),
            )
        ]
    converter = _Converter(file)
    try:
        data = converter.convert(root, (), expanding=False)
    except _TooBig as too_big:
        problem = too_big.problem
        if problem.code == "yaml-alias-budget":
            problem = _at_first_alias(text, problem)
        return None, [*converter.problems, problem]
    return Document(relpath, file, data, root, converter.loose_booleans), converter.problems


def _too_deep(text: str) -> Any:
    """Where ``text`` nests deeper than :data:`MAX_DEPTH`, if it might crash the composer.

    Nesting needs a ``[``/``{`` or a further column per level, so most files are
    certainly shallow; the rest are read as a flat stream of events, stopping early.
    """
    bound = text.count("[") + text.count("{") + 2 * max(map(len, text.splitlines()), default=0)
    if bound <= C_SAFE_DEPTH:
        return None
    depth = 0
    try:
        for event in yaml.parse(text, Loader=Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return event.start_mark
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as error:
        # Newer libyaml refuses deep nesting itself, scanning ahead of the events.
        if "nesting depth" in str(error.problem) and error.problem_mark is not None:
            return error.problem_mark
        raise
    return None


def _at_first_alias(text: str, problem: Problem) -> Problem:
    """``problem`` placed at the file's first alias (``*name``), where expansion starts."""
    for event in yaml.parse(text, Loader=Loader):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            assert mark is not None
            file = problem.location.file if problem.location else ""
            where = Location(file, mark.line + 1, mark.column + 1)
            return Problem(problem.code, problem.message, where, path=problem.path)
    return problem


def _not_utf8(file: str, raw: bytes, error: UnicodeDecodeError) -> Problem:
    start = error.start
    line = raw.count(b"\n", 0, start) + 1
    column = start - (raw.rfind(b"\n", 0, start) + 1) + 1
    return Problem(
        "not-utf8",
        f"the file is not UTF-8 text: byte 0x{raw[start]:02x} at byte offset {start} "
        "cannot be read; save the file as UTF-8",
        Location(file, line, column),
    )


def parse_source(source: PolicySource) -> tuple[list[Document], list[Problem]]:
    """Parse every file of a policy source: the usable documents and every problem found."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for relpath in sorted(source.files):
        document, found = parse_file(relpath, source.display_path(relpath), source.files[relpath])
        problems.extend(found)
        if document is not None:
            documents.append(document)
    return documents, problems
