"""What the tests of many schools and of policies in git share: a real service of a folder
of schools, a trust's repository on a git server (a bare repository), and reading
``/metrics``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import ALERTPOLICY, REPO, TESTDATA, git
from tests.serve.support import Server, free_port, incident, serving

TRUST = TESTDATA / "schools" / "oakfield-trust"


class SchoolsServer(Server):
    """``alertpolicy serve`` with any arguments (``--policies``, ``--policy-git`` ...)."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.policy = workdir
        self.workdir = workdir
        self.output = workdir / f"server-{self.port}.log"
        command = [ALERTPOLICY, "serve", "--port", str(self.port), *args]
        env = {**os.environ, "XDG_STATE_HOME": str(workdir / "state")}
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env
            )
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def school(self, name: str) -> dict[str, Any]:
        """``GET /v1/schools/{name}/policy``."""
        data: dict[str, Any] = self.client.get(f"/v1/schools/{name}/policy").json()
        return data

    def revisions(self) -> dict[str, str | None]:
        """Each school's revision serving, from ``GET /v1/schools`` (a new connection, so
        that with several workers any of them may answer)."""
        listing = self.client.get("/v1/schools", headers={"Connection": "close"}).json()
        return {entry["school"]: entry["revision"] for entry in listing["schools"]}

    def decide_for(self, school: str, body: dict[str, Any]) -> httpx.Response:
        """``POST /v1/schools/{school}/decisions``."""
        return self.client.post(f"/v1/schools/{school}/decisions", json=body)

    def alerted(self, school: str, body: dict[str, Any] | None = None) -> dict[str, str]:
        """Who the school alerts about an incident (a bullying fixture, by default) now:
        user -> name."""
        response = self.decide_for(school, body or incident("small-school-bullying"))
        assert response.status_code == 200, response.text
        return {r["user"]: r["name"] for r in response.json()["recipients"]}


def schools_servers(workdir: Path, *base: str) -> Iterator[Callable[..., SchoolsServer]]:
    """For a fixture: start services with ``base`` arguments and more (waiting until ready
    unless ``ready=False``); every one is stopped after the test."""
    yield from serving(lambda *args: SchoolsServer(workdir, *base, *args))


def tteach_chosen() -> dict[str, Any]:
    """A bullying incident reported to Tom Teach by hand (so he is always alerted)."""
    return {
        "id": "INC-CHOSEN-1",
        "categories": ["Bullying"],
        "students": [{"id": "S2002"}],
        "alerts": {"users": ["tteach"]},
    }


def self_harm() -> dict[str, Any]:
    """A self-harm incident any school of the Oakfield trust decides."""
    return {
        "id": "INC-SH-1",
        "categories": ["Self-harm"],
        "students": [{"id": "S2001", "groups": ["Year 9"]}],
    }


def trust_copy(target: Path) -> Path:
    """A copy of the Oakfield trust's folder of schools at ``target``."""
    shutil.copytree(TRUST, target)
    return target


def rewrite(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in ``path``, as an admin's edit."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text.replace(old, new), encoding="utf-8")
    temporary.replace(path)


class TrustRepository:
    """A trust's policy repository on a git server (a bare repository), and a clone of it
    where admins commit and push: the folder of schools at ``schools/`` and one policy
    at ``policy/``."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "policies.git"
        self.work = root / "work"
        root.mkdir(parents=True, exist_ok=True)
        git(root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(root, "clone", "-q", str(self.bare), str(self.work))
        git(self.work, "checkout", "-q", "-b", "main")
        trust_copy(self.work / "schools")
        shutil.copytree(TESTDATA / "policies" / "small-school", self.work / "policy")
        self.first = self.push("The trust's policies")
        """The first commit."""

    def push(self, message: str) -> str:
        """Commit everything changed and push it; the new commit's id."""
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")
