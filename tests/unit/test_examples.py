"""The manifests in examples/: valid ones parse and cover every field; invalid ones say why they fail.

A file may hold several objects of several kinds (examples/studio.yaml: a domain, its profiles and spaces,
which name each other by `...Ref`); a valid file's references resolve to objects of the same file.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cfn_registry.validation import desired_state_errors, desired_state_validator
from userprofile_operator.crd import render_crd
from userprofile_operator.kind import Kind
from userprofile_operator.kinds import all_kinds, by_name
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.models import OPERATOR_SPEC_FIELDS, spec_model
from userprofile_operator.references import REF_SUFFIX, TargetState, resolve

ProfileSpec = spec_model(PROFILE)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VALID = sorted(EXAMPLES.glob("*.yaml"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: (.+)$", re.MULTILINE)


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def _documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


EXAMPLE_DOMAIN_ID = "d-abcdef123456"


_ARN_OF = {
    "SageMakerStudioLifecycleConfig": ("studio-lifecycle-config", "studioLifecycleConfigName"),
    "SageMakerImage": ("image", "imageName"),
    "SageMakerImageVersion": ("image-version", "imageName"),
    "SageMakerAppImageConfig": ("app-image-config", "appImageConfigName"),
}


def _example_arn(document: dict[str, Any], documents: list[dict[str, Any]]) -> str | None:
    """The ARN AWS would give an object of a file (an image version: the first of its image)."""
    if document["kind"] not in _ARN_OF:
        return None
    resource, name = _ARN_OF[document["kind"]]
    version = "/1" if resource == "image-version" else ""
    named = document["spec"].get(name)
    if named is None:  # an image version naming its image by object
        target = document["spec"][name + "Ref"]["name"]
        image = next(d for d in documents if d["kind"] == "SageMakerImage" and d["metadata"]["name"] == target)
        named = image["spec"][name]
    return f"arn:aws:sagemaker:us-east-1:123456789012:{resource}/{named}{version}"


def _resolved(path: Path) -> list[tuple[Kind, dict[str, Any]]]:
    """Each object of a file with its references resolved against the file's other objects, as if all were
    Ready (a domain with a made-up id); a reference to an object the file lacks fails the test."""
    documents = _documents(path)
    targets = {
        (document["kind"], document["metadata"]["name"]): TargetState(
            ready=True,
            identifier=EXAMPLE_DOMAIN_ID if by_name(document["kind"]).generated_identifier else None,
            spec=document["spec"],
            arn=_example_arn(document, documents),
        )
        for document in documents
    }
    resolved = []
    for document in documents:
        kind = by_name(document["kind"])
        resolution = resolve(
            document["spec"], kind.references, kind.naming.spec_path, lambda target, name: targets.get((target, name))
        )
        assert resolution.waiting == [], f"{path.name}: {document['metadata']['name']} names what the file lacks"
        resolved.append((kind, resolution.spec))
    return resolved


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


def _cross_field_messages(kind: Kind) -> set[str]:
    """Messages of the CRD's CEL rules that check constraints the CloudFormation schema only states in
    prose (not the immutability rules, not uniqueness, which jsonschema checks as uniqueItems, and not
    "exactly one of a field and its Ref": with neither, the spec lacks a field the schema requires)."""
    messages: set[str] = set()
    refs = [f"has(self.{kind.naming.spec_name(ref.path[-1])}{REF_SUFFIX})" for ref in kind.references]

    def walk(node: dict[str, Any]) -> None:
        messages.update(
            rule["message"]
            for rule in node.get("x-kubernetes-validations", [])
            if "oldSelf" not in rule["rule"]
            and "exists_one" not in rule["rule"]
            and not any(ref in rule["rule"] for ref in refs)
        )
        for child in node.get("properties", {}).values():
            walk(child)
        if "items" in node:
            walk(node["items"])

    walk(render_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    return messages


def test_the_examples_exist() -> None:
    assert {p.name for p in VALID} >= {"minimal.yaml", "full.yaml", "studio.yaml"}
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
def test_every_example_is_a_namespace_less_manifest_of_our_kinds(path: Path) -> None:
    documents = _documents(path)
    assert documents
    for manifest in documents:
        assert manifest["apiVersion"] == PROFILE.api_version
        assert manifest["kind"] in {kind.kind for kind in all_kinds()}
        assert set(manifest["metadata"]) == {"name"}, "leave the namespace to kubectl -n"
    names = [(manifest["kind"], manifest["metadata"]["name"]) for manifest in documents]
    assert len(names) == len(set(names)), "two objects of one kind with one name"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_examples_parse_and_validate_against_the_registry_schema(path: Path) -> None:
    for kind, document in _resolved(path):
        spec = spec_model(kind).from_spec(document)
        desired = spec.to_desired_state()
        assert desired_state_errors(kind.schema, desired) == []
        desired_state_validator(kind.schema).validate(desired)  # raises on any violation
        if kind is PROFILE:
            assert spec.identifier == f"{spec.properties['userProfileName']}|{spec.properties['domainId']}"
        elif not kind.generated_identifier:
            assert spec.identifier == kind.identifier_of_spec(document)


def test_the_studio_example_sets_up_every_kind_by_reference() -> None:
    """One apply: the profiles and spaces name the domain (and the spaces their owners) by object, not by id."""
    documents = _documents(EXAMPLES / "studio.yaml")
    assert {document["kind"] for document in documents} == {"SageMakerDomain", "SageMakerUserProfile", "SageMakerSpace"}
    resolved = _resolved(EXAMPLES / "studio.yaml")  # every reference names an object of the file
    for manifest, (kind, spec) in zip(documents, resolved, strict=True):
        assert "domainId" not in manifest["spec"], "a new domain's id is not known: name it by domainIdRef"
        if kind is not by_name("SageMakerDomain"):
            assert "domainIdRef" in manifest["spec"]
            assert spec["domainId"] == EXAMPLE_DOMAIN_ID
    owners = [
        spec["ownershipSettings"]["ownerUserProfileName"] for kind, spec in resolved if "ownershipSettings" in spec
    ]
    profiles = {spec["userProfileName"] for kind, spec in resolved if kind is PROFILE}
    assert owners and set(owners) <= profiles


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
    manifest = _load(path)
    kind = by_name(manifest["kind"])
    model = spec_model(kind)
    if any(m in message or message in m for m in _cross_field_messages(kind)):
        model.from_spec(manifest["spec"])  # schema-valid: only the API server's CEL refuses it
    else:
        with pytest.raises(ValueError):
            model.from_spec(manifest["spec"])


def test_the_platform_example_hands_out_the_idle_shutdown_and_the_team_image_by_reference() -> None:
    """One apply: the domain's JupyterLab settings name the script, the image, its version and its app image
    config by object; resolved, they hold the ARNs and names AWS needs."""
    documents = _documents(EXAMPLES / "platform.yaml")
    assert {document["kind"] for document in documents} == {
        "SageMakerStudioLifecycleConfig",
        "SageMakerImage",
        "SageMakerImageVersion",
        "SageMakerAppImageConfig",
        "SageMakerDomain",
    }
    script = next(d for d in documents if d["kind"] == "SageMakerStudioLifecycleConfig")["spec"]
    decoded = base64.b64decode(script["studioLifecycleConfigContent"], validate=True).decode()
    assert decoded.startswith("#!/bin/bash\n") and "delete-app" in decoded and "IDLE_MINUTES = 60" in decoded
    # the comment above it shows the same script, decoded
    text = (EXAMPLES / "platform.yaml").read_text()
    comment = text.split("it is, decoded:\n#\n", 1)[1].split("apiVersion:", 1)[0]
    shown = "\n".join(line[4:] for line in comment.splitlines())
    assert shown.rstrip("\n") == decoded.rstrip("\n")
    resolved = dict((kind.kind, spec) for kind, spec in _resolved(EXAMPLES / "platform.yaml"))
    lab = resolved["SageMakerDomain"]["defaultUserSettings"]["jupyterLabAppSettings"]
    arn = "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/idle-shutdown-60m"
    assert lab["lifecycleConfigArns"] == [arn]
    assert lab["defaultResourceSpec"]["lifecycleConfigArn"] == arn
    assert lab["defaultResourceSpec"]["sageMakerImageVersionArn"].endswith(":image-version/ml-platform-image/1")
    assert lab["customImages"] == [
        {"imageName": "ml-platform-image", "appImageConfigName": "ml-platform-image-jupyterlab"}
    ]
    assert resolved["SageMakerImageVersion"]["imageName"] == "ml-platform-image"
