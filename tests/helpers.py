"""What many tests share: where things are, and the installed ``alertpolicy`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from alertpolicy.engine.audit.alertmap import AlertMap, Trigger
from alertpolicy.engine.audit.atoms import AtomicMap
from alertpolicy.engine.decide.compiled import compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.model import ChosenAlerts, Decision, Incident, Policy, Student

REPO = Path(__file__).resolve().parents[1]
"""The repository root (the example school lives in ``REPO / "policy"``)."""
TESTDATA = REPO / "tests" / "testdata"
POLICIES = TESTDATA / "policies"
INCIDENTS = TESTDATA / "incidents"
EXAMPLE_POLICY = REPO / "policy"
SCHEMAS = REPO / "schemas"
ALERTPOLICY = str(Path(sys.executable).with_name("alertpolicy"))
"""The ``alertpolicy`` command installed beside this Python (as a user runs it)."""

NOBODY = "S-not-in-any-rule"


def incident(name: str) -> dict[str, Any]:
    """An incident fixture from tests/testdata/incidents, as a client sends it."""
    data: dict[str, Any] = json.loads((INCIDENTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


Decide = Callable[[Incident], Decision]


def unenforced(policy: Policy) -> Policy:
    """``policy`` with enforcement off: a rejection empties the recipients, and whether an
    incident is rejected is not who the policy alerts (the map's subject)."""
    return replace(policy, settings=replace(policy.settings, enforce_at_least_one_alert=False))


@contextmanager
def engine_for(policy: Policy) -> Iterator[Decide]:
    """The real engine (durable-rules) for ``policy`` without enforcement, closed afterwards."""
    compiled = compile_policy(unenforced(policy))
    try:
        yield lambda incident: evaluate_incident(compiled, incident)
    finally:
        compiled.close()


def trigger_incident(amap: AlertMap, trigger: Trigger, category: str) -> Incident:
    """An incident in ``category`` carrying exactly ``trigger`` (and nothing else)."""
    student = Student(NOBODY)
    chosen = ChosenAlerts()
    if trigger.kind == "student":
        student = Student(trigger.value)
    elif trigger.kind == "student_group":
        student = Student(NOBODY, (trigger.value,))
    elif trigger.kind == "combination":
        when = amap.rules_for(trigger)[0].when
        student = Student(
            min(when.students) if when.students else NOBODY,
            (min(when.student_groups),) if when.student_groups else (),
        )
    elif trigger.kind == "alert_group":
        chosen = ChosenAlerts(alert_groups=(trigger.value,))
    return Incident(f"INC-{trigger.kind}", (category,), (student,), chosen)


def atom_incident(atoms: AtomicMap, trigger: Trigger, category: str) -> Incident:
    """An incident in ``category`` carrying exactly the diff's ``trigger`` (a single
    trigger of :mod:`alertpolicy.engine.audit.atoms`) and nothing else."""
    if trigger.kind == "alert_group":
        chosen = ChosenAlerts(alert_groups=(trigger.value,))
        return Incident("INC-alert-group", (category,), (Student(NOBODY),), chosen)
    values = atoms.values(trigger) if trigger.kind != "category" else {}
    group = values.get("student_group")
    student = Student(values.get("student", NOBODY), (group,) if group else ())
    return Incident(f"INC-{trigger.kind}", (category,), (student,))


def edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    """A change to one policy file: replace ``old`` (which must be there) by ``new``."""

    def apply(policy: Path) -> None:
        target = policy / path
        text = target.read_text()
        assert old in text, f"{old!r} not in {path}"
        target.write_text(text.replace(old, new, 1))

    return apply


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` (as a named test author) and return its output."""
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test Author",
            "-c",
            "user.email=test@school.example",
            "-c",
            "commit.gpgsign=false",
            "-C",
            str(repo),
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()
