"""Render alert-map answers (``who``) and user profiles for people and programs.

Text for a terminal (``style`` adds colour through :func:`click.style` when wanted) and
JSON-ready mappings in a stable order; the web pages (:mod:`.pages`) show the same
mappings.  Policy diffs are rendered by :mod:`.diffview`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertpolicy.engine.audit.alertmap import (
    INCIDENT,
    KIND_WORDS,
    AlertMap,
    Profile,
    Reach,
    Standing,
    lacks_text,
    missing_permissions,
)
from alertpolicy.engine.check.render import Style, plain
from alertpolicy.engine.model import Policy

# ------------------------------------------------------------------ who


def _reach_text(reach: Reach) -> str:
    """``rule X (category Bullying), as a member of user group DSL``."""
    if reach.rule is None:
        return f"chosen alert group {reach.via.name}, {reach.via.describe()}"
    return f"rule {reach.rule} ({reach.matched}), {reach.via.describe()}"


def _withheld_text(amap: AlertMap, standing: Standing, categories: tuple[str, ...]) -> str:
    """Why a user is withheld, in plain words."""
    if standing.inactive:
        return "inactive user"
    cats = [c for c in (categories or sorted(standing.withheld_in)) if c != INCIDENT]
    group = amap.policy.users[standing.user].user_group
    missing = missing_permissions(amap.permissions, group, cats)
    lacks = lacks_text(missing, amap.policy.categories)
    return f"their user group ({amap.policy.users[standing.user].user_group}) lacks {lacks}"


def who_json(
    amap: AlertMap, standings: Mapping[str, Standing], query: Mapping[str, list[str]]
) -> dict[str, Any]:
    """The answer to ``who`` as a JSON-ready mapping."""
    categories = tuple(query.get("categories", ()))
    alerted, withheld = [], []
    for user, standing in standings.items():
        person = amap.policy.users[user]
        base = {"user": user, "name": person.name, "email": person.email}
        reasons = [
            {
                "rule": r.rule,
                "alert_group": r.via.name if r.rule is None else None,
                "via": r.via.describe(),
                "matched": r.matched,
            }
            for r in sorted(standing.reaches, key=Reach.sort_key)
        ]
        open_cats = not categories
        if standing.alerted_in:
            entry = {
                **base,
                "access": standing.access,
                "in_categories": sorted(standing.alerted_in) if open_cats else None,
                "reasons": reasons,
            }
            if standing.restricted_to is not None:
                entry["only_for_students_in"] = list(standing.restricted_to)
            alerted.append(entry)
        if standing.withheld_in:
            reason = "inactive" if standing.inactive else "missing_permission"
            withheld.append(
                {
                    **base,
                    "reason": reason,
                    "message": _withheld_text(amap, standing, categories),
                    "in_categories": sorted(standing.withheld_in) if open_cats else None,
                    "reasons": reasons,
                }
            )
    return {
        "policy_revision": amap.policy.revision,
        "query": {k: sorted(v) for k, v in query.items()},
        "alerted": alerted,
        "withheld": withheld,
    }


def who_text(
    amap: AlertMap,
    standings: Mapping[str, Standing],
    query: Mapping[str, list[str]],
    style: Style = plain,
) -> list[str]:
    """The answer to ``who`` as lines of text."""
    categories = tuple(query.get("categories", ()))
    asked = "; ".join(
        f"{KIND_WORDS[kind]} {', '.join(sorted(values))}"
        for kind, values in (
            ("category", query.get("categories", [])),
            ("student", query.get("students", [])),
            ("student_group", query.get("student_groups", [])),
            ("alert_group", query.get("alert_groups", [])),
        )
        if values
    )
    lines = [f"Who is alerted for an incident with {asked}:"]
    alerted = [s for s in standings.values() if s.alerted_in]
    withheld = [s for s in standings.values() if s.withheld_in]
    users = amap.policy.users
    lines.append(style(f"Alerted ({len(alerted)}):", bold=True))
    for s in alerted:
        extra = f", access {s.access}" if s.access else ""
        if not categories and s.withheld_in:
            extra += f"; alerted for incidents in categories: {', '.join(sorted(s.alerted_in))}"
        if s.restricted_to is not None:
            extra += (
                f"; only for students in {', '.join(s.restricted_to)} (class restriction: "
                "the automatic alerts reach them only about students they can see)"
            )
        lines.append(style(f"  {s.user} ({users[s.user].name}){extra}", fg="green"))
        for r in sorted(s.reaches, key=Reach.sort_key):
            gated = (
                " [this automatic alert itself is withheld]"
                if r.rule and not s.automatic_in
                else ""
            )
            lines.append(f"      {_reach_text(r)}{gated}")
    lines.append(style(f"Withheld ({len(withheld)}):", bold=True))
    for s in withheld:
        where = ""
        if not categories and s.alerted_in and not s.inactive:
            where = f"; withheld for: {', '.join(sorted(s.withheld_in))}"
        lines.append(style(f"  {s.user} ({users[s.user].name}){where}", fg="yellow"))
        lines.extend(f"      {_reach_text(r)}" for r in sorted(s.reaches, key=Reach.sort_key))
        lines.append(f"      why: {_withheld_text(amap, s, categories)}")
    if not categories and (query.get("students") or query.get("student_groups")):
        lines.append(
            "Only the alerts these students and groups trigger are listed; the incident's "
            "category alerts its own people too (add --category for the whole answer)."
        )
    return lines


def profile_json(profile: Profile) -> dict[str, Any]:
    """A user's own triggers as a JSON-ready mapping."""
    user = profile.user
    return {
        "user": user.id,
        "name": user.name,
        "email": user.email,
        "user_group": user.user_group,
        "active": user.active,
        "key_holder": user.key_holder,
        **({"restricted_to": list(profile.restricted_to)} if profile.restricted_to else {}),
        "automatic_alert_categories": list(profile.alert_categories),
        "automatic_alerts": [
            {
                "rule": a.rule,
                "match": a.match,
                "categories": list(a.categories),
                "students": list(a.students),
                "student_groups": list(a.student_groups),
                "via": [v.describe() for v in a.vias],
                "stopped_by_permissions_in": list(a.blocked_categories),
            }
            for a in profile.alerts
        ],
        "alert_groups": [
            {"alert_group": v.name, "via_user_group": v.through} for v in profile.alert_groups
        ],
    }


def profile_text(profile: Profile, policy: Policy) -> list[str]:
    """A user's own triggers as lines of text (the CPOMS profile's Alerts tab)."""
    user = profile.user
    state = "" if user.active else " (inactive: receives no alert)"
    lines = [f"{user.id} ({user.name} <{user.email}>), user group {user.user_group}{state}"]
    allowed = ", ".join(profile.alert_categories) or "none"
    lines.append(f"  Can receive automatic alerts for incidents in: {allowed}")
    if profile.restricted_to:
        groups = ", ".join(profile.restricted_to)
        lines.append(
            f"  Restricted to students in: {groups} (automatic alerts about others skip them)"
        )
    lines.append(f"Automatic alerts ({len(profile.alerts)}):")
    for alert in profile.alerts:
        parts = [
            f"{KIND_WORDS[kind]} {' or '.join(values)}"
            for kind, values in (
                ("category", alert.categories),
                ("student", alert.students),
                ("student_group", alert.student_groups),
            )
            if values
        ]
        joiner = " and " if alert.match == "all" else " or "
        ways = "; ".join(v.describe() for v in alert.vias)
        lines.append(f"  {alert.rule}: {joiner.join(parts)} ({ways})")
        if alert.blocked_categories:
            lines.append(
                "      note: their permissions stop this alert for incidents in: "
                + ", ".join(alert.blocked_categories)
            )
    lines.append(f"Alert groups ({len(profile.alert_groups)}):")
    for via in profile.alert_groups:
        how = "directly" if via.through is None else f"via user group {via.through}"
        lines.append(f"  {via.name} ({how})")
    return lines
