"""The trigger index is an optimisation of the routing rules, proven against its plain twin."""

from __future__ import annotations

from hypothesis import given, settings

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.decide.compiled import compile_policy
from alertpolicy.engine.decide.index import index_triggers
from alertpolicy.engine.model import ChosenAlerts, Incident, Policy, Student
from alertpolicy.engine.rules import conditions
from tests import strategies
from tests.helpers import POLICIES


@settings(strategies.ENGINE_SETTINGS, max_examples=200)
@given(strategies.policy_with_incidents(count=10))
def test_the_index_fires_exactly_the_rules_whose_condition_matches(
    case: tuple[Policy, list[Incident]],
) -> None:
    policy, incidents = case
    plain = conditions(policy)
    with compile_policy(policy) as compiled:
        for incident in incidents:
            values = incident.trigger_values()
            expected = {
                number: matched
                for number, condition in enumerate(plain)
                if (matched := condition.matched(values)) is not None
            }
            assert compiled.fired(values) == expected


def test_a_rule_on_a_parent_listens_for_each_sub_category_without_a_scan() -> None:
    policy = load_policy(POLICIES / "eval-domain-depth")
    index = index_triggers(conditions(policy))
    rules = [r.id for r in policy.automatic_alerts]
    by_key = {key: [rules[n] for n in t.alone] for key, t in index.triggers.items()}
    assert by_key["category:Racist bullying"] == [
        "bullying-to-head-of-year",
        "bullying-to-tutor",
        "bullying-to-cover",
    ]
    assert by_key["category:Cyberbullying"] == [
        "bullying-to-head-of-year",
        "bullying-to-tutor",
        "cyberbullying-to-dsls",
        "bullying-to-cover",
    ]
    with compile_policy(policy) as compiled:
        incident = Incident("INC-1", ("Racist bullying",), (Student("S1"),), ChosenAlerts())
        found = compiled.matching_triggers([f"category:{c}" for c in incident.categories])
        assert [(t.kind, t.value) for t in found] == [("category", "Racist bullying")]
