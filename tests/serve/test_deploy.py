"""Policies deployed the way they really are: a swapped ``--policy`` link, a Kubernetes
ConfigMap's ``..data`` swap, a linked subfolder; each change served within 5 seconds."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.serve.support import SMALL_SCHOOL, Server, configmap, edit, wait_until

pytestmark = pytest.mark.slow

FOLLOW_SECONDS = 5.0
"""How soon a deployment must be served (issue 9)."""


def swap_link(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (``ln -s target tmp && mv -T tmp link``)."""
    temporary = link.with_name(f".{link.name}.new")
    temporary.symlink_to(target)
    temporary.replace(link)


def release(root: Path, name: str, staff_name: str) -> Path:
    """A release folder: the small school with Tom Teach renamed ``staff_name``."""
    folder = root / name
    shutil.copytree(SMALL_SCHOOL, folder)
    edit(folder, "Tom Teach", staff_name)
    return folder


def tom(server: Server) -> str:
    """What the server calls tteach (chosen by hand, so always a recipient)."""
    body = {
        "id": "INC-1",
        "categories": ["Bullying"],
        "students": [{"id": "S1"}],
        "alerts": {"users": ["tteach"]},
    }
    recipients = server.decide(body).json()["recipients"]
    name: str = next(r["name"] for r in recipients if r["user"] == "tteach")
    return name


def served_within(server: Server, name: str) -> float:
    """Seconds until the server calls tteach ``name`` (fails after :data:`FOLLOW_SECONDS`)."""
    started = time.monotonic()
    assert wait_until(lambda: tom(server) == name, seconds=FOLLOW_SECONDS), server.log()
    return time.monotonic() - started


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_policy_link_swapped_atomically_is_followed(
    start: Callable[..., Server], tmp_path: Path, workers: str
) -> None:
    release(tmp_path, "v1", "Tom One")
    release(tmp_path, "v2", "Tom Two")
    current = tmp_path / "current"
    current.symlink_to("v1")
    server = start("--workers", workers, policy=current, copy=False)
    assert tom(server) == "Tom One"
    swap_link(current, "v2")
    served_within(server, "Tom Two")
    release(tmp_path, "v3", "Tom Three")
    os.unlink(current)  # ln -sfn: unlink, then link again
    current.symlink_to("v3")
    served_within(server, "Tom Three")
    assert server.status()["last_reload"]["ok"] is True


def test_a_configmap_data_swap_is_followed(start: Callable[..., Server], tmp_path: Path) -> None:
    files = {p.name: p.read_text(encoding="utf-8") for p in SMALL_SCHOOL.glob("*.yaml")}
    volume = configmap(tmp_path / "configmap", "2026_01_01_09_00_00.1", files)
    server = start(policy=volume, copy=False)
    assert tom(server) == "Tom Teach"
    files["users.yaml"] = files["users.yaml"].replace("Tom Teach", "Tom Mapped")
    configmap(volume, "2026_01_01_09_05_00.2", files)
    shutil.rmtree(volume / "..2026_01_01_09_00_00.1")  # the kubelet removes the old one
    served_within(server, "Tom Mapped")


def test_a_linked_subfolder_is_read_and_followed(
    start: Callable[..., Server], tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    policy = tmp_path / "policy"
    shutil.copytree(SMALL_SCHOOL, policy)
    (shared / "users.yaml").write_bytes((policy / "users.yaml").read_bytes())
    (policy / "users.yaml").unlink()
    (policy / "staff").symlink_to(shared, target_is_directory=True)
    server = start(policy=policy, copy=False)
    assert "staff/users.yaml" in [f["path"] for f in server.status()["files"]]
    edit(shared, "Tom Teach", "Tom Linked")
    served_within(server, "Tom Linked")


def test_a_link_cycle_fails_the_reload_naming_its_path(start: Callable[..., Server]) -> None:
    server = start("--debounce-ms", "100")
    good = server.revision()
    (server.policy / "loop").symlink_to(server.policy, target_is_directory=True)
    assert wait_until(lambda: server.status()["last_reload"]["ok"] is False)
    [error] = server.status()["last_reload"]["errors"]
    assert error["code"] == "policy-link-cycle"
    assert error["location"].endswith("/loop:1:1")
    assert server.revision() == good
