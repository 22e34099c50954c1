"""A policy as a service keeps it: only what deciding and reporting its state need.

A service of many schools keeps every school's policy in memory.  Where each definition
is in the files, and the descriptions people write, are read by people (``check``,
``who``, ``diff``), never by a decision: :func:`served` leaves them out, so that a school
costs less memory and its revision less time to send from the reload child.  Decisions
are the same, byte for byte.
"""

from __future__ import annotations

import dataclasses

from alertpolicy.engine.model import Policy, frozen_map


def served(policy: Policy) -> Policy:
    """``policy`` without locations and descriptions (see the module docstring)."""

    def bare(values: dict[str, object]) -> dict[str, object]:
        return {
            name: dataclasses.replace(value, location=None)  # type: ignore[type-var]
            for name, value in values.items()
        }

    alert_groups = {
        name: dataclasses.replace(group, location=None, description="")
        for name, group in policy.alert_groups.items()
    }
    rules = tuple(
        dataclasses.replace(rule, location=None, description="") for rule in policy.automatic_alerts
    )
    student_groups = policy.student_groups
    return dataclasses.replace(
        policy,
        settings=dataclasses.replace(policy.settings, location=None),
        user_groups=frozen_map(bare(dict(policy.user_groups))),
        users=frozen_map(bare(dict(policy.users))),
        alert_groups=frozen_map(alert_groups),
        automatic_alerts=rules,
        student_groups=frozen_map(bare(dict(student_groups))) if student_groups else student_groups,
        category_locations=frozen_map(),
    )
