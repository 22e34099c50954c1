"""The served API held to its own document: schemathesis generates requests from
``/openapi.json`` (valid and invalid), sends them to a real server and checks every answer.

No answer may be a 5xx, and each must have a status, content type and body the document
declares.  Bounded: a few hundred examples in all, well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from alertpolicy.engine.serve.openapi import openapi_document
from tests.serve.support import SMALL_SCHOOL, Server

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
"""No 5xx; every answer as documented; a request the document forbids is refused.  Not
``positive_data_acceptance``: a request the document allows may still name a category
or user this policy lacks, which is a 422 by design."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("fuzz")
    (workdir / "token").write_text(TOKEN + "\n", encoding="utf-8")
    (workdir / "token").chmod(0o600)
    server = Server(
        workdir, SMALL_SCHOOL, "--log-level", "warning", "--token-file", str(workdir / "token")
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


TOKEN = "fuzz-token"
CONFIG = SchemathesisConfig.from_str(f'[auth.openapi.bearer]\nbearer = "{TOKEN}"\n')
schema = schemathesis.openapi.from_dict(openapi_document(), config=CONFIG)
"""The document the server serves at ``/openapi.json`` (the same function builds it), and
the bearer token it requires, so that requests without it are expected to be refused."""


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_answer_is_documented_and_none_is_a_5xx(
    served: Server, case: schemathesis.Case
) -> None:
    case.call_and_validate(base_url=served.url, checks=CHECKS)


def test_the_document_fuzzed_is_the_one_served(served: Server) -> None:
    answer = served.client.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.json() == openapi_document()


def test_the_server_logged_no_internal_error(served: Server) -> None:
    assert "internal error" not in served.log()
