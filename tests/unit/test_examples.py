"""The manifests in examples/: valid ones parse and cover every field; invalid ones say why they fail."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cfn_registry.validation import desired_state_errors, desired_state_validator
from userprofile_operator.crd import render_crd
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.models import OPERATOR_SPEC_FIELDS, spec_model

ProfileSpec = spec_model(PROFILE)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VALID = sorted(EXAMPLES.glob("*.yaml"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: (.+)$", re.MULTILINE)


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    if isinstance(value, dict):
        for key, child in value.items():
            found.add((*prefix, key))
            found |= _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for item in value:
            found |= _paths(item, prefix)
    return found


def _cross_field_messages() -> set[str]:
    """Messages of the CRD's CEL rules that check constraints the CloudFormation schema only states in
    prose (not the immutability rules, not uniqueness, which jsonschema checks as uniqueItems)."""
    messages: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        messages.update(
            rule["message"]
            for rule in node.get("x-kubernetes-validations", [])
            if "oldSelf" not in rule["rule"] and "exists_one" not in rule["rule"]
        )
        for child in node.get("properties", {}).values():
            walk(child)
        if "items" in node:
            walk(node["items"])

    walk(render_crd(PROFILE)["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    return messages


def test_the_examples_exist() -> None:
    assert {p.name for p in VALID} >= {"minimal.yaml", "full.yaml"}
    names = {p.stem for p in INVALID}
    assert names >= {
        "bad-enum",
        "bad-domain-id",
        "too-long-name",
        "missing-domain-id",
        "unknown-field",
        "ebs-max-below-default",
        "idle-timeout-out-of-order",
        "sso-identifier-without-value",
        "too-many-security-groups",
        "bad-region",
    }


@pytest.mark.parametrize("path", VALID + INVALID, ids=lambda p: p.name)
def test_every_example_is_a_namespace_less_manifest_of_our_kind(path: Path) -> None:
    manifest = _load(path)
    assert manifest["apiVersion"] == PROFILE.api_version
    assert manifest["kind"] == PROFILE.kind
    assert set(manifest["metadata"]) == {"name"}, "leave the namespace to kubectl -n"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_examples_parse_and_validate_against_the_registry_schema(path: Path) -> None:
    spec = ProfileSpec.from_spec(_load(path)["spec"])
    desired = spec.to_desired_state()
    assert desired_state_errors(PROFILE.schema, desired) == []
    desired_state_validator(PROFILE.schema).validate(desired)  # raises on any violation
    assert spec.identifier == f"{spec.properties['userProfileName']}|{spec.properties['domainId']}"


def test_minimal_example() -> None:
    spec = ProfileSpec.from_spec(_load(EXAMPLES / "minimal.yaml")["spec"])
    assert spec.properties["domainId"] == "d-abcdef123456"
    assert spec.to_desired_state() == {"DomainId": "d-abcdef123456", "UserProfileName": "alice"}


def test_the_full_example_sets_every_field_and_maps_to_exactly_the_schema_names() -> None:
    manifest = _load(EXAMPLES / "full.yaml")
    spec = ProfileSpec.from_spec(manifest["spec"])
    assert spec.region == "us-east-1"
    assert spec.deletion_policy == "Retain"
    assert spec.management_policy == "Manage"
    assert spec.adoption_policy == "Adopt"
    desired = spec.to_desired_state()
    assert _paths(desired) == set(PROFILE.schema.writable_property_paths())
    # every operator field was set in the document, and nothing was lost on the way
    assert set(ProfileSpec.model_fields) <= spec.model_fields_set
    assert {info.alias for info in ProfileSpec.model_fields.values()} == set(OPERATOR_SPEC_FIELDS)
    assert spec.to_spec() == manifest["spec"]


def test_the_full_desired_state_validates_with_plain_jsonschema_on_the_registry_document() -> None:
    """Independent of our translation: the registry document itself, minus the \\p patterns."""
    document = dict(PROFILE.schema.document)

    def strip_unicode_patterns(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: strip_unicode_patterns(v)
                for k, v in node.items()
                if not (k == "pattern" and isinstance(v, str) and "\\p{" in v)
            }
        if isinstance(node, list):
            return [strip_unicode_patterns(item) for item in node]
        return node

    schema = strip_unicode_patterns(document)
    desired = ProfileSpec.from_spec(_load(EXAMPLES / "full.yaml")["spec"]).to_desired_state()
    jsonschema.Draft7Validator(schema).validate(desired)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_examples_are_refused_offline_too(path: Path) -> None:
    """Each invalid example fails the model, unless only a cross-field CEL rule of the CRD catches it."""
    text = path.read_text()
    expect = _EXPECT.search(text)
    assert expect, f"{path.name} needs a '# expect: <API server message>' line"
    message = expect.group(1).strip()
    spec = _load(path)["spec"]
    if any(m in message or message in m for m in _cross_field_messages()):
        ProfileSpec.from_spec(spec)  # schema-valid: only the API server's CEL refuses it
    else:
        with pytest.raises(ValueError):
            ProfileSpec.from_spec(spec)
