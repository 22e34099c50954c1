"""A policy that uses none of SPEC section 7 decides byte for byte as before it existed.

The golden decisions were recorded by the engine as it was before section 7 (and before
the routing rules were written once): the example school as it then was
(``policies/northfield-before-section-7``) on its own policy tests' incidents and on
generated ones, and a generated trust-scale policy on 2,000 generated incidents (whose
decisions' SHA-256 is pinned here).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from alertpolicy.engine.check.build import load_policy, load_source
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.compiled import compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.load.files import read_directory
from tests.bench.generate import generate_incidents, generate_policy
from tests.helpers import INCIDENTS, POLICIES, TESTDATA

BEFORE = "northfield-before-section-7"
TRUST_DECISIONS_SHA256 = "2fcb07ff538a1dab5472a601a2941c4fddbc79184c73cfca0b663022276c3528"
"""SHA-256 of the 2,000 trust decisions (one sorted-keys JSON object a line) before."""


def line(decision: dict[str, object]) -> str:
    """One decision as the golden files hold it."""
    return json.dumps(decision, sort_keys=True, ensure_ascii=False) + "\n"


def test_the_example_school_before_section_7_decides_byte_for_byte_as_before() -> None:
    # Read as a plain directory (no git commit in the revision), as it was recorded.
    source = dataclasses.replace(read_directory(POLICIES / BEFORE), git=None)
    policy = load_source(source)
    raws = [json.loads(text) for text in (INCIDENTS / f"{BEFORE}.jsonl").open(encoding="utf-8")]
    golden = (TESTDATA / "decisions" / f"{BEFORE}.jsonl").read_text("utf-8").splitlines(True)
    with compile_policy(policy) as compiled:
        now = [
            line(evaluate_incident(compiled, parse_incident(raw, policy)).to_json()) for raw in raws
        ]
    assert len(now) == len(golden) > 400
    assert now == golden


@pytest.mark.slow
def test_a_trust_scale_run_decides_byte_for_byte_as_before(tmp_path: Path) -> None:
    policy = load_policy(generate_policy(tmp_path / "trust", "trust", seed=0))
    incidents = [parse_incident(raw, policy) for raw in generate_incidents(policy, 2000, 0)]
    digest = hashlib.sha256()
    with compile_policy(policy) as compiled:
        for incident in incidents:
            digest.update(line(evaluate_incident(compiled, incident).to_json()).encode("utf-8"))
    assert digest.hexdigest() == TRUST_DECISIONS_SHA256
