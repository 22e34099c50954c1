"""YAML syntax errors in plain words, at the line to fix, with the likely fix."""

from __future__ import annotations

import pytest

from alertpolicy.engine.load.safeyaml import parse_file


def syntax_error(text: str) -> tuple[str, str]:
    """(``line:column``, message) of the one syntax error ``text`` has."""
    document, problems = parse_file("p.yaml", "p.yaml", text.encode())
    assert document is None and [p.code for p in problems] == ["yaml-syntax"]
    problem = problems[0]
    assert problem.location is not None
    return f"{problem.location.line}:{problem.location.column}", problem.message


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (  # one dedented line between two lines of the same mapping
            "users:\n  pkaur:\n    name: Priya Kaur\n  email: p@school.example\n"
            "    user_group: Heads of Year\n",
            "4:3",
            "line 4 is indented by 2 spaces, the lines around it by 4 spaces; indentation is "
            "structure in YAML: indent line 4 like its neighbours",
        ),
        (  # one line indented too deep
            "users:\n  a:\n    name: A\n      email: a@school.example\n",
            "4:12",
            "line 4 is indented deeper (6 spaces) than line 3, which already has a value; "
            "line it up with line 3 (4 spaces)",
        ),
        (
            "users:\n  a:\n\tname: A\n",
            "3:1",
            "a tab character is used for indentation; YAML allows only spaces: replace the "
            "tab with spaces",
        ),
        (
            "automatic_alerts:\n  - id: a\n    description: Note: Year 7 only\n",
            "3:22",
            "the value of 'description' contains ': ', which YAML reads as the start of another "
            'key; put the whole value in quotes: description: "Note: Year 7 only"',
        ),
        (
            "users:\n  a:\n    name A\n    email: a@school.example\n",
            "3:5",
            "line 3 has no ':' after its key, so YAML reads it as text running on into line 4; "
            "write it as `key: value`",
        ),
        (
            'users:\n  a:\n    name: "Ann\n    email: a@school.example\n',
            "3:11",
            'the quote (") opened here is never closed: close it at the end of the value',
        ),
        (
            "users:\n  a:\n    name: A\n   email: a@school.example\n",
            "4:4",
            "line 4 is indented by 3 spaces, which lines it up with no key above it; indent it "
            "like the keys it belongs with (line 3 has 4 spaces)",
        ),
        (
            "users:\n  a: @ann\n",
            "2:6",
            "a value cannot start with '@' unquoted: put it in quotes",
        ),
    ],
    ids=[
        "dedented",
        "over-indented",
        "tab",
        "unquoted-colon",
        "no-colon",
        "unclosed-quote",
        "misaligned-key",
        "reserved",
    ],
)
def test_the_cause_in_plain_words_at_the_line_to_fix(text: str, where: str, words: str) -> None:
    assert syntax_error(text) == (where, f"YAML syntax error: {words}")


def test_what_is_not_recognised_keeps_the_readers_words() -> None:
    where, message = syntax_error("a: *nothing\n")
    assert where == "1:4"
    assert message == (
        "YAML syntax error: this alias (*name) refers to no anchor (&name) defined before it"
    )
    where, message = syntax_error("a: b\n--- x\n...\n%TAG !x! y\n")
    assert message.startswith("YAML syntax error: ")
