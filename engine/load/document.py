"""A policy file read as plain data, with its YAML nodes to say where any value was.

:class:`Document` locates a field path (``file:line:column``); :func:`describe_path` names
the field as people read it (a rule by its id); the hints explain a value YAML typed
differently from what was meant (a name read as a boolean, a quoted ``"true"``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

import yaml

from alertpolicy.engine.errors import Location, PathItem

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVED: dict[tuple[str, tuple[bool, bool]], str] = {}
"""The implicit tag of each plain or quoted scalar seen (a few thousand texts repeat)."""
_RESOLVED_MOST = 100_000


class Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """PyYAML's safe loader (libyaml's when there is one), remembering each scalar's
    implicit tag: the same texts (categories, user groups, names) recur in every file."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> str:
        """The tag of a node (a scalar's from memory when it was seen before)."""
        if kind is not yaml.ScalarNode or not isinstance(value, str):
            return str(super().resolve(kind, value, implicit))
        key = (value, tuple(implicit))
        tag = _RESOLVED.get(key)
        if tag is None:
            tag = str(super().resolve(kind, value, implicit))
            if len(_RESOLVED) < _RESOLVED_MOST:
                _RESOLVED[key] = tag
        return tag


FieldPath = tuple[PathItem, ...]
"""A field path inside a document."""
MERGE = "tag:yaml.org,2002:merge"


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


Outline = dict[str, Any]
"""Where a document's definitions are, as :meth:`Document.entry_keys` and
:meth:`Document.entry_items` answered: kept with a parsed file (:mod:`.parsecache`) so
that a file read again need not be parsed into nodes to place them."""


class Document:
    """One policy file read as plain data, with its YAML nodes to locate any value by path.

    ``relpath`` is the path inside the policy directory, ``file`` the path as shown to
    people, ``data`` the top-level mapping (``{}`` for an empty file), ``root`` its node.
    A document read back from a cache (``text`` and ``outline`` given, ``root`` not) places
    its definitions from the outline, and parses ``text`` into nodes only when asked for
    anything else (where a problem is).
    """

    def __init__(
        self,
        relpath: str,
        file: str,
        data: dict[str, Any],
        root: yaml.Node | None,
        loose_booleans: list[tuple[tuple[PathItem, ...], yaml.ScalarNode]] | None = None,
        *,
        text: str | None = None,
        outline: Outline | None = None,
    ) -> None:
        self.relpath = relpath
        self.file = file
        self.data = data
        self.loose_booleans = loose_booleans or []
        """Values written ``yes``/``no``/``on``/``off``: booleans only in YAML 1.1."""
        self.outline: Outline = outline if outline is not None else {}
        self._root = root
        self._text = text
        self._keys: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = {}

    @property
    def root(self) -> yaml.Node | None:
        """The top-level node (``None`` for an empty file), parsed when first needed."""
        if self._text is not None:
            self._root = yaml.compose(self._text, Loader=Loader)
            self._text = None
        return self._root

    def entry_keys(self, section: str) -> dict[str, tuple[int, int]]:
        """(line, column) of each key of the mapping ``section`` (empty if it is none)."""
        key = f"keys {section}"
        found: dict[str, tuple[int, int]] | None = self.outline.get(key)
        if found is None:
            keys = self.keys((section,))
            found = {name: _line_column(key_node) for name, (key_node, _) in keys.items()}
            self.outline[key] = found
        return found

    def entry_items(self, section: str, name_field: str) -> list[tuple[int, int, int, int]]:
        """For each item of the list ``section``: (line, column) where it starts, then
        (line, column) of its ``name_field`` value (of the item itself when it has none)."""
        key = f"items {section} {name_field}"
        found: list[tuple[int, int, int, int]] | None = self.outline.get(key)
        if found is None:
            sequence = self.node((section,))
            items = sequence.value if isinstance(sequence, yaml.SequenceNode) else []
            found = [
                (*_line_column(item), *_line_column(_value_node(item, name_field)))
                for item in items
            ]
            self.outline[key] = found
        return found

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

    def describe(self, path: Iterable[PathItem]) -> str:
        """The field at ``path`` as people read it, naming a rule by its id (see
        :func:`describe_path`)."""
        return describe_path(self.data, path)

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


def _line_column(node: yaml.Node) -> tuple[int, int]:
    """The 1-based (line, column) where ``node`` starts."""
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1)


def _value_node(node: yaml.Node, key: str) -> yaml.Node:
    """The node of ``key``'s value in mapping ``node`` (``node`` itself if there is none)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, found in node.value:
            if key_node.value == key:
                value: yaml.Node = found
                return value
    return node


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


def quoted_hint(node: yaml.Node | None, expected: Iterable[str]) -> str:
    """``; remove the quotes: true`` when a quoted ``node`` would be the expected type plain.

    ``expected`` holds JSON Schema type names (``boolean``, ``integer``, ``number``).
    """
    if not isinstance(node, yaml.ScalarNode) or node.style not in ("'", '"'):
        return ""
    try:
        plain = yaml.load(node.value, Loader=Loader)
    except yaml.YAMLError:
        return ""
    wanted = set(expected)
    fits = (
        (isinstance(plain, bool) and "boolean" in wanted and node.value in ("true", "false"))
        or (
            isinstance(plain, int)
            and not isinstance(plain, bool)
            and wanted & {"integer", "number"}
        )
        or (isinstance(plain, float) and "number" in wanted)
    )
    return f"; remove the quotes: {node.value}" if fits else ""


def describe_path(data: Any, path: Iterable[PathItem]) -> str:
    """A field path as people read it, naming a rule by its id, not its position.

    ``automatic alert 'self-harm-to-dsls', notify.users[1]`` rather than
    ``automatic_alerts[3].notify.users[1]`` (which is kept where the rule has no id).
    """
    path = tuple(path)
    if len(path) >= 2 and path[0] == "automatic_alerts" and isinstance(path[1], int):
        rules = data.get("automatic_alerts") if isinstance(data, dict) else None
        rule = rules[path[1]] if isinstance(rules, list) and path[1] < len(rules) else None
        rule_id = rule.get("id") if isinstance(rule, dict) else None
        if isinstance(rule_id, str) and rule_id:
            named = f"automatic alert {rule_id!r}"
            return f"{named}, {format_path(path[2:])}" if path[2:] else named
    return format_path(path)


def format_path(path: Iterable[PathItem]) -> str:
    """A field path as people read it: ``automatic_alerts[3].notify.users[0]``."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else str(item)
    return out or "(top level)"
