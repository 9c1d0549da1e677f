"""Validating a model (a resource's properties, CloudFormation names) against its registry schema.

Registry schemas are JSON Schema draft 7. Only the `pattern` keyword is swapped: it runs through
`patterns.compile_pattern` (Python's `re` cannot read the schemas' `\\p{..}` classes as written), and a
mismatch quotes the schema's own pattern, not its long Python translation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import jsonschema
from jsonschema import Draft7Validator, ValidationError

from cfn_registry.open_enums import OpenEnum, opened_document
from cfn_registry.patterns import compile_pattern
from cfn_registry.schema import ResourceSchema

__all__ = ["ModelValidator", "check_document", "desired_state_errors", "desired_state_validator", "model_validator"]


def _pattern_keyword(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not compile_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


ModelValidator: Any = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    Draft7Validator, {"pattern": _pattern_keyword}
)
"""Draft 7 with the `pattern` keyword run through our translation."""


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


def check_document(document: Mapping[str, Any]) -> None:
    """Raises when the document is no valid draft-7 schema or has a pattern we cannot run.

    The metaschema's own `regex` format check is left out (Python's `re` lacks `\\p{..}`); every pattern
    is compiled through our translation instead, which also warms the cache.
    """
    Draft7Validator(Draft7Validator.META_SCHEMA).validate(document)
    for pattern in _patterns_in(document):
        compile_pattern(pattern)


@cache
def model_validator(schema: ResourceSchema) -> Any:
    """A validator of the whole model, readOnly properties included (what AWS reports)."""
    check_document(schema.document)
    return ModelValidator(schema.document)


@cache
def desired_state_validator(schema: ResourceSchema, open_enums: tuple[OpenEnum, ...] = ()) -> Any:
    """A validator of desired states: a top-level readOnly property is refused as unknown. A property
    holding one of `open_enums` is checked by the form of its value, not by the schema's list."""
    document = opened_document(schema, open_enums) if open_enums else copy.deepcopy(dict(schema.document))
    for path in schema.read_only:
        if len(path) == 1:
            document["properties"].pop(path[0], None)
    check_document(document)
    return ModelValidator(document)


def desired_state_errors(
    schema: ResourceSchema, desired: Mapping[str, Any], open_enums: tuple[OpenEnum, ...] = ()
) -> list[str]:
    """Every violation of a desired state as `/path: message` strings (empty when valid)."""
    errors = sorted(
        desired_state_validator(schema, open_enums).iter_errors(desired),
        key=lambda e: [str(p) for p in e.absolute_path],
    )
    return [f"/{'/'.join(str(p) for p in error.absolute_path)}: {error.message}" for error in errors]
