"""Which schools of a folder of schools changed on disk: a school's folder swapped by a
link, a school reached through a link edited in place, a ConfigMap's ``..data`` swap, a
link made inside a school, a school removed, the folder of schools swapped by a link."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from alertpolicy.engine.serve.schoolwatch import SchoolsWatcher
from tests.serve.fleet_support import rewrite, trust_copy
from tests.serve.support import configmap, wait_until


class Told:
    """What the watcher told: the schools it said changed, and how often it refreshed."""

    def __init__(self, policies: Path) -> None:
        self.policies = policies
        self.changed: set[str] = set()
        self.refreshed = 0
        self._lock = threading.Lock()
        self._served: set[str] = set()
        self.schools()

    def schools(self) -> tuple[str, ...]:
        """The schools served: the folders there now, and those served before (a school
        removed still serves)."""
        found = {p.name for p in self.policies.iterdir() if p.is_dir() and p.name != "trust"}
        self._served |= found
        return tuple(sorted(self._served))

    def tell(self, schools: Iterable[str]) -> None:
        with self._lock:
            self.changed |= set(schools)

    def refresh(self) -> None:
        with self._lock:
            self.refreshed += 1

    def forget(self) -> None:
        with self._lock:
            self.changed, self.refreshed = set(), 0


@pytest.fixture
def schools(tmp_path: Path) -> Path:
    return trust_copy(tmp_path / "policies")


@pytest.fixture
def told(schools: Path) -> Iterator[Told]:
    """A watcher of ``schools`` polling every 0.1 s, sweeping every hour."""
    told = Told(schools)
    watcher = SchoolsWatcher(schools, told.schools, told.tell, told.refresh, poll=0.1, sweep=3600)
    watcher.start()
    yield told
    watcher.stop()


def swap_link(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically (``ln -s target tmp && mv -T tmp link``)."""
    temporary = link.with_name(f".{link.name}.tmp")
    temporary.symlink_to(target)
    temporary.replace(link)


def edit_in_place(path: Path, old: str, new: str) -> None:
    """Replace text in ``path`` by writing into the file itself (its folder unchanged)."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    with path.open("r+", encoding="utf-8") as file:
        file.write(text.replace(old, new))
        file.truncate()


def test_a_school_folder_swapped_by_a_link_is_noticed(
    schools: Path, tmp_path: Path, told: Told
) -> None:
    releases = tmp_path / "releases"
    shutil.copytree(schools / "riverside", releases / "v1")
    shutil.copytree(schools / "riverside", releases / "v2")
    rewrite(releases / "v2" / "users.yaml", "Joan Smart", "Joan Released")
    swap_link(schools / "riverside-next", str(releases / "v1"))
    assert wait_until(lambda: told.refreshed > 0, seconds=5)
    told.forget()
    swap_link(schools / "riverside-next", str(releases / "v2"))
    assert wait_until(lambda: "riverside-next" in told.changed, seconds=5)
    assert "oakfield" not in told.changed


def test_an_edit_in_place_in_a_school_reached_through_a_link_is_noticed(
    schools: Path, tmp_path: Path, told: Told
) -> None:
    elsewhere = tmp_path / "elsewhere" / "lakeside"
    shutil.copytree(schools / "riverside", elsewhere)
    (schools / "lakeside").symlink_to(elsewhere, target_is_directory=True)
    assert wait_until(lambda: told.refreshed > 0, seconds=5)
    told.forget()
    edit_in_place(elsewhere / "users.yaml", "Joan Smart", "Joan Linked")  # no event here
    assert wait_until(lambda: "lakeside" in told.changed, seconds=5)
    assert told.changed == {"lakeside"}


def test_a_link_made_inside_a_school_is_followed(schools: Path, tmp_path: Path, told: Told) -> None:
    shared = tmp_path / "shared-staff"
    shared.mkdir()
    (shared / "extra.yaml").write_text("users: []\n", encoding="utf-8")
    (schools / "riverside" / "academies").mkdir()
    assert wait_until(lambda: "riverside" in told.changed, seconds=5)
    (schools / "riverside" / "academies" / "staff").symlink_to(shared, target_is_directory=True)
    assert wait_until(lambda: "riverside" in told.changed, seconds=5)
    told.forget()
    edit_in_place(shared / "extra.yaml", "users: []", "users: [] ")
    assert wait_until(lambda: "riverside" in told.changed, seconds=5)


def test_a_configmap_data_swap_in_a_school_is_noticed(schools: Path, told: Told) -> None:
    files = {"users.yaml": (schools / "riverside" / "users.yaml").read_text()}
    volume = configmap(schools / "lakeside", "2026_01_01_09_00_00.1", files)
    assert wait_until(lambda: told.refreshed > 0, seconds=5)
    told.forget()
    files["users.yaml"] = files["users.yaml"].replace("Joan Smart", "Joan Mapped")
    configmap(volume, "2026_01_01_09_05_00.2", files)
    assert wait_until(lambda: "lakeside" in told.changed, seconds=5)


def test_a_school_removed_is_told(schools: Path, told: Told) -> None:
    shutil.rmtree(schools / "riverside")
    assert wait_until(lambda: "riverside" in told.changed, seconds=5)


def test_the_folder_of_schools_swapped_by_a_link_reloads_every_school(tmp_path: Path) -> None:
    trust_copy(tmp_path / "v1")
    trust_copy(tmp_path / "v2")
    current = tmp_path / "current"
    current.symlink_to("v1")
    told = Told(current)
    watcher = SchoolsWatcher(current, told.schools, told.tell, told.refresh, poll=0.1)
    watcher.start()
    try:
        swap_link(current, "v2")
        assert wait_until(lambda: told.changed >= {"oakfield", "riverside"}, seconds=5)
        assert os.path.realpath(current) == str(tmp_path / "v2")
    finally:
        watcher.stop()
