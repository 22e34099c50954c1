"""The coverage guard: would serving this candidate revision silently alert fewer people?

A revision that passes every check can still lose alerts: a rules file deleted, a file
emptied for a moment while it is rewritten, a permission revoked.  The guard compares a
candidate revision with the revision serving and names every way it loses coverage:

- it adds a safeguarding warning (:data:`GUARDED_WARNINGS`: a category no automatic
  alert reaches anyone for, a rule that can never send, an empty or all-inactive alert
  group, no active admin key holder, enforcement switched off);
- it loses a policy file that defined something, or empties one, and what the file
  defined is not defined anywhere else (a file renamed or split is not a loss);
- it removes more than ``max_route_loss`` of the serving revision's alert routes: the
  (user, trigger) pairs of the alert map (:mod:`.alertmap`) where the user is alerted.

:func:`coverage_of` summarises one revision (the costly part: lint and the whole alert
map, done once per revision, where the revision is built); :func:`compare_coverage`
compares two summaries and is cheap.  Each reason is a
:class:`~alertpolicy.engine.errors.Problem`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alertpolicy.engine.audit.alertmap import AlertMap
from alertpolicy.engine.check.lint import lint_policy
from alertpolicy.engine.errors import Location, PathItem, Problem, sorted_problems
from alertpolicy.engine.model import Policy

GUARDED_WARNINGS = frozenset(
    {
        "category-unalerted",
        "rule-never-sends",
        "alert-group-empty",
        "alert-group-all-inactive",
        "no-admin-key-holder",
        "enforcement-off",
    }
)
"""Lint warning codes whose appearance holds a revision (safeguarding coverage lost)."""
ONE_PER_POLICY = frozenset({"no-admin-key-holder", "enforcement-off"})
"""Warnings a policy has at most once, whatever they point at."""
DEFAULT_MAX_ROUTE_LOSS = 0.10
"""Share of the serving revision's alert routes a candidate may remove (``--max-route-loss``)."""
SHOWN = 8
"""How many users, triggers or definitions a reason names before "and N more"."""
NAMED_TRIGGERS = frozenset({"category", "alert_group"})
"""Triggers a reason names; student and student-group triggers are only counted, so that
no student id or group name reaches a log."""

Route = tuple[str, str, str]
"""An alert route: (user, trigger kind, trigger value) where the user is alerted."""
Definition = tuple[str, str]
"""Something a policy file defines: (kind, name), e.g. ("automatic alert", "self-harm")."""
WarningKey = tuple[object, ...]


@dataclass(frozen=True)
class Coverage:
    """What the guard needs to know about one revision, small enough to pass around."""

    revision: str
    warnings: Mapping[WarningKey, tuple[Problem, ...]]
    """Guarded lint warnings, grouped by what they are about (code and subject)."""
    routes: frozenset[Route]
    files: Mapping[str, frozenset[Definition]]
    """Per policy file (path inside the policy): what it defines."""
    shown_files: Mapping[str, str]
    """Per policy file: the path people see (``policy/users.yaml``)."""

    def definitions(self) -> frozenset[Definition]:
        """Everything the revision defines, in any file."""
        return frozenset(d for defined in self.files.values() for d in defined)


def coverage_of(policy: Policy) -> Coverage:
    """The guard's summary of ``policy``: its guarded warnings, routes and file contents."""
    warnings: dict[WarningKey, list[Problem]] = {}
    for problem in lint_policy(policy):
        if problem.code in GUARDED_WARNINGS:
            warnings.setdefault(_warning_key(policy, problem), []).append(problem)
    files, shown = _file_definitions(policy)
    return Coverage(
        revision=policy.revision,
        warnings={key: tuple(found) for key, found in warnings.items()},
        routes=alert_routes(policy),
        files=files,
        shown_files=shown,
    )


def alert_routes(policy: Policy) -> frozenset[Route]:
    """Every (user, trigger) pair of the alert map where the user is alerted."""
    amap = AlertMap(policy, with_access=False)
    return frozenset(
        (user, trigger.kind, trigger.value)
        for trigger in amap.triggers()
        for user in amap.alerted(trigger)
    )


def compare_coverage(
    serving: Coverage, candidate: Coverage, max_route_loss: float = DEFAULT_MAX_ROUTE_LOSS
) -> tuple[Problem, ...]:
    """Every reason to hold ``candidate`` instead of replacing ``serving``; empty if none."""
    return sorted_problems(
        [
            *_warnings_added(serving, candidate),
            *_files_lost(serving, candidate),
            *_routes_lost(serving, candidate, max_route_loss),
        ]
    )


# ------------------------------------------------------------------ warnings


def _warning_key(policy: Policy, problem: Problem) -> WarningKey:
    """What a warning is about, stable across edits elsewhere (rule index -> rule id)."""
    if problem.code in ONE_PER_POLICY:
        return (problem.code,)
    path: list[PathItem] = list(problem.path)
    if len(path) > 1 and path[0] == "automatic_alerts" and isinstance(path[1], int):
        rules = policy.automatic_alerts
        path[1] = rules[path[1]].id if path[1] < len(rules) else path[1]
    return (problem.code, *path)


def _warnings_added(serving: Coverage, candidate: Coverage) -> Iterable[Problem]:
    for key, found in candidate.warnings.items():
        before = len(serving.warnings.get(key, ()))
        for warning in found[before:]:
            yield Problem(
                "guard-warning-added",
                f"it adds the safeguarding warning {warning.code}: {warning.message}",
                warning.location,
                path=warning.path,
                value=warning.code,
            )


# ------------------------------------------------------------------ files


def _file_definitions(
    policy: Policy,
) -> tuple[dict[str, frozenset[Definition]], dict[str, str]]:
    """What each policy file defines, and how each file is shown."""
    placed: list[tuple[Location | None, Definition]] = [
        (policy.settings.location, ("settings", "settings")),
        *((loc, ("category", name)) for name, loc in policy.category_locations.items()),
        *((g.location, ("user group", g.name)) for g in policy.user_groups.values()),
        *((u.location, ("user", u.id)) for u in policy.users.values()),
        *((a.location, ("alert group", a.name)) for a in policy.alert_groups.values()),
        *((r.location, ("automatic alert", r.id)) for r in policy.automatic_alerts),
    ]
    relpaths = [f.path for f in policy.files]
    shown: dict[str, str] = {path: path for path in relpaths}
    by_display: dict[str, str | None] = {}
    defined: dict[str, set[Definition]] = {path: set() for path in relpaths}
    for location, definition in placed:
        if location is None:
            continue
        if location.file not in by_display:
            by_display[location.file] = _relpath_of(location.file, relpaths)
        relpath = by_display[location.file]
        if relpath is not None:
            defined[relpath].add(definition)
            shown[relpath] = location.file
    return {path: frozenset(found) for path, found in defined.items()}, shown


def _relpath_of(display: str, relpaths: list[str]) -> str | None:
    """The policy file shown as ``display`` (``policy/users.yaml`` is ``users.yaml``)."""
    matches = [p for p in relpaths if display == p or display.endswith("/" + p)]
    return max(matches, key=len) if matches else None


def _files_lost(serving: Coverage, candidate: Coverage) -> Iterable[Problem]:
    still_defined = candidate.definitions()
    for relpath, defined in sorted(serving.files.items()):
        now = candidate.files.get(relpath)
        if not defined or now:
            continue
        gone = sorted(defined - still_defined)
        if not gone:
            continue  # renamed, split or moved: everything it defined is still defined
        shown = serving.shown_files.get(relpath, relpath)
        what = "is gone" if now is None else "defines nothing any more"
        items = "; ".join(_grouped(gone))
        yield Problem(
            "guard-file-lost" if now is None else "guard-file-emptied",
            f"policy file {shown} {what}: it defined {items}, which no other file defines",
            Location(shown, 1, 1),
            value=relpath,
        )


# ------------------------------------------------------------------ routes


def _routes_lost(
    serving: Coverage, candidate: Coverage, max_route_loss: float
) -> Iterable[Problem]:
    if not serving.routes:
        return
    lost = serving.routes - candidate.routes
    share = len(lost) / len(serving.routes)
    if share <= max_route_loss:
        return
    users = Counter(user for user, _, _ in lost)
    named = Counter(
        f"{kind.replace('_', ' ')} {value}" for _, kind, value in lost if kind in NAMED_TRIGGERS
    )
    about_students = {(kind, value) for _, kind, value in lost if kind not in NAMED_TRIGGERS}
    most = [f"{user} ({count})" for user, count in sorted(users.items(), key=_most)]
    where = [f"{trigger} ({count})" for trigger, count in sorted(named.items(), key=_most)]
    if about_students:
        where.append(f"{len(about_students)} student, student-group or combination triggers")
    yield Problem(
        "guard-routes-lost",
        f"it removes {len(lost)} of the {len(serving.routes)} alert routes (user, trigger) "
        f"of the revision serving ({share:.1%}, more than the {max_route_loss:.0%} allowed): "
        f"users losing alerts {_listing(most)}; triggers losing recipients {_listing(where)}",
        value={"lost": len(lost), "routes": len(serving.routes), "users": sorted(users)[:200]},
    )


def _grouped(definitions: list[Definition]) -> list[str]:
    """``3 automatic alerts (a, b, c)``, one entry per kind."""
    kinds: dict[str, list[str]] = {}
    for kind, name in definitions:
        kinds.setdefault(kind, []).append(name)
    out = []
    for kind, names in sorted(kinds.items()):
        noun = kind if len(names) == 1 else ("settings" if kind == "settings" else f"{kind}s")
        out.append(f"{len(names)} {noun} ({_listing(sorted(names))})")
    return out


def _most(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def _listing(items: list[str]) -> str:
    """The first :data:`SHOWN` items, then how many more."""
    shown = ", ".join(items[:SHOWN])
    more = len(items) - SHOWN
    return f"{shown} and {more} more" if more > 0 else shown
