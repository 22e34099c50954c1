"""The deployment files hold together: the image copies files that exist and runs a real
command line of ours; the Kubernetes manifests probe the routes the service has, on the
port it listens on, and select the pods they mean; the ConfigMap is a valid policy; and
HAProxy accepts its configuration."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from alertpolicy.cli import main
from alertpolicy.engine.check.findings import check_directory
from alertpolicy.engine.serve.routes import ROUTE_PATHS
from tests.helpers import REPO

DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"


def instructions(path: Path) -> list[tuple[str, str]]:
    """The Containerfile's instructions: (keyword, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def serve_context(args: list[str]) -> click.Context:
    """``alertpolicy <args>`` parsed as the command line would parse it (not run): the
    context of its subcommand; a usage error fails the test."""
    name, *rest = args
    group = main.make_context("alertpolicy", [name], resilient_parsing=False)
    command = main.get_command(group, name)
    assert command is not None, f"not a command of alertpolicy: {name}"
    return command.make_context(name, rest, parent=group)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def deployment(folder: str) -> dict[str, Any]:
    [found] = [d for d in documents(KUBERNETES / folder / "deployment.yaml")]
    return found


def test_the_image_copies_only_files_that_exist_and_enough_to_install() -> None:
    copied = []
    for keyword, arguments in instructions(DEPLOY / "Containerfile"):
        if keyword == "COPY" and not arguments.startswith("--from"):
            *sources, _target = arguments.split()
            copied += sources
    assert copied, "the Containerfile copies nothing"
    for source in copied:
        assert (REPO / source).exists(), f"the Containerfile copies {source}, which is not there"
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["readme"] in copied
    packages = project["tool"]["setuptools"]["packages"]
    folders = {p.split(".")[1] for p in packages if p.count(".") >= 1}
    assert {f"{folder}/" for folder in folders} <= set(copied)


def test_the_image_runs_a_real_command_line_on_a_supported_python() -> None:
    steps = instructions(DEPLOY / "Containerfile")
    entry = [json.loads(a) for k, a in steps if k == "ENTRYPOINT"][-1]
    command = [json.loads(a) for k, a in steps if k == "CMD"][-1]
    assert entry == ["alertpolicy"]
    serve = serve_context(command)
    assert serve.info_name == "serve"
    exposed = [a for k, a in steps if k == "EXPOSE"]
    assert exposed == [str(serve.params["port"])]
    python = [re.search(r"python:(3\.\d+)", a) for k, a in steps if k == "FROM"]
    versions = {m.group(1) for m in python if m}
    assert versions == {"3.12"}  # pyproject.toml: >=3.11,<3.13


@pytest.mark.parametrize("folder", ["git", "configmap"])
def test_each_deployment_runs_a_real_command_and_probes_real_routes(folder: str) -> None:
    found = deployment(folder)
    pod = found["spec"]["template"]
    [container] = pod["spec"]["containers"]
    serve = serve_context(container["args"])
    [port] = container["ports"]
    assert port["containerPort"] == serve.params["port"]
    assert serve.params["host"] == "0.0.0.0"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in ROUTE_PATHS
        assert container[probe]["httpGet"]["port"] == port["name"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert str(serve.params["state_dir"]) in mounts
    volumes = {v["name"] for v in pod["spec"]["volumes"]}
    assert set(mounts.values()) <= volumes
    labels = pod["metadata"]["labels"]
    assert found["spec"]["selector"]["matchLabels"].items() <= labels.items()
    stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert int(stop[-1]) < pod["spec"]["terminationGracePeriodSeconds"]


def test_the_git_deployment_follows_a_branch_of_a_folder_of_schools() -> None:
    [container] = deployment("git")["spec"]["template"]["spec"]["containers"]
    serve = serve_context(container["args"])
    assert serve.params["policy_git"] and serve.params["git_ref"] == "main"
    assert serve.params["policies_dir"] is not None


def test_services_and_the_disruption_budget_select_the_pods() -> None:
    labels = deployment("git")["spec"]["template"]["metadata"]["labels"]
    services = documents(KUBERNETES / "base" / "service.yaml")
    assert [s["kind"] for s in services] == ["Service", "Service"]
    for service in services:
        assert service["spec"]["selector"].items() <= labels.items()
        assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    [budget] = documents(KUBERNETES / "base" / "pdb.yaml")
    assert budget["kind"] == "PodDisruptionBudget"
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert budget["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("folder", ["base", "git", "configmap"])
def test_every_kustomization_lists_files_that_exist(folder: str) -> None:
    [kustomization] = documents(KUBERNETES / folder / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (KUBERNETES / folder / resource).exists(), resource


def test_the_configmap_is_a_valid_policy_where_the_deployment_mounts_it(tmp_path: Path) -> None:
    maps = [d for d in documents(KUBERNETES / "configmap" / "policy.yaml")]
    [config] = maps
    pod = deployment("configmap")["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == config["metadata"]["name"]
    [container] = pod["containers"]
    serve = serve_context(container["args"])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[volume["name"]] == str(serve.params["policy_dir"])
    for name, text in config["data"].items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    report = check_directory(tmp_path)
    assert not report.failed(strict=True), [p.message for p in report.warnings]


def test_haproxy_accepts_its_configuration() -> None:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy; .ci/run installs it)")
    done = subprocess.run(
        ["haproxy", "-c", "-f", str(DEPLOY / "haproxy.cfg")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},  # the addresses it defaults to
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    assert "balance uri depth 3" in text and "hash-type consistent" in text
    assert "http-check send meth GET uri /readyz" in text


@pytest.mark.slow
def test_what_the_image_copies_builds_the_whole_package(tmp_path: Path) -> None:
    """The build stage's ``pip install .``, on exactly the files the Containerfile copies:
    the wheel holds every package, the schemas and the command."""
    source = tmp_path / "src"
    source.mkdir()
    for keyword, arguments in instructions(DEPLOY / "Containerfile"):
        if keyword == "COPY" and not arguments.startswith("--from"):
            for path in arguments.split()[:-1]:
                origin = REPO / path
                if origin.is_dir():
                    ignore = shutil.ignore_patterns("__pycache__")
                    shutil.copytree(origin, source / path, ignore=ignore)
                else:
                    shutil.copy(origin, source / path)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("alertpolicy-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    for package in project["tool"]["setuptools"]["packages"]:
        folder = package.replace("alertpolicy", "", 1).strip(".").replace(".", "/")
        assert any(n.startswith(f"alertpolicy/{folder}/".replace("//", "/")) for n in names)
    assert {"alertpolicy/cli.py", "alertpolicy/schemas/incident.schema.json"} <= names
    [entry] = [n for n in names if n.endswith("entry_points.txt")]
    assert "alertpolicy = alertpolicy.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
