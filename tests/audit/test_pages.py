"""The web view's pages without a browser: the exported site is complete and its links
resolve on disk, questions the policy cannot answer are 4xx pages naming the value, and
every name from the policy is escaped (the browser tests are in ``tests/web``)."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from click.testing import CliRunner
from hypothesis import given, settings

from alertpolicy.cli import main
from alertpolicy.engine.audit.alertmap import AlertMap, Trigger
from alertpolicy.engine.audit.atoms import AtomicMap
from alertpolicy.engine.audit.pages.links import Links, file_name
from alertpolicy.engine.audit.pages.site import PolicyPages, export_site
from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.model import Policy, frozen_map
from tests import strategies
from tests.helpers import EXAMPLE_POLICY, POLICIES

HREF = re.compile(r'href="([^"]*)"')


def test_the_exported_site_links_only_to_pages_it_wrote(tmp_path: Path) -> None:
    policy = load_policy(EXAMPLE_POLICY)
    written = export_site(policy, tmp_path, "policy")
    assert len(written) == 2 + len(policy.categories) + len(policy.users) + len(policy.alert_groups)
    for path in written:
        html = path.read_text(encoding="utf-8")
        assert "<title>" in html and policy.revision in html
        for href in HREF.findall(html):
            assert not urlsplit(href).scheme, (path, href)  # relative, never http(s)
            target = urljoin(path.as_uri(), href).split("#")[0]
            assert Path(unquote(urlsplit(target).path)).is_file(), (path, href)


def test_a_name_that_is_not_a_plain_file_name_gets_one_of_its_own() -> None:
    assert file_name("jobrien") == "jobrien"
    odd = {file_name(n) for n in ("Year 7", "year 7", "../etc", "Año", "a/b", ".")}
    assert len(odd) == 6 and all(re.fullmatch(r"[a-z0-9-]+", n) for n in odd)


def test_questions_the_policy_cannot_answer_name_the_value() -> None:
    pages = PolicyPages(load_policy(EXAMPLE_POLICY))
    links = Links(static=False)
    for params, status, named in (
        ([("category", "Bulying")], 400, "&#39;Bulying&#39;"),
        ([("alert_group", "Everyone")], 400, "&#39;Everyone&#39;"),
        ([("colour", "red")], 400, "&#39;colour&#39;"),
        ([("student", "S1")] * 1 + [("student", f"S{n}") for n in range(2, 23)], 400, "20"),
    ):
        page = pages.who(params, links)
        assert (page.status, named in page.html) == (status, True), params
    assert pages.user("nobody", links.deeper()).status == 404
    assert pages.category("Sexting", links.deeper()).status == 404
    assert pages.who([("category", "Bullying"), ("category", " ")], links).status == 200


def test_names_from_the_policy_are_escaped() -> None:
    policy = load_policy(POLICIES / "small-school")
    uid = next(iter(policy.users))
    users = dict(policy.users)
    users[uid] = replace(users[uid], name='<script>alert("x")</script>')
    pages = PolicyPages(replace(policy, users=frozen_map(users)))
    for page in (pages.home(Links(static=False)), pages.user(uid, Links(static=False, depth=1))):
        assert "<script>" not in page.html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.html


def test_report_writes_the_pages_and_refuses_an_invalid_policy(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["report", "--policy", str(EXAMPLE_POLICY), "--html", str(tmp_path / "site")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "site" / "index.html").is_file()
    broken = tmp_path / "broken"
    shutil.copytree(POLICIES / "unknown-user-group", broken)
    result = CliRunner().invoke(
        main, ["report", "--policy", str(broken), "--html", str(tmp_path / "out")]
    )
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    result = CliRunner().invoke(
        main, ["report", "--policy", str(EXAMPLE_POLICY), "--html", str(blocked / "site")]
    )
    assert result.exit_code == 2 and "cannot write" in result.output


@settings(strategies.ENGINE_SETTINGS, max_examples=200)
@given(strategies.policies())
def test_the_pages_indexes_give_the_alert_maps_answers(policy: Policy) -> None:
    """The alert map page's per-category answer is ``who --category``'s, and a category
    page's rows for some students are ``who --category C --student-group G`` less the
    rules that fire for any student."""
    amap = AlertMap(policy)
    atoms = AtomicMap(amap)
    for category in policy.categories:
        assert atoms.category_standings(category) == amap.query([category])
        rules = atoms.student_rules(category)
        assert len(rules) == atoms.student_rule_count(category)
        anyone = {r.id for r in amap.rules_for(Trigger("category", category))}
        found, more = atoms.for_category(category)
        assert more == 0
        for atom, standings in found.items():
            values = atoms.values(atom)
            whole = amap.query(
                [category],
                values.get("student", ()) and [values["student"]],
                values.get("student_group", ()) and [values["student_group"]],
            )
            for user, standing in standings.items():
                assert user in whole
                assert standing.alerted_in == whole[user].alerted_in
                assert standing.withheld_in == whole[user].withheld_in
                extra = {rule for rule, _, _ in standing.sources}
                assert extra and not extra & anyone
