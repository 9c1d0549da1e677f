"""The resource type schemas the emulator knows, and everything derived from them.

This module owns loading a CloudFormation registry schema (our copy lives in ``schemas/``), validating
a model against it the way Cloud Control does, and the schema's lists of createOnly, readOnly and
primary-identifier paths. It knows nothing of HTTP or of the backend's state: there is no per-field
rule written by hand here, every constraint comes from the schema file.

Two adaptations let Python's ``re`` run the schema's patterns (the JSON file stays as AWS wrote it):

* ``\\p{L}``, ``\\p{Z}``, ``\\p{N}`` (Java/ICU Unicode classes, used by the tag patterns) are expanded
  into explicit code point ranges from :mod:`unicodedata`;
* patterns that a backtracking engine runs in exponential time are replaced by an equivalent linear
  pattern (see ``_LINEAR_EQUIVALENTS``; a conformance test checks both agree on sample inputs).
"""

from __future__ import annotations

import functools
import json
import re
import sys
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jsonschema
from jsonschema import Draft7Validator, ValidationError

JsonObject = dict[str, Any]

# --------------------------------------------------------------------------------------- patterns

_LINEAR_EQUIVALENTS: dict[str, str] = {
    # CodeRepository.RepositoryUrl (from cfn-lint). `([C]+/?){3,1016}` nests quantifiers; on a string
    # that fails near its end it backtracks exponentially (24 characters: 0.6 s). Same language:
    # runs of C separated by single slashes, optional trailing slash, at least 3 C characters in all
    # (the upper bound can never bind under maxLength 256).
    r"^https://([.\-_a-zA-Z0-9]+/?){3,1016}$": (
        r"^https://(?=(?:/?[.\-_a-zA-Z0-9]){3})[.\-_a-zA-Z0-9]+(?:/[.\-_a-zA-Z0-9]+)*/?$"
    ),
}

_UNICODE_CLASS = re.compile(r"\\p\{([A-Za-z]{1,2})\}")


@functools.cache
def _unicode_ranges(category: str) -> str:
    """Character-class body (without brackets) matching the Unicode general category ``category``."""
    spans: list[tuple[int, int]] = []
    start = -1
    for cp in range(sys.maxunicode + 1):
        if unicodedata.category(chr(cp)).startswith(category):
            if start < 0:
                start = cp
        elif start >= 0:
            spans.append((start, cp - 1))
            start = -1
    if start >= 0:
        spans.append((start, sys.maxunicode))

    def esc(cp: int) -> str:
        return f"\\U{cp:08x}"

    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in spans)


def translate_pattern(pattern: str) -> str:
    """Turn an ECMA/Java pattern of the schema into one Python's ``re`` runs equivalently."""
    pattern = _LINEAR_EQUIVALENTS.get(pattern, pattern)
    if "\\p{" not in pattern:
        return pattern
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        match = _UNICODE_CLASS.match(pattern, i)
        if match:
            body = _unicode_ranges(match.group(1))
            out.append(body if in_class else f"[{body}]")
            i = match.end()
            continue
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        out.append(ch)
        i += 1
    return "".join(out)


@functools.cache
def compile_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(translate_pattern(pattern))


def _pattern_keyword(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not compile_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 7 is what CloudFormation resource schemas are written in; only `pattern` is swapped.
ModelValidator: Any = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    Draft7Validator, {"pattern": _pattern_keyword}
)

# ------------------------------------------------------------------------------------ the schema

_TYPE_NAMES = {
    str: "String",
    bool: "Boolean",
    int: "Integer",
    float: "Number",
    list: "JSONArray",
    dict: "JSONObject",
    type(None): "Null",
}


def _pointer(path: Iterator[Any] | Any) -> str:
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


def _json_pointer_to_parts(pointer: str) -> tuple[str, ...]:
    """``/properties/UserSettings/RStudioServerProAppSettings/AccessStatus`` → model path parts."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    if parts and parts[0] == "properties":
        parts = parts[1:]
    return tuple(parts)


@dataclass(frozen=True)
class ResourceSchema:
    """One resource type's registry schema and what Cloud Control derives from it."""

    type_name: str
    document: JsonObject
    create_only: tuple[tuple[str, ...], ...]
    read_only: tuple[tuple[str, ...], ...]
    primary_identifier: tuple[tuple[str, ...], ...]
    tag_property: tuple[str, ...] | None

    @classmethod
    def from_document(cls, document: JsonObject) -> ResourceSchema:
        # The metaschema without its `regex` format check (Python's `re` lacks \p{..}); every
        # pattern is compiled through our translation instead, which also warms the cache.
        Draft7Validator(Draft7Validator.META_SCHEMA).validate(document)
        for pattern in _patterns_in(document):
            compile_pattern(pattern)
        tagging = document.get("tagging", {})
        tag_property = tagging.get("tagProperty") if tagging.get("taggable") else None
        return cls(
            type_name=document["typeName"],
            document=document,
            create_only=tuple(_json_pointer_to_parts(p) for p in document.get("createOnlyProperties", [])),
            read_only=tuple(_json_pointer_to_parts(p) for p in document.get("readOnlyProperties", [])),
            primary_identifier=tuple(_json_pointer_to_parts(p) for p in document["primaryIdentifier"]),
            tag_property=_json_pointer_to_parts(tag_property) if tag_property else None,
        )

    @functools.cached_property
    def validator(self) -> Any:
        return ModelValidator(self.document)

    # -- validation

    def validation_messages(self, model: JsonObject) -> list[str]:
        """Everything wrong with ``model`` (a desired state: readOnly properties are refused)."""
        messages: list[str] = []
        for path in self.read_only:
            if get_path(model, path) is not _MISSING:
                parent, key = _pointer(path[:-1]), path[-1]
                messages.append(f"{parent}: extraneous key [{key}] is not permitted")
        for error in self.validator.iter_errors(model):
            messages.extend(_describe(error))
        return sorted(set(messages))

    def validate(self, model: JsonObject) -> str | None:
        """``None`` when valid, else AWS's text: ``Model validation failed (#/X: ...)``."""
        messages = self.validation_messages(model)
        if not messages:
            return None
        return "Model validation failed (" + ", ".join(messages) + ")"

    # -- identifiers and paths

    def identifier_of(self, model: JsonObject) -> str:
        return "|".join(str(get_path(model, path)) for path in self.primary_identifier)

    def identifier_parts(self, identifier: str) -> dict[tuple[str, ...], str] | None:
        values = identifier.split("|")
        if len(values) != len(self.primary_identifier) or not all(values):
            return None
        return dict(zip(self.primary_identifier, values, strict=True))

    @staticmethod
    def pointer(path: tuple[str, ...]) -> str:
        return "/properties/" + "/".join(path)


def _patterns_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns_in(item)


_MISSING: Any = object()


def get_path(model: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in ``model``, or ``MISSING``."""
    node = model
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


MISSING = _MISSING


def set_path(model: JsonObject, path: tuple[str, ...], value: Any) -> None:
    node = model
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def delete_path(model: JsonObject, path: tuple[str, ...]) -> None:
    node: Any = model
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)


def load_bundled() -> dict[str, ResourceSchema]:
    """Every schema in the package's ``schemas/`` folder, by type name."""
    found: dict[str, ResourceSchema] = {}
    folder = resources.files("cloudcontrol_emulator").joinpath("schemas")
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            schema = ResourceSchema.from_document(json.loads(entry.read_text(encoding="utf-8")))
            found[schema.type_name] = schema
    return found
