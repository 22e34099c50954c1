"""The package as a user installs it: a wheel built from this repository, installed into a
fresh virtual environment, its ``alertpolicy`` command run away from the checkout.

The fresh environment borrows the test environment's dependencies (a ``.pth`` line naming
its site-packages), so that the test needs no network; alertpolicy itself comes only from
the wheel.
"""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment holding the wheel; its ``bin`` folder."""
    root = tmp_path_factory.mktemp("wheel")
    built = run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root), "."], REPO
    )
    assert built.returncode == 0, built.stderr
    [wheel] = root.glob("alertpolicy-*.whl")
    environment = root / "env"
    venv.EnvBuilder(with_pip=False).create(environment)
    purelib = Path(
        sysconfig.get_path("purelib", vars={"base": str(environment), "platbase": str(environment)})
    )
    (purelib / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = environment / "bin" / "python"
    done = run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        root,
    )
    assert done.returncode == 0, done.stderr
    return environment / "bin"


def test_the_wheel_installs_one_package_of_its_own(installed: Path) -> None:
    purelib = next((installed.parent / "lib").glob("python3*/site-packages"))
    names = {p.name for p in purelib.iterdir()}
    assert "alertpolicy" in names
    assert not names & {"engine", "cli", "cli.py", "schemas", "commands", "tests", "policy"}
    where = run(
        [
            str(installed / "python"),
            "-c",
            "import alertpolicy.cli; print(alertpolicy.cli.__file__)",
        ],
        REPO.parent,
    )
    assert where.stdout.strip().startswith(str(purelib)), where


def test_the_installed_command_checks_and_decides_away_from_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    shutil.copytree(REPO / "policy", tmp_path / "policy")
    alertpolicy = str(installed / "alertpolicy")
    checked = run([alertpolicy, "check"], tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("policy/ OK: 15 files")
    tested = run([alertpolicy, "test"], tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    self_harm = {
        "id": "INC-2026-0042",
        "reported_by": "bthompson",
        "categories": ["Self-harm"],
        "students": [{"id": "S1042", "groups": ["Year 9", "9B"]}],
    }
    (tmp_path / "incident.json").write_text(json.dumps(self_harm))
    decided = run([alertpolicy, "evaluate", "incident.json", "--format", "json"], tmp_path)
    assert decided.returncode == 0, decided.stderr
    decision = json.loads(decided.stdout)
    assert decision["accepted"] is True
    assert "hclarke" in {r["user"] for r in decision["recipients"]}  # the DSL
    schema = run([alertpolicy, "schema", "incident"], tmp_path)
    assert json.loads(schema.stdout)["$id"].endswith("incident.schema.json")
