"""``alertpolicy diff`` on a real git repository: one commit per kind of policy change.

Each commit of the repository built here makes one kind of change to the audit-map
policy.  For each, the diff is checked in every format, and every gain and loss it
reports is checked against the engine: the trigger's incident is evaluated under the
base and the head revision and the user's alert must flip the same way.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from alertpolicy.cli import main
from alertpolicy.engine.audit.alertmap import AlertMap, Trigger
from alertpolicy.engine.audit.atoms import AtomicMap
from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.load.git import read_git
from alertpolicy.engine.model import Policy
from tests.helpers import (
    ALERTPOLICY,
    EXAMPLE_POLICY,
    TESTDATA,
    atom_incident,
    edit,
    engine_for,
    git,
)

FIXTURE = TESTDATA / "policies" / "audit-map"
DIFF_SCHEMA = json.loads((files("alertpolicy.schemas") / "diff.schema.json").read_text())


@dataclass(frozen=True)
class Case:
    """One commit: the change, and the alert changes the diff must report (a subset)."""

    name: str
    apply: Callable[[Path], None]
    expected: set[tuple[str, str, str, str]]
    """(trigger label, user, change, a cause containing this text)."""


NEW_RULE = """  - id: online-safety-to-dsls
    notify: {alert_groups: [DSLs]}
    when: {categories: [Online safety]}
"""
CASES = [
    Case(
        "rule-added",
        edit("automatic_alerts.yaml", "automatic_alerts:\n", "automatic_alerts:\n" + NEW_RULE),
        {
            ("category Online safety", "jsmith", "gains", "rule online-safety-to-dsls added"),
            ("category Online safety", "pdavies", "gains", "rule online-safety-to-dsls added"),
        },
    ),
    Case(
        "rule-edited",
        edit(
            "automatic_alerts.yaml",
            "notify: {users: [tteach]}\n    when: {categories: [Bullying], student_groups:",
            "notify: {users: [mokafor]}\n    when: {categories: [Bullying], student_groups:",
        ),
        {
            (
                "student group Year 7",
                "mokafor",
                "gains",
                "rule year7-bullying-to-tutor edited: now notifies user mokafor; "
                "no longer notifies user tteach",
            ),
        },
    ),
    Case(
        "rule-removed",
        edit(
            "automatic_alerts.yaml",
            '    when: {students: ["S2001", "S2002"]}\n',
            '    when: {students: ["S2002"]}\n',
        ),
        {
            ("student S2001", "jsmith", "loses", "rule looked-after-students edited"),
            ("student S2001", "kbaker", "loses", "student S2001 removed"),
        },
    ),
    Case(
        "user-moved",
        edit(
            "people.yaml",
            "tteach@brookfield.example, user_group: Teaching Staff}",
            "tteach@brookfield.example, user_group: Heads of Year}",
        ),
        {
            (
                "category Bullying",
                "tteach",
                "gains",
                "tteach moved from user group Teaching Staff to Heads of Year",
            ),
            ("category Online safety", "tteach", "newly_withheld", "tteach moved"),
        },
    ),
    Case(
        "user-deactivated",
        edit(
            "people.yaml",
            "user_group: Heads of Year, key_holder: true}",
            "user_group: Heads of Year, key_holder: true, active: false}",
        ),
        {
            ("category Bullying", "kbaker", "loses", "kbaker deactivated"),
            ("alert group Year 7 Team", "kbaker", "loses", "kbaker deactivated"),
        },
    ),
    Case(
        "permission-granted",
        edit(
            "people.yaml",
            "Online safety: [view_students, add_incidents]",
            "Online safety: [view_students, view_incidents, add_incidents]",
        ),
        {
            (
                "category Online safety",
                "tteach",
                "gains",
                "user group Heads of Year: view_incidents on Online safety granted",
            ),
            ("category Online safety", "mokafor", "gains", "view_incidents on Online safety"),
        },
    ),
    Case(
        "permission-revoked",
        edit(
            "people.yaml",
            '      "*": [view_students, view_incidents, add_incidents]',
            '      "*": [view_students, add_incidents]',
        ),
        {
            (
                "category Self-harm",
                "jsmith",
                "loses",
                "user group DSL: view_incidents on every category revoked",
            ),
        },
    ),
    Case(
        "alert-group-membership",
        edit(
            "people.yaml",
            "members: {users: [kbaker, tteach, oleft]}",
            "members: {users: [kbaker, oleft], user_groups: [DSL]}",
        ),
        {
            (
                "alert group Year 7 Team",
                "tteach",
                "loses",
                "user tteach removed from alert group Year 7 Team",
            ),
            (
                "alert group Year 7 Team",
                "pdavies",
                "gains",
                "user group DSL added to alert group Year 7 Team",
            ),
            ("student group Year 7", "jsmith", "newly_withheld", "alert group Year 7 Team"),
        },
    ),
    Case(
        "user-added",
        edit(
            "people.yaml",
            "  oleft:\n",
            "  nnew: {name: Nia New, email: nnew@brookfield.example, user_group: DSL}\n  oleft:\n",
        ),
        {
            ("category Self-harm", "nnew", "newly_withheld", "user nnew added"),
            ("alert group DSLs", "nnew", "gains", "user nnew added"),
        },
    ),
]
SETTING_CASE = edit(
    "settings.yaml", "enforce_at_least_one_alert: true", "enforce_at_least_one_alert: false"
)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose commits are: the fixture, then one commit per case, then a
    settings change."""
    root = tmp_path_factory.mktemp("diffs") / "school-policy"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    shutil.copytree(FIXTURE, root / "policy")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Initial policy")
    for case in CASES:
        git(root, "tag", f"before-{case.name}")
        case.apply(root / "policy")
        git(root, "commit", "-q", "-am", case.name)
        git(root, "tag", case.name)
    SETTING_CASE(root / "policy")
    git(root, "commit", "-q", "-am", "Enforcement off")
    return root


def run(repo: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    """Run the real CLI in ``repo``: exit code and standard output."""
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def side(repo: Path, rev: str) -> Policy:
    """The policy at ``rev`` of ``repo``."""
    return load_source(read_git(repo, rev, "policy"))


def engine_alerts(policy: Policy, trigger: Trigger, category: str, user: str) -> bool:
    """Whether the engine alerts ``user`` through ``trigger`` for an incident in ``category``."""
    atoms = AtomicMap(AlertMap(policy))
    rules = {r.id for r in atoms.rules_for(trigger)}
    if trigger.kind == "combination" and not rules:
        return False
    with engine_for(policy) as decide:
        decision = decide(atom_incident(atoms, trigger, category))
    return any(
        (reason.rule in rules) or (reason.alert_group == trigger.value)
        for recipient in decision.recipients
        if recipient.user == user
        for reason in recipient.reasons
    )


def trigger_of(change: dict) -> Trigger:
    return Trigger(change["trigger"]["kind"], change["trigger"]["value"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_kind_of_change(case: Case, history: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, head = f"before-{case.name}", case.name
    code, out = run(history, monkeypatch, "diff", base, head, "--format", "json")
    assert code == 0
    report = json.loads(out)
    jsonschema.validate(
        report, json.loads((files("alertpolicy.schemas") / "diff.schema.json").read_text())
    )
    assert report["changed"]
    found = {
        (trigger_of(c).label(), c["user"], c["change"], cause)
        for c in report["changes"]
        for cause in c["causes"]
    }
    for label, user, change, cause in case.expected:
        assert any(f[:3] == (label, user, change) and cause in f[3] for f in found), (
            label,
            user,
            change,
            cause,
            sorted(found),
        )
    assert all("the policy's routing changed" not in f[3] for f in found)
    old, new = side(history, base), side(history, head)
    for c in report["changes"]:
        if c["change"] not in ("gains", "loses"):
            continue
        trigger = trigger_of(c)
        for category in c["categories"] or [
            trigger.value if trigger.kind == "category" else old.categories[0]
        ]:
            before = engine_alerts(old, trigger, category, c["user"])
            after = engine_alerts(new, trigger, category, c["user"])
            assert (before, after) == (
                (False, True) if c["change"] == "gains" else (True, False)
            ), c


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_text_and_markdown_name_the_same_changes(
    case: Case, history: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, head = f"before-{case.name}", case.name
    code, text = run(history, monkeypatch, "diff", base, head)
    assert code == 0
    code, markdown = run(history, monkeypatch, "diff", base, head, "--format", "markdown")
    assert code == 0
    assert markdown.startswith("**") and "| Trigger | User | Change | Cause |" in markdown
    for _label, user, _, cause in case.expected:
        assert user in text and cause in text
        assert f"| {user} (" in markdown and cause in markdown
    assert "\x1b[" not in text


def test_settings_change_is_listed_separately(history: Path, monkeypatch) -> None:
    code, markdown = run(history, monkeypatch, "diff", "HEAD~1", "HEAD", "--format", "markdown")
    assert code == 0
    assert markdown.splitlines()[0] == ("**no change in who is alerted; enforcement switched off**")
    assert (
        "| setting enforce_at_least_one_alert True -> False (enforcement switched off: an "
        "incident with no alert is now accepted (with a warning)) | — |"
    ) in markdown


def test_exit_code(history: Path, monkeypatch) -> None:
    assert run(history, monkeypatch, "diff", "HEAD~1", "HEAD", "--exit-code")[0] == 1
    code, out = run(history, monkeypatch, "diff", "HEAD", "HEAD", "--exit-code")
    assert (code, out) == (0, "No change in who is alerted.\n")
    code, out = run(history, monkeypatch, "diff", "HEAD", "HEAD", "--format", "markdown")
    assert (code, out) == (0, "No change in who is alerted.\n")


def test_working_tree_is_the_default_head_and_stays_untouched(
    history: Path, monkeypatch, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(history), str(clone))
    people = clone / "policy" / "people.yaml"
    edited = people.read_text().replace(
        "pdavies@brookfield.example, user_group: DSL}",
        "pdavies@brookfield.example, user_group: DSL, active: false}",
    )
    people.write_text(edited)
    status = git(clone, "status", "--porcelain")
    code, out = run(clone, monkeypatch, "diff", "HEAD", "--format", "json", "--exit-code")
    assert code == 1
    report = json.loads(out)
    assert report["head"]["label"] == "policy"
    assert ("alert group DSLs", "pdavies", "loses") in {
        (trigger_of(c).label(), c["user"], c["change"]) for c in report["changes"]
    }
    assert people.read_text() == edited
    assert git(clone, "status", "--porcelain") == status


def test_a_side_with_an_invalid_policy_exits_2_with_its_errors(tmp_path: Path, monkeypatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(FIXTURE, repo / "policy")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "good")
    edit(
        "people.yaml", "user_group: DSL, key_holder: true}", "user_group: DSLs, key_holder: true}"
    )(repo / "policy")
    git(repo, "commit", "-q", "-am", "bad")
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(main, ["diff", "HEAD~1", "HEAD"])
    assert result.exit_code == 2
    assert "HEAD:policy/people.yaml:" in result.output
    result = CliRunner().invoke(main, ["diff", "no-such-rev"])
    assert result.exit_code == 2
    assert "unknown revision 'no-such-rev'" in result.output


def test_the_commit_adding_the_policy_is_compared_with_no_policy(
    tmp_path: Path, monkeypatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("Our school's safeguarding alert policy.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Start the repository")
    shutil.copytree(FIXTURE, repo / "policy")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Add the policy")
    git(repo, "rm", "-q", "-r", "policy")
    git(repo, "commit", "-q", "-m", "Remove the policy")

    code, out = run(repo, monkeypatch, "diff", "HEAD~2", "HEAD~1", "--format", "json")
    assert code == 0
    report = json.loads(out)
    jsonschema.validate(
        report, json.loads((files("alertpolicy.schemas") / "diff.schema.json").read_text())
    )
    assert report["base"]["label"] == "HEAD~2:policy (no policy there)"
    assert {c["change"] for c in report["changes"]} == {"gains", "newly_withheld"}
    head = side(repo, "HEAD~1")
    for c in report["changes"]:
        trigger = trigger_of(c)
        category = (c["categories"] or [head.categories[0]])[0]
        if trigger.kind == "category":
            category = trigger.value
        alerted = engine_alerts(head, trigger, category, c["user"])
        assert alerted == (c["change"] == "gains"), c

    code, out = run(repo, monkeypatch, "diff", "HEAD~1", "HEAD", "--exit-code")
    assert code == 1
    assert "HEAD:policy (no policy there)" in out
    assert "loses alert" in out
    assert "gains alert" not in out


def test_colour_only_on_a_terminal(history: Path) -> None:
    done = subprocess.run(
        [ALERTPOLICY, "diff", "before-user-moved", "user-moved"],
        cwd=history,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "\x1b[" not in done.stdout
    assert "category Bullying" in done.stdout


# ------------------------------------------------------------------ the example school

PEER_RELATIONSHIPS_REMOVED = edit(
    "automatic-alerts/heads-of-year.yaml",
    "{categories: [Bullying, Behaviour, Peer relationships], student_groups: [Year 7]}",
    "{categories: [Bullying, Behaviour], student_groups: [Year 7]}",
)
TEACHERS_MAY_OPEN_INCIDENTS = edit(
    "user-groups.yaml",
    "  Teaching Staff:\n    system_permissions: [view_students_list]",
    "  Teaching Staff:\n    system_permissions: [view_student_details, view_students_list]",
)


@pytest.fixture(scope="module")
def northfield(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example school in git: as shipped, then Peer relationships removed from the
    Head of Year 7's rule, then teachers given ``view_student_details``."""
    root = tmp_path_factory.mktemp("northfield") / "school-policy"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    shutil.copytree(EXAMPLE_POLICY, root / "policy", ignore=shutil.ignore_patterns("tests"))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Northfield as shipped")
    for tag, change in (
        ("peer-relationships-removed", PEER_RELATIONSHIPS_REMOVED),
        ("teachers-may-open", TEACHERS_MAY_OPEN_INCIDENTS),
    ):
        change(root / "policy")
        git(root, "commit", "-q", "-am", tag)
        git(root, "tag", tag)
    return root


def test_a_category_removed_from_a_match_all_rule_is_one_loss(
    northfield: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11: the edit was shown as a loss of the whole rule and a gain of its remainder."""
    rev = ("peer-relationships-removed~1", "peer-relationships-removed")
    code, out = run(northfield, monkeypatch, "diff", *rev, "--format", "json")
    assert code == 0
    report = json.loads(out)
    jsonschema.validate(report, DIFF_SCHEMA)
    rule = "year-7-pastoral-to-head-of-year-7"
    edited = f"rule {rule} edited: category Peer relationships removed"
    assert report["changes"] == [
        {
            "trigger": {"kind": "student_group", "value": "Year 7"},
            "user": "jobrien",
            "name": "Joanne O'Brien",
            "change": "loses",
            "categories": ["Peer relationships"],
            "every_category": False,
            "reason": None,
            "detail": "no longer notified",
            "via": [{"rule": rule}],
            "access": None,
            "causes": [edited],
        }
    ]
    assert report["summary"]["text"] == "1 user loses alerts"
    assert (report["summary"]["users_gaining"], report["summary"]["users_losing"]) == (0, 1)
    [change] = report["policy_changes"]
    assert (change["kind"], change["detail"], change["affects"]) == (
        "rule_edited",
        edited,
        {"loses": ["jobrien"]},
    )
    assert change["edits"] == [
        {"field": "categories", "added": [], "removed": ["Peer relationships"]}
    ]
    sentence = (
        "jobrien (Joanne O'Brien): loses alert for incidents in Peer relationships "
        f"via rule {rule} (no longer notified)"
    )
    code, text = run(northfield, monkeypatch, "diff", *rev)
    assert sentence in text and "gains" not in text
    code, markdown = run(northfield, monkeypatch, "diff", *rev, "--format", "markdown")
    assert "| student group Year 7 | jobrien (Joanne O'Brien) | loses alert for incidents in " in (
        markdown
    )
    assert f"| {edited} | jobrien loses alerts |" in markdown


def test_access_changes_are_reported_as_replay_shows_them(
    northfield: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rev = ("teachers-may-open~1", "teachers-may-open")
    code, out = run(northfield, monkeypatch, "diff", *rev, "--format", "json")
    assert code == 0
    report = json.loads(out)
    jsonschema.validate(report, DIFF_SCHEMA)
    cause = "user group Teaching Staff: system permission view_student_details granted"
    lcarter = [c for c in report["changes"] if c["user"] == "lcarter"]
    assert lcarter and {c["change"] for c in lcarter} == {"access_changed"}
    by_trigger = {(c["trigger"]["value"], tuple(c["categories"])): c for c in lcarter}
    form = by_trigger[("7A", ("Behaviour", "Bullying", "Cyberbullying"))]
    assert form["access"] == {"before": "none", "after": "needs_key"}
    assert form["via"] == [{"rule": "form-7a-classroom-concerns-to-tutor"}]
    assert form["causes"] == [cause]
    assert report["summary"]["users_gaining"] == report["summary"]["users_losing"] == 0
    assert report["summary"]["users_access_changed"] >= 1
    [change] = [p for p in report["policy_changes"] if p["detail"] == cause]
    assert "lcarter" in change["affects"]["access_changed"]
    # replay: the same change, on a recorded incident about a 7A student's bullying.
    incident = {
        "id": "INC-7A-1",
        "reported_by": "lcarter",
        "categories": ["Bullying"],
        "students": [{"id": "S7001", "groups": ["7A", "Year 7"]}],
    }
    recorded = tmp_path / "incidents.jsonl"
    recorded.write_text(json.dumps(incident) + "\n")
    code, out = run(
        northfield, monkeypatch, "replay", str(recorded), "--base", rev[0], "--head", rev[1]
    )
    assert "lcarter: access none -> needs_key" in out
    code, text = run(northfield, monkeypatch, "diff", *rev)
    assert (
        "lcarter (Laura Carter): access changes from none to needs_key for incidents in "
        "Behaviour, Bullying, Cyberbullying via rule form-7a-classroom-concerns-to-tutor"
    ) in text
