"""Who is alerted for what: the alert map of a policy, trigger by trigger.

A *trigger* is one thing an incident can carry that makes alerts go out: a category, a
student, a student group, the full condition of a ``match: all`` rule that lists several
kinds (a *combination*, e.g. "category Bullying + student group Year 7"), or an alert group
chosen by hand.  For each trigger the map gives every user it reaches, each with every
*reach* (the rule, or the chosen alert group, and how that names the user), and whether
they are alerted or withheld.  The semantics are the routing rules' own
(:mod:`alertpolicy.engine.rules`): chosen alert-group members are alerted when active;
automatic-alert users must be active, pass the permission gate and, when restricted to
some student groups, see one of the incident's students.

How the permission gate is represented (it depends on the incident's categories):

- For a **category** trigger, and for a :meth:`AlertMap.query` that names categories, the
  incident's categories are known: the gate is applied to them and the answer is yes or
  no, recorded as the single pseudo-category :data:`INCIDENT` in ``alerted_in`` or
  ``withheld_in``.
- For a **student**, **student group** or **combination** trigger the incident's category
  is not part of the trigger.  The map records, per user, the categories for which they
  would be alerted (``alerted_in``) and those for which they would be withheld
  (``withheld_in``), each for an incident in that one category; a combination that lists
  categories only fires for those.  For an incident in several categories the policy's
  setting combines them.
- Chosen **alert groups** are not gated: active members are alerted (``INCIDENT``).

Class restrictions (SPEC 7.2): a trigger says at most one group its student is in (a
student-group trigger, or the groups a query gives), never all of them.  A restricted
user whose groups include a known group of the student is alerted; otherwise their
automatic alerts reach them only for students in their groups, and the standing says so
in ``restricted_to``.

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

from alertpolicy.engine.audit.profile import Profile, ProfileAlert, profile_of
from alertpolicy.engine.audit.standing import Contribution, Standing, alerted_users, settle
from alertpolicy.engine.audit.triggers import (
    INCIDENT,
    KIND_WORDS,
    Reach,
    ReverseIndex,
    Trigger,
    Via,
    every_trigger,
    lacks_text,
    matched_label,
    missing_permissions,
    rule_triggers,
    rules_by_trigger,
)
from alertpolicy.engine.model import Access, AutomaticAlert, Policy, Targets
from alertpolicy.engine.rules import Condition, Membership, Permissions, conditions

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


class AlertMap:
    """The alert map of one policy: standings per trigger, queries, user profiles."""

    def __init__(self, policy: Policy, *, with_access: bool = True) -> None:
        """Index ``policy``; ``with_access=False`` leaves ``Standing.access`` unset (faster,
        for callers that compare who is alerted, not how far they can open it)."""
        self.policy = policy
        self.with_access = with_access
        self.all_categories = frozenset(policy.categories)
        self.membership = Membership(policy)
        self.permissions = Permissions(policy)
        self.conditions: dict[str, Condition] = {c.rule: c for c in conditions(policy)}
        self._by_trigger_index: dict[Trigger, list[AutomaticAlert]] | None = None
        self._by_value_index: dict[tuple[str, str], list[AutomaticAlert]] | None = None
        self._triggers_of: dict[str, tuple[Trigger, ...]] = {}
        self._standings: dict[Trigger, dict[str, Standing]] = {}
        self._reverse: ReverseIndex | None = None
        self._user_triggers: dict[str, dict[Trigger, list[AutomaticAlert]]] = {}
        self._scopes: dict[str, frozenset[str]] = {}

    # ------------------------------------------------------------------ building blocks

    def triggers(self) -> list[Trigger]:
        """Every trigger: each category, each rule trigger, each alert group; sorted."""
        return every_trigger(self.policy, self._by_trigger())

    def rules_for(self, trigger: Trigger) -> tuple[AutomaticAlert, ...]:
        """The automatic-alert rules ``trigger`` fires (none for an alert group)."""
        return tuple(self._by_trigger().get(trigger, ()))

    def triggers_of(self, rule: AutomaticAlert) -> tuple[Trigger, ...]:
        """The triggers ``rule`` fires on (see :func:`rule_triggers`), remembered."""
        found = self._triggers_of.get(rule.id)
        if found is None:
            found = self._triggers_of[rule.id] = rule_triggers(rule, self.conditions[rule.id])
        return found

    def _by_trigger(self) -> dict[Trigger, list[AutomaticAlert]]:
        """Rules by trigger, built on first use (one pass over the rules)."""
        if self._by_trigger_index is None:
            self._by_trigger_index = rules_by_trigger(self.policy, self.triggers_of)
        return self._by_trigger_index

    def _by_value(self) -> dict[tuple[str, str], list[AutomaticAlert]]:
        """Rules by each (kind, value) they accept, built on first use."""
        if self._by_value_index is None:
            index: dict[tuple[str, str], list[AutomaticAlert]] = defaultdict(list)
            for rule in self.policy.automatic_alerts:
                for kind, values in self.conditions[rule.id].accepts.items():
                    for value in values:
                        index[(kind, value)].append(rule)
            self._by_value_index = dict(index)
        return self._by_value_index

    def alert_group_members(self, name: str) -> dict[str, tuple[Via, ...]]:
        """Members of an alert group (users, and users of its user groups) with how."""
        return self.membership.alert_group_members(name)

    def notified(self, rule: AutomaticAlert) -> dict[str, tuple[Via, ...]]:
        """Every user a rule notifies, with each way it names them."""
        return self.membership.notified(rule.notify)

    def expand(self, targets: Targets) -> dict[str, tuple[Via, ...]]:
        """Users named by ``targets`` (users, user groups, alert groups) with each way."""
        return self.membership.notified(targets)

    def alert_categories(self, user_id: str) -> frozenset[str]:
        """Categories in which automatic alerts pass the permission gate for ``user_id``."""
        return self.permissions.alert_categories(self.policy.users[user_id].user_group)

    def passes_gate(self, user_id: str, categories: Iterable[str]) -> bool:
        """Whether the permission gate lets ``user_id`` receive automatic alerts (SPEC 4.2)."""
        group = self.policy.users[user_id].user_group
        return self.permissions.gate(group, tuple(sorted(set(categories)))) is None

    def access(self, user_id: str, categories: Iterable[str]) -> Access:
        """How far ``user_id`` can open an incident in ``categories`` (SPEC 4.3), if they see
        its students."""
        group = self.policy.users[user_id].user_group
        may_open = self.permissions.may_open(group, tuple(sorted(set(categories))))
        return self.permissions.access(user_id, may_open, None)

    def scope(self, rule_id: str) -> frozenset[str]:
        """Categories of the single-category incidents in which rule ``rule_id`` can fire."""
        found = self._scopes.get(rule_id)
        if found is None:
            found = self._scopes[rule_id] = self.conditions[rule_id].scope(self.all_categories)
        return found

    # ------------------------------------------------------------------ standings

    def _settle(
        self,
        contributions: Iterable[Contribution],
        categories: tuple[str, ...] | None,
        groups: frozenset[str] = frozenset(),
    ) -> dict[str, Standing]:
        return settle(self, contributions, categories, groups)

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
            self._standings[trigger] = self._compute(trigger)
        return self._standings[trigger]

    def _known_groups(self, trigger: Trigger) -> frozenset[str]:
        """The student groups a trigger's student is surely in: the trigger's own group, or
        the one group a combination lists."""
        if trigger.kind == "student_group":
            return frozenset({trigger.value})
        if trigger.kind == "combination":
            listed = {g for rule in self.rules_for(trigger) for g in rule.when.student_groups}
            return frozenset(listed) if len(listed) == 1 else frozenset()
        return frozenset()

    def _compute(self, trigger: Trigger) -> dict[str, Standing]:
        parts, categories = self._contributions(trigger)
        groups = frozenset() if categories is not None else self._known_groups(trigger)
        return self._settle(parts, categories, groups)

    def _contributions(self, trigger: Trigger) -> tuple[list[Contribution], tuple[str, ...] | None]:
        """What reaches users for ``trigger``, and the incident's categories if known."""
        incident = frozenset({INCIDENT})
        label = trigger.label()
        if trigger.kind == "alert_group":
            return [(None, self.alert_group_members(trigger.value), incident, label)], None
        rules = self.rules_for(trigger)
        if trigger.kind == "category":
            return [(r.id, self.notified(r), incident, label) for r in rules], (trigger.value,)
        return [(r.id, self.notified(r), self.scope(r.id), label) for r in rules], None

    def alerted(self, trigger: Trigger) -> list[str]:
        """The users :meth:`standings` finds alerted for ``trigger`` (``alerted_in`` not
        empty), sorted; cheaper than the standings, for comparing whole revisions."""
        return alerted_users(self, *self._contributions(trigger))

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
                domain = incident if trigger.kind == "category" else self.scope(rule.id)
                parts.append((rule.id, {user: self.vias_of(rule, user)}, domain, label))
        categories = (trigger.value,) if trigger.kind == "category" else None
        return self._settle(parts, categories, self._known_groups(trigger))

    def member_vias(self, alert_group: str, user_id: str) -> tuple[Via, ...]:
        """How ``user_id`` is a member of ``alert_group`` (empty if they are not)."""
        if alert_group not in self.policy.alert_groups:
            return ()
        return self.membership.vias_of(Targets(alert_groups=(alert_group,)), user_id)

    def vias_of(self, rule: AutomaticAlert, user_id: str) -> tuple[Via, ...]:
        """Every way ``rule`` names ``user_id`` (as :meth:`notified` gives, for one user)."""
        return self.membership.vias_of(rule.notify, user_id)

    def _reverse_index(self) -> ReverseIndex:
        if self._reverse is None:
            self._reverse = ReverseIndex(self.policy, self.membership)
        return self._reverse

    def rules_reaching(self, user_id: str) -> list[AutomaticAlert]:
        """Every rule whose notify list names ``user_id`` in any way, in policy order."""
        return self._reverse_index().rules_reaching(self.policy, user_id)

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
        return self._reverse_index().alert_groups_of(self.policy, user_id)

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
        groups = frozenset(student_groups)
        values = {
            "category": frozenset(cats),
            "student": frozenset(students),
            "student_group": groups,
        }
        everything = frozenset({INCIDENT}) if cats else self.all_categories
        parts: list[Contribution] = [
            (None, self.alert_group_members(ag), everything, f"alert group {ag}")
            for ag in sorted(set(alert_groups))
        ]
        for rule in self._candidates(values):
            condition = self.conditions[rule.id]
            if cats:
                if condition.matched(values) is not None:
                    label = matched_label(condition, values)
                    parts.append((rule.id, self.notified(rule), everything, label))
            elif condition.fires_whatever_category(values):
                label = matched_label(condition, values)
                parts.append((rule.id, self.notified(rule), self.scope(rule.id), label))
        return self._settle(parts, cats or None, groups)

    def _candidates(self, values: Mapping[str, frozenset[str]]) -> list[AutomaticAlert]:
        """Rules accepting any of ``values`` (each once, in policy order)."""
        found: dict[str, AutomaticAlert] = {}
        for kind, names in values.items():
            for name in names:
                for rule in self._by_value().get((kind, name), ()):
                    found[rule.id] = rule
        return list(found.values())

    # ------------------------------------------------------------------ profiles

    def profile(self, user_id: str) -> Profile:
        """A user's automatic alerts (per rule) and alert-group memberships."""
        return profile_of(self, user_id)
