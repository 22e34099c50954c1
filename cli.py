"""The ``alertpolicy`` command: check, test, evaluate, explain, diff and serve a policy.

This module only parses options and renders results; the work happens in ``engine/``.
Exit codes: 0 ok, 1 findings (errors, failed tests, changes with ``--exit-code``),
2 usage or input error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn

import click

from alertpolicy.engine.errors import Problem, ProblemsError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
DEFAULT_POLICY = Path("policy")


def policy_option(func: Callable) -> Callable:
    """The ``--policy DIR`` option every subcommand takes."""
    return click.option(
        "--policy",
        "policy_dir",
        type=click.Path(path_type=Path),
        default=DEFAULT_POLICY,
        show_default=True,
        help="Policy directory (or, for diff/replay, its path inside the git repository).",
    )(func)


def format_option(*choices: str, default: str = "text") -> Callable:
    """A ``--format`` option limited to ``choices``."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format: text for people, json for programs.",
    )


def emit_json(data: Any) -> None:
    """Print ``data`` as stable, sorted, indented JSON."""
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def render_problems(problems: Iterable[Problem], fmt: str = "text") -> None:
    """Print problems to stderr, one ``file:line:col: severity: message`` per line."""
    for problem in problems:
        click.echo(problem.render(), err=True)


def fail_input(error: ProblemsError, fmt: str = "text") -> NoReturn:
    """Render an input error (bad policy, bad incident) and exit with code 2."""
    if fmt == "json":
        emit_json({"errors": [p.to_json() for p in error.problems]})
    else:
        render_problems(error.problems)
    sys.exit(EXIT_INPUT)


def load_or_exit(policy_dir: Path, fmt: str = "text") -> Any:
    """Load and check the policy at ``policy_dir``, or render its errors and exit 2."""
    from alertpolicy.engine.check.build import load_policy
    from alertpolicy.engine.serve.tuning import collector_paused

    try:
        with collector_paused():  # a command's policy lives until it exits: no collections
            return load_policy(policy_dir)
    except ProblemsError as error:
        fail_input(error, fmt)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="alertpolicy")
def main() -> None:
    """Safeguarding-alert routing for schools, kept as policy-as-code.

    The policy lives in YAML files under a directory (default: policy/).
    """


# ------------------------------------------------------------------------- check


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


def _github_escape(text: str, is_property: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if is_property else text


def _github_annotation(problem: Problem) -> str:
    props = []
    if problem.location:
        loc = problem.location
        props += [f"file={_github_escape(loc.file, True)}", f"line={loc.line}", f"col={loc.column}"]
    props.append(f"title={_github_escape(problem.code, True)}")
    return f"::{problem.severity} {','.join(props)}::{_github_escape(problem.message)}"


@main.command("check")
@click.argument("directory", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@policy_option
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings as well as errors.")
@format_option("text", "json", "github")
def check(directory: Path | None, policy_dir: Path, strict: bool, fmt: str) -> None:
    """Check a policy: schema, references and safeguarding lint. Reports every problem.

    DIR defaults to --policy. Exit 0 when there are no errors (and no warnings with
    --strict), 1 when there are, 2 when DIR does not exist.
    """
    from alertpolicy.engine.check.build import load_policy
    from alertpolicy.engine.check.lint import lint_policy
    from alertpolicy.engine.errors import sorted_problems
    from alertpolicy.engine.load.files import unread_lookalikes
    from alertpolicy.engine.serve.tuning import collector_paused

    target = directory or policy_dir
    if not target.is_dir():
        raise click.BadParameter(f"policy directory {target} does not exist", param_hint="DIR")
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = unread_lookalikes(target)
    policy = None
    try:
        with collector_paused():
            policy = load_policy(target)
        warnings = sorted_problems([*warnings, *lint_policy(policy)])
    except ProblemsError as error:
        errors = error.problems
    label = os.path.relpath(target).replace(os.sep, "/").rstrip("/") + "/"
    counts = {
        "files": len(policy.files) if policy else None,
        "users": len(policy.users) if policy else None,
        "user_groups": len(policy.user_groups) if policy else None,
        "alert_groups": len(policy.alert_groups) if policy else None,
        "categories": len(policy.categories) if policy else None,
        "automatic_alerts": len(policy.automatic_alerts) if policy else None,
    }
    failed = bool(errors) or (strict and bool(warnings))
    if fmt == "json":
        emit_json(
            {
                "ok": not failed,
                "errors": [p.to_json() for p in errors],
                "warnings": [p.to_json() for p in warnings],
                "summary": {
                    "policy": label,
                    "revision": policy.revision if policy else None,
                    **counts,
                    "errors": len(errors),
                    "warnings": len(warnings),
                },
            }
        )
    else:
        for problem in (*errors, *warnings):
            click.echo(_github_annotation(problem) if fmt == "github" else problem.render())
        if policy is None:
            click.echo(f"{label}: {_plural(len(errors), 'error')}, {_plural(0, 'warning')}")
        else:
            nouns = ("file", "user", "user group", "alert group", "category", "automatic alert")
            amounts = zip(nouns, counts.values(), strict=True)
            summary = ", ".join(_plural(n or 0, w) for w, n in amounts)
            verdict = "FAILED (--strict)" if failed else "OK"
            tail = f", {_plural(len(warnings), 'warning')}" if warnings else ""
            click.echo(f"{label} {verdict}: {summary}{tail}")
    sys.exit(EXIT_FINDINGS if failed else EXIT_OK)


# ------------------------------------------------------------------ who, diff, replay (AUDIT)


def _output_style() -> Callable[..., str]:
    """``click.style`` when stdout is a terminal, else a style that adds nothing."""
    from alertpolicy.engine.audit.report import plain

    return click.style if sys.stdout.isatty() else plain


def _check_names(option: str, given: Iterable[str], known: Iterable[str]) -> None:
    """A usage error (exit 2) naming any value the policy does not define."""
    known_set = set(known)
    unknown = sorted(set(given) - known_set)
    if unknown:
        raise click.BadParameter(
            f"not in the policy: {', '.join(unknown)}", param_hint=f"'{option}'"
        )


@main.command("who")
@click.option("--category", "categories", multiple=True, help="Incident category (repeatable).")
@click.option("--student", "students", multiple=True, help="Student MIS id (repeatable).")
@click.option(
    "--student-group", "student_groups", multiple=True, help="Student group (repeatable)."
)
@click.option(
    "--alert-group", "alert_groups", multiple=True, help="Alert group chosen by hand (repeatable)."
)
@click.option(
    "--user", "users", multiple=True, help="Show a user's own triggers, as on their profile."
)
@policy_option
@format_option("text", "json")
def who(
    categories: tuple[str, ...],
    students: tuple[str, ...],
    student_groups: tuple[str, ...],
    alert_groups: tuple[str, ...],
    users: tuple[str, ...],
    policy_dir: Path,
    fmt: str,
) -> None:
    """Who is alerted, and who withheld, for an incident with these triggers, and why.

    Options combine into one incident: --category Bullying --student-group "Year 7" asks
    about an incident with both. Without --category the answer says, per user, for which
    categories they would be alerted. --user lists a user's own triggers instead.
    """
    from alertpolicy.engine.audit.alertmap import AlertMap
    from alertpolicy.engine.audit.report import profile_json, profile_text, who_json, who_text

    asked = {
        "categories": list(categories),
        "students": list(students),
        "student_groups": list(student_groups),
        "alert_groups": list(alert_groups),
    }
    if users and any(asked.values()):
        raise click.UsageError("--user cannot be combined with incident triggers")
    if not users and not any(asked.values()):
        raise click.UsageError(
            "say what to ask about: --category, --student, --student-group, --alert-group or --user"
        )
    policy = load_or_exit(policy_dir, fmt)
    _check_names("--category", categories, policy.categories)
    _check_names("--alert-group", alert_groups, policy.alert_groups)
    _check_names("--user", users, policy.users)
    amap = AlertMap(policy)
    if users:
        profiles = [amap.profile(u) for u in sorted(set(users))]
        if fmt == "json":
            emit_json(
                {"policy_revision": policy.revision, "users": [profile_json(p) for p in profiles]}
            )
        else:
            for profile in profiles:
                click.echo("\n".join(profile_text(profile, policy)))
        sys.exit(EXIT_OK)
    standings = amap.query(categories, students, student_groups, alert_groups)
    asked = {k: v for k, v in asked.items() if v}
    if fmt == "json":
        emit_json(who_json(amap, standings, asked))
    else:
        click.echo("\n".join(who_text(amap, standings, asked, _output_style())))
    sys.exit(EXIT_OK)


def _load_sides(base: str, head: str | None, policy_dir: Path, fmt: str) -> tuple[Any, Any]:
    """Both sides of a comparison (directory or git revision): (policy, label) each.

    With two cores or more the head side loads in a second process meanwhile (started by
    a forkserver, its collector off: the policy is thrown away when it has been sent).
    """
    import gc
    import multiprocessing

    from alertpolicy.engine.check.sides import load_side
    from alertpolicy.engine.serve.tuning import collector_paused

    try:
        with collector_paused():
            if len(os.sched_getaffinity(0)) < 2:
                sides = load_side(base, policy_dir), load_side(head, policy_dir)
            else:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["alertpolicy.engine.check.sides"])
                with context.Pool(1, initializer=gc.disable) as pool:
                    head_side = pool.apply_async(load_side, (head, policy_dir))
                    sides = load_side(base, policy_dir), head_side.get()
    except ProblemsError as error:
        fail_input(error, fmt)
    gc.freeze()  # both policies live until the command ends: the collector can skip them
    return sides


@main.command("diff")
@click.argument("base")
@click.argument("head", required=False)
@policy_option
@format_option("text", "markdown", "json")
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when any alert, withheld status or setting changes."
)
def diff(base: str, head: str | None, policy_dir: Path, fmt: str, exit_code: bool) -> None:
    """Whose alerts change between two policy revisions, per trigger, and why.

    BASE and HEAD are each a directory or a git revision (main, HEAD~1, origin/main) of
    the repository holding the policy, read at the --policy path; HEAD defaults to the
    working tree. With --exit-code: exit 1 when any alert, withheld status or setting
    changes, 0 when none; 2 on input errors (an invalid policy on either side).
    """
    from alertpolicy.engine.audit.diff import diff_policies
    from alertpolicy.engine.audit.report import diff_markdown, diff_text

    (base_policy, base_label), (head_policy, head_label) = _load_sides(base, head, policy_dir, fmt)
    result = diff_policies(base_policy, head_policy, labels=(base_label, head_label))
    if fmt == "json":
        emit_json(result.to_json())
    elif not result.changed:
        click.echo("No change in who is alerted.")
    elif fmt == "markdown":
        click.echo("\n".join(diff_markdown(result, head_policy)))
    else:
        click.echo("\n".join(diff_text(result, _output_style())))
    sys.exit(EXIT_FINDINGS if exit_code and result.changed else EXIT_OK)


@main.command("replay")
@click.argument("incidents", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--base", required=True, help="Base revision (git revision or directory).")
@click.option("--head", help="Head revision (default: the working tree).")
@policy_option
@format_option("text", "json")
@click.option("--exit-code", is_flag=True, help="Exit 1 when any decision changes.")
def replay(
    incidents: Path, base: str, head: str | None, policy_dir: Path, fmt: str, exit_code: bool
) -> None:
    """Replay recorded incidents (JSON lines) under two revisions: the decisions that change.

    An incident that is invalid under one side only (a category removed, say) is
    reported as a change, with that side's errors.
    """
    from alertpolicy.engine.audit.replay import read_incidents, replay_text
    from alertpolicy.engine.audit.replay import replay as run_replay

    (base_policy, base_label), (head_policy, head_label) = _load_sides(base, head, policy_dir, fmt)
    try:
        report = run_replay(
            list(read_incidents(incidents)), base_policy, head_policy, (base_label, head_label)
        )
    except ProblemsError as error:
        fail_input(error, fmt)
    if fmt == "json":
        emit_json(report.to_json())
    else:
        click.echo("\n".join(replay_text(report)))
    sys.exit(EXIT_FINDINGS if exit_code and report.changes else EXIT_OK)


# -------------------------------------------------------------------------- test


@main.command("test")
@click.argument("directory", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@policy_option
@click.option(
    "--run",
    "pattern",
    metavar="PATTERN",
    help="Run only the test cases whose name contains PATTERN (ignoring case).",
)
@format_option("text", "json")
def run_tests(directory: Path | None, policy_dir: Path, pattern: str | None, fmt: str) -> None:
    """Run the policy's own test cases (DIR/tests/*.yaml): incidents and expected outcomes.

    DIR defaults to --policy. Exit 0 when every case passes, 1 when any fails or no
    case was found (or selected by --run), 2 when the policy or a test file is invalid.
    """
    from alertpolicy.engine.policytest.suite import run_policy_tests

    target = directory or policy_dir
    policy = load_or_exit(target, fmt)
    try:
        result = run_policy_tests(policy, target, pattern)
    except ProblemsError as error:
        fail_input(error, fmt)
    if fmt == "json":
        emit_json(result.to_json())
    else:
        click.echo(result.render())
    sys.exit(EXIT_OK if result.ok else EXIT_FINDINGS)


def _incident_lines(source: str) -> tuple[str, list[tuple[int | None, str]]]:
    """The input's label and its incidents as (line number or None, JSON text) pairs.

    A ``.jsonl``/``.ndjson`` file, or stdin that is not one JSON document, is JSON lines
    (blank lines skipped); anything else holds one incident.
    """
    label = "<stdin>" if source == "-" else source
    try:
        data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        click.echo(f"{label}: error: cannot read the incidents: {error}", err=True)
        sys.exit(EXIT_INPUT)
    lines_wanted = source.endswith((".jsonl", ".ndjson"))
    if source == "-":
        try:
            json.loads(text)
        except (ValueError, RecursionError):
            lines_wanted = True
    if not lines_wanted:
        return label, [(None, text)]
    return label, [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _incident_problem(label: str, line: int | None, problem: Problem) -> Problem:
    """``problem`` placed at ``label`` (and line), its field and value named in the message."""
    from alertpolicy.engine.errors import Location

    message = problem.message
    if problem.path and str(problem.value) not in message:
        value = json.dumps(problem.value, ensure_ascii=False)
        message += f" (field {problem.field_name()}, value {value})"
    return Problem(
        problem.code,
        message,
        location=Location(label, line or 1, 1),
        path=problem.path,
        value=problem.value,
    )


@main.command("evaluate")
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
    from alertpolicy.engine.check.incident import check_limits, decode_incident, parse_incident
    from alertpolicy.engine.decide.compiled import compile_policy
    from alertpolicy.engine.decide.evaluate import evaluate_incident
    from alertpolicy.engine.decide.explain import explain_decision
    from alertpolicy.engine.errors import IncidentError

    policy = load_or_exit(policy_dir, fmt)
    label, entries = _incident_lines(source)
    incidents, problems = [], []
    for line, text in entries:
        try:
            raw = decode_incident(text)
            check_limits(raw)
            incidents.append(parse_incident(raw, policy))
        except ProblemsError as error:
            problems += [_incident_problem(label, line, p) for p in error.problems]
    if not entries:
        problems.append(
            _incident_problem(label, None, Problem("incident-empty", "no incident given"))
        )
    if problems:
        fail_input(IncidentError(problems), fmt)
    with compile_policy(policy) as compiled:
        decisions = [evaluate_incident(compiled, incident) for incident in incidents]
    if fmt == "json" and entries[0][0] is None:
        emit_json(decisions[0].to_json())
    elif fmt == "json":
        for decision in decisions:
            click.echo(json.dumps(decision.to_json(), sort_keys=True, ensure_ascii=False))
    else:
        click.echo("\n\n".join(explain_decision(decision) for decision in decisions))
    sys.exit(EXIT_OK)


# ------------------------------------------------------------------------- serve


@main.command("serve")
@policy_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes, each with its own copy of the policy and its own watcher.",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File holding a bearer token every route but /healthz and /readyz then requires.",
)
@click.option(
    "--decision-log",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Append one JSON line per decision and reload to this file (no student data).",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1),
    default=1024 * 1024,
    show_default=True,
    help="Largest request body accepted (larger: 413).",
)
@click.option(
    "--debounce-ms",
    type=click.IntRange(min=0),
    default=250,
    show_default=True,
    help="Quiet time after a policy file changes before reloading.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="Server log level (logs never hold student ids, names or metadata).",
)
@click.option(
    "--no-coverage-guard",
    is_flag=True,
    help="Serve every valid revision, even one that loses alerts (see docs/serving.md).",
)
@click.option(
    "--max-route-loss",
    type=click.FloatRange(0, 100),
    default=10.0,
    show_default=True,
    metavar="PERCENT",
    help="Hold a revision that removes more than this share of the (user, trigger) "
    "alert routes of the revision serving.",
)
@click.option(
    "--state-dir",
    metavar="DIR|none",
    help="Where the last accepted revision is kept across restarts [default: "
    "$STATE_DIRECTORY, else $XDG_STATE_HOME/alertpolicy, else ~/.local/state/alertpolicy]; "
    "none keeps nothing.",
)
@click.option(
    "--max-header-bytes",
    type=click.IntRange(min=1024),
    default=16 * 1024,
    show_default=True,
    help="Largest request line and headers accepted (larger: 431).",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds a client may take to send its request line and headers (then: 408).",
)
def serve(
    policy_dir: Path,
    host: str,
    port: int,
    workers: int,
    token_file: Path | None,
    decision_log: Path | None,
    max_body_bytes: int,
    debounce_ms: int,
    log_level: str,
    no_coverage_guard: bool,
    max_route_loss: float,
    state_dir: str | None,
    max_header_bytes: int,
    header_timeout: float,
) -> None:
    """Serve decisions over HTTP, hot-reloading the policy when its files change.

    POST /v1/decisions (an incident in, its decision out), GET /v1/policy, /healthz,
    /readyz, /metrics, POST /-/reload, /openapi.json. A policy that fails any check is
    not loaded: the last good one keeps serving and /v1/policy says why. A valid one that
    would alert fewer people (a safeguarding warning added, a policy file lost or emptied,
    more than --max-route-loss of the alert routes removed) is held until accepted with
    POST /-/reload {"accept": "<revision>"}. SIGHUP rebuilds (with --workers N, every
    worker). An invalid policy, a port in use or an unusable file at start: a message and
    exit code 2, before anything listens.
    """
    from alertpolicy.engine.errors import PolicyError, StartError
    from alertpolicy.engine.serve.entry import run
    from alertpolicy.engine.serve.settings import ServeSettings
    from alertpolicy.engine.serve.state import default_state_dir

    kept = None if state_dir == "none" else Path(state_dir) if state_dir else default_state_dir()
    settings = ServeSettings(
        policy_dir=policy_dir,
        token_file=token_file,
        decision_log=decision_log,
        state_dir=kept,
        max_route_loss=None if no_coverage_guard else max_route_loss / 100,
        max_body_bytes=max_body_bytes,
        max_header_bytes=max_header_bytes,
        header_timeout=header_timeout,
        debounce_ms=debounce_ms,
        log_level=log_level,
        workers=workers,
    )
    try:
        run(settings, host, port)
    except PolicyError as error:
        click.echo(
            f"alertpolicy serve: the policy in {policy_dir} is invalid; not serving", err=True
        )
        fail_input(error)
    except StartError as error:
        click.echo(f"alertpolicy serve: error: {error}", err=True)
        sys.exit(EXIT_INPUT)
    except KeyboardInterrupt:  # Ctrl-C, after uvicorn shut down gracefully
        sys.exit(130)
    sys.exit(EXIT_OK)


if __name__ == "__main__":
    main()
