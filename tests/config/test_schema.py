"""`warmline schema`: valid JSON, a Draft 2020-12 schema that accepts the examples.

`jsonschema` is not a dependency, so a small validator for the keywords the schema uses checks
that the examples conform and that typical mistakes do not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from warmline.cli import app
from warmline.config.durations import DURATION_PATTERN
from warmline.config.secrets import SECRET_PATTERN

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_FILES = sorted((ROOT / "examples").glob("*/warmline.yaml"))
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
KNOWN_KEYWORDS = {
    "$defs", "$ref", "$schema", "additionalProperties", "anyOf", "const", "default",
    "description", "discriminator", "enum", "examples", "items", "maximum", "minItems",
    "minimum", "oneOf", "pattern", "patternProperties", "properties", "required", "title", "type",
}  # fmt: skip


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    loaded = json.loads(result.stdout)
    assert isinstance(loaded, dict)
    return loaded


def _schemas(node: Any) -> list[dict[str, Any]]:
    """Every subschema (properties, items, $defs, ...) in a schema, recursively."""
    found: list[dict[str, Any]] = []
    if not isinstance(node, dict):
        return found
    found.append(node)
    for key in ("properties", "$defs", "patternProperties"):
        for child in node.get(key, {}).values():
            found.extend(_schemas(child))
    for key in ("items", "additionalProperties"):
        found.extend(_schemas(node.get(key)))
    for key in ("anyOf", "oneOf"):
        for child in node.get(key, []):
            found.extend(_schemas(child))
    return found


def _validate(schema: dict[str, Any], root: dict[str, Any], value: Any, where: str) -> list[str]:
    """Errors of `value` against `schema`, for the keywords `KNOWN_KEYWORDS` lists."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return _validate(root["$defs"][name], root, value, where)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            matches = [not _validate(s, root, value, where) for s in schema[key]]
            ok = any(matches) if key == "anyOf" else matches.count(True) == 1
            return [] if ok else [f"{where}: no {key} alternative matches {value!r}"]
    errors: list[str] = []
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if kind is not None and not checks[kind](value):
        return [f"{where}: expected {kind}, got {value!r}"]
    errors.extend(_validate_scalar(schema, value, where))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{where}: too few items")
        for index, item in enumerate(value):
            errors.extend(_validate(schema.get("items", {}), root, item, f"{where}[{index}]"))
    if isinstance(value, dict):
        errors.extend(_validate_object(schema, root, value, where))
    return errors


def _validate_scalar(schema: dict[str, Any], value: Any, where: str) -> list[str]:
    errors: list[str] = []
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: expected {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{where}: below minimum")
    if "maximum" in schema and value > schema["maximum"]:
        errors.append(f"{where}: above maximum")
    return errors


def _validate_object(
    schema: dict[str, Any], root: dict[str, Any], value: dict[str, Any], where: str
) -> list[str]:
    errors = [f"{where}: missing {k}" for k in schema.get("required", []) if k not in value]
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        path = f"{where}.{key}"
        if key in properties:
            errors.extend(_validate(properties[key], root, item, path))
            continue
        matched = [p for p in patterns if re.search(p, str(key))]
        for pattern in matched:
            errors.extend(_validate(patterns[pattern], root, item, path))
        if matched:
            continue
        if extra is False:
            errors.append(f"{path}: additional property not allowed")
        elif isinstance(extra, dict):
            errors.extend(_validate(extra, root, item, path))
    return errors


def _load(path: Path) -> Any:
    # JSON Schema sees the document the way a YAML language server does: plain data.
    return json.loads(json.dumps(YAML(typ="safe").load(path.read_text(encoding="utf-8"))))


def test_schema_is_draft_2020_12_with_known_keywords(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == DRAFT_2020_12
    assert schema["title"] == "warmline configuration"
    used = {key for node in _schemas(schema) for key in node}
    assert used <= KNOWN_KEYWORDS, used - KNOWN_KEYWORDS
    for node in _schemas(schema):
        if "$ref" in node:
            assert node["$ref"].removeprefix("#/$defs/") in schema["$defs"]


def test_every_model_is_closed_and_described(schema: dict[str, Any]) -> None:
    for name, definition in schema["$defs"].items():
        if definition.get("type") != "object" or "properties" not in definition:
            continue
        assert definition.get("additionalProperties") is False, name
        assert definition.get("description"), name
        undocumented = [
            key
            for key, prop in definition["properties"].items()
            if "description" not in prop and "$ref" not in prop
        ]
        # Self-explanatory keys (name, id, enabled) may go without; most must be described.
        assert len(undocumented) <= max(3, len(definition["properties"]) // 2), (name, undocumented)


def test_durations_and_secrets_are_strings(schema: dict[str, Any]) -> None:
    queue = schema["$defs"]["Queue"]["properties"]
    assert queue["accept_within"]["type"] == "string"
    assert queue["accept_within"]["pattern"] == DURATION_PATTERN
    token = schema["$defs"]["Specialist"]["properties"]["token"]
    assert token == {**token, "type": "string", "pattern": SECRET_PATTERN}
    when = schema["$defs"]["EscalationRule"]["properties"]["when"]
    assert when["type"] == "string"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.parent.name)
def test_schema_accepts_the_examples(schema: dict[str, Any], path: Path) -> None:
    assert _validate(schema, schema, _load(path), "") == []


def test_schema_rejects_typical_mistakes(schema: dict[str, Any]) -> None:
    document = _load(EXAMPLE_FILES[0])
    document["routing"]["queues"][0]["accept_within"] = "5 minutes"
    document["routing"]["specialists"][0]["token"] = "sk-123"
    document["triage"]["crisis"]["ofer_to"] = 2
    errors = _validate(schema, schema, document, "")
    assert len(errors) == 3, errors
