"""A CloudFormation registry schema, parsed once: the facts both the operator and the emulator need.

What it owns: finding a vendored schema by type name, the property paths of the document (nested
definitions resolved, array items walked through), the createOnly / readOnly / writeOnly sets, the
primary identifier (and composing or splitting an identifier), the tag property, and each handler's
IAM permissions. What it does not do: validation (`validation.py`), pattern dialects (`patterns.py`),
anything about Kubernetes or HTTP.

The vendored copies are the registry's own documents, one per type (`schemas/<aws-service-type>.json`).
Where cfn-lint's copy of the same schema has patterns the registry's lacks (the SageMaker API's
patterns for ids and tag values), a `<name>.cfn-lint.json` beside it is read too, and its patterns are
added wherever the registry has none: the union of the constraints, losing no property.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final, TypeAlias

__all__ = [
    "IDENTIFIER_SEPARATOR",
    "MISSING",
    "JsonObject",
    "PropertyPath",
    "ResourceSchema",
    "delete_path",
    "get_path",
    "load",
    "pointer_to_path",
    "set_path",
    "type_names",
]

JsonObject: TypeAlias = dict[str, Any]
PropertyPath: TypeAlias = tuple[str, ...]
"""A property path as CloudFormation names it, e.g. ("UserSettings", "ExecutionRole")."""

IDENTIFIER_SEPARATOR: Final = "|"
_REF_PREFIX: Final = "#/definitions/"
_LINT_SUFFIX: Final = ".cfn-lint.json"


def pointer_to_path(pointer: str) -> PropertyPath:
    """`/properties/UserSettings/RStudioServerProAppSettings/AccessStatus` -> a tuple of names."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")]
    if len(parts) < 3 or parts[0] != "" or parts[1] != "properties":
        raise ValueError(f"not a CloudFormation property pointer: {pointer!r}")
    return tuple(parts[2:])


def path_to_pointer(path: PropertyPath) -> str:
    return "/properties/" + "/".join(path)


MISSING: Any = object()
"""What `get_path` returns where a model has no value."""


def get_path(model: Any, path: PropertyPath) -> Any:
    """The value at `path` in a model (CloudFormation names), or `MISSING`."""
    node = model
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return MISSING
    return node


def set_path(model: JsonObject, path: PropertyPath, value: Any) -> None:
    node = model
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def delete_path(model: JsonObject, path: PropertyPath) -> None:
    node: Any = model
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)


@dataclass(frozen=True, eq=False)
class ResourceSchema:
    """One resource type's registry schema with the facts derived from it. Do not mutate `document`."""

    document: Mapping[str, Any]
    type_name: str
    required: tuple[str, ...]
    create_only: tuple[PropertyPath, ...]
    read_only: tuple[PropertyPath, ...]
    write_only: tuple[PropertyPath, ...]
    primary_identifier: tuple[PropertyPath, ...]
    tagging: Mapping[str, Any]
    _definitions: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ResourceSchema:
        def paths(key: str) -> tuple[PropertyPath, ...]:
            return tuple(pointer_to_path(p) for p in document.get(key, ()))

        return cls(
            document=document,
            type_name=str(document["typeName"]),
            required=tuple(document.get("required", ())),
            create_only=paths("createOnlyProperties"),
            read_only=paths("readOnlyProperties"),
            write_only=paths("writeOnlyProperties"),
            primary_identifier=paths("primaryIdentifier"),
            tagging=document.get("tagging", {}),
            _definitions=document.get("definitions", {}),
        )

    # -- the document ------------------------------------------------------------------------------

    @property
    def properties(self) -> Mapping[str, Any]:
        """The top-level properties (CloudFormation names), unresolved."""
        props: Mapping[str, Any] = self.document["properties"]
        return props

    @property
    def definitions(self) -> Mapping[str, Any]:
        return self._definitions

    @property
    def tag_property(self) -> PropertyPath | None:
        """Where the type keeps its tags (`("Tags",)`), or None for a type that has none."""
        if not self.tagging.get("taggable", bool(self.tagging)) or "tagProperty" not in self.tagging:
            return None
        return pointer_to_path(str(self.tagging["tagProperty"]))

    @property
    def service(self) -> str:
        """The type's service, lower case: `sagemaker` for AWS::SageMaker::Space."""
        return self.type_name.split("::")[1].lower()

    def handler_permissions(self) -> Mapping[str, tuple[str, ...]]:
        """IAM actions per handler (create, read, update, delete, list), as the schema lists them."""
        handlers: Mapping[str, Any] = self.document.get("handlers", {})
        return {name: tuple(handler.get("permissions", ())) for name, handler in handlers.items()}

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
        merged: JsonObject = {}
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

    def writable_property_paths(self) -> tuple[PropertyPath, ...]:
        """Every path a user may set: all but the readOnly ones and what lies below them."""
        return tuple(path for path in self.iter_property_paths() if not _under_any(path, self.read_only))

    def is_write_only(self, path: PropertyPath) -> bool:
        """Whether AWS never returns the value at `path` (it lies at or below a writeOnly path)."""
        return _under_any(path, self.write_only)

    # -- identifiers -------------------------------------------------------------------------------

    def identifier_of(self, model: Mapping[str, Any]) -> str:
        """The Cloud Control Identifier of a model: its primary identifier's values joined by `|`."""
        values: list[str] = []
        for path in self.primary_identifier:
            value = get_path(model, path)
            if value is MISSING:
                raise KeyError(f"the model lacks identifier property {'/'.join(path)}")
            values.append(str(value))
        return IDENTIFIER_SEPARATOR.join(values)

    def identifier_parts(self, identifier: str) -> dict[PropertyPath, str] | None:
        """The primary identifier's values by path, or None when `identifier` has the wrong shape."""
        values = identifier.split(IDENTIFIER_SEPARATOR)
        if len(values) != len(self.primary_identifier) or not all(values):
            return None
        return dict(zip(self.primary_identifier, values, strict=True))


def _under_any(path: PropertyPath, prefixes: tuple[PropertyPath, ...]) -> bool:
    return any(path[: len(prefix)] == prefix for prefix in prefixes)


# --- the vendored schemas ------------------------------------------------------------------------


def _file_stem(type_name: str) -> str:
    """`AWS::SageMaker::UserProfile` -> `aws-sagemaker-userprofile`, the schema's file name."""
    return type_name.replace("::", "-").lower()


def _read(name: str) -> JsonObject | None:
    entry = resources.files("cfn_registry").joinpath("schemas", name)
    if not entry.is_file():
        return None
    document: JsonObject = json.loads(entry.read_text(encoding="utf-8"))
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
def load(type_name: str) -> ResourceSchema:
    """The vendored schema of `type_name`, read on first use and cached. KeyError when none is vendored."""
    stem = _file_stem(type_name)
    document = _read(f"{stem}.json")
    if document is None:
        raise KeyError(f"no registry schema is vendored for {type_name}")
    if document.get("typeName") != type_name:
        raise ValueError(f"{stem}.json is the schema of {document.get('typeName')!r}, not {type_name!r}")
    lint = _read(f"{stem}{_LINT_SUFFIX}")
    if lint is not None:
        _merge_lint_patterns(document, lint)
    _drop_empty_patterns(document)
    return ResourceSchema.from_document(document)


@cache
def type_names() -> tuple[str, ...]:
    """Every type a schema is vendored for, sorted."""
    folder = resources.files("cfn_registry").joinpath("schemas")
    names = []
    for entry in folder.iterdir():
        if entry.name.endswith(".json") and not entry.name.endswith(_LINT_SUFFIX):
            names.append(str(json.loads(entry.read_text(encoding="utf-8"))["typeName"]))
    return tuple(sorted(names))
