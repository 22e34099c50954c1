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
from click.shell_completion import CompletionItem

from alertpolicy.engine.errors import Problem, ProblemsError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INPUT = 2
DEFAULT_POLICY = Path("policy")


def policy_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--policy DIR`` option every subcommand takes."""
    return click.option(
        "--policy",
        "policy_dir",
        type=click.Path(path_type=Path),
        default=DEFAULT_POLICY,
        show_default=True,
        help="Policy directory (or, for diff/replay, its path inside the git repository).",
    )(func)


def format_option(*choices: str, default: str = "text") -> Callable[..., Any]:
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


def _output_style() -> Callable[..., str]:
    """``click.style`` when stdout is a terminal and ``NO_COLOR`` is not set, else no style."""
    from alertpolicy.engine.check.render import plain

    if os.environ.get("NO_COLOR") or not sys.stdout.isatty():
        return plain
    return click.style


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


# ------------------------------------------------------------------- many schools

DEFAULT_POLICIES = Path("policies")


def school_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--policies DIR`` and ``--school NAME`` options (a folder of schools)."""
    func = click.option(
        "--school",
        metavar="NAME",
        help="One school of --policies (default policies/), read with its trust/ layer.",
    )(func)
    return click.option(
        "--policies",
        "policies_dir",
        type=click.Path(path_type=Path),
        help="A folder of schools: one subfolder each, and an optional shared trust/ layer.",
    )(func)


def chosen_schools(
    policies_dir: Path | None, school: str | None, one: bool = False, on_disk: bool = True
) -> tuple[Path, tuple[str, ...]] | None:
    """The folder of schools and the schools asked for (``--school``, else every one);
    ``None`` when the command is about one policy.  A usage error (exit 2) when
    ``--policy`` or a DIR is given too, when ``one`` school is needed and none is named,
    or when the school is not there."""
    from alertpolicy.engine.load.schools import school_folders, unknown_school

    if policies_dir is None and school is None:
        return None
    ctx = click.get_current_context()
    given = [
        f"--{name.removesuffix('_dir')}" if name == "policy_dir" else name.upper()
        for name in ("policy_dir", "directory")
        if ctx.params.get(name) is not None
        and ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    ]
    if given:
        raise click.UsageError(
            f"{' and '.join(given)} (one policy) cannot be combined with --policies or "
            "--school (schools of a folder of schools)"
        )
    policies = policies_dir or DEFAULT_POLICIES
    try:
        names, _misnamed = school_folders(policies)
    except ProblemsError as error:
        fail_input(error)
    if school is not None and school not in names and on_disk:
        raise click.BadParameter(
            unknown_school(school, names, str(policies)).message, param_hint="'--school'"
        )
    if school is None and one:
        raise click.UsageError(f"say which school of {policies}: --school NAME")
    return policies, (school,) if school else names


def load_school_or_exit(policies: Path, school: str, fmt: str = "text") -> Any:
    """Load and check ``school`` (with the trust layer), or render its errors and exit 2."""
    from alertpolicy.engine.check.build import load_source
    from alertpolicy.engine.load.schools import read_school
    from alertpolicy.engine.serve.tuning import collector_paused

    try:
        with collector_paused():
            return load_source(read_school(policies, school))
    except ProblemsError as error:
        fail_input(error, fmt)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="alertpolicy")
def main() -> None:
    """Safeguarding-alert routing for schools, kept as policy-as-code.

    The policy lives in YAML files under a directory (default: policy/).
    """


# ------------------------------------------------------------------------- check


@main.command("check")
@click.argument("directory", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@policy_option
@school_options
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings as well as errors.")
@format_option("text", "json", "github")
def check(
    directory: Path | None,
    policy_dir: Path,
    policies_dir: Path | None,
    school: str | None,
    strict: bool,
    fmt: str,
) -> None:
    """Check a policy: schema, references and safeguarding lint. Reports every problem.

    DIR defaults to --policy. With --policies, every school (or the one --school names)
    is checked with the trust layer. Exit 0 when there are no errors (and no warnings
    with --strict), 1 when there are, 2 when DIR does not exist.
    """
    from alertpolicy.engine.check.findings import check_directory, check_school
    from alertpolicy.engine.check.render import check_annotations, check_json, check_lines
    from alertpolicy.engine.serve.tuning import collector_paused

    schools = chosen_schools(policies_dir, school)
    if schools is not None:
        policies, names = schools
        failed, reports = False, []
        for name in names:
            with collector_paused():
                found = check_school(policies, name)
            failed = failed or found.failed(strict)
            label = os.path.relpath(policies / name).replace(os.sep, "/") + "/"
            if fmt == "json":
                reports.append({"school": name, **check_json(found, label, strict)})
            elif fmt == "github":
                click.echo("\n".join(check_annotations(found, label, strict)))
            else:
                click.echo("\n".join(check_lines(found, label, strict, _output_style())))
        if fmt == "json":
            emit_json(reports[0] if school else {"ok": not failed, "schools": reports})
        sys.exit(EXIT_FINDINGS if failed else EXIT_OK)
    target = directory or policy_dir
    if not target.is_dir():
        raise click.BadParameter(f"policy directory {target} does not exist", param_hint="DIR")
    with collector_paused():  # the policy lives until the command exits: no collections
        report = check_directory(target)
    label = os.path.relpath(target).replace(os.sep, "/").rstrip("/") + "/"
    if fmt == "json":
        emit_json(check_json(report, label, strict))
    elif fmt == "github":
        click.echo("\n".join(check_annotations(report, label, strict)))
    else:
        click.echo("\n".join(check_lines(report, label, strict, _output_style())))
    sys.exit(EXIT_FINDINGS if report.failed(strict) else EXIT_OK)


# ------------------------------------------------------------------ who, diff, replay (AUDIT)


def _check_names(option: str, given: Iterable[str], known: Iterable[str]) -> None:
    """A usage error (exit 2) naming any value the policy does not define."""
    known_set = set(known)
    unknown = sorted(set(given) - known_set)
    if unknown:
        raise click.BadParameter(
            f"not in the policy: {', '.join(unknown)}", param_hint=f"'{option}'"
        )


def _names_in_policy(kind: str) -> Callable[..., list[CompletionItem]]:
    """Shell completion of ``kind`` names (categories, users ...) read from the policy."""

    def complete(
        ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from alertpolicy.engine.check.build import load_policy

        try:
            policy = load_policy(Path(ctx.params.get("policy_dir") or DEFAULT_POLICY))
        except (ProblemsError, OSError):
            return []
        names = {
            "category": policy.categories,
            "user": policy.users,
            "user_group": policy.user_groups,
            "alert_group": policy.alert_groups,
            "student_group": sorted(
                {g for rule in policy.automatic_alerts for g in rule.when.student_groups}
            ),
        }[kind]
        return [CompletionItem(n) for n in names if n.casefold().startswith(incomplete.casefold())]

    return complete


@main.command("who")
@click.option(
    "--category",
    "categories",
    multiple=True,
    shell_complete=_names_in_policy("category"),
    help="Incident category (repeatable).",
)
@click.option("--student", "students", multiple=True, help="Student MIS id (repeatable).")
@click.option(
    "--student-group",
    "student_groups",
    multiple=True,
    shell_complete=_names_in_policy("student_group"),
    help="Student group (repeatable).",
)
@click.option(
    "--alert-group",
    "alert_groups",
    multiple=True,
    shell_complete=_names_in_policy("alert_group"),
    help="Alert group chosen by hand (repeatable).",
)
@click.option(
    "--user",
    "users",
    multiple=True,
    shell_complete=_names_in_policy("user"),
    help="Show a user's own triggers, as on their profile (repeatable).",
)
@click.option(
    "--user-group",
    "user_groups",
    multiple=True,
    shell_complete=_names_in_policy("user_group"),
    help="Show the own triggers of every user in a user group (repeatable).",
)
@policy_option
@school_options
@format_option("text", "json")
def who(
    categories: tuple[str, ...],
    students: tuple[str, ...],
    student_groups: tuple[str, ...],
    alert_groups: tuple[str, ...],
    users: tuple[str, ...],
    user_groups: tuple[str, ...],
    policy_dir: Path,
    policies_dir: Path | None,
    school: str | None,
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
    if (users or user_groups) and any(asked.values()):
        raise click.UsageError("--user and --user-group cannot be combined with incident triggers")
    if not (users or user_groups) and not any(asked.values()):
        raise click.UsageError(
            "say what to ask about: --category, --student, --student-group, --alert-group, "
            "--user or --user-group"
        )
    schools = chosen_schools(policies_dir, school, one=True)
    if schools is not None:
        policy = load_school_or_exit(schools[0], schools[1][0], fmt)
    else:
        policy = load_or_exit(policy_dir, fmt)
    _check_names("--category", categories, policy.categories)
    _check_names("--alert-group", alert_groups, policy.alert_groups)
    _check_names("--user", users, policy.users)
    _check_names("--user-group", user_groups, policy.user_groups)
    users = (*users, *(u for g in user_groups for u in policy.users_in_group(g)))
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


def _load_sides(
    base: str, head: str | None, policy_dir: Path, fmt: str, school: str | None = None
) -> tuple[Any, Any]:
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
                sides = load_side(base, policy_dir, school), load_side(head, policy_dir, school)
            else:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["alertpolicy.engine.check.sides"])
                with context.Pool(1, initializer=gc.disable) as pool:
                    head_side = pool.apply_async(load_side, (head, policy_dir, school))
                    sides = load_side(base, policy_dir, school), head_side.get()
    except ProblemsError as error:
        fail_input(error, fmt)
    gc.freeze()  # both policies live until the command ends: the collector can skip them
    return sides


@main.command("diff")
@click.argument("base")
@click.argument("head", required=False)
@policy_option
@school_options
@format_option("text", "markdown", "json", "html")
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit 1 when any alert, withheld status, access or setting changes.",
)
def diff(
    base: str,
    head: str | None,
    policy_dir: Path,
    policies_dir: Path | None,
    school: str | None,
    fmt: str,
    exit_code: bool,
) -> None:
    """Whose alerts change between two policy revisions, per trigger, and why.

    BASE and HEAD are each a directory or a git revision (main, HEAD~1, origin/main) of
    the repository holding the policy, read at the --policy path; HEAD defaults to the
    working tree. With --school, each side is that school of the folder of schools
    --policies (a directory side is another folder of schools), with the trust layer.
    --format html writes one self-contained page (for a pull request's artifacts). With
    --exit-code: exit 1 when any alert, withheld status, access or setting changes, 0 when
    none; 2 on input errors (an invalid policy on either side).
    """
    from alertpolicy.engine.audit.diff import diff_policies
    from alertpolicy.engine.audit.diffview import diff_markdown, diff_text

    schools = chosen_schools(policies_dir, school, one=True, on_disk=False)
    where, name = (schools[0], schools[1][0]) if schools else (policy_dir, None)
    (base_policy, base_label), (head_policy, head_label) = _load_sides(base, head, where, fmt, name)
    result = diff_policies(base_policy, head_policy, labels=(base_label, head_label))
    if fmt == "json":
        emit_json(result.to_json())
    elif fmt == "html":
        from alertpolicy.engine.audit.pages.render import diff_page

        click.echo(diff_page(result), nl=False)
    elif not result.changed:
        click.echo("No change in who is alerted.")
    elif fmt == "markdown":
        click.echo("\n".join(diff_markdown(result)))
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


@main.command("report")
@policy_option
@click.option(
    "--html",
    "html_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the alert map pages here (created if missing), as the web view shows them.",
)
def report(policy_dir: Path, html_dir: Path) -> None:
    """Write the alert map as static web pages, for people who do not use a terminal.

    index.html (who each category alerts, the user group x category permission matrix,
    the lint warnings), and a page per category, user and alert group, linked relatively:
    open index.html from disk or publish the folder. Exit 0 when written, 2 for an
    invalid policy or a folder that cannot be written.
    """
    from alertpolicy.engine.audit.pages.site import export_site

    policy = load_or_exit(policy_dir)
    label = os.path.relpath(policy_dir).replace(os.sep, "/")
    try:
        written = export_site(policy, html_dir, label)
    except OSError as error:
        click.echo(f"alertpolicy report: error: cannot write {html_dir}: {error}", err=True)
        sys.exit(EXIT_INPUT)
    click.echo(f"wrote {len(written)} pages to {html_dir} (open {html_dir / 'index.html'})")
    sys.exit(EXIT_OK)


# -------------------------------------------------------------------------- test


@main.command("test")
@click.argument("directory", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@policy_option
@school_options
@click.option(
    "--run",
    "pattern",
    metavar="PATTERN",
    help="Run only the test cases whose name contains PATTERN (ignoring case).",
)
@click.option(
    "--coverage",
    is_flag=True,
    help="Also list the automatic alerts, alert groups and categories no test case exercises.",
)
@click.option(
    "--require-tests", is_flag=True, help="Fail (exit 1) when the policy has no test case."
)
@format_option("text", "json", "junit", "github")
def run_tests(
    directory: Path | None,
    policy_dir: Path,
    policies_dir: Path | None,
    school: str | None,
    pattern: str | None,
    coverage: bool,
    require_tests: bool,
    fmt: str,
) -> None:
    """Run the policy's own test cases (DIR/tests/*.yaml): incidents and expected outcomes.

    DIR defaults to --policy. Exit 0 when every case passes (no test case at all is a
    notice, and exit 0, unless --require-tests), 1 when any fails or --run selects none,
    2 when the policy or a test file is invalid. --format junit writes JUnit XML for CI
    systems; github writes workflow annotations at the failing cases. With --policies,
    every school's own tests run (or those of the school --school names).
    """
    from alertpolicy.engine.policytest.report import suite_annotations, suite_junit, suite_text
    from alertpolicy.engine.policytest.suite import run_policy_tests

    schools = chosen_schools(policies_dir, school)
    if schools is not None:
        _test_schools(*schools, pattern, coverage, require_tests, fmt)
    target = directory or policy_dir
    policy = load_or_exit(target, fmt)
    try:
        result = run_policy_tests(policy, target, pattern, require_tests)
    except ProblemsError as error:
        fail_input(error, fmt)
    report = result.coverage(policy) if coverage else None
    if fmt == "json":
        emit_json({**result.to_json(), **({"coverage": report.to_json()} if report else {})})
    elif fmt == "junit":
        click.echo(suite_junit(result), nl=False)
    else:
        lines = (
            suite_annotations(result) if fmt == "github" else suite_text(result, _output_style())
        )
        click.echo("\n".join(lines + (["", *report.lines()] if report else [])))
    sys.exit(EXIT_OK if result.ok else EXIT_FINDINGS)


def _test_schools(
    policies: Path,
    names: tuple[str, ...],
    pattern: str | None,
    coverage: bool,
    require_tests: bool,
    fmt: str,
) -> NoReturn:
    """``test`` for each school of ``names`` in turn, one report (exits)."""
    from xml.etree import ElementTree

    from alertpolicy.engine.policytest.report import suite_annotations, suite_junit, suite_text
    from alertpolicy.engine.policytest.suite import run_policy_tests

    ok, found, junit = True, [], ElementTree.Element("testsuites", name="alertpolicy test")
    for name in names:
        policy = load_school_or_exit(policies, name, fmt)
        try:
            result = run_policy_tests(policy, policies / name, pattern, require_tests)
        except ProblemsError as error:
            fail_input(error, fmt)
        ok = ok and result.ok
        report = result.coverage(policy) if coverage else None
        if fmt == "json":
            found.append({"school": name, **result.to_json()})
            found[-1].update({"coverage": report.to_json()} if report else {})
        elif fmt == "junit":
            junit.extend(ElementTree.fromstring(suite_junit(result)))
        elif fmt == "github":
            click.echo("\n".join(suite_annotations(result)))
        else:
            lines = [f"{name}:", *suite_text(result, _output_style())]
            click.echo("\n".join(lines + (["", *report.lines()] if report else [])) + "\n")
    if fmt == "json":
        emit_json(found[0] if len(names) == 1 else {"ok": ok, "schools": found})
    elif fmt == "junit":
        cases = list(junit.iter("testcase"))
        junit.set("tests", str(len(cases)))
        junit.set("failures", str(sum(c.find("failure") is not None for c in cases)))
        junit.set("errors", str(sum(c.find("error") is not None for c in cases)))
        click.echo(ElementTree.tostring(junit, encoding="unicode", xml_declaration=True))
    sys.exit(EXIT_OK if ok else EXIT_FINDINGS)


@main.command("fmt")
@click.argument("directory", metavar="[DIR]", required=False, type=click.Path(path_type=Path))
@policy_option
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Change nothing: list the files that would change, and exit 1 if any would.",
)
def fmt(directory: Path | None, policy_dir: Path, check_only: bool) -> None:
    """Rewrite the policy files in one canonical layout, keeping every comment.

    Keys in the schema's order, short lists and mappings on one line, quotes only where
    YAML needs them. A file is only rewritten if it reads back as exactly the same data.
    DIR defaults to --policy. Exit 0 when done (with --check: nothing would change), 1
    with --check when a file would change, 2 when a file cannot be read.
    """
    from alertpolicy.engine.check.fmt import format_directory

    target = directory or policy_dir
    if not target.is_dir():
        raise click.BadParameter(f"policy directory {target} does not exist", param_hint="DIR")
    try:
        changed = format_directory(target, write=not check_only)
    except ProblemsError as error:
        fail_input(error)
    verb = "would reformat" if check_only else "reformatted"
    for shown in changed:
        click.echo(f"{verb} {shown}")
    if check_only and changed:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_OK)


SCHEMAS = {
    "policy": "policy",
    "incident": "incident",
    "decision": "decision",
    "policy-test": "policytest",
    "diff": "diff",
}
"""Published schemas by the name ``alertpolicy schema`` takes, to their file's stem."""


@main.command("schema")
@click.argument("name", type=click.Choice(sorted(SCHEMAS)))
def schema(name: str) -> None:
    """Print a published JSON Schema (Draft 2020-12), for editors and other tools.

    policy: a policy file; incident: an incident; decision: a decision; policy-test: a
    file of policy test cases; diff: the output of diff --format json. For example
    `alertpolicy schema policy > .schemas/policy.schema.json`, then in each policy file:
    `# yaml-language-server: $schema=../.schemas/policy.schema.json`.
    """
    from importlib.resources import files

    text = (files("alertpolicy.schemas") / f"{SCHEMAS[name]}.schema.json").read_text("utf-8")
    click.echo(text, nl=not text.endswith("\n"))
    sys.exit(EXIT_OK)


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
@click.option(
    "--policies",
    "policies_dir",
    type=click.Path(path_type=Path),
    help="Serve every school of this folder (one subfolder each, plus an optional shared "
    "trust/ layer) under /v1/schools/{school}/..., instead of one --policy.",
)
@click.option(
    "--policy-git",
    metavar="REPO",
    help="Serve the policy from this git repository (a path or any URL git can fetch), "
    "fetched every --git-poll seconds; --policy or --policies is the folder inside it.",
)
@click.option("--ref", "git_ref", default="main", show_default=True, help="Branch or tag to serve.")
@click.option(
    "--git-poll",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between two fetches of --policy-git (POST /-/reload fetches at once).",
)
@click.pass_context
def serve(
    ctx: click.Context,
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
    policies_dir: Path | None,
    policy_git: str | None,
    git_ref: str,
    git_poll: float,
) -> None:
    """Serve decisions over HTTP, hot-reloading the policy when its files change.

    POST /v1/decisions (an incident in, its decision out), GET /v1/policy, /healthz,
    /readyz, /metrics, POST /-/reload, /openapi.json. A policy that fails any check is
    not loaded: the last good one keeps serving and /v1/policy says why. A valid one that
    would alert fewer people (a safeguarding warning added, a policy file lost or emptied,
    more than --max-route-loss of the alert routes removed) is held until accepted with
    POST /-/reload {"accept": "<revision>"}. SIGHUP rebuilds (with --workers N, every
    worker). An invalid policy, a port in use or an unusable file at start: a message and
    exit code 2, before anything listens. --policies serves many schools, each loaded,
    checked and reloaded on its own; --policy-git follows a branch of a git repository.
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
        policies_dir=policies_dir,
        policy_git=policy_git,
        git_ref=git_ref,
        git_poll=git_poll,
    )
    given = ctx.get_parameter_source("policy_dir") is not click.core.ParameterSource.DEFAULT
    if policies_dir is not None and given:
        raise click.UsageError("give --policy (one policy) or --policies (schools), not both")
    if policies_dir is not None and policy_git is None and not policies_dir.is_dir():
        raise click.BadParameter(f"{policies_dir} is not a folder", param_hint="'--policies'")
    try:
        run(settings, host, port)
    except PolicyError as error:
        where = policy_git or policies_dir or policy_dir
        click.echo(f"alertpolicy serve: the policy in {where} is invalid; not serving", err=True)
        fail_input(error)
    except StartError as error:
        click.echo(f"alertpolicy serve: error: {error}", err=True)
        sys.exit(EXIT_INPUT)
    except KeyboardInterrupt:  # Ctrl-C, after uvicorn shut down gracefully
        sys.exit(130)
    sys.exit(EXIT_OK)


if __name__ == "__main__":
    main()
