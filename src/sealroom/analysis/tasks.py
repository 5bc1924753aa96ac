"""Analysis tasks: building a checked ``AnalysisTask`` from user input, schema presets, reply validation.

Extraction schemas are JSON Schema (draft 2020-12), either a preset shipped in
``sealroom/analysis/schemas/<name>.json`` or one the user supplies. Two Sealroom keywords may annotate
a property: ``x-sealroom-entity`` names the personal-data type of its value (so masking hides it
whole) and ``x-sealroom-labels`` lists the printed labels the offline engine looks for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from sealroom.analysis.models import TASK_KINDS, AnalysisTask
from sealroom.errors import InputError

MAX_QUESTION_CHARS = 2000
MAX_SCHEMA_BYTES = 32 * 1024
MAX_SCHEMA_PROPERTIES = 200
MAX_SCHEMA_DEPTH = 12
REFUSED_KEYWORDS = ("$ref", "$dynamicRef", "pattern", "patternProperties", "uniqueItems")
"""References could reach outside the schema; regular expressions written by a user and run on a
model's reply could take exponential time (ReDoS), and ``uniqueItems`` quadratic time. Describe the
format in ``description`` instead."""
ENTITY_KEYWORD = "x-sealroom-entity"
LABELS_KEYWORD = "x-sealroom-labels"
CUSTOM = "custom"


def preset_names() -> list[str]:
    """Names of the shipped extraction presets."""
    folder = resources.files("sealroom.analysis.schemas")
    return sorted(item.name.removesuffix(".json") for item in folder.iterdir() if item.name.endswith(".json"))


@cache
def _preset_text(name: str) -> str:
    return resources.files("sealroom.analysis.schemas").joinpath(f"{name}.json").read_text(encoding="utf-8")


def preset_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of preset ``name`` (a fresh copy); ``InputError`` names the presets otherwise."""
    if name not in preset_names():
        raise InputError(f"unknown schema preset {name!r}; presets: {', '.join(preset_names())}")
    schema: dict[str, Any] = json.loads(_preset_text(name))
    return schema


def preset_titles() -> dict[str, str]:
    """``{preset name: its title}`` for listings."""
    return {name: str(preset_schema(name).get("title", name)) for name in preset_names()}


def check_schema(schema: Any) -> dict[str, Any]:
    """A user-supplied schema, checked: a JSON object describing an object, valid JSON Schema, bounded."""
    if not isinstance(schema, Mapping):
        raise InputError("the schema must be a JSON object (a JSON Schema)")
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        raise InputError(f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
    try:
        size = len(json.dumps(schema))
    except (TypeError, ValueError) as exc:
        raise InputError("the schema is not plain JSON") from exc
    if size > MAX_SCHEMA_BYTES:
        raise InputError(f"the schema is {size:,} bytes, over the limit of {MAX_SCHEMA_BYTES:,}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InputError(f"the schema is not valid JSON Schema: {exc.message[:200]}") from exc
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), Mapping):
        raise InputError('the schema must describe an object: {"type": "object", "properties": {...}}')
    refused = sorted(set(_keywords(schema)) & set(REFUSED_KEYWORDS))
    if refused:
        raise InputError(
            f"the schema may not use {', '.join(refused)}: write properties out in full and describe "
            "formats in 'description'"
        )
    if sum(1 for _ in _leaves(schema)) > MAX_SCHEMA_PROPERTIES:
        raise InputError(f"the schema has more than {MAX_SCHEMA_PROPERTIES} properties")
    closed: dict[str, Any] = _closed(schema)
    return closed


def _closed(node: Any, *, is_property: bool = False) -> Any:
    """A copy where every object schema allows only its declared properties.

    The model then cannot choose keys: a key is never a place for personal data to travel unmasked,
    in the result or in an error message naming a path. A property must say what it holds (``type``,
    ``enum``, ``const`` or branches), since an untyped one could hold an object of any keys.
    """
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    if node.get("additionalProperties", False) is not False:
        raise InputError("the schema may not allow additional properties: declare every property")
    if is_property and not any(key in node for key in ("type", "enum", "const", "anyOf", "oneOf", "allOf")):
        raise InputError("every property of the schema needs a type")
    copy: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, Mapping):
            copy[key] = {name: _closed(sub, is_property=True) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf"):
            copy[key] = _closed(value, is_property=key == "items")
        else:
            copy[key] = _closed(value)
    if "object" in _types(node) or isinstance(node.get("properties"), Mapping):
        copy["additionalProperties"] = False
        copy.setdefault("properties", {})
    return copy


def _depth(node: Any) -> int:
    """How deep objects and arrays nest (iteratively: a hostile schema must not exhaust the stack)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, Mapping):
            children = list(current.values())
        elif isinstance(current, list):
            children = current
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _keywords(node: Any) -> Iterator[str]:
    """Every keyword used anywhere in the schema (property names are not keywords)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key)
            if key == "properties" and isinstance(value, Mapping):
                for sub in value.values():
                    yield from _keywords(sub)
            else:
                yield from _keywords(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keywords(item)


def build_task(
    kind: str,
    *,
    schema_name: str | None = None,
    schema: Any = None,
    question: str | None = None,
) -> AnalysisTask:
    """A checked task. ``extract`` needs a preset name or a schema; ``ask`` needs a question."""
    if kind not in TASK_KINDS:
        raise InputError(f"unknown task {kind!r}; tasks: {', '.join(TASK_KINDS)}")
    if kind != "extract" and (schema_name or schema is not None):
        raise InputError("a schema only goes with --task extract")
    if kind != "ask" and question:
        raise InputError("a question only goes with --task ask")
    if kind == "extract":
        if schema_name and schema is not None:
            raise InputError("give either a preset schema name or a schema, not both")
        if schema is not None:
            return AnalysisTask("extract", schema_name=CUSTOM, schema=check_schema(schema))
        if not schema_name:
            raise InputError(f"extract needs a schema: a preset ({', '.join(preset_names())}) or your own")
        return AnalysisTask("extract", schema_name=schema_name, schema=preset_schema(schema_name))
    if kind == "ask":
        text = (question or "").strip()
        if not text:
            raise InputError("ask needs a question")
        if len(text) > MAX_QUESTION_CHARS:
            raise InputError(f"the question is over {MAX_QUESTION_CHARS} characters")
        if not text.isprintable() and not all(char.isprintable() or char in "\n\t" for char in text):
            raise InputError("the question holds control characters")
        return AnalysisTask("ask", question=text)
    return AnalysisTask(kind)  # type: ignore[arg-type]


def validation_problems(schema: Mapping[str, Any], data: Any) -> list[str]:
    """Why ``data`` does not match ``schema``, as ``"$.path: validator"`` lines.

    The problems never quote the offending values: they may be personal data and end up in errors,
    logs and audit records.
    """
    validator = Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        problems.append(f"{path}: {error.validator} {_expected(error.validator, error.validator_value)}")
    return problems


def _expected(validator: Any, value: Any) -> str:
    """The schema side of a failed check (never the instance), short."""
    if validator in ("type", "enum", "const", "minimum", "maximum", "minLength", "maxLength", "format"):
        return f"(expected {json.dumps(value)[:120]})"
    if validator == "required":
        return f"(required: {', '.join(map(str, value))[:200]})"
    if validator == "additionalProperties":
        return "(no other properties allowed)"
    return ""


def _types(node: Mapping[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    return {str(item) for item in kind} if isinstance(kind, list) else set()


def _annotation(node: Mapping[str, Any]) -> str | None:
    """The ``x-sealroom-entity`` of a node, or of one of its ``anyOf``/``oneOf``/``allOf`` branches."""
    if isinstance(node.get(ENTITY_KEYWORD), str):
        return str(node[ENTITY_KEYWORD])
    for keyword in ("anyOf", "oneOf", "allOf"):
        for branch in node.get(keyword) or []:
            if isinstance(branch, Mapping) and (found := _annotation(branch)):
                return found
    return None


def _leaves(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(dotted path, subschema)`` for every property that is not itself an object or array.

    An entity annotation applies to everything below the node that carries it (an annotated object
    or list is personal data throughout); one in a ``anyOf``/``oneOf``/``allOf`` branch counts too.
    """
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, Mapping):
            yield from _walk(sub, f"{path}.{name}" if path else str(name), None)


def _walk(
    node: Mapping[str, Any], here: str, inherited: str | None
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    annotation = _annotation(node) or inherited
    types = _types(node)
    if "object" in types or isinstance(node.get("properties"), Mapping):
        for name, sub in (node.get("properties") or {}).items():
            if isinstance(sub, Mapping):
                yield from _walk(sub, f"{here}.{name}", annotation)
    elif "array" in types and isinstance(node.get("items"), Mapping):
        yield from _walk(node["items"], f"{here}[]", annotation)
    else:
        yield here, ({**node, ENTITY_KEYWORD: annotation} if annotation else node)


def entity_types(schema: Mapping[str, Any]) -> dict[str, str]:
    """``{dotted path: entity type}`` for the properties marked ``x-sealroom-entity``.

    Array items are written ``name[]`` (``parties[].name``).
    """
    return {
        path: str(sub[ENTITY_KEYWORD])
        for path, sub in _leaves(schema)
        if isinstance(sub.get(ENTITY_KEYWORD), str)
    }


def leaf_schemas(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``{dotted path: subschema}`` for every leaf property (see ``entity_types`` for the paths)."""
    return dict(_leaves(schema))


def empty_instance(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An object with every top-level property ``None`` (arrays empty): the shape before filling."""
    out: dict[str, Any] = {}
    for name, sub in (schema.get("properties") or {}).items():
        out[name] = [] if isinstance(sub, Mapping) and sub.get("type") == "array" else None
    return out
