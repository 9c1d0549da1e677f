"""Cloud Control's wording of schema violations: ``Model validation failed (#/X: ...)``.

The checking itself is ``cfn_registry.validation.model_validator`` (draft 7 over the vendored registry
schema, patterns translated for Python's ``re``); what is Cloud-Control-specific, and therefore here,
is turning its errors into the messages AWS answers with, and refusing readOnly properties in a
desired state the way Cloud Control does (as extraneous keys).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import ValidationError

from cfn_registry import ResourceSchema
from cfn_registry.schema import MISSING, get_path
from cfn_registry.validation import model_validator

__all__ = ["failure_message", "messages"]

_TYPE_NAMES = {
    str: "String",
    bool: "Boolean",
    int: "Integer",
    float: "Number",
    list: "JSONArray",
    dict: "JSONObject",
    type(None): "Null",
}


def _pointer(path: Iterable[Any]) -> str:
    return "#" + "".join(f"/{part}" for part in path)


def _describe(error: ValidationError) -> list[str]:
    """One or more Cloud-Control-style messages (``#/A/B: ...``) for one jsonschema error."""
    where = _pointer(error.absolute_path)
    instance = error.instance
    schema: Any = error.schema
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set(schema.get("properties", {}))
        return [f"{where}: extraneous key [{key}] is not permitted" for key in instance if key not in allowed]
    if error.validator == "required" and isinstance(instance, dict):
        return [
            f"{where}: required key [{key}] not found"
            for key in list(error.validator_value)  # type: ignore[arg-type]
            if key not in instance
        ]
    if error.validator == "type":
        expected = str(error.validator_value)
        found = _TYPE_NAMES.get(type(instance), type(instance).__name__)
        return [f"{where}: expected type: {expected[:1].upper()}{expected[1:]}, found: {found}"]
    return [f"{where}: failed validation constraint for keyword [{error.validator}]"]


def messages(schema: ResourceSchema, model: Mapping[str, Any]) -> list[str]:
    """Everything wrong with ``model`` as a desired state (readOnly properties are refused), sorted."""
    found: list[str] = []
    for path in schema.read_only:
        if get_path(model, path) is not MISSING:
            found.append(f"{_pointer(path[:-1])}: extraneous key [{path[-1]}] is not permitted")
    for error in model_validator(schema).iter_errors(model):
        found.extend(_describe(error))
    return sorted(set(found))


def failure_message(schema: ResourceSchema, model: Mapping[str, Any]) -> str | None:
    """``None`` when valid, else AWS's text: ``Model validation failed (#/X: ...)``."""
    found = messages(schema, model)
    if not found:
        return None
    return "Model validation failed (" + ", ".join(found) + ")"
