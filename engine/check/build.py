"""Check policy files against the schema, merge them, check every reference; build the Policy.

:func:`load_policy` and :func:`load_source` are the front door: they return the checked
:class:`~.model.Policy` or raise :class:`~.errors.PolicyError` with every error found in
every file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError

from alertpolicy.engine.check.schema import quick_check, schema_problems, schema_validator, suggest
from alertpolicy.engine.errors import Location, PolicyError, Problem
from alertpolicy.engine.load.files import PolicySource, read_directory, revision_of
from alertpolicy.engine.load.safeyaml import (
    Document,
    format_path,
    implicit_type_hint,
    is_plain,
    location_of,
    parse_source,
    quoted_hint,
)
from alertpolicy.engine.model import (
    ALL_CATEGORIES,
    AlertGroup,
    AutomaticAlert,
    Policy,
    PolicyFile,
    Settings,
    Targets,
    Triggers,
    User,
    UserGroup,
    frozen_map,
)

MAPPING_SECTIONS = {
    "settings": "setting",
    "user_groups": "user group",
    "users": "user",
    "alert_groups": "alert group",
}


def file_schema_problems(document: Document) -> list[Problem]:
    """Every schema problem of one policy file, located, in admin language."""
    if quick_check("policy")(document.data):
        return []
    return [
        locate_schema_problem(document, error, problem)
        for error in schema_validator("policy").iter_errors(document.data)
        for problem in schema_problems(error)
    ]


def locate_schema_problem(document: Document, error: ValidationError, problem: Problem) -> Problem:
    """``problem`` (found by the schema in ``document``) at its file:line:column.

    Problems about a field name are placed on the key; a name YAML read as a boolean,
    number or null where text is expected becomes ``yaml-implicit-type`` with a hint to
    quote it.
    """
    on_key = problem.code.endswith(("-unknown-field", "-missing-field")) or (
        "propertyNames" in error.absolute_schema_path
    )
    location = document.location(problem.path, key=on_key)
    code, message = problem.code, problem.message
    expected = error.validator_value
    if error.validator == "type" and "string" in (
        [expected] if isinstance(expected, str) else expected
    ):
        node = document.node(problem.path)
        if node is not None and is_plain(node) and not isinstance(error.instance, str):
            code = "yaml-implicit-type"
            hint = implicit_type_hint(node.value, error.instance)
            message = f"{format_path(problem.path)}: {hint}"
    elif error.validator == "type" and isinstance(error.instance, str):
        types = [expected] if isinstance(expected, str) else expected
        message += quoted_hint(document.node(problem.path), types)
    field = format_path(problem.path)
    if problem.path and message.startswith(field):
        message = document.describe(problem.path) + message[len(field) :]
    return Problem(code, message, location, path=problem.path, value=problem.value)


# ------------------------------------------------------------------ merging files


class _Definition:
    """Something a policy file defines (a user, a rule ...), where, and if it is well-formed."""

    __slots__ = ("data", "document", "location", "node", "ok", "path")

    def __init__(
        self,
        document: Document,
        path: tuple,
        location: Location,
        data: Any,
        ok: bool,
        node: yaml.Node,
    ):
        self.document = document
        self.path = path
        self.location = location
        self.data = data
        self.ok = ok
        self.node = node


class _Merged:
    """Every file's sections merged, keyed by section then name (or rule id)."""

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, _Definition]] = {
            s: {} for s in (*MAPPING_SECTIONS, "categories", "automatic_alerts")
        }
        self.problems: list[Problem] = []

    def define(self, section: str, name: str, definition: _Definition, what: str) -> None:
        first = self.sections[section].get(name)
        if first is None:
            self.sections[section][name] = definition
            return
        if section == "categories" and first.document is definition.document:
            return  # a category listed twice in one file is a schema (uniqueItems) error
        code = "duplicate-rule-id" if section == "automatic_alerts" else "duplicate-definition"
        self.problems.append(
            Problem(
                code,
                f"{what} {name!r} is defined twice: here and at {first.location}",
                definition.location,
                path=definition.path,
                value=name,
                related=(first.location,),
            )
        )

    def names(self, section: str) -> dict[str, _Definition]:
        """Every definition of ``section`` by name."""
        return self.sections[section]

    def valid(self, section: str) -> Iterator[tuple[str, _Definition]]:
        """The well-formed definitions of ``section``."""
        return ((n, d) for n, d in self.sections[section].items() if d.ok)


def _merge(documents: list[Document], broken: dict[str, set[tuple]]) -> _Merged:
    merged = _Merged()
    for document in documents:
        bad = broken.get(document.file, set())

        def ok(path: tuple, bad: set[tuple] = bad) -> bool:
            return not ({(), path[:1], path[:2]} & bad)

        for section, what in MAPPING_SECTIONS.items():
            entries = document.data.get(section)
            if not isinstance(entries, dict):
                continue
            keys = document.keys((section,))
            for name, data in entries.items():
                path = (section, name)
                key_node, node = keys[name]
                where = location_of(document.file, key_node)
                definition = _Definition(document, path, where, data, ok(path), node)
                merged.define(section, name, definition, what)
        for section in ("categories", "automatic_alerts"):
            items = document.data.get(section)
            sequence = document.node((section,))
            if not isinstance(items, list) or not isinstance(sequence, yaml.SequenceNode):
                continue
            for index, (item, node) in enumerate(zip(items, sequence.value, strict=True)):
                path = (section, index)
                if section == "categories":
                    name, where = item, location_of(document.file, node)
                elif isinstance(item, dict):
                    name = item.get("id")
                    where = location_of(document.file, _value_node(node, "id"))
                else:
                    continue
                if isinstance(name, str):
                    what = "category" if section == "categories" else "automatic alert id"
                    definition = _Definition(document, path, where, item, ok(path), node)
                    merged.define(section, name, definition, what)
    return merged


def _value_node(node: yaml.Node, key: str) -> yaml.Node:
    """The node of ``key``'s value in mapping ``node`` (``node`` itself if there is none)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == key:
                return value_node
    return node


# ------------------------------------------------------------------ references

REFERENCE_KINDS = {
    "users": ("unknown-user", "user"),
    "user_groups": ("unknown-user-group", "user group"),
    "alert_groups": ("unknown-alert-group", "alert group"),
    "categories": ("unknown-category", "category"),
}


def _references(merged: _Merged) -> Iterator[tuple[Document, tuple, str, str, bool]]:
    """Every name a well-formed definition refers to: (file, path, section, name, is_key)."""
    for uid, user in merged.valid("users"):
        yield (
            user.document,
            ("users", uid, "user_group"),
            "user_groups",
            user.data["user_group"],
            False,
        )
    for name, group in merged.valid("user_groups"):
        for category in group.data.get("category_permissions", {}):
            if category != ALL_CATEGORIES:
                path = ("user_groups", name, "category_permissions", category)
                yield group.document, path, "categories", category, True
    for name, alert_group in merged.valid("alert_groups"):
        members = alert_group.data.get("members", {})
        for section in ("users", "user_groups"):
            for i, member in enumerate(members.get(section, [])):
                path = ("alert_groups", name, "members", section, i)
                yield alert_group.document, path, section, member, False
    for _, rule in merged.valid("automatic_alerts"):
        for part, sections in (("notify", _TARGETS), ("when", ("categories",))):
            for section in sections:
                for i, name in enumerate(rule.data[part].get(section, [])):
                    yield rule.document, (*rule.path, part, section, i), section, name, False


_TARGETS = ("users", "user_groups", "alert_groups")


def _reference_problems(merged: _Merged) -> Iterator[Problem]:
    for document, path, section, name, is_key in _references(merged):
        defined = merged.names(section)
        if name in defined:
            continue
        code, what = REFERENCE_KINDS[section]
        yield Problem(
            code,
            f"{document.describe(path)}: unknown {what} {name!r}{suggest(name, defined)}",
            document.location(path, key=is_key),
            path=path,
            value=name,
        )
    for name, category in merged.names("categories").items():
        if name == ALL_CATEGORIES:
            yield Problem(
                "reserved-category",
                "'*' cannot be a category: in category_permissions it means every category",
                category.location,
                path=category.path,
                value=name,
            )


# ------------------------------------------------------------------ building


def build_policy(
    source: PolicySource, documents: list[Document], problems: Iterable[Problem]
) -> Policy:
    """Check parsed policy files (schema, duplicates, references) and build the Policy.

    ``problems`` are those found while parsing; :class:`PolicyError` carries them with
    every problem found here.
    """
    problems = list(problems)
    for document in documents:
        tagged = {
            p.path
            for p in problems
            if p.code == "yaml-tag" and p.location and p.location.file == document.file
        }
        found = [
            p
            for p in file_schema_problems(document)
            if not any(p.path[: len(t)] == t for t in tagged)
        ]
        problems.extend(found)
        problems.extend(_loose_boolean_problems(document, {p.path for p in found}))
    broken: dict[str, set[tuple]] = {}
    for problem in problems:
        if problem.location is not None:
            broken.setdefault(problem.location.file, set()).add(problem.path[:2])
    merged = _merge(documents, broken)
    problems.extend(merged.problems)
    problems.extend(_reference_problems(merged))
    if problems:
        raise PolicyError(problems)
    return _policy(source, merged)


def _loose_boolean_problems(document: Document, reported: set[tuple]) -> Iterator[Problem]:
    """``yes``/``no``/``on``/``off`` where true/false is expected: other tools read text."""
    for path, node in document.loose_booleans:
        if path in reported:
            continue
        value = str(node.value.lower() in ("yes", "on", "y")).lower()
        yield Problem(
            "yaml-loose-boolean",
            f"{document.describe(path)}: {node.value!r} means {value} only in old YAML (1.1); "
            f"editors and other tools read it as text: write {value}",
            document.location(path),
            path=path,
            value=node.value,
        )


def _policy(source: PolicySource, merged: _Merged) -> Policy:
    settings_defs = merged.names("settings")
    settings_location = min((d.location for d in settings_defs.values()), default=None)
    settings = Settings(
        **{name: d.data for name, d in settings_defs.items()}, location=settings_location
    )
    user_groups = {
        name: UserGroup(
            name=name,
            system_permissions=frozenset(d.data.get("system_permissions", ())),
            category_permissions=frozen_map(
                {c: frozenset(p) for c, p in d.data.get("category_permissions", {}).items()}
            ),
            location=d.location,
        )
        for name, d in merged.names("user_groups").items()
    }
    users = {
        uid: User(
            id=uid,
            name=d.data["name"],
            email=d.data["email"],
            user_group=d.data["user_group"],
            key_holder=d.data.get("key_holder", False),
            active=d.data.get("active", True),
            location=d.location,
        )
        for uid, d in merged.names("users").items()
    }
    alert_groups = {}
    for name, d in merged.names("alert_groups").items():
        members = d.data.get("members", {})
        alert_groups[name] = AlertGroup(
            name=name,
            description=d.data.get("description", ""),
            users=tuple(members.get("users", ())),
            user_groups=tuple(members.get("user_groups", ())),
            location=d.location,
        )
    categories = merged.names("categories")
    return Policy(
        settings=settings,
        categories=tuple(categories),
        category_locations=frozen_map({name: d.location for name, d in categories.items()}),
        user_groups=frozen_map(user_groups),
        users=frozen_map(users),
        alert_groups=frozen_map(alert_groups),
        automatic_alerts=tuple(_rule(d) for d in merged.names("automatic_alerts").values()),
        files=tuple(
            PolicyFile(path, hashlib.sha256(source.files[path]).hexdigest())
            for path in sorted(source.files)
        ),
        revision=revision_of(source),
    )


def _rule(definition: _Definition) -> AutomaticAlert:
    data = definition.data
    notify, when = data["notify"], data["when"]
    return AutomaticAlert(
        id=data["id"],
        notify=Targets(**{k: tuple(notify.get(k, ())) for k in _TARGETS}),
        when=Triggers(
            **{k: tuple(when.get(k, ())) for k in ("categories", "students", "student_groups")}
        ),
        match=data.get("match", "any"),
        description=data.get("description", ""),
        location=location_of(definition.document.file, definition.node),
    )


def load_source(source: PolicySource) -> Policy:
    """The checked policy held by ``source``; :class:`PolicyError` lists every error.

    Reading a large policy allocates hundreds of thousands of long-lived objects, which
    the cyclic garbage collector would rescan over and over without freeing anything: a
    program loading large policies pauses the collector around this call (its entry
    point's choice, see ``engine/serve/tuning.py`` and ``cli.py``).
    """
    documents, problems = parse_source(source)
    return build_policy(source, documents, problems)


def load_policy(path: Path) -> Policy:
    """Load and check the policy directory at ``path`` (schema, duplicates, references).

    Raises :class:`PolicyError` carrying every error found across all files.
    """
    return load_source(read_directory(Path(path)))
