"""Check policy files against the schema, merge them, check every reference; build the Policy.

:func:`load_policy` and :func:`load_source` are the front door: they return the checked
:class:`~.model.Policy` or raise :class:`~.errors.PolicyError` with every error found in
every file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError

from alertpolicy.engine.check.merge import Definition, Merged, merge
from alertpolicy.engine.check.references import REFERENCE_KINDS, TARGETS, reference_problems
from alertpolicy.engine.check.schema import quick_check, schema_problems, schema_validator
from alertpolicy.engine.errors import PathItem, PolicyError, Problem
from alertpolicy.engine.load.files import PolicySource, read_directory, revision_of
from alertpolicy.engine.load.parsecache import ParseCache
from alertpolicy.engine.load.safeyaml import (
    Document,
    format_path,
    implicit_type_hint,
    is_plain,
    parse_source,
    quoted_hint,
)
from alertpolicy.engine.model import (
    AlertGroup,
    AutomaticAlert,
    Policy,
    PolicyFile,
    Settings,
    StudentGroup,
    Targets,
    Triggers,
    User,
    UserGroup,
    frozen_map,
)

__all__ = [
    "REFERENCE_KINDS",
    "build_policy",
    "file_schema_problems",
    "load_policy",
    "load_source",
    "locate_schema_problem",
]


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
    expected: Any = error.validator_value  # typed "Any | Unset" by jsonschema
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
    broken: dict[str, set[tuple[PathItem, ...]]] = {}
    for problem in problems:
        if problem.location is not None:
            broken.setdefault(problem.location.file, set()).add(problem.path[:2])
    problems.extend(_shared_layer_problems(source, documents))
    merged = merge(documents, broken)
    problems.extend(merged.problems)
    problems.extend(reference_problems(merged))
    if problems:
        raise PolicyError(problems)
    return _policy(source, merged)


SHARED_SECTIONS = ("users", "user_groups", "alert_groups")
"""What a layer several policies share (a trust's ``trust/``) may define."""


def _shared_layer_problems(source: PolicySource, documents: list[Document]) -> Iterator[Problem]:
    """A section of a shared layer's file that only a school's own policy may define."""
    if not source.shared:
        return
    for document in documents:
        if not document.relpath.startswith(source.shared):
            continue
        for section in sorted(set(document.data) - set(SHARED_SECTIONS)):
            yield Problem(
                "shared-section",
                f"{section}: the shared layer {source.shared} may define only users, user "
                f"groups and alert groups, which every school may name; move {section} into "
                "each school's own folder",
                document.location((section,), key=True),
                path=(section,),
                value=section,
            )


def _loose_boolean_problems(
    document: Document, reported: set[tuple[PathItem, ...]]
) -> Iterator[Problem]:
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


def _policy(source: PolicySource, merged: Merged) -> Policy:
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
            restricted_to=_restriction(d),
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
            restricted_to=_restriction(d),
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
        category_parents=frozen_map(
            {name: d.field("parent") for name, d in categories.items() if d.field("parent")}
        ),
        category_colours=frozen_map(
            {name: d.field("colour") for name, d in categories.items() if d.field("colour")}
        ),
        student_groups=_student_groups(merged),
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


def _restriction(definition: Definition) -> tuple[str, ...] | None:
    """The student groups a user or user group is restricted to, sorted, if it is."""
    restricted = definition.field("restricted_to")
    return tuple(sorted(set(restricted["student_groups"]))) if restricted else None


def _student_groups(merged: Merged) -> Mapping[str, StudentGroup] | None:
    """The declared student groups, or ``None`` when no file has the section."""
    if "student_groups" not in merged.present:
        return None
    return frozen_map(
        {
            name: StudentGroup(name, d.field("kind"), d.field("year"), d.location)
            for name, d in merged.names("student_groups").items()
        }
    )


def _rule(definition: Definition) -> AutomaticAlert:
    data = definition.data
    notify, when = data["notify"], data["when"]
    return AutomaticAlert(
        id=data["id"],
        notify=Targets(**{k: tuple(notify.get(k, ())) for k in TARGETS}),
        when=Triggers(
            **{k: tuple(when.get(k, ())) for k in ("categories", "students", "student_groups")}
        ),
        match=data.get("match", "any"),
        description=data.get("description", ""),
        location=definition.start,
    )


def load_source(source: PolicySource, cache: ParseCache | None = None) -> Policy:
    """The checked policy held by ``source``; :class:`PolicyError` lists every error.

    With ``cache``, files parsed before are read from it, and files parsed now are kept
    in it (:mod:`alertpolicy.engine.load.parsecache`).

    Reading a large policy allocates hundreds of thousands of long-lived objects, which
    the cyclic garbage collector would rescan over and over without freeing anything: a
    program loading large policies pauses the collector around this call (its entry
    point's choice, see ``engine/serve/tuning.py`` and ``commands/``).
    """
    if cache is None:
        documents, problems = parse_source(source)
        return build_policy(source, documents, problems)
    documents, problems, fresh = cache.parse(source)
    try:
        return build_policy(source, documents, problems)
    finally:
        cache.keep(fresh)  # after building: their outlines are filled


def load_policy(path: Path) -> Policy:
    """Load and check the policy directory at ``path`` (schema, duplicates, references).

    Raises :class:`PolicyError` carrying every error found across all files.
    """
    return load_source(read_directory(Path(path)))
