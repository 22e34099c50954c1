"""Shell completion of names from the policy, ``who --user-group``, and ``NO_COLOR``."""

from __future__ import annotations

import os
import subprocess

import pytest
from click.testing import CliRunner

from alertpolicy.cli import main
from tests.helpers import ALERTPOLICY, REPO


def complete(words: str, policy: str | None = None) -> list[str]:
    """What bash completion offers for the last of ``words``, run from the repository root."""
    env = {
        **os.environ,
        "_ALERTPOLICY_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    done = subprocess.run(
        [ALERTPOLICY], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if line]


def test_categories_users_and_groups_complete_from_the_policy() -> None:
    assert complete("alertpolicy who --category Se") == ["Sexual abuse", "Self-harm"]
    assert complete("alertpolicy who --user pk") == ["pkaur"]
    assert complete("alertpolicy who --user-group Heads") == ["Heads of Year"]
    assert complete("alertpolicy who --alert-group S") == ["SEND Team", "SLT", "Safeguarding Team"]
    assert "Year 7" in complete("alertpolicy who --student-group Year")


def test_completion_reads_the_policy_named_by_policy() -> None:
    small = "tests/testdata/policies/small-school"
    assert complete(f"alertpolicy who --policy {small} --category Se") == ["Self-harm"]
    assert complete("alertpolicy who --policy nowhere --category Se") == []


def test_who_user_group_shows_every_member(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    by_group = CliRunner().invoke(main, ["who", "--user-group", "Pastoral Team"])
    by_user = CliRunner().invoke(main, ["who", "--user", "rali", "--user", "sgreen"])
    assert by_group.exit_code == 0, by_group.output
    assert by_group.output == by_user.output
    bad = CliRunner().invoke(main, ["who", "--user-group", "Pastoral"])
    assert bad.exit_code == 2 and "not in the policy: Pastoral" in bad.output


def test_no_color_is_honoured_on_a_terminal() -> None:
    """Under a pseudo-terminal the output is coloured, unless NO_COLOR is set."""
    script = (
        "import os, pty, sys\n"
        "out = []\n"
        "pty.spawn(sys.argv[1:], lambda fd: out.append(os.read(fd, 65536)) or out[-1])\n"
        "sys.stdout.write(b''.join(out).decode())\n"
    )
    args = ["python3", "-c", script, ALERTPOLICY, "check", "policy"]
    coloured = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=True)
    assert "\x1b[" in coloured.stdout
    env = {**os.environ, "NO_COLOR": "1"}
    plain = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert "\x1b[" not in plain.stdout and "policy/ OK:" in plain.stdout
