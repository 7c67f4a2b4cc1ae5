"""Every input of ``python -m reports`` is checked against its JSON Schema (reports/schema/*.json) before use.

jsonschema is not among the suite's requirements (reports are written and read wherever the suite runs, with the
standard library only), so this interprets the part of JSON Schema the schemas use. A schema that uses any other
keyword is refused when loaded, so the schemas cannot outgrow this check unnoticed; tests/test_reports.py holds
its verdicts to jsonschema's.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Iterator

SCHEMA_DIR = Path(__file__).with_name("schema")
ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description"}
KEYWORDS = {"$ref", "allOf", "type", "const", "enum", "minimum", "required", "properties", "additionalProperties",
            "items"}
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _subschemas(schema: dict) -> Iterator[dict]:
    yield schema
    nested = [*schema.get("$defs", {}).values(), *schema.get("properties", {}).values(), *schema.get("allOf", ())]
    nested += [schema[key] for key in ("items", "additionalProperties") if isinstance(schema.get(key), dict)]
    for child in nested:
        yield from _subschemas(child)


@cache
def schemas() -> dict[str, dict]:
    """Every schema of reports/schema, by its ``$id``."""
    found = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        schema = json.loads(path.read_text())
        unknown = {key for part in _subschemas(schema) for key in part} - ANNOTATIONS - KEYWORDS
        if unknown:
            raise ValueError(f"{path}: uses JSON Schema keyword(s) {', '.join(sorted(unknown))}, "
                             f"which reports/validation.py does not check")
        found[schema["$id"]] = schema
    return found


def first_problem(document: Any, schema_id: str) -> str | None:
    """What is wrong with ``document`` under the schema ``schema_id`` ("where: what"), or None."""
    return next(_problems(document, schemas()[schema_id], schema_id, ""), None)


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def _same(value: Any, wanted: Any) -> bool:
    """JSON equality: true is not 1."""
    return isinstance(value, bool) == isinstance(wanted, bool) and value == wanted


def _kind(value: Any) -> str:
    return next((kind for kind in ("null", "boolean", "integer", "number", "string", "array", "object")
                 if _is(value, kind)), type(value).__name__)


def _resolve(reference: str, base: str) -> tuple[str, dict]:
    """A ``$ref`` (``#/$defs/x`` in the same schema, ``other-id#/$defs/x`` in another) and the schema it is in."""
    schema_id, _, pointer = reference.partition("#")
    schema_id = schema_id or base
    target = schemas()[schema_id]
    for part in filter(None, pointer.split("/")):
        target = target[part]
    return schema_id, target


def _problems(value: Any, schema: dict, base: str, where: str) -> Iterator[str]:
    at = f"{where}: " if where else ""
    if "$ref" in schema:
        referenced_base, referenced = _resolve(schema["$ref"], base)
        yield from _problems(value, referenced, referenced_base, where)
    for part in schema.get("allOf", ()):
        yield from _problems(value, part, base, where)
    if "type" in schema:
        kinds = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_is(value, kind) for kind in kinds):
            yield f"{at}{_kind(value)}, not {' or '.join(kinds)}"
            return
    if "const" in schema and not _same(value, schema["const"]):
        yield f"{at}{json.dumps(value)}, not {json.dumps(schema['const'])}"
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        yield f"{at}{json.dumps(value)} is not one of {', '.join(json.dumps(o) for o in schema['enum'])}"
    if "minimum" in schema and _is(value, "number") and value < schema["minimum"]:
        yield f"{at}{value} is below the minimum {schema['minimum']}"
    if isinstance(value, dict):
        missing = [key for key in schema.get("required", ()) if key not in value]
        if missing:
            yield f"{at}missing {', '.join(missing)}"
        properties, others = schema.get("properties", {}), schema.get("additionalProperties", True)
        for key, item in value.items():
            inner = f"{where}.{key}" if where else key
            if key in properties:
                yield from _problems(item, properties[key], base, inner)
            elif others is False:
                yield f"{at}unknown field {json.dumps(key)}"
            elif isinstance(others, dict):
                yield from _problems(item, others, base, inner)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _problems(item, schema["items"], base, f"{where}[{index}]")
