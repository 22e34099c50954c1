"""``alertpolicy replay``: recorded incidents under two revisions of a real git repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from alertpolicy.cli import main
from alertpolicy.engine.audit.replay import read_incidents, replay
from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.load.git import read_git
from tests.helpers import TESTDATA, edit, git

FIXTURE = TESTDATA / "policies" / "audit-map"
INCIDENTS = TESTDATA / "incidents" / "audit-replay.jsonl"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audit-map policy, then a commit that deactivates Kate Baker and retires the
    Online safety category (and its rule)."""
    root = tmp_path_factory.mktemp("replay") / "school-policy"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    shutil.copytree(FIXTURE, root / "policy")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Initial policy")
    policy = root / "policy"
    edit(
        "people.yaml",
        "user_group: Heads of Year, key_holder: true}",
        "user_group: Heads of Year, key_holder: true, active: false}",
    )(policy)
    edit("people.yaml", "      Online safety: [view_students, add_incidents]\n", "")(policy)
    edit("settings.yaml", "  - Online safety\n", "")(policy)
    rules = policy / "automatic_alerts.yaml"
    text = rules.read_text()
    start = text.index("  - id: online-safety-to-heads-of-year")
    end = text.index("  - id: year7-bullying-to-tutor")
    rules.write_text(text[:start] + text[end:])
    git(root, "commit", "-q", "-am", "Kate Baker leaves; Online safety merged into Bullying")
    return root


def test_decisions_that_change_are_reported_per_incident(repo: Path) -> None:
    base = load_source(read_git(repo, "HEAD~1", "policy"))
    head = load_source(read_git(repo, "HEAD", "policy"))
    report = replay(read_incidents(INCIDENTS), base, head)
    assert report.summary() == "5 incidents replayed, 3 decisions change"
    by_id = {c.incident: c for c in report.changes}
    assert sorted(by_id) == ["INC-2026-0101", "INC-2026-0103", "INC-2026-0105"]
    assert by_id["INC-2026-0101"].lost == ("kbaker",)
    assert (
        "newly withheld: kbaker (automatic alert bullying-to-heads-of-year) is an inactive user"
        in (by_id["INC-2026-0101"].details)
    )
    assert by_id["INC-2026-0105"].lost == ("kbaker",)
    invalid = by_id["INC-2026-0103"].invalid
    assert list(invalid) == ["head"] and "Online safety" in invalid["head"][0]


def test_cli_text_json_and_exit_code(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    runner = CliRunner()
    result = runner.invoke(main, ["replay", str(INCIDENTS), "--base", "HEAD~1"])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "5 incidents replayed, 3 decisions change"
    assert "  - kbaker no longer receives the alert" in result.output
    assert "  ! invalid under head:" in result.output
    result = runner.invoke(
        main, ["replay", str(INCIDENTS), "--base", "HEAD~1", "--head", "HEAD", "--format", "json"]
    )
    report = json.loads(result.output)
    assert (report["replayed"], report["changed"]) == (5, 3)
    assert report["base"]["label"] == "HEAD~1:policy"
    result = runner.invoke(main, ["replay", str(INCIDENTS), "--base", "HEAD~1", "--exit-code"])
    assert result.exit_code == 1
    result = runner.invoke(main, ["replay", str(INCIDENTS), "--base", "HEAD", "--exit-code"])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "5 incidents replayed, 0 decisions change"


def test_a_line_that_is_not_json_is_an_input_error(repo: Path, tmp_path: Path, monkeypatch) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text(INCIDENTS.read_text() + '{"id": "INC-2026-0199", \n')
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(main, ["replay", str(broken), "--base", "HEAD~1"])
    assert result.exit_code == 2
    assert "line 7 is not valid JSON" in result.output
