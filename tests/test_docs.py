"""The docs cannot go stale: every schema field and every command-line option is documented.

``docs/cli.md`` embeds each command's ``--help`` as click prints it; after changing an
option, regenerate it with ``.venv/bin/python -m tests.test_docs``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import click

from alertpolicy.cli import main
from tests.helpers import REPO

DOCS = REPO / "docs"
CLI_DOC = DOCS / "cli.md"
BEGIN, END = "<!-- generated from --help: begin -->", "<!-- generated from --help: end -->"


def schema_fields(name: str) -> Iterator[str]:
    """Every field path of ``schemas/<name>.schema.json`` (``users.<name>.key_holder``)."""
    root = json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())

    def walk(node: dict[str, Any], path: str) -> Iterator[str]:
        while "$ref" in node and node["$ref"].startswith("#/$defs/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            node = {**root["$defs"][node["$ref"].split("/")[-1]], **rest}
        for option in node.get("oneOf", []) + node.get("anyOf", []):
            yield from walk(option, path)
        for key, child in node.get("properties", {}).items():
            field = f"{path}.{key}" if path else key
            yield field
            yield from walk(child, field)
        if isinstance(node.get("additionalProperties"), dict):
            yield from walk(node["additionalProperties"], f"{path}.<name>")
        if isinstance(node.get("items"), dict):
            yield from walk(node["items"], f"{path}[]")

    return walk(root, "")


def test_every_policy_field_is_documented() -> None:
    text = (DOCS / "policy.md").read_text()
    missing = sorted({f for f in schema_fields("policy") if f"`{f}`" not in text})
    assert missing == [], f"document these schema fields in docs/policy.md: {missing}"


def test_every_policy_test_field_is_documented() -> None:
    text = (DOCS / "policy-tests.md").read_text()
    fields = {f for f in schema_fields("policytest") if not f.startswith("cases[].incident.")}
    missing = sorted(f for f in fields if f"`{f}`" not in text)
    assert missing == [], f"document these fields in docs/policy-tests.md: {missing}"


def test_every_incident_and_decision_field_is_documented() -> None:
    text = (DOCS / "incidents-and-decisions.md").read_text()
    fields = {*schema_fields("incident"), *schema_fields("decision")}
    missing = sorted(f for f in fields if f"`{f}`" not in text)
    assert missing == [], f"document these fields in docs/incidents-and-decisions.md: {missing}"


def help_texts() -> str:
    """Every command's ``--help``, as click prints it at 100 columns, in Markdown."""
    out = []
    top = click.Context(main, info_name="alertpolicy", terminal_width=100, **main.context_settings)
    for name in sorted(main.commands):
        command = main.commands[name]
        with click.Context(command, parent=top, info_name=name) as ctx:
            out += [f"### alertpolicy {name}", "", "```text", command.get_help(ctx), "```", ""]
    return "\n".join(out)


def generated(text: str) -> str:
    match = re.search(re.escape(BEGIN) + r"\n(.*)" + re.escape(END), text, re.S)
    assert match, f"{CLI_DOC} lost its generated section markers"
    return match.group(1)


def test_the_cli_reference_is_clicks_own_help() -> None:
    assert generated(CLI_DOC.read_text()) == help_texts(), (
        "docs/cli.md is stale: run .venv/bin/python -m tests.test_docs"
    )


def test_every_command_and_option_is_in_the_cli_reference() -> None:
    text = CLI_DOC.read_text()
    for name, command in main.commands.items():
        assert f"### alertpolicy {name}" in text
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt in text, f"alertpolicy {name} {opt} is not in docs/cli.md"


def test_the_readme_points_only_to_files_that_exist() -> None:
    for doc in [REPO / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text()):
            path = doc.parent / target
            assert path.exists(), f"{doc.name} links to missing {target}"
    assert "SPEC" not in (REPO / "README.md").read_text()


if __name__ == "__main__":
    current = CLI_DOC.read_text()
    head, tail = current.split(BEGIN)[0], current.split(END)[1]
    CLI_DOC.write_text(f"{head}{BEGIN}\n{help_texts()}{END}{tail}")
    sys.exit(0)
