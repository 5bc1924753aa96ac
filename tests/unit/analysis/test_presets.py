"""The shipped extraction presets: valid JSON Schema, buildable tasks, maskable personal data, null leaves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sealroom.analysis import tasks
from sealroom.masking import _kind

PRESETS = ("insurance_card", "lab_result", "bank_statement", "cheque", "id_document", "contract_parties")
# Types whose masking style keeps nothing ("full") only when the masker has no better style for them.
BETTER_STYLES = ("person", "date", "id", "address", "phone", "email", "ssn", "card", "location")


def _objects(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The schema and every object schema inside it (array items included)."""
    found = [schema]
    for sub in schema.get("properties", {}).values():
        if sub.get("type") == "object":
            found += _objects(sub)
        if isinstance(sub.get("items"), Mapping) and sub["items"].get("type") == "object":
            found += _objects(sub["items"])
    return found


def test_every_listed_preset_ships() -> None:
    assert set(PRESETS) <= set(tasks.preset_names())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_valid_json_schema_and_passes_the_user_schema_checks(name: str) -> None:
    schema = tasks.preset_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert tasks.check_schema(schema) == schema
    assert schema["title"] and schema["description"]


@pytest.mark.parametrize("name", PRESETS)
def test_preset_builds_an_extract_task(name: str) -> None:
    task = tasks.build_task("extract", schema_name=name)
    assert task.kind == "extract"
    assert task.schema_name == name
    assert task.schema == tasks.preset_schema(name)


@pytest.mark.parametrize("name", PRESETS)
def test_every_object_is_closed_and_requires_all_its_properties(name: str) -> None:
    for obj in _objects(tasks.preset_schema(name)):
        assert obj["additionalProperties"] is False
        assert sorted(obj["required"]) == sorted(obj["properties"])


@pytest.mark.parametrize("name", PRESETS)
def test_every_leaf_has_a_description_labels_and_takes_null(name: str) -> None:
    schema = tasks.preset_schema(name)
    leaves = tasks.leaf_schemas(schema)
    assert leaves
    for path, leaf in leaves.items():
        assert isinstance(leaf.get("description"), str) and len(leaf["description"]) > 10, path
        labels = leaf.get(tasks.LABELS_KEYWORD)
        assert isinstance(labels, list) and labels and all(isinstance(label, str) for label in labels), path
        assert Draft202012Validator(leaf).is_valid(None), f"{path} does not take null"


@pytest.mark.parametrize("name", PRESETS)
def test_the_empty_instance_validates(name: str) -> None:
    schema = tasks.preset_schema(name)
    assert tasks.validation_problems(schema, tasks.empty_instance(schema)) == []


@pytest.mark.parametrize("name", PRESETS)
def test_every_entity_type_has_a_masking_style_better_than_full(name: str) -> None:
    types = tasks.entity_types(tasks.preset_schema(name))
    assert types, "a preset of a document about people marks its personal data"
    for path, entity_type in types.items():
        assert _kind(entity_type) in BETTER_STYLES, f"{path}: {entity_type} would be masked whole"


@pytest.mark.parametrize(
    "name, path, entity_type",
    [
        ("lab_result", "patient_name", "PERSON"),
        ("lab_result", "date_of_birth", "DATE_OF_BIRTH"),
        ("lab_result", "mrn", "MRN"),
        ("insurance_card", "member_id", "HEALTH_PLAN_ID"),
        ("bank_statement", "account_number", "BANK_ACCOUNT"),
        ("bank_statement", "routing_number", "ROUTING_NUMBER"),
        ("bank_statement", "address", "ADDRESS"),
        ("cheque", "payee", "PERSON"),
        ("id_document", "document_number", "ID_NUMBER"),
        ("contract_parties", "parties[].name", "PERSON"),
        ("contract_parties", "signatories[].name", "PERSON"),
    ],
)
def test_personal_data_is_marked(name: str, path: str, entity_type: str) -> None:
    assert tasks.entity_types(tasks.preset_schema(name))[path] == entity_type


@pytest.mark.parametrize("name", PRESETS)
def test_amounts_are_numbers_and_everything_else_text(name: str) -> None:
    for path, leaf in tasks.leaf_schemas(tasks.preset_schema(name)).items():
        assert leaf["type"] in (["string", "null"], ["number", "null"]), path
        if leaf["type"] == ["number", "null"]:
            assert Draft202012Validator(leaf).is_valid(1250.5)
            assert not Draft202012Validator(leaf).is_valid("1,250.50")


def test_lab_results_are_rows_of_test_value_unit_range_and_flag() -> None:
    leaves = tasks.leaf_schemas(tasks.preset_schema("lab_result"))
    assert {path for path in leaves if path.startswith("results[]")} == {
        "results[].test", "results[].value", "results[].unit", "results[].reference_range", "results[].flag",
    }
