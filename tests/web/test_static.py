"""Pages written to disk, opened in a real chromium from ``file://``: the alert map that
``alertpolicy report --html DIR`` exports, and the page ``alertpolicy diff --format html``
writes for a pull request (self-contained: it makes no request of its own)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from alertpolicy.engine.audit.diff import diff_policies
from alertpolicy.engine.audit.diffview import diff_view
from alertpolicy.engine.check.build import load_source
from alertpolicy.engine.load.git import read_git
from tests.helpers import ALERTPOLICY, EXAMPLE_POLICY, edit, git
from tests.web.pages import crawl, links_on, page_problems

pytestmark = pytest.mark.slow


def alertpolicy(cwd: Path, *args: str) -> str:
    """Run the installed command in ``cwd``; its output (it must succeed)."""
    done = subprocess.run(
        [ALERTPOLICY, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_exported_alert_map_opens_from_disk(tmp_path: Path, file_page: Any) -> None:
    site = tmp_path / "alert map"  # a space, as a folder a headteacher names might have
    out = alertpolicy(tmp_path, "report", "--policy", str(EXAMPLE_POLICY), "--html", str(site))
    assert out.startswith("wrote ") and "index.html" in out
    start = (site / "index.html").as_uri()
    statuses = crawl(file_page, start, lambda url: url.startswith(site.as_uri()))
    assert set(statuses.values()) == {200}
    opened = {Path(unquote(urlsplit(url).path)).relative_to(site) for url in statuses}
    assert {p.parts[0] for p in opened if len(p.parts) > 1} == {
        "users",
        "categories",
        "alert-groups",
    }
    written = {p.relative_to(site) for p in site.rglob("*.html")}
    assert opened == written
    file_page.goto(start)
    assert file_page.title() == "Alert map · alertpolicy"
    assert file_page.locator("form").count() == 0  # a file cannot ask: no form to fail
    revision = json.loads(
        alertpolicy(
            tmp_path,
            "who",
            "--policy",
            str(EXAMPLE_POLICY),
            "--user",
            "jobrien",
            "--format",
            "json",
        )
    )["policy_revision"]
    assert revision in file_page.inner_text("header")


@pytest.fixture(scope="module")
def pull_request(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example school in git, then a branch that edits a rule, moves a teacher and
    lets teachers open incidents."""
    repo = tmp_path_factory.mktemp("pr") / "school-policy"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(EXAMPLE_POLICY, repo / "policy", ignore=shutil.ignore_patterns("tests"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Northfield")
    for change in (
        edit(
            "automatic-alerts/heads-of-year.yaml",
            "{categories: [Bullying, Behaviour, Peer relationships], student_groups: [Year 7]}",
            "{categories: [Bullying, Behaviour], student_groups: [Year 7]}",
        ),
        edit(
            "user-groups.yaml",
            "  Teaching Staff:\n    system_permissions: [view_students_list]",
            "  Teaching Staff:\n    system_permissions: [view_student_details, view_students_list]",
        ),
    ):
        change(repo / "policy")
    git(repo, "commit", "-q", "-am", 'Termly review <of> "pastoral" & tutors')
    return repo


def test_the_diff_page_is_self_contained(
    pull_request: Path, file_page: Any, tmp_path: Path
) -> None:
    page_file = tmp_path / "diff.html"
    page_file.write_text(alertpolicy(pull_request, "diff", "HEAD~1", "HEAD", "--format", "html"))
    requests: list[str] = []
    file_page.on("request", lambda request: requests.append(request.url))
    file_page.goto(page_file.as_uri())
    file_page.wait_for_load_state("networkidle")
    assert requests == [page_file.as_uri()]
    assert not page_problems(file_page)
    assert links_on(file_page) == []
    assert (
        file_page.evaluate(
            "() => [...document.querySelectorAll('[src], link, script, iframe, object')].length"
        )
        == 0
    )
    text = file_page.inner_text("main")
    assert "1 user loses alerts" in text and "access changes" in text


def test_every_format_of_the_diff_says_the_same(pull_request: Path) -> None:
    run = lambda fmt: alertpolicy(pull_request, "diff", "HEAD~1", "HEAD", "--format", fmt)  # noqa: E731
    text, markdown, page, data = run("text"), run("markdown"), run("html"), json.loads(run("json"))
    page_text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    page_text = re.sub(r"\s+", " ", page_text)
    sides = [load_source(read_git(pull_request, rev, "policy")) for rev in ("HEAD~1", "HEAD")]
    view = diff_view(diff_policies(*sides, labels=("HEAD~1:policy", "HEAD:policy")))
    sentences = [view.summary]
    sentences += [e.detail for e in view.settings + view.edits]
    sentences += [e.affects for e in view.settings + view.edits if e.affects]
    for section in view.sections:
        for line in section.lines:
            sentences += [line.trigger, line.who, line.text, *line.causes]
    assert len(sentences) > 10
    for sentence in sentences:
        assert sentence in text, sentence
        assert sentence.replace("|", "\\|") in markdown, sentence
        assert re.sub(r"\s+", " ", sentence) in page_text, sentence
    assert data["summary"]["text"] == view.summary
    lines = [line for section in view.sections for line in section.lines]
    assert len(data["changes"]) == len(lines)
    for change, line in zip(data["changes"], lines, strict=True):
        assert (change["user"], change["causes"]) == (line.user, list(line.causes))
    assert {p["detail"] for p in data["policy_changes"]} == {e.detail for e in view.edits}
