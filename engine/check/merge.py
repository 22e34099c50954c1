"""Merging a policy's files: every definition by section and name, where it was written.

Sections merge across files; the same name defined twice (a user in two files, a rule id
used twice, a category or student group listed in two files) is a problem naming both
places.  A definition knows whether it is well-formed (its file's schema check found no
problem inside it), so that later checks skip what is already reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from alertpolicy.engine.errors import Location, Problem
from alertpolicy.engine.load.safeyaml import Document

MAPPING_SECTIONS = {
    "settings": "setting",
    "user_groups": "user group",
    "users": "user",
    "alert_groups": "alert group",
}
LIST_SECTIONS = {
    "categories": "category",
    "student_groups": "student group",
    "automatic_alerts": "automatic alert id",
}
"""Sections that are lists, and what an entry's name is called."""
NAME_FIELD = {"categories": "name", "student_groups": "name", "automatic_alerts": "id"}
"""Where a list entry written as a mapping keeps its name."""


@dataclass(slots=True)
class Definition:
    """Something a policy file defines (a user, a rule ...), where, and if it is well-formed."""

    document: Document
    path: tuple[str | int, ...]
    location: Location
    data: Any
    ok: bool
    start: Location
    """Where the definition starts (a list entry's first line, a mapping entry's key)."""

    def field(self, name: str, default: Any = None) -> Any:
        """``name`` of a definition written as a mapping (``default`` for a bare name)."""
        return self.data.get(name, default) if isinstance(self.data, dict) else default


class Merged:
    """Every file's sections merged, keyed by section then name (or rule id)."""

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, Definition]] = {
            s: {} for s in (*MAPPING_SECTIONS, *LIST_SECTIONS)
        }
        self.present: set[str] = set()
        """The sections at least one file has (even empty)."""
        self.problems: list[Problem] = []

    def define(self, section: str, name: str, definition: Definition, what: str) -> None:
        """Record ``definition``; a second definition of ``name`` is a problem."""
        first = self.sections[section].get(name)
        if first is None:
            self.sections[section][name] = definition
            return
        same_entry = first.document is definition.document and first.data == definition.data
        if same_entry and section != "automatic_alerts":
            return  # the same entry twice in one list is a schema (uniqueItems) error
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

    def names(self, section: str) -> dict[str, Definition]:
        """Every definition of ``section`` by name."""
        return self.sections[section]

    def valid(self, section: str) -> Iterator[tuple[str, Definition]]:
        """The well-formed definitions of ``section``."""
        return ((n, d) for n, d in self.sections[section].items() if d.ok)


def merge(documents: list[Document], broken: dict[str, set[tuple[str | int, ...]]]) -> Merged:
    """Every definition of ``documents``; ``broken`` holds, per file, the paths (two deep)
    where its schema check found problems."""
    merged = Merged()
    for document in documents:
        bad = broken.get(document.file, set())

        def ok(path: tuple[str | int, ...], bad: set[tuple[str | int, ...]] = bad) -> bool:
            return not ({(), path[:1], path[:2]} & bad)

        merged.present.update(s for s in (*MAPPING_SECTIONS, *LIST_SECTIONS) if s in document.data)
        for section, what in MAPPING_SECTIONS.items():
            entries = document.data.get(section)
            if not isinstance(entries, dict):
                continue
            keys = document.entry_keys(section)
            for name, data in entries.items():
                path = (section, name)
                where = Location(document.file, *keys[name])
                merged.define(
                    section, name, Definition(document, path, where, data, ok(path), where), what
                )
        for section, what in LIST_SECTIONS.items():
            items = document.data.get(section)
            if not isinstance(items, list):
                continue
            places = document.entry_items(section, NAME_FIELD[section])
            if len(places) != len(items):
                continue  # the section is not a list node: nothing to place
            for index, (item, place) in enumerate(zip(items, places, strict=True)):
                path = (section, index)
                start = Location(document.file, place[0], place[1])
                if isinstance(item, dict):
                    name = item.get(NAME_FIELD[section])
                    where = Location(document.file, place[2], place[3])
                elif section != "automatic_alerts":
                    name, where = item, start
                else:
                    continue
                if isinstance(name, str):
                    definition = Definition(document, path, where, item, ok(path), start)
                    merged.define(section, name, definition, what)
    return merged
