"""Which parts of a policy its test cases exercise (``alertpolicy test --coverage``).

Like ``opa test --coverage``, coverage says what no test case reaches, so a school can see
which routing it has never checked. Over the cases that ran:

- an **automatic alert** is exercised when it fired for some case's incident and the
  decision shows it: it names the rule in a recipient's reasons or in a withheld entry
  (a rule that fires but names nobody at all leaves no trace and counts as not exercised);
- an **alert group** is exercised when a case's incident chooses it, or an exercised
  automatic alert notifies it;
- a **category** is exercised when a case's incident is recorded in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alertpolicy.engine.errors import Location
from alertpolicy.engine.model import Decision, Policy


@dataclass(frozen=True)
class Part:
    """One thing coverage counts (a rule, an alert group, a category) and where it is defined."""

    name: str
    location: Location | None

    def to_json(self) -> dict[str, object]:
        """``{name, file, line}``."""
        loc = self.location
        return {
            "name": self.name,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
        }


@dataclass(frozen=True)
class Kind:
    """Coverage of one kind of thing: how many there are, and those not exercised."""

    label: str
    total: int
    missed: tuple[Part, ...]

    @property
    def exercised(self) -> int:
        """How many were exercised."""
        return self.total - len(self.missed)

    def to_json(self) -> dict[str, object]:
        """``{total, exercised, not_exercised: [...]}``."""
        return {
            "total": self.total,
            "exercised": self.exercised,
            "not_exercised": [p.to_json() for p in self.missed],
        }


@dataclass(frozen=True)
class Coverage:
    """What the test cases exercise: rules, alert groups and categories."""

    rules: Kind
    alert_groups: Kind
    categories: Kind

    def kinds(self) -> tuple[Kind, Kind, Kind]:
        """The three kinds, in the order they are reported."""
        return self.rules, self.alert_groups, self.categories

    def to_json(self) -> dict[str, object]:
        """``{automatic_alerts, alert_groups, categories}``."""
        return {
            "automatic_alerts": self.rules.to_json(),
            "alert_groups": self.alert_groups.to_json(),
            "categories": self.categories.to_json(),
        }

    def lines(self) -> list[str]:
        """The report as text: one summary line, then what no test case exercises."""
        summary = ", ".join(f"{k.exercised} of {k.total} {k.label}" for k in self.kinds())
        out = [f"coverage: {summary} exercised"]
        for kind in self.kinds():
            if kind.missed:
                out.append(f"  {kind.label} no test case exercises:")
                out += [
                    f"    {part.name}" + (f" ({part.location})" if part.location else "")
                    for part in kind.missed
                ]
        return out


def _rules_in(decision: Decision) -> set[str]:
    rules = {r.rule for recipient in decision.recipients for r in recipient.reasons if r.rule}
    return rules | {w.rule for w in decision.withheld if w.rule}


def measure(
    policy: Policy, incidents: Iterable[Mapping[str, Any]], decisions: Iterable[Decision]
) -> Coverage:
    """Coverage of ``policy`` by the cases whose incidents (as written) and decisions are given."""
    fired: set[str] = set()
    for decision in decisions:
        fired |= _rules_in(decision)
    chosen: set[str] = set()
    recorded: set[str] = set()
    for incident in incidents:
        alerts = incident.get("alerts") or {}
        chosen.update(g for g in alerts.get("alert_groups", ()) if isinstance(g, str))
        recorded.update(c for c in incident.get("categories", ()) if isinstance(c, str))
    notified = {
        group
        for rule in policy.automatic_alerts
        if rule.id in fired
        for group in rule.notify.alert_groups
    }
    rules = tuple(Part(r.id, r.location) for r in policy.automatic_alerts if r.id not in fired)
    groups = tuple(
        Part(name, group.location)
        for name, group in sorted(policy.alert_groups.items())
        if name not in chosen | notified
    )
    categories = tuple(
        Part(name, policy.category_locations.get(name))
        for name in policy.categories
        if name not in recorded
    )
    return Coverage(
        Kind("automatic alerts", len(policy.automatic_alerts), rules),
        Kind("alert groups", len(policy.alert_groups), groups),
        Kind("categories", len(policy.categories), categories),
    )
