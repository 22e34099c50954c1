"""One policy revision compiled for deciding: the trigger index, durable-rules, and tables.

Everything the routing rules (:mod:`alertpolicy.engine.rules`) can say ahead of an incident
is worked out once per revision (or taken from the revision before it where what it
depends on is equal), by asking them: each rule's condition and trigger keys
(:mod:`.index`), who each rule notifies (split into the inactive, and the active per user
group, with the class-restricted apart), each user's class restriction, the permission
gate's answers (memoised as incidents ask), and the student group names the revision
knows.  The keys are loaded into durable-rules (:mod:`.matcher`), which finds those an
incident matches.  So the work per incident is proportional to what it matches and whom
it reaches, not to the size of the policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from alertpolicy.engine import rules
from alertpolicy.engine.decide.index import Trigger, TriggerIndex, index_triggers, trigger_key
from alertpolicy.engine.decide.matcher import DurableMatcher, fact_hash, unique_fact_ids
from alertpolicy.engine.errors import EngineError, PolicyClosedError
from alertpolicy.engine.model import Policy, Reason

__all__ = [
    "CompiledPolicy",
    "EngineError",
    "PolicyClosedError",
    "compile_policy",
    "fact_hash",
    "unique_fact_ids",
]

GroupUsers = tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
"""(user group, its unrestricted users, its class-restricted users) triples, by group."""
NotifiedTable = tuple[GroupUsers, tuple[str, ...]]
"""Who a rule notifies: the active users by user group, and the inactive users."""


class CompiledPolicy:
    """One policy revision loaded into durable-rules, ready to evaluate incidents.

    Thread-safe (durable-rules is touched under the revision's lock). Call :meth:`close`
    when the revision is retired; it frees the ruleset and its facts.
    """

    def __init__(self, policy: Policy, like: CompiledPolicy | None = None) -> None:
        self.policy = policy
        self.revision = policy.revision
        same_rules = like if like and _rules_key(like.policy) == _rules_key(policy) else None
        self.index: TriggerIndex = (
            same_rules.index if same_rules else index_triggers(rules.conditions(policy))
        )
        """Which automatic alerts listen for which trigger keys."""
        self.trigger_keys: tuple[str, ...] = tuple(self.index.triggers)
        """Every trigger key the policy listens for, sorted: one durable fact each."""
        self._triggers: tuple[Trigger, ...] = tuple(self.index.triggers.values())
        self.rule_ids: tuple[str, ...] = tuple(c.rule for c in self.index.conditions)
        """Per rule number: the rule's id."""
        self.fixed_reasons: Mapping[int, Reason] = (
            same_rules.fixed_reasons
            if same_rules
            else {
                rule: self.index.conditions[rule].reason(matched)
                for rule, matched in self.index.fixed_matched.items()
            }
        )
        """Per rule whose ``matched`` is the same whenever it fires: the reason it gives."""
        self.reasons: dict[tuple[int, rules.Matched], Reason] = {
            (rule, matched): self.fixed_reasons[rule]
            for rule, matched in self.index.fixed_matched.items()
        }
        """Every reason given so far, by (rule number, ``matched``)."""
        self.permissions = rules.Permissions(policy)
        self.group_names = rules.GroupNames(policy)
        self.restrictions: Mapping[str, tuple[str, ...]] = {}
        """The class restriction of each restricted user."""
        self.alert_group_members: Mapping[str, tuple[str, ...]] = {}
        """The members of each alert group, sorted."""
        self.tables: tuple[NotifiedTable, ...] = ()
        """Who rules notify, each distinct set of people once: (active users by group,
        inactive users)."""
        self.rule_table: tuple[int, ...] = ()
        """Per rule: the number of its table in :attr:`tables` (rules notifying the same
        people share one)."""
        self._people = _people_key(policy)
        if same_rules and same_rules._people == self._people:
            self.restrictions = same_rules.restrictions
            self.alert_group_members = same_rules.alert_group_members
            self.tables, self.rule_table = same_rules.tables, same_rules.rule_table
        else:
            self._whom()
        self.matcher = DurableMatcher(policy.revision or "unversioned", self.trigger_keys)

    def _whom(self) -> None:
        """Work out afresh who the rules and alert groups of the policy name."""
        policy = self.policy
        membership = rules.Membership(policy)  # only while compiling: its caches are large
        self.restrictions = {
            uid: found
            for uid in policy.users
            if (found := rules.restriction_of(policy, uid)) is not None
        }
        self.alert_group_members = {
            name: tuple(sorted(membership.alert_group_members(name)))
            for name in policy.alert_groups
        }
        self._notified_tables(membership)

    def _notified_tables(self, membership: rules.Membership) -> None:
        users = self.policy.users
        numbers: dict[tuple[str, ...], int] = {}
        tables: list[NotifiedTable] = []
        rule_table = []
        for rule in self.policy.automatic_alerts:
            ids = tuple(sorted(membership.notified(rule.notify)))
            if ids not in numbers:  # rules notifying the same people share the tables
                numbers[ids] = len(tables)
                inactive = tuple(u for u in ids if not users[u].active)
                tables.append((self._by_group(u for u in ids if users[u].active), inactive))
            rule_table.append(numbers[ids])
        self.tables = tuple(tables)
        self.rule_table = tuple(rule_table)

    def _by_group(self, user_ids: Iterable[str]) -> GroupUsers:
        groups: dict[str, tuple[list[str], list[str]]] = {}
        for user_id in user_ids:
            free, restricted = groups.setdefault(self.policy.users[user_id].user_group, ([], []))
            (restricted if user_id in self.restrictions else free).append(user_id)
        return tuple(
            (name, tuple(groups[name][0]), tuple(groups[name][1])) for name in sorted(groups)
        )

    def reason(self, rule: int, matched: rules.Matched) -> Reason:
        """The reason rule number ``rule`` gives when it fires with ``matched`` (worked out
        by its condition once, then remembered: a rule matches only values it lists)."""
        found = self.reasons.get((rule, matched))
        if found is None:
            found = self.reasons[(rule, matched)] = self.index.conditions[rule].reason(matched)
        return found

    @property
    def trigger_fact_ids(self) -> list[str]:
        """The durable fact id of each of :attr:`trigger_keys` (hash-unique)."""
        return self.matcher.fact_ids

    def matching_triggers(self, keys: Iterable[str]) -> list[Trigger]:
        """The policy's triggers among the trigger keys ``keys`` (found by durable-rules).

        Sorted by trigger key. Raises :class:`PolicyClosedError` after :meth:`close`,
        :class:`EngineError` when durable-rules fails (the revision is then unusable: it
        never answers short).
        """
        return [self._triggers[i] for i in self.matcher.match(keys)]

    def fired(self, values: Mapping[str, frozenset[str]]) -> dict[int, rules.Matched]:
        """The rules that fire for an incident with these trigger values, with ``matched``."""
        keys = [trigger_key(kind, value) for kind, of_kind in values.items() for value in of_kind]
        return self.index.fired(self.matching_triggers(keys), values)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self.matcher.closed

    def close(self) -> None:
        """Free the ruleset and every fact of this revision. Closing twice is harmless."""
        self.matcher.close()

    def __enter__(self) -> CompiledPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def compile_policy(policy: Policy, like: CompiledPolicy | None = None) -> CompiledPolicy:
    """Load ``policy`` into a fresh durable-rules ruleset (one per revision).

    With ``like`` (the revision serving, say), what ``policy`` shares with it is taken
    from it rather than worked out again: the trigger index when the automatic alerts and
    sub-categories are equal, and who the rules name when the people are too (an edit to
    a name or a permission changes neither).  Only immutable values are shared.
    """
    return CompiledPolicy(policy, like)


def _rules_key(policy: Policy) -> tuple[object, ...]:
    """What the trigger index is made of: the rules, and the sub-categories' parents."""
    return (policy.automatic_alerts, policy.category_parents)


def _people_key(policy: Policy) -> tuple[object, ...]:
    """What decides whom rules and alert groups name: each user's id, user group, whether
    active and class restriction; each user group's restriction; the alert groups."""
    return (
        tuple((u.id, u.user_group, u.active, u.restricted_to) for u in policy.users.values()),
        tuple((name, group.restricted_to) for name, group in policy.user_groups.items()),
        policy.alert_groups,
    )
