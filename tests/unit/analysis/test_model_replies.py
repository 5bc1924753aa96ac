"""Reading model replies: JSON found in the usual wrappings, checked, and cleaned of control characters."""

from __future__ import annotations

from typing import Any

import pytest

from sealroom.analysis.model.replies import clean_text, parse_reply

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": ["string", "null"]}, "total": {"type": "number"}},
    "required": ["name", "total"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "A", "total": 3}',
        '```json\n{"name": "A", "total": 3}\n```',
        'Here is the JSON you asked for:\n{"name": "A", "total": 3}\nHope it helps.',
    ],
)
def test_json_is_found_plain_fenced_or_wrapped(text: str) -> None:
    assert parse_reply(text, SCHEMA).value == {"name": "A", "total": 3}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("I cannot read this document.", "not valid JSON"),
        ("[1, 2]", "not an object"),
        ('{"name": "A"}', "$: required"),
        ('{"name": "A", "total": "three"}', "$.total: type"),
        ('{"name": "A", "total": 3, "extra": "x"}', "additionalProperties"),
    ],
)
def test_invalid_replies_name_the_problem(text: str, problem: str) -> None:
    parsed = parse_reply(text, SCHEMA)
    assert parsed.value is None
    assert any(problem in line for line in parsed.problems), parsed.problems


def test_problems_never_quote_the_values() -> None:
    parsed = parse_reply('{"name": "Melissa Miller", "total": "SSN 123-45-6789"}', SCHEMA)
    assert parsed.problems
    assert "Melissa" not in " ".join(parsed.problems)
    assert "123-45-6789" not in " ".join(parsed.problems)


def test_terminal_escapes_and_bidi_overrides_are_removed() -> None:
    reply = '{"name": "A\\u001b]0;pwned\\u0007\\u202eevil", "total": 1}'
    value = parse_reply(reply, SCHEMA).value
    assert value is not None
    assert value["name"] == "A]0;pwnedevil"
    assert clean_text("line one\n\tline two\x00\x9b") == "line one\n\tline two"


def test_look_alikes_and_invisible_separators_are_folded_so_masking_sees_the_value() -> None:
    assert clean_text("SSN ５１２-３８-４４７１") == "SSN 512-38-4471"
    assert clean_text("Whit\u200bfield\u00ad") == "Whitfield"
