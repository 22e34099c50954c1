"""Who is alerted for what: the alert map of a policy, trigger by trigger.

A *trigger* is one thing an incident can carry that makes alerts go out: a category, a
student, a student group, the full condition of a ``match: all`` rule that lists several
kinds (a *combination*, e.g. "category Bullying + student group Year 7"), or an alert group
chosen by hand.  For each trigger the map gives every user it reaches, each with every
*reach* (the rule, or the chosen alert group, and how that names the user: directly, by
user group, by alert group, by a user group inside an alert group), and whether they are
alerted or withheld.  The semantics are the engine's (SPEC section 4): chosen alert-group
members are alerted when active; automatic-alert users must be active and pass the
permission gate (``view_students`` and ``view_incidents`` on the incident's categories).

How the permission gate is represented (it depends on the incident's categories):

- For a **category** trigger, and for a :meth:`AlertMap.query` that names categories, the
  incident's categories are known: the gate is applied to them (``every_category`` /
  ``any_category`` as the policy says) and the answer is yes or no.  The map records it
  as the single pseudo-category :data:`INCIDENT` in ``alerted_in`` or ``withheld_in``.
- For a **student**, **student group** or **combination** trigger the incident's category
  is not part of the trigger.  The map records, per user, the categories for which they
  would be alerted (``alerted_in``) and those for which they would be withheld
  (``withheld_in``), each for an incident in that one category; a combination that lists
  categories only fires for those.  For an incident in several categories the policy's
  setting combines them: ``every_category`` alerts the user when every category of the
  incident is in ``alerted_in``, ``any_category`` when at least one is.
- Chosen **alert groups** are not gated: active members are alerted (``INCIDENT``).

An automatic alert also fires on an incident's *category* whatever its students are, so
for a student or student-group trigger the map lists only the rules the student or group
triggers; whoever the incident's category alerts is in that category's trigger.

The map is computed lazily, one trigger at a time, from indexes built in one pass over
the rules: its cost grows with rules x notified users, never with categories x students.
Every listing is sorted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from alertpolicy.engine.audit.triggers import (
    INCIDENT,
    KIND_WORDS,
    Reach,
    ReverseIndex,
    Trigger,
    Via,
    fires,
    fires_open,
    lacks_text,
    matched_label,
    missing_permissions,
    rule_triggers,
)
from alertpolicy.engine.model import (
    ALERT_PERMISSIONS,
    Access,
    AutomaticAlert,
    Policy,
    Targets,
    User,
)

__all__ = [
    "INCIDENT",
    "KIND_WORDS",
    "AlertMap",
    "Profile",
    "ProfileAlert",
    "Reach",
    "Standing",
    "Trigger",
    "Via",
    "lacks_text",
    "missing_permissions",
    "rule_triggers",
]


@dataclass(frozen=True)
class Standing:
    """Where one user stands for one trigger or query.

    ``reaches`` are in policy order (sort with :meth:`Reach.sort_key` to show them);
    ``alerted_in``/``withheld_in`` are categories (or :data:`INCIDENT`, see the module
    docstring); ``access`` is known only when the incident's categories are.
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


Contribution = tuple[str | None, Mapping[str, tuple[Via, ...]], frozenset[str], str]
"""Part of a standing: rule (``None`` = chosen alert group), users reached, domain, matched."""


class AlertMap:
    """The alert map of one policy: standings per trigger, queries, user profiles."""

    def __init__(self, policy: Policy, *, with_access: bool = True) -> None:
        """Index ``policy``; ``with_access=False`` leaves ``Standing.access`` unset (faster,
        for callers that compare who is alerted, not how far they can open it)."""
        self.policy = policy
        self.with_access = with_access
        self.all_categories = frozenset(policy.categories)
        self._group_users: dict[str, list[str]] = defaultdict(list)
        for user in policy.users.values():
            self._group_users[user.user_group].append(user.id)
        self._by_trigger_index: dict[Trigger, list[AutomaticAlert]] | None = None
        self._by_value_index: dict[tuple[str, str], list[AutomaticAlert]] | None = None
        self._triggers_of: dict[str, tuple[Trigger, ...]] = {}
        self._expansions: dict[str, dict[str, tuple[Via, ...]]] = {}
        self._members: dict[str, dict[str, tuple[Via, ...]]] = {}
        self._passes: dict[str, frozenset[str]] = {}
        self._standings: dict[Trigger, dict[str, Standing]] = {}
        self._reverse: ReverseIndex | None = None
        self._user_triggers: dict[str, dict[Trigger, list[AutomaticAlert]]] = {}

    # ------------------------------------------------------------------ building blocks

    def triggers(self) -> list[Trigger]:
        """Every trigger: each category, each rule trigger, each alert group; sorted."""
        found = set(self._by_trigger())
        found.update(Trigger("category", c) for c in self.policy.categories)
        found.update(Trigger("alert_group", a) for a in self.policy.alert_groups)
        return sorted(found, key=Trigger.sort_key)

    def rules_for(self, trigger: Trigger) -> tuple[AutomaticAlert, ...]:
        """The automatic-alert rules ``trigger`` fires (none for an alert group)."""
        return tuple(self._by_trigger().get(trigger, ()))

    def triggers_of(self, rule: AutomaticAlert) -> tuple[Trigger, ...]:
        """The triggers ``rule`` fires on (see :func:`rule_triggers`), remembered."""
        found = self._triggers_of.get(rule.id)
        if found is None:
            found = self._triggers_of[rule.id] = rule_triggers(rule)
        return found

    def _by_trigger(self) -> dict[Trigger, list[AutomaticAlert]]:
        """Rules by trigger, built on first use (one pass over the rules)."""
        if self._by_trigger_index is None:
            index: dict[Trigger, list[AutomaticAlert]] = defaultdict(list)
            for rule in self.policy.automatic_alerts:
                for trigger in self.triggers_of(rule):
                    index[trigger].append(rule)
            self._by_trigger_index = dict(index)
        return self._by_trigger_index

    def _by_value(self) -> dict[tuple[str, str], list[AutomaticAlert]]:
        """Rules by each (kind, value) they list, built on first use."""
        if self._by_value_index is None:
            index: dict[tuple[str, str], list[AutomaticAlert]] = defaultdict(list)
            for rule in self.policy.automatic_alerts:
                for kind, values in rule.when.by_kind().items():
                    for value in dict.fromkeys(values):
                        index[(kind, value)].append(rule)
            self._by_value_index = dict(index)
        return self._by_value_index

    def alert_group_members(self, name: str) -> dict[str, tuple[Via, ...]]:
        """Members of an alert group (users, and users of its user groups) with how."""
        if name not in self._members:
            found: dict[str, list[Via]] = defaultdict(list)
            group = self.policy.alert_groups.get(name)
            if group is not None:
                for user in group.users:
                    found[user].append(Via("alert_group", name))
                for user_group in group.user_groups:
                    for user in self._group_users.get(user_group, ()):
                        found[user].append(Via("alert_group", name, user_group))
            self._members[name] = {
                u: tuple(dict.fromkeys(v)) for u, v in found.items() if u in self.policy.users
            }
        return self._members[name]

    def notified(self, rule: AutomaticAlert) -> dict[str, tuple[Via, ...]]:
        """Every user a rule notifies, with each way it names them."""
        if rule.id not in self._expansions:
            self._expansions[rule.id] = self.expand(rule.notify)
        return self._expansions[rule.id]

    def expand(self, targets: Targets) -> dict[str, tuple[Via, ...]]:
        """Users named by ``targets`` (users, user groups, alert groups) with each way."""
        found: dict[str, list[Via]] = defaultdict(list)
        for user in targets.users:
            found[user].append(Via("user", user))
        for user_group in targets.user_groups:
            for user in self._group_users.get(user_group, ()):
                found[user].append(Via("user_group", user_group))
        for alert_group in targets.alert_groups:
            for user, vias in self.alert_group_members(alert_group).items():
                found[user].extend(vias)
        return {u: tuple(dict.fromkeys(v)) for u, v in found.items() if u in self.policy.users}

    def alert_categories(self, user_id: str) -> frozenset[str]:
        """Categories ``user_id``'s group grants both ``view_students`` and ``view_incidents``."""
        group_name = self.policy.users[user_id].user_group
        if group_name not in self._passes:
            group = self.policy.user_groups[group_name]
            self._passes[group_name] = frozenset(
                c
                for c in self.policy.categories
                if all(group.grants(c, p) for p in ALERT_PERMISSIONS)
            )
        return self._passes[group_name]

    def passes_gate(self, user_id: str, categories: Iterable[str]) -> bool:
        """Whether the permission gate lets ``user_id`` receive automatic alerts (SPEC 4.2)."""
        allowed = self.alert_categories(user_id)
        checks = [c in allowed for c in categories]
        if self.policy.settings.automatic_alert_permission == "any_category":
            return any(checks)
        return all(checks) and bool(checks)

    def access(self, user_id: str, categories: Iterable[str]) -> Access:
        """How far ``user_id`` can open an incident in ``categories`` (SPEC 4.3)."""
        user = self.policy.users[user_id]
        group = self.policy.user_groups[user.user_group]
        checks = [group.grants(c, "view_incidents") for c in categories]
        if self.policy.settings.automatic_alert_permission == "any_category":
            can_view = any(checks)
        else:
            can_view = all(checks) and bool(checks)
        system = group.has_system("view_student_details") and group.has_system("view_students_list")
        if not (can_view and system):
            return "none"
        return "full" if user.key_holder else "needs_key"

    # ------------------------------------------------------------------ standings

    def _settle(
        self,
        contributions: Iterable[Contribution],
        categories: tuple[str, ...] | None,
    ) -> dict[str, Standing]:
        """Standings from (rule or ``None`` for alert group, users, domain, matched) parts.

        ``categories`` are the incident's categories when known (then domains are
        ``{INCIDENT}`` and the gate is applied to them), else ``None``.
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
        for user in sorted(sources):
            domain = domains[user]
            inactive = not self.policy.users[user].active
            if inactive:
                automatic: frozenset[str] = frozenset()
            elif categories is not None:
                automatic = domain if self.passes_gate(user, categories) else frozenset()
            else:
                automatic = domain & self.alert_categories(user)
            alerted = domain if user in forced and not inactive else automatic
            access = None
            if categories is not None and alerted and self.with_access:
                access = self.access(user, categories)
            out[user] = Standing(
                user=user,
                sources=tuple(sources[user]),
                inactive=inactive,
                alerted_in=alerted,
                withheld_in=domain - alerted,
                access=access,
                automatic_in=automatic,
            )
        return out

    def standings(
        self, trigger: Trigger, users: frozenset[str] | None = None
    ) -> dict[str, Standing]:
        """Every user ``trigger`` reaches and where they stand, keyed by user id.

        With ``users``, only those users' standings (computed from the rules that reach
        them, so the cost follows ``users``, not everyone the trigger reaches).
        """
        if users is not None:
            return self._compute_for(trigger, users)
        if trigger not in self._standings:
            self._standings[trigger] = self._compute(trigger, None)
        return self._standings[trigger]

    def _compute(self, trigger: Trigger, only: frozenset[str] | None) -> dict[str, Standing]:
        def pick(reached: Mapping[str, tuple[Via, ...]]) -> Mapping[str, tuple[Via, ...]]:
            if only is None:
                return reached
            return {u: reached[u] for u in only if u in reached}

        incident = frozenset({INCIDENT})
        label = trigger.label()
        if trigger.kind == "alert_group":
            members = pick(self.alert_group_members(trigger.value))
            return self._settle([(None, members, incident, label)], None)
        rules = self.rules_for(trigger)
        if trigger.kind == "category":
            parts = [(r.id, pick(self.notified(r)), incident, label) for r in rules]
            return self._settle(parts, (trigger.value,))
        parts = [(r.id, pick(self.notified(r)), self.scope(r), label) for r in rules]
        return self._settle(parts, None)

    def _compute_for(self, trigger: Trigger, users: frozenset[str]) -> dict[str, Standing]:
        """Standings of ``users`` only, from the rules that reach each of them."""
        incident = frozenset({INCIDENT})
        label = trigger.label()
        parts: list[Contribution] = []
        for user in sorted(users):
            if user not in self.policy.users:
                continue
            if trigger.kind == "alert_group":
                vias = self.member_vias(trigger.value, user)
                if vias:
                    parts.append((None, {user: vias}, incident, label))
                continue
            for rule in self.triggers_reaching(user).get(trigger, ()):
                domain = incident if trigger.kind == "category" else self.scope(rule)
                parts.append((rule.id, {user: self.vias_of(rule, user)}, domain, label))
        categories = (trigger.value,) if trigger.kind == "category" else None
        return self._settle(parts, categories)

    def member_vias(self, alert_group: str, user_id: str) -> tuple[Via, ...]:
        """How ``user_id`` is a member of ``alert_group`` (empty if they are not)."""
        group = self.policy.alert_groups.get(alert_group)
        if group is None:
            return ()
        own = self.policy.users[user_id].user_group
        vias = [Via("alert_group", alert_group)] if user_id in group.users else []
        vias += [Via("alert_group", alert_group, ug) for ug in group.user_groups if ug == own]
        return tuple(dict.fromkeys(vias))

    def vias_of(self, rule: AutomaticAlert, user_id: str) -> tuple[Via, ...]:
        """Every way ``rule`` names ``user_id`` (as :meth:`notified` gives, for one user)."""
        own = self.policy.users[user_id].user_group
        vias = [Via("user", user_id) for u in rule.notify.users if u == user_id]
        vias += [Via("user_group", g) for g in rule.notify.user_groups if g == own]
        for alert_group in rule.notify.alert_groups:
            vias += self.member_vias(alert_group, user_id)
        return tuple(dict.fromkeys(vias))

    def rules_reaching(self, user_id: str) -> list[AutomaticAlert]:
        """Every rule whose notify list names ``user_id`` in any way, in policy order."""
        if self._reverse is None:
            self._reverse = ReverseIndex(self.policy)
        return self._reverse.rules_reaching(self.policy, user_id)

    def triggers_reaching(self, user_id: str) -> dict[Trigger, list[AutomaticAlert]]:
        """The rule triggers whose alerts name ``user_id``, each with those rules."""
        if user_id not in self._user_triggers:
            found: dict[Trigger, list[AutomaticAlert]] = defaultdict(list)
            for rule in self.rules_reaching(user_id):
                for trigger in self.triggers_of(rule):
                    found[trigger].append(rule)
            self._user_triggers[user_id] = dict(found)
        return self._user_triggers[user_id]

    def alert_groups_of(self, user_id: str) -> set[str]:
        """The alert groups ``user_id`` is a member of (directly or by user group)."""
        if self._reverse is None:
            self._reverse = ReverseIndex(self.policy)
        return self._reverse.alert_groups_of(self.policy, user_id)

    def query(
        self,
        categories: Iterable[str] = (),
        students: Iterable[str] = (),
        student_groups: Iterable[str] = (),
        alert_groups: Iterable[str] = (),
    ) -> dict[str, Standing]:
        """Who is alerted for an incident with these categories, students, groups, choices.

        With categories this is the engine's answer for automatic alerts and chosen alert
        groups.  Without, it merges the student, student-group and alert-group triggers
        and every combination the given values satisfy (the category left open).
        """
        cats = tuple(sorted(set(categories)))
        values = {
            "category": frozenset(cats),
            "student": frozenset(students),
            "student_group": frozenset(student_groups),
        }
        everything = frozenset({INCIDENT}) if cats else self.all_categories
        parts: list[Contribution] = [
            (None, self.alert_group_members(ag), everything, f"alert group {ag}")
            for ag in sorted(set(alert_groups))
        ]
        for rule in self._candidates(values):
            if cats:
                if fires(rule, values):
                    parts.append(
                        (rule.id, self.notified(rule), everything, matched_label(rule, values))
                    )
            elif fires_open(rule, values):
                domain = self.scope(rule)
                parts.append((rule.id, self.notified(rule), domain, matched_label(rule, values)))
        return self._settle(parts, cats or None)

    def _candidates(self, values: Mapping[str, frozenset[str]]) -> list[AutomaticAlert]:
        """Rules listing any of ``values`` (each once, in policy order)."""
        found: dict[str, AutomaticAlert] = {}
        for kind, names in values.items():
            for name in names:
                for rule in self._by_value().get((kind, name), ()):
                    found[rule.id] = rule
        return list(found.values())

    def scope(self, rule: AutomaticAlert) -> frozenset[str]:
        """Categories of the single-category incidents in which ``rule`` can fire.

        A rule keyed on categories alone, or a ``match: all`` rule listing categories,
        fires only in those; any other rule fires whatever the category.
        """
        only_categories = not (rule.when.students or rule.when.student_groups)
        if rule.when.categories and (rule.match == "all" or only_categories):
            return frozenset(rule.when.categories) & self.all_categories
        return self.all_categories

    # ------------------------------------------------------------------ profiles

    def profile(self, user_id: str) -> Profile:
        """A user's automatic alerts (per rule) and alert-group memberships."""
        user = self.policy.users[user_id]
        allowed = self.alert_categories(user_id)
        alerts = []
        for rule in self.policy.automatic_alerts:
            vias = self.notified(rule).get(user_id)
            if not vias:
                continue
            blocked = sorted(self.scope(rule) - allowed)
            alerts.append(
                ProfileAlert(
                    rule=rule.id,
                    match=rule.match,
                    categories=tuple(sorted(set(rule.when.categories))),
                    students=tuple(sorted(set(rule.when.students))),
                    student_groups=tuple(sorted(set(rule.when.student_groups))),
                    vias=tuple(sorted(set(vias), key=Via.sort_key)),
                    blocked_categories=tuple(blocked),
                )
            )
        memberships = sorted(
            (
                via
                for name in self.policy.alert_groups
                for via in self.alert_group_members(name).get(user_id, ())
            ),
            key=Via.sort_key,
        )
        return Profile(
            user=user,
            alert_categories=tuple(sorted(allowed)),
            alerts=tuple(sorted(alerts, key=lambda a: a.rule)),
            alert_groups=tuple(memberships),
        )
