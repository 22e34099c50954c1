"""Many schools in one service (``serve --policies``): each school answered under its own
route, loaded, checked, guarded and reloaded on its own; one school's broken edit never
touches another's; the trust layer reaches every school."""

from __future__ import annotations

import json
import re
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from alertpolicy.engine.load.files import revision_of
from alertpolicy.engine.load.schools import read_school
from tests.serve.fleet_support import (
    SchoolsServer,
    rewrite,
    schools_servers,
    self_harm,
    trust_copy,
    tteach_chosen,
)
from tests.serve.support import incident, wait_until, watch_list_policy

pytestmark = pytest.mark.slow

Start = Callable[..., SchoolsServer]


@pytest.fixture
def schools(tmp_path: Path) -> Path:
    return trust_copy(tmp_path / "policies")


@pytest.fixture
def start(tmp_path: Path, schools: Path) -> Iterator[Start]:
    """Start services of the folder of schools (``--debounce-ms 100``); all stopped after."""
    yield from schools_servers(tmp_path, "--policies", str(schools), "--debounce-ms", "100")


def test_each_school_is_answered_under_its_own_route(start: Start) -> None:
    server = start()
    assert server.alerted("oakfield")["jsmith"] == "Jane Smith"
    assert server.alerted("riverside")["jsmith"] == "Joan Smart"
    for school in ("oakfield", "riverside"):
        decision = server.decide_for(school, self_harm()).json()
        assert [r["user"] for r in decision["recipients"]] == ["hwright", "jsmith", "pdavies"]
        assert decision["policy_revision"] == server.school(school)["revision"]
    revisions = server.revisions()
    assert set(revisions) == {"oakfield", "riverside"}
    assert revisions["oakfield"] != revisions["riverside"]
    files = [f["path"] for f in server.school("oakfield")["files"]]
    assert "trust/safeguarding.yaml" in files and "oakfield/users.yaml" in files


def test_unknown_schools_and_single_policy_routes_are_404s_that_say_why(start: Start) -> None:
    server = start()
    response = server.decide_for("Oakfield", incident("small-school-bullying"))
    assert response.status_code == 404
    [problem] = response.json()["errors"]
    assert problem["code"] == "unknown-school" and "did you mean 'oakfield'?" in problem["message"]
    assert server.client.get("/v1/schools/nowhere/policy").status_code == 404
    response = server.decide(incident("small-school-bullying"))
    assert response.status_code == 404
    assert "/v1/schools/{school}/decisions" in response.json()["errors"][0]["message"]


def test_a_broken_edit_touches_only_its_school(start: Start, schools: Path) -> None:
    server = start()
    before = server.revisions()
    (schools / "riverside" / "users.yaml").write_text("users:\n  jsmith: {name: [\n")
    rewrite(schools / "oakfield" / "users.yaml", "Tom Teach", "Tom Taught")
    assert wait_until(lambda: server.revisions()["oakfield"] != before["oakfield"])
    assert wait_until(lambda: server.school("riverside")["last_reload"]["ok"] is False)
    riverside = server.school("riverside")
    assert riverside["revision"] == before["riverside"]
    assert any(
        error["code"] == "yaml-syntax" and error["file"].endswith("riverside/users.yaml")
        for error in riverside["last_reload"]["errors"]
    )
    assert server.alerted("riverside")["jsmith"] == "Joan Smart"  # still decides
    assert server.alerted("oakfield", tteach_chosen())["tteach"] == "Tom Taught"
    assert server.client.get("/readyz").status_code == 200
    successful = server.samples("alertpolicy_config_last_reload_successful")
    assert successful == {'{school="oakfield"}': 1.0, '{school="riverside"}': 0.0}


def test_the_guard_holds_one_schools_revision_until_accepted(start: Start, schools: Path) -> None:
    server = start()
    serving = server.revisions()
    (schools / "oakfield" / "automatic_alerts.yaml").unlink()
    assert wait_until(lambda: server.school("oakfield")["held"] is not None)
    held = server.school("oakfield")["held"]
    assert {reason["code"] for reason in held["reasons"]} >= {"guard-file-lost"}
    assert server.revisions() == serving
    assert server.samples("alertpolicy_config_held") == {
        '{school="oakfield"}': 1.0,
        '{school="riverside"}': 0.0,
    }
    wrong = server.client.post("/-/schools/oakfield/reload", json={"accept": "sha256:0"})
    assert wrong.status_code == 409
    other = server.client.post("/-/schools/riverside/reload", json={"accept": held["revision"]})
    assert other.status_code == 409
    accepted = server.client.post("/-/schools/oakfield/reload", json={"accept": held["revision"]})
    assert accepted.status_code == 200, accepted.text
    assert server.revisions() == {**serving, "oakfield": held["revision"]}


def test_a_school_invalid_at_start_serves_nothing_while_the_others_serve(
    start: Start, schools: Path
) -> None:
    good = (schools / "riverside" / "users.yaml").read_text()
    rewrite(schools / "riverside" / "users.yaml", "user_group: DSL,", "user_group: Nobody,")
    server = start("--state-dir", "none")
    assert server.client.get("/readyz").status_code == 200
    listing = server.client.get("/v1/schools").json()
    assert [(s["school"], s["ready"]) for s in listing["schools"]] == [
        ("oakfield", True),
        ("riverside", False),
    ]
    response = server.decide_for("riverside", incident("small-school-bullying"))
    assert response.status_code == 503
    assert server.alerted("oakfield")
    (schools / "riverside" / "users.yaml").write_text(good)
    assert wait_until(lambda: server.school("riverside")["ready"] is True)
    assert server.alerted("riverside")["jsmith"] == "Joan Smart"


def test_a_new_school_folder_is_served(start: Start, schools: Path) -> None:
    server = start()
    shutil.copytree(schools / "riverside", schools / ".new-school")
    (schools / ".new-school").rename(schools / "lakeside")
    assert wait_until(lambda: "lakeside" in server.revisions())
    assert wait_until(lambda: server.school("lakeside")["ready"] is True)
    assert server.alerted("lakeside")["jsmith"] == "Joan Smart"


def test_a_trust_layer_edit_reaches_every_school(start: Start, schools: Path) -> None:
    server = start()
    before = server.revisions()
    rewrite(schools / "trust" / "safeguarding.yaml", "Helen Wright", "Helen Wright-Jones")
    assert wait_until(lambda: all(server.revisions()[s] != before[s] for s in before))
    for school in before:
        decision = server.decide_for(school, self_harm()).json()
        names = {r["user"]: r["name"] for r in decision["recipients"]}
        assert names["hwright"] == "Helen Wright-Jones"


def test_the_metrics_and_the_decision_log_name_the_school(start: Start, tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    server = start("--decision-log", str(log))
    server.decide_for("riverside", self_harm())
    decisions = server.samples("alertpolicy_decisions_total")
    assert decisions == {'{code="",outcome="accepted",school="riverside"}': 1.0}
    info = server.samples("alertpolicy_config_info")
    assert {label.split('school="')[1].split('"')[0] for label in info} == {
        "oakfield",
        "riverside",
    }
    assert wait_until(lambda: '"event":"decision"' in log.read_text())
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    [decision] = [line for line in lines if line["event"] == "decision"]
    assert decision["school"] == "riverside" and decision["incident"] == "INC-SH-1"
    assert {line["school"] for line in lines if line["event"] == "reload"} == {
        "oakfield",
        "riverside",
    }


def test_with_two_workers_every_worker_serves_each_schools_edit(
    start: Start, schools: Path
) -> None:
    server = start("--workers", "2")
    # Ready is one worker's answer: wait until every worker serves every school.
    assert wait_until(
        lambda: all(len(server.by_worker(school)) == 2 for school in ("oakfield", "riverside"))
    )
    oakfield = server.by_worker("oakfield")
    rewrite(schools / "riverside" / "users.yaml", "Joan Smart", "Joan Smarter")
    edited = school_revision(schools, "riverside")
    assert wait_until(lambda: server.every_worker_serves(edited, 2, "riverside"))
    assert server.by_worker("oakfield") == oakfield
    assert server.alerted("riverside")["jsmith"] == "Joan Smarter"


def test_while_the_schools_load_it_is_alive_but_not_ready(start: Start, schools: Path) -> None:
    watch_list_policy(schools / "bigschool", rules=20_000)
    server = start(ready=False)
    assert wait_until(lambda: _answers(server, "/healthz"), seconds=30)
    readyz = server.client.get("/readyz")  # the large school takes seconds to load
    assert readyz.status_code == 503
    assert "the schools' policies are being loaded" in readyz.json()["reason"]
    assert server.decide_for("oakfield", self_harm()).status_code == 503
    server.wait_ready()
    assert server.alerted("oakfield")["jsmith"] == "Jane Smith"


def _answers(server: SchoolsServer, path: str) -> bool:
    try:
        return server.client.get(path).status_code == 200
    except httpx.TransportError:
        return False


def test_with_two_workers_ready_means_every_worker_can_decide_for_every_school(
    start: Start, schools: Path
) -> None:
    watch_list_policy(schools / "bigschool", rules=20_000)
    server = start("--workers", "2", ready=False)
    reasons: set[str] = set()

    def ready() -> bool:
        try:
            answer = server.client.get("/readyz", headers={"Connection": "close"})
        except httpx.TransportError:
            return False
        if answer.status_code != 200:
            reasons.add(answer.json()["reason"])
        return answer.status_code == 200

    assert wait_until(ready, seconds=120), server.log()
    # The first 200 already holds for every worker: each serves every school.
    for school in ("bigschool", "oakfield", "riverside"):
        assert len(server.by_worker(school)) == 2, server.by_worker(school)
    assert any("being loaded" in why or "workers can decide" in why for why in reasons), reasons


def test_stopped_while_the_schools_load_it_ends_soon_and_quietly(
    start: Start, schools: Path
) -> None:
    # Several batches of schools to build, each long enough (a second or more) that the
    # stop comes while the first ones are still building, however quick the machine.
    for n in range(60):
        watch_list_policy(schools / f"academy-{n:02d}", rules=1000)
    server = start(ready=False)
    assert wait_until(lambda: _answers(server, "/healthz"), seconds=30)
    assert server.client.get("/readyz").status_code == 503
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0, server.log()
    assert "Application shutdown complete" in server.log()
    assert "Traceback" not in server.log()
    # No batch of schools started building after the signal: not all were built.
    found = re.search(r"built (\d+) of (\d+) schools", server.log())
    assert found is not None, server.log()
    assert int(found.group(1)) < int(found.group(2))


def test_with_two_workers_a_revision_accepted_on_one_is_served_by_both(
    start: Start, schools: Path
) -> None:
    server = start("--workers", "2")
    (schools / "oakfield" / "automatic_alerts.yaml").unlink()
    held = school_revision(schools, "oakfield")
    held_line = f"policy revision {held} of school oakfield held by the coverage guard"
    assert wait_until(lambda: server.log().count(held_line) == 2)  # by each worker
    assert server.school("oakfield")["held"]["revision"] == held
    accepted = server.client.post("/-/schools/oakfield/reload", json={"accept": held})
    assert accepted.status_code == 200, accepted.text

    # The other worker learns of it from the state directory (told by the supervisor):
    # each worker's metrics name the revision it serves, and none holds one any more.
    assert wait_until(lambda: server.every_worker_serves(held, 2, "oakfield"))
    assert server.samples("alertpolicy_config_held")['{school="oakfield"}'] == 0.0


def school_revision(schools: Path, school: str) -> str:
    """The revision of ``school`` on disk now."""
    return revision_of(read_school(schools, school, with_git=False))
