"""Where one user stands for one trigger or query of the alert map, and how it is settled.

A standing is settled from *contributions*: each automatic alert that fires (or chosen
alert group) with the users it names and the categories (*domain*) it applies in.  The
routing rules decide the rest: an inactive user is withheld; chosen alert-group members
are alerted; automatic alerts pass only where the permission gate lets them; a user
restricted to some student groups is alerted by them only for students in those groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from alertpolicy.engine.audit.triggers import Reach
from alertpolicy.engine.model import Access
from alertpolicy.engine.rules import Via, restriction_of

if TYPE_CHECKING:
    from alertpolicy.engine.audit.alertmap import AlertMap

Contribution = tuple[str | None, Mapping[str, tuple[Via, ...]], frozenset[str], str]
"""Part of a standing: rule (``None`` = chosen alert group), users reached, domain, matched."""


@dataclass(frozen=True)
class Standing:
    """Where one user stands for one trigger or query.

    ``reaches`` are in policy order (sort with :meth:`Reach.sort_key` to show them);
    ``alerted_in``/``withheld_in`` are categories (or ``INCIDENT``, see
    :mod:`.alertmap`); ``access`` is known only when the incident's categories are.
    """

    user: str
    sources: tuple[tuple[str | None, tuple[Via, ...], str], ...]
    """(rule or ``None`` for a chosen alert group, ways it names the user, matched)."""
    inactive: bool
    alerted_in: frozenset[str]
    withheld_in: frozenset[str]
    access: Access | None = None
    automatic_in: frozenset[str] = frozenset()
    """Where the automatic alerts themselves pass the gate (a chosen alert group that
    reaches the user alerts them anyway, so this can be less than ``alerted_in``)."""
    restricted_to: tuple[str, ...] | None = None
    """Set when the user's automatic alerts here reach them only for students in these
    student groups (a class restriction, SPEC 7.2); ``None`` when that is not in doubt."""

    @property
    def status(self) -> Literal["alerted", "withheld", "depends"]:
        """``alerted`` in every case, ``withheld`` in every case, or ``depends`` (category)."""
        if not self.withheld_in:
            return "alerted"
        if not self.alerted_in:
            return "withheld"
        return "depends"

    @property
    def reaches(self) -> tuple[Reach, ...]:
        """Every alert that reaches the user, one per way it names them, in policy order."""
        return tuple(
            dict.fromkeys(
                Reach(rule, via, matched) for rule, vias, matched in self.sources for via in vias
            )
        )

    def rules(self) -> tuple[str, ...]:
        """The automatic-alert rules that reach this user, sorted."""
        return tuple(sorted({rule for rule, _, _ in self.sources if rule is not None}))


def settle(
    amap: AlertMap,
    contributions: Iterable[Contribution],
    categories: tuple[str, ...] | None,
    groups: frozenset[str],
) -> dict[str, Standing]:
    """Standings from contributions, by user, sorted.

    ``categories`` are the incident's categories when known (then domains are
    ``{INCIDENT}`` and the gate is applied to them), else ``None``; ``groups`` are student
    groups the incident's student is known to be in.
    """
    sources: dict[str, list[tuple[str | None, tuple[Via, ...], str]]] = {}
    domains: dict[str, frozenset[str]] = {}
    forced: set[str] = set()
    for rule, users, domain, matched in contributions:
        for user, vias in users.items():
            found = sources.get(user)
            if found is None:
                sources[user] = [(rule, vias, matched)]
                domains[user] = domain
            else:
                found.append((rule, vias, matched))
                if domains[user] is not domain:
                    domains[user] = domains[user] | domain
            if rule is None:
                forced.add(user)
    out: dict[str, Standing] = {}
    policy = amap.policy
    for user in sorted(sources):
        domain = domains[user]
        inactive = not policy.users[user].active
        if inactive:
            automatic: frozenset[str] = frozenset()
        elif categories is not None:
            automatic = domain if amap.passes_gate(user, categories) else frozenset()
        else:
            automatic = domain & amap.alert_categories(user)
        alerted = domain if user in forced and not inactive else automatic
        access = None
        if categories is not None and alerted and amap.with_access:
            access = amap.access(user, categories)
        restricted = restriction_of(policy, user)
        if restricted is not None and not groups.isdisjoint(restricted):
            restricted = None
        out[user] = Standing(
            user=user,
            sources=tuple(sources[user]),
            inactive=inactive,
            alerted_in=alerted,
            withheld_in=domain - alerted,
            access=access,
            automatic_in=automatic,
            restricted_to=restricted if automatic else None,
        )
    return out
