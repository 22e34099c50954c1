"""What the subcommands share: exit codes, the common options, rendering problems, and
loading the policy (one directory, or a school of a folder of schools) or exiting.

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

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
"""What ``click.option`` returns: it adds an option to a command's function."""


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


def output_style() -> Callable[..., str]:
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
