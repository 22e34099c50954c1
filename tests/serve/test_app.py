"""The HTTP service (engine/serve.py), run for real: ``alertpolicy serve`` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi

from alertpolicy.engine.serve.app import Service, create_app
from alertpolicy.engine.serve.settings import ServeSettings
from tests.helpers import ALERTPOLICY, REPO, TESTDATA
from tests.serve.support import (
    SMALL_SCHOOL,
    ChildKiller,
    Server,
    edit,
    free_port,
    incident,
    wait_until,
    watch_list_policy,
)

pytestmark = pytest.mark.slow

TOKEN = "s3cret-token-for-tests"
STUDENT_IDS = ("S1042", "S7731-PRIVATE")
"""Student ids in serve-looked-after.json: they must never reach a log."""


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with a bearer token and a decision log, for tests that change nothing."""
    workdir = tmp_path_factory.mktemp("shared")
    shutil.copytree(SMALL_SCHOOL, workdir / "policy")
    (workdir / "token").write_text(TOKEN + "\n", encoding="utf-8")
    server = Server(
        workdir,
        workdir / "policy",
        "--token-file",
        str(workdir / "token"),
        "--decision-log",
        str(workdir / "decisions.jsonl"),
        "--max-body-bytes",
        "65536",
    )
    server.client.headers["Authorization"] = f"Bearer {TOKEN}"
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def decision_schema() -> dict:
    return json.loads((REPO / "schemas" / "decision.schema.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------- decisions


def test_an_accepted_decision_names_recipients_reasons_and_revision(shared: Server) -> None:
    response = shared.client.post("/v1/decisions", json=incident("small-school-bullying"))
    assert response.status_code == 200
    decision = response.json()
    jsonschema.validate(decision, decision_schema())
    assert decision["accepted"] is True
    assert decision["policy_revision"] == shared.revision()
    assert [r["user"] for r in decision["recipients"]] == ["jsmith", "mokafor", "pdavies", "rbrown"]
    jsmith = decision["recipients"][0]
    assert jsmith["reasons"] == [{"source": "alert_group", "alert_group": "DSLs"}]


def test_a_rejected_incident_is_a_decision_too(shared: Server) -> None:
    response = shared.client.post("/v1/decisions", json=incident("serve-rejected"))
    assert response.status_code == 200
    decision = response.json()
    assert decision["accepted"] is False
    assert decision["rejection"]["code"] == "no_alert_chosen"
    assert decision["recipients"] == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"id": "INC-1", "categories": ["Bullying"]', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"id": "INC-1", "id": "INC-2"}', "appears twice"),
        (b'{"id": NaN}', "NaN"),
        (b"[" * 40 + b"]" * 40, "nested deeper"),
        (b"[" * 30000 + b"]" * 30000, "nested deeper"),
    ],
)
def test_a_body_that_is_not_plain_json_is_400(shared: Server, body: bytes, expected: str) -> None:
    response = shared.client.post(
        "/v1/decisions", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert expected in error["message"]
    assert "Traceback" not in response.text


def test_an_oversized_body_is_413_whether_declared_or_streamed(shared: Server) -> None:
    big = json.dumps({**incident("small-school-bullying"), "metadata": {"x": "a" * 70000}})
    response = shared.client.post(
        "/v1/decisions", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "65536" in response.json()["errors"][0]["message"]

    def chunks() -> Iterator[bytes]:
        data = big.encode()
        for start in range(0, len(data), 8192):
            yield data[start : start + 8192]

    streamed = shared.client.post(
        "/v1/decisions", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in {k.lower() for k in streamed.request.headers}
    assert streamed.status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_anything_but_json_is_415(shared: Server, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps(incident("small-school-bullying")).encode()
    response = shared.client.post("/v1/decisions", content=body, headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["errors"][0]["message"]


def test_an_unknown_category_is_422_naming_field_and_value(shared: Server) -> None:
    response = shared.client.post("/v1/decisions", json=incident("serve-unknown-category"))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "categories.0"
    assert error["value"] == "Bulying"
    assert "Bulying" in error["message"]


def test_a_misspelt_field_is_422(shared: Server) -> None:
    body = incident("small-school-bullying")
    body["alert"] = body.pop("alerts")
    response = shared.client.post("/v1/decisions", json=body)
    assert response.status_code == 422
    assert any("alert" in e["message"] for e in response.json()["errors"])


def test_too_many_students_is_422_before_any_work(shared: Server) -> None:
    body = incident("small-school-bullying")
    body["students"] = [{"id": f"S{i}"} for i in range(501)]  # far over the limit
    response = shared.client.post("/v1/decisions", json=body)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "students" and error["value"] == 501


def test_not_an_object_is_422(shared: Server) -> None:
    response = shared.client.post("/v1/decisions", json=["INC-1"])
    assert response.status_code == 422


# ------------------------------------------------------------------- auth


def test_the_token_is_required_except_for_probes(shared: Server) -> None:
    anonymous = httpx.Client(base_url=shared.url, timeout=30)
    with anonymous:
        for method, path in [
            ("POST", "/v1/decisions"),
            ("GET", "/v1/policy"),
            ("GET", "/metrics"),
            ("POST", "/-/reload"),
            ("GET", "/openapi.json"),
        ]:
            response = anonymous.request(method, path, json=incident("small-school-bullying"))
            assert response.status_code == 401, path
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = anonymous.get("/v1/policy", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        basic = anonymous.get("/v1/policy", headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/readyz").status_code == 200


# ------------------------------------------------------------------- operations


def test_policy_describes_the_revision_files_and_counts(shared: Server) -> None:
    status = shared.client.get("/v1/policy").json()
    assert status["revision"].startswith("sha256:")
    policy = shared.policy
    assert status["files"] == [
        {"path": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in sorted(policy.glob("*.yaml"))
    ]
    assert status["counts"]["users"] == 6
    assert status["counts"]["automatic_alerts"] == 6
    assert status["loaded_at"].endswith("Z")
    assert status["last_reload"]["ok"] is True


def test_metrics_count_decisions_and_reloads(shared: Server) -> None:
    shared.client.post("/v1/decisions", json=incident("small-school-bullying"))
    shared.client.post("/v1/decisions", json=incident("serve-unknown-category"))
    text = shared.client.get("/metrics").text
    assert 'alertpolicy_decisions_total{code="",outcome="accepted"}' in text
    assert 'alertpolicy_decisions_total{code="invalid_incident",outcome="invalid"}' in text
    assert "alertpolicy_decision_duration_seconds_bucket" in text
    assert 'alertpolicy_config_reloads_total{result="success"} 1.0' in text
    assert "alertpolicy_config_last_reload_successful 1.0" in text
    assert f'revision="{shared.revision()}"' in text
    assert 'alertpolicy_http_requests_total{method="POST",route="/v1/decisions"' in text


def test_the_openapi_document_is_bundled_valid_and_describes_real_answers(shared: Server) -> None:
    document = shared.client.get("/openapi.json").json()
    validate_openapi(document)
    refs = [
        value for value in json.dumps(document).split('"$ref": ')[1:] if not value.startswith('"#/')
    ]
    assert refs == []
    decide = document["paths"]["/v1/decisions"]["post"]
    response_schema = decide["responses"]["200"]["content"]["application/json"]["schema"]
    assert response_schema == {"$ref": "#/components/schemas/Decision"}
    components = document["components"]
    decision = shared.client.post("/v1/decisions", json=incident("small-school-bullying")).json()
    jsonschema.validate(decision, {**components["schemas"]["Decision"], "components": components})
    errors = shared.client.post("/v1/decisions", json=incident("serve-unknown-category")).json()
    jsonschema.validate(errors, {**components["schemas"]["Errors"], "components": components})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**decision, "accepted": "yes"},
            {**components["schemas"]["Decision"], "components": components},
        )


def test_the_openapi_file_refers_to_the_schema_files_it_bundles() -> None:
    path = REPO / "schemas" / "openapi.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    validate_openapi(document, base_uri=path.as_uri())
    text = json.dumps(document)
    assert '"$ref": "incident.schema.json"' in text
    assert '"$ref": "decision.schema.json"' in text


def test_readyz_is_503_until_a_policy_is_loaded(tmp_path: Path) -> None:
    service = Service(ServeSettings(policy_dir=tmp_path / "not-yet"))
    transport = httpx.ASGITransport(app=create_app(service))

    async def probe() -> tuple[int, int, int]:
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            ready = await client.get("/readyz")
            health = await client.get("/healthz")
            decision = await client.post("/v1/decisions", json=incident("small-school-bullying"))
            return ready.status_code, health.status_code, decision.status_code

    assert asyncio.run(probe()) == (503, 200, 503)


# ------------------------------------------------------------------- reloading


def test_an_edit_on_disk_is_served_within_seconds(start: Callable[..., Server]) -> None:
    server = start("--debounce-ms", "100")
    before = server.revision()
    edit(server.policy, "Jane Smith", "Jane Smythe")
    assert wait_until(lambda: server.revision() != before)
    decision = server.client.post("/v1/decisions", json=incident("small-school-bullying")).json()
    assert decision["policy_revision"] == server.revision()
    assert decision["recipients"][0]["name"] == "Jane Smythe"


def test_a_broken_edit_keeps_serving_and_says_why_then_a_fix_recovers(
    start: Callable[..., Server],
) -> None:
    server = start("--debounce-ms", "100")
    good = server.revision()
    users = server.policy / "users.yaml"
    original = users.read_text(encoding="utf-8")
    users.write_text(original + "  broken: {name: [\n", encoding="utf-8")
    assert wait_until(lambda: server.client.get("/v1/policy").json()["last_reload"]["ok"] is False)
    status = server.client.get("/v1/policy").json()
    assert status["revision"] == good
    errors = status["last_reload"]["errors"]
    assert any(e["file"].endswith("users.yaml") and e["line"] and e["column"] for e in errors)
    assert any(e["location"].endswith(f"users.yaml:{e['line']}:{e['column']}") for e in errors)
    decision = server.client.post("/v1/decisions", json=incident("small-school-bullying"))
    assert decision.status_code == 200
    assert decision.json()["policy_revision"] == good
    assert "alertpolicy_config_last_reload_successful 0.0" in server.client.get("/metrics").text

    users.write_text(original.replace("Tom Teach", "Tom Teacher"), encoding="utf-8")
    assert wait_until(lambda: server.revision() not in (good, None))
    assert server.client.get("/v1/policy").json()["last_reload"]["ok"] is True


def test_a_policy_directory_that_vanishes_and_returns_is_served_again(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    server = start("--debounce-ms", "100")
    good = server.revision()
    parked = tmp_path / "parked"
    shutil.move(server.policy, parked)
    assert wait_until(lambda: server.client.get("/v1/policy").json()["last_reload"]["ok"] is False)
    assert server.revision() == good
    assert server.client.post("/v1/decisions", json=incident("small-school-bullying")).is_success
    shutil.copytree(parked, server.policy)
    edit(server.policy, "Tom Teach", "Tom Back")
    assert wait_until(lambda: server.revision() not in (good, None))
    back = server.revision()
    edit(server.policy, "Tom Back", "Tom Watched")
    assert wait_until(lambda: server.revision() not in (back, None))


def test_sighup_reloads(start: Callable[..., Server]) -> None:
    server = start("--debounce-ms", "3600000")
    before = server.revision()
    edit(server.policy, "Jane Smith", "Jane Hup")
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: server.revision() != before)
    assert server.process.poll() is None
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=30) == 130
    assert "Application shutdown complete" in server.log()
    assert "Traceback" not in server.log()


def test_sigterm_shuts_down_gracefully(start: Callable[..., Server]) -> None:
    server = start()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0  # a stop asked for is a clean exit
    assert "Application shutdown complete" in server.log()
    assert "Traceback" not in server.log()


def test_post_reload_reloads_or_reports_why_not(start: Callable[..., Server]) -> None:
    server = start("--debounce-ms", "3600000")
    before = server.revision()
    edit(server.policy, "Jane Smith", "Jane Forced")
    response = server.client.post("/-/reload")
    assert response.status_code == 200
    assert response.json()["ok"] is True and response.json()["changed"] is True
    assert response.json()["revision"] == server.revision() != before

    again = server.client.post("/-/reload").json()
    assert again["ok"] is True and again["changed"] is False

    edit(server.policy, "user_group: DSL", "user_group: DLS")
    failed = server.client.post("/-/reload")
    assert failed.status_code == 422
    body = failed.json()
    assert body["ok"] is False and body["revision"] == response.json()["revision"]
    assert any("DLS" in e["message"] and e["line"] for e in body["errors"])
    assert server.revision() == response.json()["revision"]


def test_two_workers_serve_decisions(start: Callable[..., Server]) -> None:
    server = start("--workers", "2")
    revisions = set()
    for _ in range(20):
        response = server.client.post("/v1/decisions", json=incident("small-school-bullying"))
        assert response.status_code == 200
        revisions.add(response.json()["policy_revision"])
    assert revisions == {server.revision()}
    edit(server.policy, "Jane Smith", "Jane Workers")
    # Each worker watches the files itself: every one serves the edit (from /metrics).
    assert wait_until(lambda: server.every_worker_serves(server_revision(server), 2))
    decision = server.decide(incident("small-school-bullying")).json()
    assert decision["recipients"][0]["name"] == "Jane Workers"


def test_two_workers_build_a_changed_policy_in_one_reload_child(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    # A policy whose reload child lives long enough to be seen by a watcher polling /proc.
    policy = watch_list_policy(tmp_path / "watched")
    server = start("--workers", "2", "--debounce-ms", "100", policy=policy, copy=False)
    with ChildKiller(server.process.pid, limit=0) as children:
        edit(server.policy, "Jane Smith", "Jane Once")
        edited = server_revision(server)
        assert wait_until(lambda: server.every_worker_serves(edited, 2), seconds=60)
    # One child parsed and checked the edit; the other worker read what it built.
    assert len(children.seen) == 1
    decision = server.decide(incident("small-school-bullying")).json()
    assert decision["recipients"][0]["name"] == "Jane Once"


def test_sighup_with_workers_reloads_every_worker_unless_the_policy_is_broken(
    start: Callable[..., Server],
) -> None:
    server = start("--workers", "2", "--debounce-ms", "3600000")
    before = server.revision()
    edit(server.policy, "Jane Smith", "Jane Rolling")
    server.process.send_signal(signal.SIGHUP)
    on_disk = server_revision(server)
    assert wait_until(lambda: server.every_worker_serves(on_disk, 2))
    # The same keep-alive client throughout: no worker is replaced, no connection dropped.
    changed = server.revision()
    assert changed == on_disk != before

    edit(server.policy, "user_group: DSL", "user_group: DLS")
    server.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: server.log().count("policy reload failed") >= 2)
    assert server.every_worker_serves(changed, 2)
    status = server.client.get("/v1/policy").json()
    assert status["last_reload"]["ok"] is False
    response = server.client.post("/v1/decisions", json=incident("small-school-bullying"))
    assert response.status_code == 200


def test_metrics_with_workers_add_up_every_worker(start: Callable[..., Server]) -> None:
    server = start("--workers", "2")
    assert wait_until(lambda: len(server.by_worker()) == 2, seconds=60)  # both loaded
    fresh = {"Connection": "close"}  # new connections, so that both workers answer some
    for _ in range(12):
        response = server.client.post(
            "/v1/decisions", json=incident("small-school-bullying"), headers=fresh
        )
        assert response.status_code == 200
    text = server.client.get("/metrics", headers=fresh).text
    assert 'alertpolicy_decisions_total{code="",outcome="accepted"} 12.0' in text
    assert 'alertpolicy_config_reloads_total{result="success"} 2.0' in text
    assert "alertpolicy_config_last_reload_successful 1.0" in text
    workers = server.by_worker()
    assert len(workers) == 2
    assert set(workers.values()) == {server.revision(**fresh)}

    killed = min(workers)
    os.kill(int(killed), signal.SIGKILL)  # a worker crashes: it is replaced, and leaves /metrics
    assert wait_until(
        lambda: len(server.by_worker()) == 2 and killed not in server.by_worker(),
        seconds=90,  # a new worker starts a forkserver and loads the policy: slow when busy
    )
    text = server.client.get("/metrics", headers=fresh).text
    assert 'alertpolicy_decisions_total{code="",outcome="accepted"} 12.0' in text


def server_revision(server: Server) -> str:
    """The revision of the policy files on disk now."""
    from alertpolicy.engine.load.files import read_directory, revision_of

    return revision_of(read_directory(server.policy))


def test_an_invalid_policy_at_start_exits_2_with_its_errors(tmp_path: Path) -> None:
    policy = TESTDATA / "policies" / "serve-invalid-at-start"
    done = subprocess.run(
        [ALERTPOLICY, "serve", "--policy", str(policy), "--port", str(free_port())],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("serve-invalid-at-start/users.yaml:12:29: error:") == 1
    assert "unknown alert group 'DSLs'" in done.stderr
    assert "Uvicorn running" not in done.stderr + done.stdout


def test_an_unreadable_token_file_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            *(ALERTPOLICY, "serve", "--policy", str(SMALL_SCHOOL)),
            *("--token-file", str(tmp_path / "missing"), "--port", str(free_port())),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "missing" in done.stderr


# ------------------------------------------------------------------- decision log


def test_the_decision_log_records_decisions_and_reloads_but_no_student_data(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    log_file = tmp_path / "decisions.jsonl"
    server = start("--decision-log", str(log_file), "--debounce-ms", "100")
    looked_after = incident("serve-looked-after")
    response = server.client.post("/v1/decisions", json=looked_after)
    assert response.status_code == 200
    answer = response.json()
    matched = [
        reason["matched"]
        for r in answer["recipients"]
        for reason in r["reasons"]
        if reason["source"] == "automatic_alert"
    ]
    assert {"student": "S1042"} in matched  # the HTTP answer names the student...
    before = server.revision()
    edit(server.policy, "Jane Smith", "Jane Logged")
    assert wait_until(lambda: server.revision() != before)
    after = server.revision()
    server.stop()

    data = log_file.read_bytes()
    for secret in (*STUDENT_IDS, "Amelia Hart", "group chat", "Jane Smith", "oakfield.example"):
        assert secret.encode() not in data, secret  # ...the log never does
    lines = [json.loads(line) for line in data.decode().splitlines()]
    assert all(line["time"].endswith("Z") for line in lines)
    reloads = [line for line in lines if line["event"] == "reload"]
    assert [r["ok"] for r in reloads] == [True, True]
    assert [r["revision"] for r in reloads] == [before, after]
    [decision] = [line for line in lines if line["event"] == "decision"]
    assert decision["incident"] == "INC-2026-0231"
    assert decision["revision"] == answer["policy_revision"]
    assert decision["accepted"] is True
    assert decision["categories"] == ["Online safety"]
    assert [r["user"] for r in decision["recipients"]] == [r["user"] for r in answer["recipients"]]
    jsmith = next(r for r in decision["recipients"] if r["user"] == "jsmith")
    assert jsmith["reasons"] == [
        {"source": "automatic_alert", "rule": "looked-after-student-to-dsl", "matched": {}}
    ]
    server_output = server.log()
    for secret in (*STUDENT_IDS, "Amelia Hart"):
        assert secret not in server_output


def test_decision_log_lines_stay_whole_with_two_workers(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    log_file = tmp_path / "decisions.jsonl"
    server = start("--workers", "2", "--decision-log", str(log_file))
    for n in range(30):
        body = {**incident("small-school-bullying"), "id": f"INC-{n}"}
        assert server.client.post("/v1/decisions", json=body).status_code == 200
    server.stop()
    lines = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    ids = sorted(line["incident"] for line in lines if line["event"] == "decision")
    assert ids == sorted(f"INC-{n}" for n in range(30))
    assert os.stat(log_file).st_mode & 0o077 == 0
