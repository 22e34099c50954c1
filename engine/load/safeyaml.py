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
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from alertpolicy.engine.errors import Location, PathItem, Problem
from alertpolicy.engine.load.files import PolicySource

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

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


def nfc(text: str) -> str:
    """``text`` in Unicode normal form C (so look-alike spellings compare equal)."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def location_of(file: str, node: yaml.Node) -> Location:
    """The 1-based location where ``node`` starts in ``file``."""
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


def is_plain(node: yaml.Node) -> bool:
    """Whether ``node`` is an unquoted scalar (YAML guesses its type)."""
    return isinstance(node, yaml.ScalarNode) and not node.style


@dataclass
class Document:
    """One policy file read as plain data, with its YAML nodes to locate any value by path.

    ``relpath`` is the path inside the policy directory, ``file`` the path as shown to
    people, ``data`` the top-level mapping (``{}`` for an empty file), ``root`` its node.
    """

    relpath: str
    file: str
    data: dict[str, Any]
    root: yaml.Node | None
    loose_booleans: list[tuple[tuple[PathItem, ...], yaml.ScalarNode]] = field(default_factory=list)
    """Values written ``yes``/``no``/``on``/``off``: booleans only in YAML 1.1."""
    _keys: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = field(
        default_factory=dict, repr=False
    )

    def nodes(self, path: Iterable[PathItem]) -> list[tuple[yaml.Node | None, yaml.Node]]:
        """(key node, value node) for each step of ``path`` that exists, from the root."""
        steps: list[tuple[yaml.Node | None, yaml.Node]] = []
        node = self.root
        if node is None:
            return steps
        steps.append((None, node))
        for item in path:
            if isinstance(node, yaml.MappingNode) and isinstance(item, str):
                pair = self._mapping(node).get(item)
                if pair is None:
                    break
                steps.append(pair)
                node = pair[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(item, int):
                if not 0 <= item < len(node.value):
                    break
                node = node.value[item]
                steps.append((None, node))
            else:
                break
        return steps

    def node(self, path: Iterable[PathItem]) -> yaml.Node | None:
        """The node at exactly ``path``, or ``None`` if there is none."""
        path = tuple(path)
        steps = self.nodes(path)
        return steps[-1][1] if steps and len(steps) == len(path) + 1 else None

    def location(self, path: Iterable[PathItem], key: bool = False) -> Location:
        """Where the value at ``path`` is (its key when ``key``), or its nearest parent."""
        steps = self.nodes(path)
        if not steps:
            return Location(self.file, 1, 1)
        key_node, node = steps[-1]
        return location_of(self.file, key_node if key and key_node is not None else node)

    def keys(self, path: Iterable[PathItem]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """(key node, value node) by key, of the mapping at ``path`` (empty if none)."""
        node = self.node(path)
        return self._mapping(node) if isinstance(node, yaml.MappingNode) else {}

    def _mapping(self, node: yaml.MappingNode) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        index = self._keys.get(id(node))
        if index is None:
            index = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != MERGE:
                    index.setdefault(nfc(key_node.value), (key_node, value_node))
            self._keys[id(node)] = index
        return index


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

    def problem(self, code: str, message: str, node: yaml.Node, path: tuple, **kw: Any) -> None:
        self.problems.append(Problem(code, message, location_of(self.file, node), path=path, **kw))

    def convert(self, node: yaml.Node, path: tuple, expanding: bool) -> Any:
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
            return self.mapping(node, path, expanding)
        finally:
            self.open.discard(key)

    def count_expanded(self, node: yaml.Node, path: tuple) -> None:
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

    def tag_problem(self, node: yaml.Node, path: tuple) -> None:
        self.problem(
            "yaml-tag",
            f"the tag {node.tag.replace(_TAG, '!!')} is not allowed: a policy holds "
            "plain data only (text, numbers, true/false, lists and mappings)",
            node,
            path,
        )

    def mapping(self, node: yaml.MappingNode, path: tuple, expanding: bool) -> dict[str, Any]:
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
            return nfc(text)
        if tag == BOOL:
            return _CONSTRUCTOR.construct_yaml_bool(node)
        if tag == INT:
            return _CONSTRUCTOR.construct_yaml_int(node)
        if tag == FLOAT:
            return _CONSTRUCTOR.construct_yaml_float(node)
        if tag == NULL:
            return None
        return nfc(text)


def implicit_type_hint(text: str, value: Any) -> str:
    """Why an unquoted ``text`` is not a name: what YAML reads it as, and the fix."""
    if value is None:
        if text == "":
            return "has no value, but a name is expected here"
        read_as = "null (no value)"
    elif isinstance(value, bool):
        read_as = f"the boolean {str(value).lower()}"
    else:
        read_as = f"the number {value!r}"
    return f'{text!r} is read by YAML as {read_as}; quote it: "{text}"'


def format_path(path: Iterable[PathItem]) -> str:
    """A field path as people read it: ``automatic_alerts[3].notify.users[0]``."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else str(item)
    return out or "(top level)"


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
        return None, [_syntax_problem(file, error)]
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


def _too_deep(text: str) -> yaml.Mark | None:
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
            where = Location(problem.location.file, mark.line + 1, mark.column + 1)
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


def _syntax_problem(file: str, error: yaml.YAMLError) -> Problem:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None)
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    text = problem or str(error)
    if problem and context and context_mark and context_mark is not mark:
        where = f"line {context_mark.line + 1}, column {context_mark.column + 1}"
        text = f"{problem} ({context} that starts at {where})"
    location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
    return Problem("yaml-syntax", f"YAML syntax error: {text}", location)


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
