"""A submitted incident (SPEC section 3) as a typed, immutable value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alertpolicy.engine.model.policy import frozen_map


@dataclass(frozen=True)
class Student:
    """A student the incident is about: MIS id and the groups they are in."""

    id: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChosenAlerts:
    """Alerts the reporting member of staff chose by hand."""

    users: tuple[str, ...] = ()
    alert_groups: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """True when nobody was chosen."""
        return not (self.users or self.alert_groups)


@dataclass(frozen=True)
class Incident:
    """A submitted safeguarding concern (SPEC section 3)."""

    id: str
    categories: tuple[str, ...]
    students: tuple[Student, ...]
    alerts: ChosenAlerts = field(default_factory=ChosenAlerts)
    reported_by: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=frozen_map, compare=False)

    def student_ids(self) -> frozenset[str]:
        """Every student id in the incident."""
        return frozenset(s.id for s in self.students)

    def student_groups(self) -> frozenset[str]:
        """Every student group any of the incident's students is in."""
        return frozenset(g for s in self.students for g in s.groups)

    def trigger_values(self) -> dict[str, frozenset[str]]:
        """The incident's categories, students and student groups keyed by trigger kind."""
        return {
            "category": frozenset(self.categories),
            "student": self.student_ids(),
            "student_group": self.student_groups(),
        }
