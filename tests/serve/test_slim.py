"""A policy as a service of many schools keeps it (without locations and descriptions)
decides exactly as the whole policy does, byte for byte."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.compiled import compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.model import Policy
from alertpolicy.engine.serve.slim import served
from tests.bench.generate import generate_incidents, generate_policy
from tests.helpers import TESTDATA


def decisions(policy: Policy, incidents: list[dict[str, object]]) -> list[str]:
    with compile_policy(policy) as compiled:
        return [
            json.dumps(evaluate_incident(compiled, parse_incident(raw, policy)).to_json())
            for raw in incidents
        ]


NORTHFIELD = TESTDATA / "policies" / "northfield-before-section-7"
RECORDED = TESTDATA / "incidents" / "northfield-before-section-7.jsonl"


@pytest.mark.parametrize("which", ["recorded", "generated", "generated-depth"])
def test_a_slim_policy_decides_byte_for_byte_as_the_whole(which: str, tmp_path: Path) -> None:
    if which == "recorded":
        whole = load_policy(NORTHFIELD)
        lines = RECORDED.read_text(encoding="utf-8").splitlines()
        incidents = [json.loads(line) for line in lines if line.strip()]
    else:
        depth = which == "generated-depth"
        whole = load_policy(generate_policy(tmp_path / "p", "school", seed=7, depth=depth))
        incidents = generate_incidents(whole, 300, seed=5)
    slim = served(whole)
    assert decisions(slim, incidents) == decisions(whole, incidents)
    assert slim.users == whole.users and slim.user_groups == whole.user_groups
    assert [r.id for r in slim.automatic_alerts] == [r.id for r in whole.automatic_alerts]
    assert slim.revision == whole.revision and slim.files == whole.files
    assert all(user.location is None for user in slim.users.values())
    assert all(not rule.description for rule in slim.automatic_alerts)
    assert len(pickle.dumps(slim)) < len(pickle.dumps(whole))
