"""The audit commands: ``who`` is alerted, and what changes between two revisions
(``diff``, ``replay``); ``report`` writes the alert map as pages."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from alertpolicy.commands.options import (
    DEFAULT_POLICY,
    EXIT_FINDINGS,
    EXIT_INPUT,
    EXIT_OK,
    Decorator,
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


def _names_option(flag: str, dest: str, help_text: str) -> Decorator:
    """A repeatable option naming things the policy defines (``--category`` ...), which the
    shell completes from the policy."""
    kind = flag.removeprefix("--").replace("-", "_")
    return click.option(
        flag, dest, multiple=True, shell_complete=_names_in_policy(kind), help=help_text
    )


@click.command("who")
@_names_option("--category", "categories", "Incident category (repeatable).")
@click.option("--student", "students", multiple=True, help="Student MIS id (repeatable).")
@_names_option("--student-group", "student_groups", "Student group (repeatable).")
@_names_option("--alert-group", "alert_groups", "Alert group chosen by hand (repeatable).")
@_names_option("--user", "users", "Show a user's own triggers, as on their profile (repeatable).")
@_names_option(
    "--user-group",
    "user_groups",
    "Show the own triggers of every user in a user group (repeatable).",
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
        click.echo("\n".join(who_text(amap, standings, asked, output_style())))
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


@click.command("diff")
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
        click.echo("\n".join(diff_text(result, output_style())))
    sys.exit(EXIT_FINDINGS if exit_code and result.changed else EXIT_OK)


@click.command("replay")
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


@click.command("report")
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
    from alertpolicy.engine.load.files import label_of

    policy = load_or_exit(policy_dir)
    label = label_of(policy_dir)
    try:
        written = export_site(policy, html_dir, label)
    except OSError as error:
        click.echo(f"alertpolicy report: error: cannot write {html_dir}: {error}", err=True)
        sys.exit(EXIT_INPUT)
    click.echo(f"wrote {len(written)} pages to {html_dir} (open {html_dir / 'index.html'})")
    sys.exit(EXIT_OK)
