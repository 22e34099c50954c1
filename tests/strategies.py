"""Hypothesis strategies: small random policies and incidents over realistic names.

The name pools are small on purpose, so that random rules, groups and incidents overlap
often (a rule that never matches tests nothing).  Values that travel through durable-rules
(categories, student ids, student groups) include non-ASCII text, quotes and backslashes.
Policies use SPEC section 7 as often as not: sub-categories, class restrictions on users
and user groups, ``automatic_alert_permission: none``, declared student groups; incidents
carry student groups that differ from known ones only by case, spaces or look-alikes.
"""

from __future__ import annotations

import dataclasses
import os
from functools import cache

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from alertpolicy.engine.model import (
    CATEGORY_PERMISSIONS,
    SYSTEM_PERMISSIONS,
    AlertGroup,
    AutomaticAlert,
    ChosenAlerts,
    Incident,
    Policy,
    Settings,
    Student,
    StudentGroup,
    Targets,
    Triggers,
    User,
    UserGroup,
    frozen_map,
)

CATEGORIES = ("Attendance", "Bullying", "Child-on-child abuse", "Online safety", "Self-harm")
USER_GROUPS = ("DSL", "Office", "Pastoral", "Teaching Staff")
USERS = {
    "akhan": ("Aisha Khan", "akhan@school.example"),
    "jsmith": ("Jane Smith", "jsmith@school.example"),
    "mpatel": ("Mo Patel", "mpatel@school.example"),
    "oleft": ("Olive Left", "oleft@school.example"),
    "tteach": ("Tom Teach", "tteach@school.example"),
    "zoe": ("Zoë Ångström", "zoe@school.example"),
}
ALERT_GROUPS = ("DSLs", "Pastoral team", "Year 7 team")
STUDENTS = ("S1001", "S1002", "S1003", "S-Zoë", 'S"4\\')
STUDENT_GROUPS = ("7A", "8B", "Year 7", "Year 8", 'Form "9\\C"')
SUB_CATEGORIES = {
    "Cyber-bullying": "Bullying",
    "Racist bullying": "Bullying",
    "Sexting": "Online safety",
    "Cutting": "Self-harm",
}
"""Sub-categories a random policy may have, with their parents."""
NEAR_MISSES = ("year 7", "Year\u00a08", "7\u0410", " 8B", "Year 9")
"""Incident student groups that differ from known ones only by case, spaces or
look-alikes (a no-break space, a Cyrillic A), or are unknown."""

ENGINE_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""Engine property tests: no deadline (a ruleset is compiled per example); fixed seed in CI."""


@cache
def subset(pool: tuple[str, ...], min_size: int = 0) -> st.SearchStrategy:
    """A sorted tuple of distinct items of ``pool``."""
    if not pool:
        return st.just(())
    return st.lists(st.sampled_from(sorted(pool)), min_size=min_size, unique=True).map(
        lambda items: tuple(sorted(items))
    )


@st.composite
def user_groups(draw: st.DrawFn, categories: tuple[str, ...]) -> dict[str, UserGroup]:
    """One to four user groups with random system and category permissions (incl. ``*``),
    some restricted to student groups."""
    names = draw(subset(USER_GROUPS, min_size=1))
    groups = {}
    for name in names:
        keys = draw(subset((*categories, "*")))
        permissions = {key: frozenset(draw(subset(CATEGORY_PERMISSIONS))) for key in keys}
        groups[name] = UserGroup(
            name,
            system_permissions=frozenset(draw(subset(SYSTEM_PERMISSIONS))),
            category_permissions=frozen_map(permissions),
            restricted_to=draw(restrictions()),
        )
    return groups


def restrictions() -> st.SearchStrategy[tuple[str, ...] | None]:
    """No class restriction (most often), or one to a few student groups."""
    return st.one_of(st.none(), st.none(), subset(STUDENT_GROUPS, min_size=1))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """A small, valid policy: every name it refers to exists."""
    tops = draw(subset(CATEGORIES, min_size=1))
    subs = draw(subset(tuple(c for c, parent in SUB_CATEGORIES.items() if parent in tops)))
    categories = tuple(sorted((*tops, *subs)))
    groups = draw(user_groups(categories))
    user_ids = draw(subset(tuple(USERS), min_size=1))
    users = {
        uid: User(
            uid,
            USERS[uid][0],
            USERS[uid][1],
            user_group=draw(st.sampled_from(sorted(groups))),
            key_holder=draw(st.booleans()),
            active=draw(st.sampled_from((True, True, True, False))),
            restricted_to=draw(restrictions()),
        )
        for uid in user_ids
    }
    alert_groups = {
        name: AlertGroup(
            name, users=draw(subset(tuple(user_ids))), user_groups=draw(subset(tuple(groups)))
        )
        for name in draw(subset(ALERT_GROUPS))
    }
    rules = []
    for number in range(draw(st.integers(0, 6))):
        when = Triggers(
            categories=draw(subset(categories)),
            students=draw(subset(STUDENTS)),
            student_groups=draw(subset(STUDENT_GROUPS)),
        )
        if not when.by_kind():
            when = Triggers(categories=(draw(st.sampled_from(categories)),))
        notify = Targets(
            users=draw(subset(tuple(user_ids))),
            user_groups=draw(subset(tuple(groups))),
            alert_groups=draw(subset(tuple(alert_groups))),
        )
        rules.append(
            AutomaticAlert(
                f"rule-{number}", notify, when, match=draw(st.sampled_from(("any", "all")))
            )
        )
    policy_settings = Settings(
        enforce_at_least_one_alert=draw(st.booleans()),
        automatic_alerts_count_for_enforcement=draw(st.booleans()),
        automatic_alert_permission=draw(
            st.sampled_from(("every_category", "any_category", "none"))
        ),
    )
    named = {g for r in rules for g in r.when.student_groups}
    named.update(g for h in (*users.values(), *groups.values()) for g in h.restricted_to or ())
    declared = draw(st.one_of(st.none(), subset(STUDENT_GROUPS)))
    return Policy(
        settings=policy_settings,
        categories=categories,
        category_parents=frozen_map({sub: SUB_CATEGORIES[sub] for sub in subs}),
        student_groups=(
            None
            if declared is None
            else frozen_map({g: StudentGroup(g) for g in {*declared, *named}})
        ),
        user_groups=frozen_map(groups),
        users=frozen_map(users),
        alert_groups=frozen_map(alert_groups),
        automatic_alerts=tuple(rules),
        revision="sha256:" + draw(st.text("0123456789abcdef", min_size=16, max_size=16)),
    )


STUDENT_SAMPLES = st.builds(
    Student,
    st.sampled_from(STUDENTS),
    st.lists(
        st.one_of(st.sampled_from(STUDENT_GROUPS), st.sampled_from(NEAR_MISSES)), max_size=3
    ).map(tuple),
)


def incidents(policy: Policy) -> st.SearchStrategy[Incident]:
    """Valid incidents for ``policy``; categories, students and choices may repeat."""
    alert_groups = (
        st.lists(st.sampled_from(sorted(policy.alert_groups)), max_size=2).map(tuple)
        if policy.alert_groups
        else st.just(())
    )
    return st.builds(
        Incident,
        id=st.just("INC-2026-0000"),
        categories=st.lists(st.sampled_from(policy.categories), min_size=1, max_size=4).map(tuple),
        students=st.lists(STUDENT_SAMPLES, min_size=1, max_size=3).map(tuple),
        alerts=st.builds(
            ChosenAlerts,
            users=st.lists(st.sampled_from(sorted(policy.users)), max_size=3).map(tuple),
            alert_groups=alert_groups,
        ),
        reported_by=st.sampled_from(sorted(policy.users)),
    )


@st.composite
def policy_with_incidents(draw: st.DrawFn, count: int = 20) -> tuple[Policy, list[Incident]]:
    """A policy and ``count`` incidents for it (compile once, evaluate many)."""
    policy = draw(policies())
    drawn = draw(st.lists(incidents(policy), min_size=count, max_size=count))
    return policy, [
        dataclasses.replace(incident, id=f"INC-2026-{number:04d}")
        for number, incident in enumerate(drawn)
    ]
