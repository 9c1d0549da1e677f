"""Open enums: enums of a registry schema that AWS extends faster than it publishes schemas.

A schema lists the instance types SageMaker had when the schema was published; AWS launches more
without changing the form of their names (`ml.<family>.<size>`). Where a property holds such a value,
checking the form instead of the list lets a type launched tomorrow through today, and the list stays
what is *known*: worth a warning, not a refusal.

What it owns: which properties hold an open enum (by name), the form their values take, the schema node
that checks the form instead of the list (`open_node`, `opened_document`), and the values the schema
knows. What it does not do: decide what happens to an unknown value (the operator's admission policies
warn), or touch the vendored files.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cfn_registry.schema import JsonObject, PropertyPath, ResourceSchema

__all__ = ["OpenEnum", "opened_document"]


@dataclass(frozen=True)
class OpenEnum:
    """An enum of string values that is checked by the form of its values, not by its list."""

    noun: str
    """What one value is ("instance type")."""
    property_name: str
    """A regular expression that the names of the properties holding such values match (a list of
    values, like `HiddenInstanceTypes`, as well as one)."""
    pattern: str
    """The form every value takes, as a regular expression that Python's `re` and RE2 read alike."""
    max_length: int
    """The longest value accepted (bounds the cost of the CEL rules that compare values)."""
    form: str
    """The form in words, for descriptions ("ml.<family>.<size>")."""

    def holds(self, name: str) -> bool:
        """Whether a property of this name holds values of the enum."""
        return re.search(self.property_name, name) is not None

    def accepts(self, value: str) -> bool:
        return re.fullmatch(self.pattern, value) is not None

    def open_node(self, node: Mapping[str, Any]) -> JsonObject:
        """A resolved string node with an `enum` as this form: the enum goes, a pattern and a maxLength
        come. Raises ValueError when a value of the enum is not of the form, which would refuse a value
        AWS accepts."""
        refused = [value for value in node.get("enum", ()) if not self.accepts(str(value))]
        if refused:
            raise ValueError(f"{self.noun}s {refused} do not match {self.pattern!r}: widen the form")
        opened = {key: value for key, value in node.items() if key not in ("enum", "$ref")}
        opened.update({"type": "string", "pattern": self.pattern, "maxLength": self.max_length})
        return opened

    def paths(self, schema: ResourceSchema) -> tuple[PropertyPath, ...]:
        """Every writable property of the schema that holds the enum (one value, or a list of them)."""
        return tuple(
            path
            for path in schema.writable_property_paths()
            if self.holds(path[-1]) and "enum" in _values_node(schema, path)
        )

    def known(self, schemas: Iterable[ResourceSchema]) -> list[str]:
        """Every value the schemas list for the enum, sorted."""
        found: set[str] = set()
        for schema in schemas:
            for path in self.paths(schema):
                found.update(str(value) for value in _values_node(schema, path)["enum"])
        return sorted(found)


def _values_node(schema: ResourceSchema, path: PropertyPath) -> JsonObject:
    """The resolved node of the values at `path`: its items for a list."""
    node = schema.node_at(path)
    return schema.resolve(node["items"]) if node.get("type") == "array" else node


def opened_document(schema: ResourceSchema, open_enums: Iterable[OpenEnum]) -> JsonObject:
    """A copy of the schema's document in which every property holding an open enum checks its form."""
    enums = tuple(open_enums)
    document: JsonObject = copy.deepcopy(dict(schema.document))

    def opened(node: Mapping[str, Any], enum: OpenEnum) -> Mapping[str, Any]:
        resolved = schema.resolve(node)
        if resolved.get("type") == "array":
            return {**resolved, "items": opened(resolved["items"], enum)}
        return enum.open_node(resolved) if resolved.get("type") == "string" and "enum" in resolved else node

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            properties = node.get("properties")
            if isinstance(properties, dict):
                for name, child in list(properties.items()):
                    for enum in enums:
                        if enum.holds(name) and isinstance(child, dict):
                            properties[name] = opened(child, enum)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    return document
