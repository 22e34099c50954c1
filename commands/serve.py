"""``serve``: decisions over HTTP, from one policy, a folder of schools or a git repository."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from alertpolicy.commands.options import (
    EXIT_INPUT,
    EXIT_OK,
    Decorator,
    fail_input,
    policy_option,
)


def _number(
    flag: str, default: float, help_text: str, low: float, high: float | None = None, **more: Any
) -> Decorator:
    """An option taking a number from ``low`` to ``high``: a whole number, or a decimal
    when ``default`` is one; its default shown in ``--help``."""
    kind = click.FloatRange if isinstance(default, float) else click.IntRange
    return click.option(
        flag, type=kind(low, high), default=default, show_default=True, help=help_text, **more
    )


def _file(flag: str, help_text: str) -> Decorator:
    """An option naming a file (not a folder), which need not exist yet."""
    return click.option(flag, type=click.Path(path_type=Path, dir_okay=False), help=help_text)


@click.command("serve")
@policy_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@_number("--port", 8080, "Port.", 0, 65535)
@_number(
    "--workers",
    1,
    "Worker processes, each with its own copy of the policy and its own watcher.",
    1,
)
@_file(
    "--token-file",
    "File holding a bearer token every route but /healthz and /readyz then requires.",
)
@_file(
    "--decision-log",
    "Append one JSON line per decision and reload to this file (no student data).",
)
@_number("--max-body-bytes", 1024 * 1024, "Largest request body accepted (larger: 413).", 1)
@_number("--debounce-ms", 250, "Quiet time after a policy file changes before reloading.", 0)
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
@_number(
    "--max-route-loss",
    10.0,
    "Hold a revision that removes more than this share of the (user, trigger) "
    "alert routes of the revision serving.",
    0,
    100,
    metavar="PERCENT",
)
@click.option(
    "--state-dir",
    metavar="DIR|none",
    help="Where the last accepted revision is kept across restarts [default: "
    "$STATE_DIRECTORY, else $XDG_STATE_HOME/alertpolicy, else ~/.local/state/alertpolicy]; "
    "none keeps nothing.",
)
@_number(
    "--max-header-bytes",
    16 * 1024,
    "Largest request line and headers accepted (larger: 431).",
    1024,
)
@_number(
    "--header-timeout",
    10.0,
    "Seconds a client may take to send its request line and headers (then: 408).",
    0.1,
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
@_number(
    "--git-poll",
    10.0,
    "Seconds between two fetches of --policy-git (POST /-/reload fetches at once).",
    0.1,
    metavar="SECONDS",
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
