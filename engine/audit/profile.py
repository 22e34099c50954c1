"""A user's own triggers, as CPOMS shows them on the user's profile (``who --user``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from alertpolicy.engine.model import User
from alertpolicy.engine.rules import Via, restriction_of

if TYPE_CHECKING:
    from alertpolicy.engine.audit.alertmap import AlertMap


@dataclass(frozen=True)
class ProfileAlert:
    """One automatic alert on a user's profile: the rule's triggers and how they are named."""

    rule: str
    match: str
    categories: tuple[str, ...]
    students: tuple[str, ...]
    student_groups: tuple[str, ...]
    vias: tuple[Via, ...]
    blocked_categories: tuple[str, ...]
    """Categories in which their permissions stop this alert (listed ones, or all)."""


@dataclass(frozen=True)
class Profile:
    """A user's own triggers, as CPOMS shows them on the user's profile."""

    user: User
    alert_categories: tuple[str, ...]
    """Categories their user group lets them receive automatic alerts for."""
    alerts: tuple[ProfileAlert, ...]
    alert_groups: tuple[Via, ...]
    restricted_to: tuple[str, ...] | None = None
    """The student groups they are restricted to (SPEC 7.2), if any."""


def profile_of(amap: AlertMap, user_id: str) -> Profile:
    """A user's automatic alerts (per rule) and alert-group memberships."""
    policy = amap.policy
    user = policy.users[user_id]
    allowed = amap.alert_categories(user_id)
    alerts = []
    for rule in amap.rules_reaching(user_id):
        vias = amap.notified(rule).get(user_id)
        if not vias:
            continue
        alerts.append(
            ProfileAlert(
                rule=rule.id,
                match=rule.match,
                categories=tuple(sorted(set(rule.when.categories))),
                students=tuple(sorted(set(rule.when.students))),
                student_groups=tuple(sorted(set(rule.when.student_groups))),
                vias=tuple(sorted(set(vias), key=Via.sort_key)),
                blocked_categories=tuple(sorted(amap.scope(rule.id) - allowed)),
            )
        )
    memberships = sorted(
        (
            via
            for name in amap.alert_groups_of(user_id)
            for via in amap.alert_group_members(name).get(user_id, ())
        ),
        key=Via.sort_key,
    )
    return Profile(
        user=user,
        alert_categories=tuple(sorted(allowed)),
        alerts=tuple(sorted(alerts, key=lambda a: a.rule)),
        alert_groups=tuple(memberships),
        restricted_to=restriction_of(policy, user_id),
    )
