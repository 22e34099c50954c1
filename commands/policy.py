"""The commands about the policy itself: ``check`` it, run its own ``test`` cases, ``fmt``
its files, and print a published ``schema``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from alertpolicy.commands.options import (
    EXIT_FINDINGS,
    EXIT_OK,
    chosen_schools,
    emit_json,
    fail_input,
    format_option,
    load_or_exit,
    load_school_or_exit,
    output_style,
    policy_option,
    school_options,
)
from alertpolicy.engine.errors import ProblemsError

if TYPE_CHECKING:
    from alertpolicy.engine.check.findings import CheckReport


@click.command("check")
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
    from alertpolicy.engine.load.files import label_of
    from alertpolicy.engine.serve.tuning import collector_paused

    def shown(report: CheckReport, label: str) -> dict[str, object] | None:
        """Print ``report`` as text or annotations; with ``--format json``, its JSON object
        instead (printed by the caller)."""
        if fmt == "github":
            click.echo("\n".join(check_annotations(report, label, strict)))
        elif fmt == "text":
            click.echo("\n".join(check_lines(report, label, strict, output_style())))
        else:
            return check_json(report, label, strict)
        return None

    schools = chosen_schools(policies_dir, school)
    if schools is not None:
        policies, names = schools
        failed, reports = False, []
        for name in names:
            with collector_paused():
                found = check_school(policies, name)
            failed = failed or found.failed(strict)
            answer = shown(found, label_of(policies / name) + "/")
            if answer is not None:
                reports.append({"school": name, **answer})
        if fmt == "json":
            emit_json(reports[0] if school else {"ok": not failed, "schools": reports})
        sys.exit(EXIT_FINDINGS if failed else EXIT_OK)
    target = directory or policy_dir
    if not target.is_dir():
        raise click.BadParameter(f"policy directory {target} does not exist", param_hint="DIR")
    with collector_paused():  # the policy lives until the command exits: no collections
        report = check_directory(target)
    answer = shown(report, label_of(target).rstrip("/") + "/")
    if answer is not None:
        emit_json(answer)
    sys.exit(EXIT_FINDINGS if report.failed(strict) else EXIT_OK)


@click.command("test")
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
        lines = suite_annotations(result) if fmt == "github" else suite_text(result, output_style())
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
    from alertpolicy.engine.policytest.report import suite_annotations, suite_junit, suite_text
    from alertpolicy.engine.policytest.suite import SuiteResult, run_policy_tests

    ok, found = True, []
    suites: list[SuiteResult] = []
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
            suites.append(result)
        elif fmt == "github":
            click.echo("\n".join(suite_annotations(result)))
        else:
            lines = [f"{name}:", *suite_text(result, output_style())]
            click.echo("\n".join(lines + (["", *report.lines()] if report else [])) + "\n")
    if fmt == "json":
        emit_json(found[0] if len(names) == 1 else {"ok": ok, "schools": found})
    elif fmt == "junit":
        click.echo(suite_junit(*suites), nl=False)
    sys.exit(EXIT_OK if ok else EXIT_FINDINGS)


@click.command("fmt")
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


@click.command("schema")
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
