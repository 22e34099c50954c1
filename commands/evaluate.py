"""``evaluate``: decide who is alerted about incidents read from a file or stdin, and why."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from alertpolicy.commands.options import (
    EXIT_INPUT,
    EXIT_OK,
    emit_json,
    fail_input,
    format_option,
    load_or_exit,
    policy_option,
)
from alertpolicy.engine.errors import ProblemsError


@click.command("evaluate")
@click.argument("source", metavar="INCIDENT.json|INCIDENTS.jsonl|-")
@policy_option
@format_option("text", "json")
def evaluate(source: str, policy_dir: Path, fmt: str) -> None:
    """Decide who is alerted about an incident, and why.

    INCIDENT.json holds one incident; INCIDENTS.jsonl one per line, decided in order;
    - reads stdin (one JSON object, or JSON lines). Text output explains each recipient;
    --format json prints the decision (one JSON object per line for JSON lines).

    Every incident is checked before any is decided: a bad one prints errors naming
    its line, field and value, and nothing is decided. Exit 0 when every incident was
    decided (a rejected incident is a decision too: see "accepted"), 2 for a bad
    policy or bad input.
    """
    from alertpolicy.engine.audit.incidents import parse_input, read_input
    from alertpolicy.engine.decide.compiled import compile_policy
    from alertpolicy.engine.decide.evaluate import evaluate_incident
    from alertpolicy.engine.decide.explain import explain_decision

    policy = load_or_exit(policy_dir, fmt)
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as error:
        click.echo(f"{source}: error: cannot read the incidents: {error}", err=True)
        sys.exit(EXIT_INPUT)
    try:
        given = read_input(source, data)
        incidents = parse_input(given, policy)
    except ProblemsError as error:
        fail_input(error, fmt)
    with compile_policy(policy) as compiled:
        decisions = [evaluate_incident(compiled, incident) for incident in incidents]
    if fmt == "json" and not given.json_lines:
        emit_json(decisions[0].to_json())
    elif fmt == "json":
        for decision in decisions:
            click.echo(json.dumps(decision.to_json(), sort_keys=True, ensure_ascii=False))
    else:
        click.echo("\n\n".join(explain_decision(decision) for decision in decisions))
    sys.exit(EXIT_OK)
