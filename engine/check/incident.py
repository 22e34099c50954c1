"""A submitted incident: from bytes to a checked :class:`~alertpolicy.engine.model.Incident`.

Three steps, cheapest first, so that no request can make the service do much work before
it is refused:

1. :func:`decode_incident` — the body must be UTF-8 JSON (no duplicate keys, no NaN,
   Infinity or numbers too large to hold), nested at most :data:`MAX_DEPTH` deep;
2. :func:`check_limits` — every text is text (no unpaired surrogates) and at most
   :data:`MAX_TEXT_LENGTH` characters, and the incident stays within :data:`LIST_LIMITS`,
   :data:`GROUPS_PER_STUDENT` and :data:`MAX_TRIGGER_VALUES`;
3. :func:`parse_incident` — the shape (``schemas/incident.schema.json``) and every name
   checked against the policy.

Steps 1 and 2 raise :class:`~alertpolicy.engine.errors.RequestRejected` (400 and 422),
step 3 :class:`~alertpolicy.engine.errors.IncidentError`; each problem names its field
and value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from alertpolicy.engine.check.build import REFERENCE_KINDS
from alertpolicy.engine.check.schema import quick_check, schema_problems, schema_validator, suggest
from alertpolicy.engine.errors import IncidentError, PathItem, Problem, RequestRejected
from alertpolicy.engine.load.safeyaml import format_path, nfc
from alertpolicy.engine.model import ChosenAlerts, Incident, Policy, Student, frozen_map

MAX_DEPTH = 32
"""Deepest nesting of JSON arrays/objects accepted (an incident itself needs 4)."""
LIST_LIMITS: dict[tuple[str, ...], int] = {
    ("categories",): 10,
    ("students",): 100,
    ("alerts", "users"): 100,
    ("alerts", "alert_groups"): 50,
}
"""Most items accepted in each list of an incident.  Each is above any real incident,
because refusing one is itself a safeguarding failure (the concern cannot be recorded);
``docs/serving.md`` ("Limits on requests") gives the reasoning for each."""
GROUPS_PER_STUDENT = 50
"""Most student groups accepted for one student (year, form, house, every teaching set,
and flags such as SEN or pupil premium)."""
MAX_TRIGGER_VALUES = 5000
"""Most trigger values one incident may list: its categories, its students and each of
their groups, counted every time they are listed (a group shared by 30 students counts
30 times)."""
MAX_TEXT_LENGTH = 256
"""Longest id or name accepted (incident id, reporter, category, student id, group, chosen
user or alert group), in characters."""

Path_ = tuple[PathItem, ...]


def _bad_json(message: str) -> RequestRejected:
    return RequestRejected([Problem("bad-json", message)], 400, "bad_json")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _bad_json(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _no_constant(name: str) -> None:
    raise _bad_json(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _bad_json(f"the number {text[:40]} is too large")
    return number


def decode_incident(body: bytes | str) -> object:
    """The JSON value of ``body``; :class:`RequestRejected` (400) if it is not plain JSON."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _bad_json(f"not UTF-8 text (byte {error.start})") from None
    else:
        text = body
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite,
        )
    except RecursionError:
        raise _bad_json(f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:
        detail = getattr(error, "msg", None) or str(error)
        where = getattr(error, "lineno", None)
        at = f" at line {where}, column {getattr(error, 'colno', 0)}" if where else ""
        raise _bad_json(f"not valid JSON: {detail}{at}") from None
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
        stack += [(child, depth + 1) for child in children if isinstance(child, (dict, list))]
    return deepest


# ------------------------------------------------------------------ limits


def check_limits(raw: object) -> None:
    """Refuse (422) text that is not text, and an incident larger than accepted.

    Each problem names the field, the value (or the count) and the limit.  Anything of
    the wrong type is left for :func:`parse_incident` to report.
    """
    # Counting first: it is cheap, and bounds the work of the checks that follow.
    checks = ((_too_many, "over_limit"), (_not_text, "not_text"), (_too_long, "over_limit"))
    for check, code in checks:
        problems = list(check(raw))
        if problems:
            raise RequestRejected(problems, 422, code)


def _not_text(raw: object) -> Iterator[Problem]:
    """Every string (key or value) holding an unpaired surrogate (``"\\ud800"``)."""
    try:
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
        return
    except UnicodeEncodeError:
        pass
    for path, text in _strings(raw, ()):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            where = tuple(_escaped(p) if isinstance(p, str) else p for p in path)
            shown = _escaped(text[:40])
            yield Problem(
                "not-text",
                f"{format_path(where)}: {shown!r} is not text: it holds an unpaired surrogate "
                "(a \\ud800-\\udfff escape without its pair)",
                path=where,
                value=shown,
            )


def _escaped(text: str) -> str:
    """``text`` with anything that cannot be UTF-8 (unpaired surrogates) as ``\\udxxx``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _strings(value: object, path: Path_) -> Iterator[tuple[Path_, str]]:
    """(path, text) of every key and string in ``value``."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), key
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _names(raw: dict[str, Any], students: bool = True) -> Iterator[tuple[Path_, object]]:
    """(path, value) of every id and name in an incident (not in its metadata); with
    ``students`` false, not the students' ids and groups."""
    yield ("id",), raw.get("id")
    yield ("reported_by",), raw.get("reported_by")
    for path in LIST_LIMITS:
        if path == ("students",) and not students:
            continue
        items = _at(raw, path)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if path == ("students",) and isinstance(item, dict):
                yield ("students", i, "id"), item.get("id")
                groups = item.get("groups")
                for j, group in enumerate(groups if isinstance(groups, list) else []):
                    yield ("students", i, "groups", j), group
            elif path != ("students",):
                yield (*path, i), item


def _too_long(raw: object) -> Iterator[Problem]:
    """Each id or name longer than :data:`MAX_TEXT_LENGTH` characters."""
    if not isinstance(raw, dict):
        return
    for path, value in _names(raw):
        if isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
            yield Problem(
                "too-long",
                f"{format_path(path)}: at most {MAX_TEXT_LENGTH} characters are accepted, "
                f"got {len(value)}",
                path=path,
                value=len(value),
            )


def _too_many(raw: object) -> Iterator[Problem]:
    """Lists longer than their limit, and more trigger values than the engine takes."""
    if not isinstance(raw, dict):
        return
    over = False
    for path, limit in LIST_LIMITS.items():
        items = _at(raw, path)
        if isinstance(items, list) and len(items) > limit:
            over = True
            yield _over(path, f"at most {limit} items are accepted, got {len(items)}", len(items))
    if over:
        return  # the totals would only repeat it
    students = raw.get("students")
    students = students if isinstance(students, list) else []
    for i, student in enumerate(students):
        groups = student.get("groups") if isinstance(student, dict) else None
        if isinstance(groups, list) and len(groups) > GROUPS_PER_STUDENT:
            message = f"at most {GROUPS_PER_STUDENT} groups per student, got {len(groups)}"
            yield _over(("students", i, "groups"), message, len(groups))
    categories = raw.get("categories")
    listed = len(categories) if isinstance(categories, list) else 0
    for student in students:
        groups = student.get("groups") if isinstance(student, dict) else None
        listed += 1 + (len(groups) if isinstance(groups, list) else 0)
    if listed > MAX_TRIGGER_VALUES:
        message = (
            f"at most {MAX_TRIGGER_VALUES} categories, students and student groups "
            f"(each time a student is in one) are accepted in one incident, got {listed}"
        )
        yield _over((), message, listed)


def _over(path: Path_, message: str, count: int) -> Problem:
    where = format_path(path) if path else "incident"
    return Problem("too-many-items", f"{where}: {message}", path=path, value=count)


def _at(raw: dict[str, Any], path: tuple[str, ...]) -> object:
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
        students = raw.get("students")
        for i, student in enumerate(students if isinstance(students, list) else []):
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


def _named(raw: dict[str, Any]) -> Iterator[tuple[Path_, str, str]]:
    """(path, policy section, name) of each name the incident gives as text.

    Whatever is not text is left out: the schema check reports it.
    """
    for path, value in _names(raw, students=False):
        if not isinstance(value, str) or path[0] == "id":
            continue
        section = {"categories": "categories", "reported_by": "users"}.get(str(path[0]))
        yield path, section or str(path[1]), nfc(value)


def _unknown_names(raw: dict[str, Any], policy: Policy) -> list[Problem]:
    """A problem for each category, chosen user, alert group or reporter the policy lacks.

    Checked on the raw incident, so that they are reported beside any schema problems.
    """
    known: dict[str, Any] = {
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


def _incident(raw: dict[str, Any]) -> Incident:
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
