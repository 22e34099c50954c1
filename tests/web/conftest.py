"""Fixtures of the web view's tests: Debian's chromium driven by Playwright, and a real
``alertpolicy serve`` on a copy of the example school, behind a token.

The browser is never downloaded (``playwright install`` is not used): Playwright drives
the ``chromium`` that ``.ci/run`` installs with apt.  Where no browser can be had, the
tests skip and say why.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import EXAMPLE_POLICY
from tests.serve.support import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "web-view-test-token"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless chromium (Debian's), shared by the session."""
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium on this machine (.ci/run installs it: apt-get install chromium)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (it is in the test extras: pip install '.[test]')")
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Error as error:
            pytest.skip(f"chromium at {CHROMIUM} does not start under Playwright: {error}")
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page, with the bearer token the service wants."""
    context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {TOKEN}"})
    yield context.new_page()
    context.close()


@pytest.fixture
def file_page(browser: Any) -> Iterator[Any]:
    """A fresh page without credentials (for files opened from disk)."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


def serve_copy(workdir: Path, *args: str) -> Server:
    """``alertpolicy serve`` on a copy of the example school with a token file."""
    policy = workdir / "policy"
    shutil.copytree(EXAMPLE_POLICY, policy, ignore=shutil.ignore_patterns("tests"))
    token = workdir / "token"
    token.write_text(TOKEN + "\n", encoding="utf-8")
    token.chmod(0o600)
    server = Server(workdir, policy, "--token-file", str(token), *args)
    server.client.headers["Authorization"] = f"Bearer {TOKEN}"
    server.wait_ready()
    return server


@pytest.fixture(scope="module")
def northfield(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The example school, served (guard off: nothing here edits it)."""
    server = serve_copy(tmp_path_factory.mktemp("served"), "--state-dir", "none")
    yield server
    server.stop()
