"""Building tasks from user input: every part checked, user schemas bounded and free of ReDoS."""

from __future__ import annotations

from typing import Any

import pytest

from sealroom.analysis.tasks import build_task, check_schema, entity_types, validation_problems
from sealroom.errors import InputError

OBJECT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "holder": {"type": ["string", "null"], "x-sealroom-entity": "PERSON"},
        "parties": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "x-sealroom-entity": "PERSON"},
                    "role": {"type": "string"},
                },
            },
        },
    },
}


def test_a_custom_schema_is_accepted_and_its_personal_data_paths_are_known() -> None:
    task = build_task("extract", schema=OBJECT)
    assert (task.kind, task.schema_name) == ("extract", "custom")
    assert entity_types(OBJECT) == {"holder": "PERSON", "parties[].name": "PERSON"}


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        node = {"type": "object", "properties": {"x": node}}
    return node


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ([], "must be a JSON object"),
        ({"type": "string"}, "must describe an object"),
        ({"type": "object", "properties": {"a": {"type": "nonsense"}}}, "not valid JSON Schema"),
        ({"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}}, "pattern"),
        ({"type": "object", "patternProperties": {"^(a|a)*$": {}}, "properties": {}}, "patternProperties"),
        ({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}, r"\$ref"),
        ({"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(201)}}, "200"),
        ({"type": "object", "properties": {"a": {"enum": ["x" * 100] * 400}}}, "bytes"),
        (_nested(5000), "nests deeper"),
    ],
)
def test_unusable_or_hostile_schemas_are_refused_clearly(schema: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_schema(schema)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "summarise"}, "unknown task"),
        ({"kind": "extract"}, "needs a schema"),
        ({"kind": "extract", "schema_name": "lab_result", "schema": OBJECT}, "not both"),
        ({"kind": "extract", "schema_name": "passport_v9"}, "unknown schema preset"),
        ({"kind": "ask"}, "needs a question"),
        ({"kind": "ask", "question": "   "}, "needs a question"),
        ({"kind": "ask", "question": "x" * 2001}, "2000"),
        ({"kind": "ask", "question": "who\x1b[2J?"}, "control characters"),
        ({"kind": "describe", "question": "why?"}, "only goes with --task ask"),
        ({"kind": "classify", "schema_name": "lab_result"}, "only goes with --task extract"),
    ],
)
def test_malformed_tasks_are_refused_with_what_to_fix(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        build_task(**kwargs)


def test_a_question_may_span_lines() -> None:
    assert build_task("ask", question="Which tests are flagged?\nList them.").question


def test_validation_problems_name_paths_not_values() -> None:
    problems = validation_problems(OBJECT, {"holder": 7, "parties": [{"name": ["Jane Roe"], "role": "x"}]})
    assert problems == [
        '$.holder: type (expected ["string", "null"])',
        '$.parties[0].name: type (expected "string")',
    ]


def test_annotations_are_followed_through_branches_nullable_lists_and_nested_items() -> None:
    person = {"type": "string", "x-sealroom-entity": "PERSON"}
    schema = check_schema(
        {
            "type": "object",
            "properties": {
                "a": {"anyOf": [person, {"type": "null"}]},
                "b": {"type": ["array", "null"], "items": person},
                "c": {"type": "array", "items": {"type": "array", "items": person}},
                "d": {
                    "type": "object",
                    "x-sealroom-entity": "ADDRESS",
                    "properties": {"street": {"type": "string"}},
                },
            },
        }
    )
    assert entity_types(schema) == {"a": "PERSON", "b[]": "PERSON", "c[][]": "PERSON", "d.street": "ADDRESS"}
    assert schema["properties"]["d"]["additionalProperties"] is False
