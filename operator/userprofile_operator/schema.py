"""The vendored CloudFormation schema of AWS::SageMaker::UserProfile: the one source of field facts.

This module owns property names, definitions, constraints, the createOnly / readOnly paths, the
primary identifier and the tagging facts. Everything else (the CRD, the models, the naming map,
the planner) asks here instead of repeating them.

Two copies of the schema are vendored: the registry's own (authoritative: it has every property)
and cfn-lint's (which adds the SageMaker API's patterns for DomainId, UserProfileName, tags and
repository URLs, but drops AppLifecycleManagement). `load_schema()` starts from the registry copy
and adds a pattern from the cfn-lint copy wherever the registry has none, so we get the union of
the constraints and lose no property.

Nothing is read at import time; `load_schema()` reads the package data once and caches it.

Regular expression dialects: the API server evaluates CRD patterns with Go's RE2, Python uses
`re`. The schema keeps the patterns as written. `python_pattern()` translates the Unicode classes
(`\\p{L}`, `\\p{N}`, `\\p{Z}`) that `re` lacks, and `re2_pattern()` rewrites repeat counts above
RE2's limit of 1000 where the field's maxLength makes the rewrite exact.
"""

from __future__ import annotations

import copy
import json
import re
import sys
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final, TypeAlias

import jsonschema

from userprofile_operator import TYPE_NAME

__all__ = [
    "JsonObject",
    "PropertyPath",
    "ResourceSchema",
    "create_only_paths",
    "desired_state_validator",
    "identifier",
    "load_schema",
    "pointer_to_path",
    "primary_identifier",
    "python_pattern",
    "re2_pattern",
    "read_only_paths",
    "required_properties",
    "validate_desired_state",
    "writable_property_paths",
]

JsonObject: TypeAlias = dict[str, Any]
PropertyPath: TypeAlias = tuple[str, ...]
"""A property path of the resource as CloudFormation names, e.g. ("UserSettings", "ExecutionRole")."""

REGISTRY_SCHEMA_FILE: Final = "aws-sagemaker-userprofile.registry-schema.json"
CFN_LINT_SCHEMA_FILE: Final = "aws-sagemaker-userprofile.cfn-lint-schema.json"
IDENTIFIER_SEPARATOR: Final = "|"

_REF_PREFIX: Final = "#/definitions/"


def pointer_to_path(pointer: str) -> PropertyPath:
    """`/properties/UserSettings/RStudioServerProAppSettings/AccessStatus` -> a tuple of names."""
    parts = pointer.split("/")
    if len(parts) < 3 or parts[0] != "" or parts[1] != "properties":
        raise ValueError(f"not a CloudFormation property pointer: {pointer!r}")
    return tuple(parts[2:])


@dataclass(frozen=True)
class ResourceSchema:
    """The merged CloudFormation resource schema with the facts the operator needs, parsed once."""

    document: Mapping[str, Any]
    """The merged schema document (registry copy plus cfn-lint's extra patterns). Do not mutate."""
    type_name: str
    required: tuple[str, ...]
    create_only: tuple[PropertyPath, ...]
    read_only: tuple[PropertyPath, ...]
    primary_identifier: tuple[PropertyPath, ...]
    tagging: Mapping[str, Any]
    _definitions: Mapping[str, Any] = field(repr=False)

    @property
    def properties(self) -> Mapping[str, Any]:
        """The top-level properties (CloudFormation names), unresolved."""
        props: Mapping[str, Any] = self.document["properties"]
        return props

    @property
    def definitions(self) -> Mapping[str, Any]:
        return self._definitions

    @property
    def tag_property(self) -> PropertyPath:
        return pointer_to_path(str(self.tagging["tagProperty"]))

    def definition_name(self, node: Mapping[str, Any]) -> str | None:
        """The name of the definition a `$ref` node points to, or None when the node is inline."""
        ref = node.get("$ref")
        if ref is None:
            return None
        if not str(ref).startswith(_REF_PREFIX):
            raise ValueError(f"unsupported $ref {ref!r}")
        return str(ref)[len(_REF_PREFIX) :]

    def resolve(self, node: Mapping[str, Any]) -> JsonObject:
        """The node with its `$ref` (transitively) replaced by the definition's keywords.

        Keywords written beside the `$ref` (usually a more specific description) win over the
        definition's.
        """
        merged: JsonObject = {}
        seen: set[str] = set()
        current: Mapping[str, Any] = node
        layers: list[Mapping[str, Any]] = []
        while True:
            layers.append(current)
            name = self.definition_name(current)
            if name is None:
                break
            if name in seen:
                raise ValueError(f"$ref cycle through {name}")
            seen.add(name)
            current = self._definitions[name]
        for layer in reversed(layers):
            merged.update({k: v for k, v in layer.items() if k != "$ref"})
        return merged

    def node_at(self, path: PropertyPath) -> JsonObject:
        """The resolved schema node of a property path (array items are walked through)."""
        node = self.resolve(self.properties[path[0]])
        for name in path[1:]:
            while node.get("type") == "array":
                node = self.resolve(node["items"])
            node = self.resolve(node["properties"][name])
        return node

    def iter_property_paths(self) -> Iterator[PropertyPath]:
        """Every property path of the schema, depth first, array items walked through."""

        def walk(prefix: PropertyPath, node: JsonObject) -> Iterator[PropertyPath]:
            while node.get("type") == "array":
                node = self.resolve(node["items"])
            for name, child in node.get("properties", {}).items():
                path = (*prefix, name)
                yield path
                yield from walk(path, self.resolve(child))

        for name, child in self.properties.items():
            yield (name,)
            yield from walk((name,), self.resolve(child))

    def property_names(self) -> frozenset[str]:
        """Every property name that occurs anywhere in the schema."""
        return frozenset(path[-1] for path in self.iter_property_paths())


def _read_package_json(name: str) -> JsonObject:
    text = resources.files("userprofile_operator").joinpath("data", name).read_text(encoding="utf-8")
    document: JsonObject = json.loads(text)
    return document


def _merge_lint_patterns(registry: Any, lint: Any) -> None:
    """Add cfn-lint's patterns where the registry copy has none (or an empty one), in place."""
    if isinstance(registry, dict) and isinstance(lint, dict):
        lint_pattern = lint.get("pattern")
        if isinstance(lint_pattern, str) and lint_pattern and not registry.get("pattern"):
            registry["pattern"] = lint_pattern
        for key, value in registry.items():
            if key in lint and key != "pattern":
                _merge_lint_patterns(value, lint[key])
    elif isinstance(registry, list) and isinstance(lint, list):
        for reg_item, lint_item in zip(registry, lint, strict=False):
            _merge_lint_patterns(reg_item, lint_item)


def _drop_empty_patterns(node: Any) -> None:
    """An empty pattern constrains nothing; drop it so no consumer has to special-case it."""
    if isinstance(node, dict):
        if node.get("pattern") == "":
            del node["pattern"]
        for value in node.values():
            _drop_empty_patterns(value)
    elif isinstance(node, list):
        for item in node:
            _drop_empty_patterns(item)


@cache
def load_schema() -> ResourceSchema:
    """The merged schema, read from the package data on first use and cached."""
    document = _read_package_json(REGISTRY_SCHEMA_FILE)
    lint = _read_package_json(CFN_LINT_SCHEMA_FILE)
    if document.get("typeName") != TYPE_NAME:
        raise ValueError(f"vendored schema is for {document.get('typeName')!r}, expected {TYPE_NAME!r}")
    _merge_lint_patterns(document, lint)
    _drop_empty_patterns(document)
    return ResourceSchema(
        document=document,
        type_name=str(document["typeName"]),
        required=tuple(document.get("required", ())),
        create_only=tuple(pointer_to_path(p) for p in document.get("createOnlyProperties", ())),
        read_only=tuple(pointer_to_path(p) for p in document.get("readOnlyProperties", ())),
        primary_identifier=tuple(pointer_to_path(p) for p in document["primaryIdentifier"]),
        tagging=document.get("tagging", {}),
        _definitions=document.get("definitions", {}),
    )


def create_only_paths() -> tuple[PropertyPath, ...]:
    """Paths that cannot change after creation (CloudFormation would replace the resource)."""
    return load_schema().create_only


def read_only_paths() -> tuple[PropertyPath, ...]:
    """Paths that AWS reports but nobody may set (UserProfileArn)."""
    return load_schema().read_only


def primary_identifier() -> tuple[PropertyPath, ...]:
    """The paths whose values, joined by `|`, make the Cloud Control Identifier."""
    return load_schema().primary_identifier


def required_properties() -> tuple[str, ...]:
    return load_schema().required


def writable_property_paths() -> tuple[PropertyPath, ...]:
    """Every property path a user may set: all paths except the readOnly ones and below them."""
    read_only = read_only_paths()
    return tuple(
        path
        for path in load_schema().iter_property_paths()
        if not any(path[: len(ro)] == ro for ro in read_only)
    )


def identifier(desired: Mapping[str, Any]) -> str:
    """The Cloud Control Identifier of a desired state in CloudFormation names: `Name|DomainId`."""
    values: list[str] = []
    for path in primary_identifier():
        node: Any = desired
        for name in path:
            if not isinstance(node, Mapping) or name not in node:
                raise KeyError(f"desired state lacks identifier property {'/'.join(path)}")
            node = node[name]
        values.append(str(node))
    return IDENTIFIER_SEPARATOR.join(values)


# --- regular expression dialects -------------------------------------------------------------

_UNICODE_CLASS = re.compile(r"\\([pP])\{([A-Za-z]+)\}")
_RE2_MAX_REPEAT: Final = 1000
_REPEAT = re.compile(r"(?<!\\)\{(\d+),(\d+)\}")


@cache
def _category_ranges(prefix: str) -> str:
    """A character-class body (no brackets) of every code point whose category starts with prefix."""
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)).startswith(prefix):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    parts = []
    for low, high in ranges:
        parts.append(f"\\U{low:08x}" if low == high else f"\\U{low:08x}-\\U{high:08x}")
    return "".join(parts)


def python_pattern(pattern: str) -> str:
    """The pattern in Python `re` syntax: `\\p{L}`, `\\p{N}`, `\\p{Z}` become explicit classes.

    Both inside a character class (`[\\p{L}_]`) and outside one (`\\p{L}+`). Negated classes
    (`\\P{..}`) do not occur in the schema and are refused rather than guessed.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            match = _UNICODE_CLASS.match(pattern, i)
            if match:
                if match.group(1) == "P":
                    raise ValueError(f"negated Unicode class in {pattern!r} is not supported")
                body = _category_ranges(match.group(2))
                if not body:
                    raise ValueError(f"unknown Unicode category in {pattern!r}")
                out.append(body if in_class else f"[{body}]")
                i = match.end()
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            # a leading ']' (or '^]') is a literal in both dialects
            if pattern.startswith("^]", i + 1):
                out.append("^]")
                i += 3
                continue
            if pattern.startswith("]", i + 1):
                out.append("]")
                i += 2
                continue
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def re2_pattern(pattern: str, max_length: int | None) -> str:
    """The pattern in a form Go's RE2 accepts (the API server compiles CRD patterns with it).

    RE2 refuses repeat counts above 1000. `{m,n}` with n > 1000 becomes `{m,}`, which matches the
    same strings when the field's maxLength is at most n: every repetition in the schema's patterns
    consumes at least one character, so a value of maxLength characters never repeats more often.
    """

    def fix(match: re.Match[str]) -> str:
        low, high = int(match.group(1)), int(match.group(2))
        if high <= _RE2_MAX_REPEAT:
            return match.group(0)
        if low > _RE2_MAX_REPEAT or max_length is None or max_length > high:
            raise ValueError(f"cannot express {pattern!r} in RE2 without changing its meaning")
        return f"{{{low},}}"

    return _REPEAT.sub(fix, pattern)


def _python_compatible(node: Any, originals: dict[str, str]) -> Any:
    """A copy of a schema node with every pattern in Python syntax; `originals` maps them back."""
    if isinstance(node, dict):
        result = {k: _python_compatible(v, originals) for k, v in node.items()}
        if isinstance(node.get("pattern"), str):
            translated = python_pattern(node["pattern"])
            originals[translated] = node["pattern"]
            result["pattern"] = translated
        return result
    if isinstance(node, list):
        return [_python_compatible(item, originals) for item in node]
    return node


@cache
def _python_validator() -> tuple[jsonschema.protocols.Validator, Mapping[str, str]]:
    document = copy.deepcopy(dict(load_schema().document))
    for path in read_only_paths():
        if len(path) == 1:
            document["properties"].pop(path[0], None)
    originals: dict[str, str] = {}
    python_doc = _python_compatible(document, originals)
    validator_class = jsonschema.validators.validator_for(python_doc, default=jsonschema.Draft7Validator)
    validator_class.check_schema(python_doc)
    validator: jsonschema.protocols.Validator = validator_class(python_doc)
    return validator, originals


def desired_state_validator() -> jsonschema.protocols.Validator:
    """A jsonschema validator for desired states (CloudFormation names, readOnly fields absent).

    Patterns are translated to Python syntax; built on first use and cached.
    """
    return _python_validator()[0]


def validate_desired_state(desired: Mapping[str, Any]) -> list[str]:
    """Every schema violation of a desired state as `/path: message` strings (empty when valid).

    Pattern violations quote the schema's own pattern, not its (long) Python translation.
    """
    validator, originals = _python_validator()
    messages: list[str] = []
    for error in sorted(validator.iter_errors(desired), key=lambda e: [str(p) for p in e.absolute_path]):
        message = error.message
        if error.validator == "pattern" and isinstance(error.validator_value, str):
            message = f"{error.instance!r} does not match {originals.get(error.validator_value, '')!r}"
        messages.append(f"/{'/'.join(str(p) for p in error.absolute_path)}: {message}")
    return messages
