"""The web view served by ``alertpolicy serve`` under ``/ui/``, in a real chromium.

The pages render, every link on every page leads to a page (none 404s), every page has a
title and labelled tables, the ``who`` page lists the same people (with the same access
and reasons) as ``alertpolicy who --format json``, a question the policy cannot answer
is a 4xx page naming the value, the token guards the pages (a browser may give it as a
password), and the pages show the revision serving, not one held back by the guard.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.helpers import ALERTPOLICY, REPO
from tests.serve.support import Server, wait_until
from tests.web.conftest import TOKEN, serve_copy
from tests.web.pages import crawl, page_problems

pytestmark = pytest.mark.slow

QUESTIONS = [
    [("category", "Bullying")],
    [("category", "Cyberbullying"), ("student_group", "Year 7"), ("student_group", "7C")],
    [("student_group", "Year 7")],
    [("category", "Self-harm"), ("category", "Bullying")],
    [("alert_group", "Safeguarding Team"), ("category", "Attendance")],
    [("student", "S1042")],
    [("category", "Behaviour"), ("student", "S1042"), ("student_group", "Year 9")],
]
"""Questions a headteacher asks: a category, a student's groups (restricted staff), a
student group alone, two categories, a chosen alert group, a named student."""
OPTIONS = {
    "category": "--category",
    "student": "--student",
    "student_group": "--student-group",
    "alert_group": "--alert-group",
}


def cli_answer(policy: Path, question: list[tuple[str, str]]) -> dict[str, Any]:
    """``alertpolicy who ... --format json`` for the same question."""
    args = [arg for name, value in question for arg in (OPTIONS[name], value)]
    done = subprocess.run(
        [ALERTPOLICY, "who", "--policy", str(policy), *args, "--format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def reason_words(reason: dict[str, Any]) -> str:
    """A reason of ``who --format json`` as the page says it."""
    if reason["rule"]:
        matched = f" ({reason['matched']})" if reason["matched"] else ""
        return f"rule {reason['rule']}{matched}, {reason['via']}"
    return f"chosen alert group {reason['alert_group']}, {reason['via']}"


def shown_answer(page: Any) -> dict[str, Any]:
    """The people the page shown lists, with access and reasons, and who is withheld."""
    return page.evaluate(
        """() => {
      const rows = (css) => [...document.querySelectorAll(css)].map((tr) => ({
        user: tr.dataset.user,
        access: tr.querySelector(".access") ? tr.querySelector(".access").textContent : null,
        why: tr.querySelector(".why strong") ? tr.querySelector(".why strong").textContent : null,
        reasons: [...tr.querySelectorAll(".reasons li")].map(
          (li) => li.textContent.replace(/\\s+/g, " ").trim()),
      }));
      return {alerted: rows("table.alerted tr[data-user]"),
              withheld: rows("table.withheld tr[data-user]")};
    }"""
    )


def expected_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """What the page must show for a ``who --format json`` answer."""

    def rows(entries: list[dict[str, Any]], alerted: bool) -> list[dict[str, Any]]:
        return [
            {
                "user": e["user"],
                "access": (e["access"] or "depends on the category") if alerted else None,
                "why": None if alerted else e["reason"],
                "reasons": [reason_words(r) for r in e["reasons"]],
            }
            for e in entries
        ]

    return {"alerted": rows(answer["alerted"], True), "withheld": rows(answer["withheld"], False)}


def test_the_who_page_gives_the_clis_answer(northfield: Server, page: Any) -> None:
    answered = 0
    for question in QUESTIONS:
        response = page.goto(f"{northfield.url}/ui/who?{urlencode(question)}")
        assert response.status == 200, question
        assert not page_problems(page)
        shown = shown_answer(page)
        assert shown == expected_answer(cli_answer(northfield.policy, question)), question
        answered += bool(shown["alerted"] or shown["withheld"])
    assert answered >= len(QUESTIONS) - 1  # bullying alone reaches nobody: it needs a year


def test_the_who_form_asks_without_javascript(northfield: Server, page: Any) -> None:
    page.context.set_offline(False)
    page.goto(f"{northfield.url}/ui/who")
    assert not page_problems(page)
    page.fill("#category-1", "Bullying")
    page.fill("#student_group-1", "Year 7")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "category=Bullying" in page.url and "student_group=Year+7" in page.url
    question = [("category", "Bullying"), ("student_group", "Year 7")]
    assert shown_answer(page) == expected_answer(cli_answer(northfield.policy, question))
    # the form keeps the question, with a field for one more of each
    assert page.input_value("#category-1") == "Bullying"
    assert page.input_value("#category-2") == ""


def test_every_link_leads_to_a_labelled_page(northfield: Server, page: Any) -> None:
    start = f"{northfield.url}/ui/"
    statuses = crawl(page, start, lambda url: url.startswith(f"{northfield.url}/ui/"))
    assert all(status == 200 for status in statuses.values()), {
        url: status for url, status in statuses.items() if status != 200
    }
    pages = set(statuses)
    assert f"{northfield.url}/ui/users/jobrien" in pages
    assert f"{northfield.url}/ui/categories/Bullying" in pages
    assert any("/ui/who?" in url for url in pages)


def test_the_alert_map_shows_who_each_category_reaches(northfield: Server, page: Any) -> None:
    response = page.goto(f"{northfield.url}/ui/")
    assert response.status == 200
    assert page.title() == "Alert map · alertpolicy"
    revision = northfield.revision()
    assert revision and revision in page.inner_text("header")
    self_harm = page.locator("table.categories tr", has=page.locator("th a", has_text="Self-harm"))
    cli = cli_answer(northfield.policy, [("category", "Self-harm")])
    for person in cli["alerted"]:
        assert f"({person['user']})" in self_harm.inner_text()
    matrix = page.locator("table.matrix")
    assert "Category permissions of each user group" in matrix.locator("caption").inner_text()
    teaching = page.locator("table.matrix thead th").all_inner_texts().index("Teaching Staff")
    row = page.locator("table.matrix tbody tr", has=page.locator("th", has_text="Self-harm"))
    assert row.locator("td").nth(teaching - 1).inner_text() == "no"
    assert "Safeguarding warnings" in page.inner_text("main")


def test_a_question_the_policy_cannot_answer_is_a_4xx_page(northfield: Server, page: Any) -> None:
    for path, status, named in (
        ("/ui/who?category=Bulying", 400, "'Bulying'"),
        ("/ui/who?alert_group=DSL+team", 400, "'DSL team'"),
        ("/ui/who?colour=red", 400, "'colour'"),
        ("/ui/users/nobody", 404, "'nobody'"),
        ("/ui/categories/Sexting", 404, "'Sexting'"),
        ("/ui/no/such/page", 404, "'/ui/no/such/page'"),
        ("/ui/who?category=" + "x" * 300, 400, "longer than 200 characters"),
    ):
        response = page.goto(f"{northfield.url}{path}")
        assert response.status == status, path
        assert named in page.inner_text("main"), path
        assert not page_problems(page), path


def opened(browser: Any, url: str, **context: Any) -> int:
    """The status a new browser context gets for ``url``; 401 when chromium gives up
    asking for credentials (it then shows its own error, not the page)."""
    from playwright.sync_api import Error

    session = browser.new_context(**context)
    try:
        response = session.new_page().goto(url)
        return int(response.status)
    except Error as error:
        assert "ERR_INVALID_AUTH_CREDENTIALS" in str(error), error
        return 401
    finally:
        session.close()


def test_the_token_guards_the_pages_and_a_browser_can_give_it(
    northfield: Server, browser: Any
) -> None:
    url = f"{northfield.url}/ui/users/jobrien"
    assert opened(browser, url) == 401
    assert httpx.get(url).headers["WWW-Authenticate"].startswith("Basic ")
    for password, status in ((TOKEN, 200), ("wrong", 401)):
        credentials = {"username": "headteacher", "password": password}
        assert opened(browser, url, http_credentials=credentials) == status, password
    # the password works for the pages only, never for the API
    api = httpx.get(f"{northfield.url}/v1/policy", auth=("headteacher", TOKEN))
    assert api.status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_the_pages_show_the_revision_serving(tmp_path: Path, page: Any) -> None:
    server = serve_copy(tmp_path)  # coverage guard on, as in production
    try:
        serving = server.revision()
        page.goto(f"{server.url}/ui/users/ksmith")
        assert page.locator("h1").inner_text() == "Not found"
        # an edit that passes every check is served, and the pages follow it
        (server.policy / "staff" / "new-starter.yaml").write_text(
            "users:\n  ksmith: {name: Kim Smith, email: k.smith@northfield.example, "
            "user_group: Teaching Staff}\n",
            encoding="utf-8",
        )
        assert wait_until(lambda: server.revision() != serving, 30)
        serving = server.revision()
        response = page.goto(f"{server.url}/ui/users/ksmith")
        assert response.status == 200 and serving in page.inner_text("header")
        # a revision that loses alerts is held: the pages keep showing the one serving
        (server.policy / "automatic-alerts" / "form-tutors.yaml").unlink()
        assert wait_until(lambda: server.held() is not None, 30)
        held = server.held()
        assert held is not None
        page.goto(f"{server.url}/ui/categories/Bullying")
        header = page.inner_text("header")
        assert serving in header and "held back by the coverage guard" in header
        assert held["revision"] in header
        assert "form-7a-classroom-concerns-to-tutor" in page.inner_text("main")
    finally:
        server.stop()
