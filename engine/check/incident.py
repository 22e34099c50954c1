"""What the service accepts as a request body before it is an incident.

The body must be UTF-8 JSON (no duplicate keys, no NaN/Infinity), nested at most
:data:`MAX_DEPTH` deep, with bounded lists (:data:`LIST_LIMITS`), so that no single request
can make the engine assert an unbounded number of facts.  Everything refused is an
:class:`InputRejected` carrying the HTTP status and ``{field, value, message}`` entries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from alertpolicy.engine.check.build import REFERENCE_KINDS
from alertpolicy.engine.check.schema import quick_check, schema_problems, schema_validator, suggest
from alertpolicy.engine.errors import IncidentError, Problem
from alertpolicy.engine.load.safeyaml import format_path, nfc
from alertpolicy.engine.model import ChosenAlerts, Incident, Policy, Student, frozen_map

MAX_DEPTH = 32
"""Deepest nesting of JSON arrays/objects accepted (an incident itself needs 4)."""
LIST_LIMITS: dict[tuple[str, ...], int] = {
    ("categories",): 100,
    ("students",): 500,
    ("alerts", "users"): 1000,
    ("alerts", "alert_groups"): 500,
}
"""Most items accepted in each list of an incident."""
GROUPS_PER_STUDENT = 100
"""Most student groups accepted for one student."""


class InputRejected(Exception):
    """A request refused before (or while) reading it as an incident."""

    def __init__(self, status: int, entries: list[dict], code: str) -> None:
        super().__init__(code)
        self.status = status
        self.entries = entries
        self.code = code


def error_entry(field: str, value: object, message: str) -> dict:
    """One ``{"field", "value", "message"}`` error entry."""
    return {"field": field, "value": value, "message": message}


def _bad_json(message: str) -> InputRejected:
    return InputRejected(400, [error_entry("", None, message)], "bad_json")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _bad_json(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _no_constant(name: str) -> None:
    raise _bad_json(f"{name} is not a JSON number")


def decode_incident(body: bytes) -> object:
    """The JSON value of ``body``; :class:`InputRejected` (400) if it is not plain JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _bad_json(f"the body is not UTF-8 text (byte {error.start})") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise _bad_json(f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:
        detail = getattr(error, "msg", None) or str(error)
        where = getattr(error, "lineno", None)
        at = f" at line {where}, column {error.colno}" if where else ""  # type: ignore[attr-defined]
        raise _bad_json(f"the body is not valid JSON: {detail}{at}") from None
    if nesting_depth(value) > MAX_DEPTH:
        raise _bad_json(f"the JSON is nested deeper than {MAX_DEPTH} levels")
    return value


def nesting_depth(value: object) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_limits(raw: object) -> None:
    """Refuse (422) an incident whose lists are longer than the service accepts."""
    if not isinstance(raw, dict):
        return
    entries = []
    for path, limit in LIST_LIMITS.items():
        items = _at(raw, path)
        if isinstance(items, list) and len(items) > limit:
            field = ".".join(path)
            message = f"{field}: at most {limit} items are accepted, got {len(items)}"
            entries.append(error_entry(field, len(items), message))
    students = raw.get("students")
    for i, student in enumerate(students if isinstance(students, list) else []):
        groups = student.get("groups") if isinstance(student, dict) else None
        if isinstance(groups, list) and len(groups) > GROUPS_PER_STUDENT:
            field = f"students.{i}.groups"
            message = f"{field}: at most {GROUPS_PER_STUDENT} groups per student, got {len(groups)}"
            entries.append(error_entry(field, len(groups), message))
    if entries:
        raise InputRejected(422, entries, "too_many_items")


def _at(raw: dict, path: tuple[str, ...]) -> object:
    value: object = raw
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


# ------------------------------------------------------------------ incidents


def parse_incident(raw: object, policy: Policy) -> Incident:
    """The incident ``raw`` (parsed JSON) describes, checked against ``policy``.

    Raises :class:`IncidentError` listing every problem: wrong shape (SPEC section 3,
    ``schemas/incident.schema.json``), or a category, chosen user, chosen alert group or
    reporter the policy does not know. Student ids given as whole numbers become text.
    """
    problems = (
        []
        if quick_check("incident")(raw)
        else [
            problem
            for error in schema_validator("incident").iter_errors(raw)
            for problem in schema_problems(error, "incident", "incident")
        ]
    )
    if isinstance(raw, dict):
        for i, student in enumerate(raw.get("students") or []):
            sid = student.get("id") if isinstance(student, dict) else None
            if isinstance(sid, float):
                problems.append(
                    Problem(
                        "incident-type",
                        f"students[{i}].id: expected text or a whole number, got {sid!r}",
                        path=("students", i, "id"),
                        value=sid,
                    )
                )
        problems += _unknown_names(raw, policy)
    if problems:
        raise IncidentError(problems)
    assert isinstance(raw, dict)
    return _incident(raw)


def _named(raw: dict) -> Iterator[tuple[tuple, str, str]]:
    """(path, policy section, name) of each name the incident gives as text.

    Whatever is not text is left out: the schema check reports it.
    """
    alerts = raw.get("alerts")
    alerts = alerts if isinstance(alerts, dict) else {}
    lists = [
        (("categories",), "categories", raw.get("categories")),
        (("alerts", "users"), "users", alerts.get("users")),
        (("alerts", "alert_groups"), "alert_groups", alerts.get("alert_groups")),
    ]
    for path, section, items in lists:
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, str):
                yield (*path, i), section, nfc(item)
    reporter = raw.get("reported_by")
    if isinstance(reporter, str):
        yield ("reported_by",), "users", nfc(reporter)


def _unknown_names(raw: dict, policy: Policy) -> list[Problem]:
    """A problem for each category, chosen user, alert group or reporter the policy lacks.

    Checked on the raw incident, so that they are reported beside any schema problems.
    """
    known = {
        "categories": frozenset(policy.categories),
        "users": policy.users,
        "alert_groups": policy.alert_groups,
    }
    problems = []
    for path, section, name in _named(raw):
        if name not in known[section]:
            code, what = REFERENCE_KINDS[section]
            message = f"{format_path(path)}: unknown {what} {name!r}{suggest(name, known[section])}"
            problems.append(Problem(code, message, path=path, value=name))
    return problems


def _incident(raw: dict) -> Incident:
    alerts = raw.get("alerts", {})
    reported_by = raw.get("reported_by")
    return Incident(
        id=nfc(raw["id"]),
        categories=tuple(nfc(c) for c in raw["categories"]),
        students=tuple(
            Student(
                id=nfc(s["id"]) if isinstance(s["id"], str) else str(s["id"]),
                groups=tuple(nfc(g) for g in s.get("groups", ())),
            )
            for s in raw["students"]
        ),
        alerts=ChosenAlerts(
            users=tuple(nfc(u) for u in alerts.get("users", ())),
            alert_groups=tuple(nfc(g) for g in alerts.get("alert_groups", ())),
        ),
        reported_by=nfc(reported_by) if reported_by is not None else None,
        metadata=frozen_map(raw.get("metadata", {})),
    )
