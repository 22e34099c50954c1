"""What each page of the web view shows, as plain data for its template.

The answers are the command line's own: a category's and the ``who`` page's people come
from :func:`~alertpolicy.engine.audit.report.who_json`, a user's page from
:func:`~alertpolicy.engine.audit.report.profile_json`, so that a page and the command
with the same question say the same.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from alertpolicy.engine.audit.alertmap import KIND_WORDS, AlertMap
from alertpolicy.engine.audit.atoms import AtomicMap
from alertpolicy.engine.audit.pages.links import Links
from alertpolicy.engine.audit.report import profile_json, who_json
from alertpolicy.engine.errors import Problem
from alertpolicy.engine.model import Policy
from alertpolicy.engine.rules import GroupNames, restriction_of, subcategories

GATE_TEXT = {
    "every_category": "Automatic alerts need both permissions on every category of the "
    "incident (automatic_alert_permission: every_category).",
    "any_category": "Automatic alerts need both permissions on at least one category of the "
    "incident (automatic_alert_permission: any_category).",
    "none": "The permission gate is off (automatic_alert_permission: none): automatic alerts "
    "reach every active person they name, even one who cannot open the incident.",
}
CELLS = {
    (True, True): ("yes", "yes"),
    (True, False): ("students only", "part"),
    (False, True): ("incidents only", "part"),
    (False, False): ("no", "no"),
}
"""(view_students, view_incidents) -> the matrix cell's words and colour."""
STUDENTS_SHOWN = 50
"""How many single students (named by rules) a category's page lists; ``who`` answers
for any other."""
ACCESS_CSS = {"full": "yes", "needs_key": "part", "none": "no"}
QUERY_KEYS = {
    "category": "categories",
    "student": "students",
    "student_group": "student_groups",
    "alert_group": "alert_groups",
}
"""The ``who`` page's parameters, and the keys ``who_json`` gives them."""


def ordered_categories(policy: Policy) -> Iterator[tuple[str, str | None]]:
    """Each category with its parent: every top-level one, then its sub-categories."""
    children = subcategories(policy)
    for name in policy.categories:
        if name not in policy.category_parents:
            yield name, None
            for child in children.get(name, ()):
                yield child, name


def map_context(amap: AlertMap, atoms: AtomicMap, warnings: Sequence[Problem]) -> dict[str, Any]:
    """The alert map: per category who is alerted and withheld, the permission matrix,
    the lint warnings and everyone in the policy."""
    policy = amap.policy
    rows = []
    for name, parent in ordered_categories(policy):
        answer = who_json(amap, atoms.category_standings(name), {"categories": [name]})
        rows.append(
            {
                "name": name,
                "parent": parent,
                "colour": policy.category_colours.get(name),
                "alerted": answer["alerted"],
                "withheld": answer["withheld"],
                "student_rules": atoms.student_rule_count(name),
            }
        )
    groups = list(policy.user_groups)
    matrix_rows = []
    for name, parent in ordered_categories(policy):
        cells = []
        for group in groups:
            granted = amap.permissions.granted(group, name)
            text, css = CELLS[("view_students" in granted, "view_incidents" in granted)]
            cells.append({"text": text, "css": css})
        matrix_rows.append({"category": name, "parent": parent, "cells": cells})
    return {
        "counts": {
            "categories": len(policy.categories),
            "users": len(policy.users),
            "user_groups": len(policy.user_groups),
            "alert_groups": len(policy.alert_groups),
            "rules": len(policy.automatic_alerts),
        },
        "gate_text": GATE_TEXT[policy.settings.automatic_alert_permission],
        "warnings": [
            {"code": w.code, "message": w.message, "where": str(w.location or "")} for w in warnings
        ],
        "categories": rows,
        "matrix": {"groups": groups, "rows": matrix_rows},
    }


def people_context(policy: Policy) -> dict[str, Any]:
    """Everyone in the policy, with their user group, account and class restriction."""
    return {
        "people": [
            {
                "user": user.id,
                "name": user.name,
                "user_group": user.user_group,
                "active": user.active,
                "key_holder": user.key_holder,
                "restricted_to": restriction_of(policy, user.id),
            }
            for user in policy.users.values()
        ]
    }


def asked_text(query: Mapping[str, Sequence[str]]) -> str:
    """``category Bullying; student group Year 7`` (as ``alertpolicy who`` says it)."""
    return "; ".join(
        f"{KIND_WORDS[kind]} {', '.join(sorted(query[key]))}"
        for kind, key in QUERY_KEYS.items()
        if query.get(key)
    )


def who_context(amap: AlertMap, query: Mapping[str, Sequence[str]], links: Links) -> dict[str, Any]:
    """The ``who`` page: its form, and the answer ``alertpolicy who`` gives to ``query``
    (keys ``categories``, ``students``, ``student_groups``, ``alert_groups``)."""
    policy = amap.policy
    choices = {
        "category": list(policy.categories),
        "student_group": sorted(GroupNames(policy).known),
        "student": [],
        "alert_group": list(policy.alert_groups),
    }
    labels = {
        "category": "Category",
        "student": "Student (MIS id)",
        "student_group": "Student group",
        "alert_group": "Alert group chosen",
    }
    fields = [
        {
            "name": name,
            "label": labels[name],
            "values": [*query.get(key, ()), ""] if links.who_form() else [],
            "choices": choices[name],
        }
        for name, key in QUERY_KEYS.items()
    ]
    asked = {key: list(values) for key, values in query.items() if values}
    context: dict[str, Any] = {"fields": fields, "answer": None, "asked": "", "note": ""}
    if asked:
        standings = amap.query(
            asked.get("categories", ()),
            asked.get("students", ()),
            asked.get("student_groups", ()),
            asked.get("alert_groups", ()),
        )
        context["answer"] = who_json(amap, standings, asked)
        context["asked"] = asked_text(asked)
        if not asked.get("categories") and (asked.get("students") or asked.get("student_groups")):
            context["note"] = (
                "Only the alerts these students and groups trigger are listed; the "
                "incident's category alerts its own people too (add a category for the "
                "whole answer)."
            )
    return context


def category_context(amap: AlertMap, atoms: AtomicMap, name: str, links: Links) -> dict[str, Any]:
    """A category's page: who it alerts for any student, then per student or student
    group the rules that fire in it only for them."""
    policy = amap.policy
    depending = []
    found, more = atoms.for_category(name, STUDENTS_SHOWN)
    for atom, standings in found.items():
        values = atoms.values(atom)
        query = {QUERY_KEYS[kind]: [value] for kind, value in values.items()}
        answer = who_json(amap, standings, {"categories": [name], **query})
        for entry in answer["alerted"]:
            rules = sorted({r["rule"] for r in entry["reasons"] if r["rule"]})
            entry["rules"] = ("rule " if len(rules) == 1 else "rules ") + ", ".join(rules)
        depending.append(
            {
                "label": atom.label(),
                "answer": answer,
                "who_link": links.who({"category": [name], **{k: [v] for k, v in values.items()}}),
            }
        )
    standings = atoms.category_standings(name)
    return {
        "name": name,
        "parent": policy.category_parents.get(name),
        "subcategories": subcategories(policy).get(name, ()),
        "answer": who_json(amap, standings, {"categories": [name]}),
        "who_link": links.who({"category": [name]}),
        "depending": depending,
        "more_students": more,
    }


def _when_text(alert: Mapping[str, Any]) -> str:
    """``category Bullying or Behaviour and student group Year 7``."""
    parts = [
        f"{KIND_WORDS[kind]} {' or '.join(alert[key])}"
        for kind, key in (
            ("category", "categories"),
            ("student", "students"),
            ("student_group", "student_groups"),
        )
        if alert[key]
    ]
    return (" and " if alert["match"] == "all" else " or ").join(parts)


def user_context(amap: AlertMap, user_id: str) -> dict[str, Any]:
    """A user's page: their profile as ``alertpolicy who --user`` gives it, and their
    access per category."""
    profile = profile_json(amap.profile(user_id))
    profile.setdefault("restricted_to", None)
    for alert in profile["automatic_alerts"]:
        alert["when"] = _when_text(alert)
    allowed = set(profile["automatic_alert_categories"])
    access = []
    for name, parent in ordered_categories(amap.policy):
        level = amap.access(user_id, (name,))
        access.append(
            {
                "category": name,
                "parent": parent,
                "alerts": name in allowed,
                "access": level,
                "css": ACCESS_CSS[level],
            }
        )
    return {"profile": profile, "access": access}
