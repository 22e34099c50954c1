"""Every name a policy refers to must exist: users, user groups, alert groups, categories,
a sub-category's parent, and (when the policy declares them) student groups.

Each problem is located at the name that is wrong and, where a defined name is close,
says which one was probably meant.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from alertpolicy.engine.check.merge import Definition, Merged
from alertpolicy.engine.check.schema import suggest
from alertpolicy.engine.errors import PathItem, Problem
from alertpolicy.engine.load.safeyaml import Document, format_path
from alertpolicy.engine.model import ALL_CATEGORIES
from alertpolicy.engine.rules import group_key

REFERENCE_KINDS = {
    "users": ("unknown-user", "user"),
    "user_groups": ("unknown-user-group", "user group"),
    "alert_groups": ("unknown-alert-group", "alert group"),
    "categories": ("unknown-category", "category"),
    "student_groups": ("unknown-student-group", "student group"),
}
TARGETS = ("users", "user_groups", "alert_groups")

Reference = tuple[Document, tuple[PathItem, ...], str, str, bool]
"""(file, path, section referred to, name, whether the name is a mapping key)."""


def _restrictions(section: str, name: str, definition: Definition) -> Iterator[Reference]:
    restricted = definition.field("restricted_to") or {}
    for i, group in enumerate(restricted.get("student_groups", [])):
        path: tuple[PathItem, ...] = (section, name, "restricted_to", "student_groups", i)
        yield definition.document, path, "student_groups", group, False


def references(merged: Merged) -> Iterator[Reference]:
    """Every name a well-formed definition refers to."""
    declared = "student_groups" in merged.present
    for uid, user in merged.valid("users"):
        path: tuple[PathItem, ...] = ("users", uid, "user_group")
        yield user.document, path, "user_groups", user.data["user_group"], False
        if declared:
            yield from _restrictions("users", uid, user)
    for name, group in merged.valid("user_groups"):
        for category in group.data.get("category_permissions", {}):
            if category != ALL_CATEGORIES:
                path = ("user_groups", name, "category_permissions", category)
                yield group.document, path, "categories", category, True
        if declared:
            yield from _restrictions("user_groups", name, group)
    for name, alert_group in merged.valid("alert_groups"):
        members = alert_group.data.get("members", {})
        for section in ("users", "user_groups"):
            for i, member in enumerate(members.get(section, [])):
                path = ("alert_groups", name, "members", section, i)
                yield alert_group.document, path, section, member, False
    when_sections = ("categories", "student_groups") if declared else ("categories",)
    for _, rule in merged.valid("automatic_alerts"):
        for part, sections in (("notify", TARGETS), ("when", when_sections)):
            for section in sections:
                for i, name in enumerate(rule.data[part].get(section, [])):
                    yield rule.document, (*rule.path, part, section, i), section, name, False


def _suggestion(section: str, name: str, defined: Iterable[str]) -> str:
    """`` (did you mean 'x'?)``: for a student group, first one equal but for case, spaces
    or look-alike characters; else the closest name."""
    if section == "student_groups":
        key = group_key(name)
        same = sorted(d for d in defined if group_key(d) == key)
        if same:
            return f" (did you mean {same[0]!r}?)"
    return suggest(name, defined)


def reference_problems(merged: Merged) -> Iterator[Problem]:
    """A problem for every name that is not defined, and for every misused category."""
    for document, path, section, name, is_key in references(merged):
        defined = merged.names(section)
        if name in defined:
            continue
        code, what = REFERENCE_KINDS[section]
        yield Problem(
            code,
            f"{document.describe(path)}: unknown {what} {name!r}"
            f"{_suggestion(section, name, defined)}",
            document.location(path, key=is_key),
            path=path,
            value=name,
        )
    categories = merged.names("categories")
    for name, category in categories.items():
        if name == ALL_CATEGORIES:
            yield Problem(
                "reserved-category",
                "'*' cannot be a category: in category_permissions it means every category",
                category.location,
                path=category.path,
                value=name,
            )
    yield from _parent_problems(categories)


def _parent_problems(categories: dict[str, Definition]) -> Iterator[Problem]:
    """A sub-category's parent must be a category that is not itself a sub-category."""
    for name, category in categories.items():
        parent = category.field("parent")
        if not category.ok or not isinstance(parent, str):
            continue
        path = (*category.path, "parent")
        if parent not in categories:
            yield Problem(
                "unknown-parent-category",
                f"{format_path(path)}: category {name!r} has unknown parent category "
                f"{parent!r}{suggest(parent, categories)}",
                category.document.location(path),
                path=path,
                value=parent,
            )
        elif parent == name:
            yield Problem(
                "parent-category-is-itself",
                f"{format_path(path)}: category {name!r} cannot be its own parent",
                category.document.location(path),
                path=path,
                value=parent,
            )
        elif isinstance(grandparent := categories[parent].field("parent"), str):
            yield Problem(
                "parent-category-is-a-sub-category",
                f"{format_path(path)}: category {name!r} has parent {parent!r}, which is "
                f"itself a sub-category of {grandparent!r}: sub-categories are one level "
                f"deep, so make {name!r} a sub-category of {grandparent!r} or list "
                f"{parent!r} without a parent",
                category.document.location(path),
                path=path,
                value=parent,
                related=(categories[parent].location,),
            )
