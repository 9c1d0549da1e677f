"""Every property path of the schema can be created and read back unchanged.

The full model is built from the schema the emulator serves (``cfn_registry``'s copy, cfn-lint's
patterns merged in): every property of every object, one item in every array, the first enum value,
the minimum of every number, and for patterned strings a sample from ``PATTERN_SAMPLES`` (a new
pattern in the schema makes this test fail until a sample is added, so no property is silently left
out). For a Space, every property but the writeOnly SpaceSettings reads back unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import cfn_registry
from cfn_registry.patterns import compile_pattern
from tests.conformance.helpers import DOMAIN, REGION, SPACE_TYPE, TYPE_NAME, create_and_wait, get_properties, profile
from tests.support.emulator import EmulatorProcess

SCHEMA: dict[str, Any] = json.loads(json.dumps(cfn_registry.load(TYPE_NAME).document))
SPACE_SCHEMA: dict[str, Any] = json.loads(json.dumps(cfn_registry.load(SPACE_TYPE).document))

PATTERN_SAMPLES = {
    "(s3)://([^/]+)/?(.*)": "s3://bucket/prefix",
    ".*": "alias/my-key",
    "UserName": "UserName",
    "[-0-9a-zA-Z]+": "sg-0123456789abcdef0",
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$": "2.1",
    r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$": "team-ml",
    r"^(arn:aws(-[\w]+)*:sagemaker:.+:[0-9]{12}:image-version/[a-z0-9]([-.]?[a-z0-9])*/[0-9]+|None)": (
        "arn:aws:sagemaker:us-east-1:123456789012:image-version/my-image/3"
    ),
    r"^arn:aws(-[\w]+)*:sagemaker:.+:[0-9]{12}:image-version/[a-z0-9]([-.]?[a-z0-9])*/[0-9]+$": (
        "arn:aws:sagemaker:us-east-1:123456789012:image-version/my-image/3"
    ),
    r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:studio-lifecycle-config/.*": (
        "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/setup"
    ),
    r"^(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:studio-lifecycle-config/.*|None)$": (
        "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/setup"
    ),
    r"^(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:training-plan/.*|None)$": (
        "arn:aws:sagemaker:us-east-1:123456789012:training-plan/plan-1"
    ),
    r"^(fs-[0-9a-f]{8,})$": "fs-0123456789abcdef",
    r"^(https|s3)://([^/]+)/?(.*)$": "s3://bucket/shared",
    r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}": "my-app-image-config",
    r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$": "alice",
    r"^[a-zA-Z0-9]([-.]?[a-zA-Z0-9]){0,62}$": "my-image",
    r"^\/\S*$": "/home/data",
    r"^arn:aws(-[\w]+)*:sagemaker:.+:[0-9]{12}:image/[a-z0-9]([-.]?[a-z0-9])*$": (
        "arn:aws:sagemaker:us-east-1:123456789012:image/my-image"
    ),
    r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$": ("arn:aws:iam::123456789012:role/SageMakerExec"),
    r"^d-(-*[a-z0-9]){1,61}$": DOMAIN,
    r"^https://([.\-_a-zA-Z0-9]+/?){3,1016}$": "https://github.com/example/repo.git",
    r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:user-profile/.*": "not used: readOnly",
    r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:space/.*": "not used: readOnly",
}


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].split("/")[-1]]
    return node


def build(node: dict[str, Any], path: str, leaves: list[str], schema: dict[str, Any] = SCHEMA) -> Any:
    node = _resolve(node, schema)
    kind = node.get("type")
    if kind == "object":
        return {key: build(child, f"{path}/{key}", leaves, schema) for key, child in node["properties"].items()}
    if kind == "array":
        return [build(node["items"], f"{path}/0", leaves, schema)]
    leaves.append(path)
    if "enum" in node:
        return node["enum"][0]
    if kind == "integer":
        return node.get("minimum", 0)
    if node.get("pattern"):
        sample = PATTERN_SAMPLES[node["pattern"]]
        assert compile_pattern(node["pattern"]).search(sample), (path, sample)
        return sample
    return "x" * max(node.get("minLength", 1), 1)


def full_model(schema: dict[str, Any] = SCHEMA) -> tuple[dict[str, Any], list[str]]:
    leaves: list[str] = []
    read_only = {p.split("/")[-1] for p in schema["readOnlyProperties"]}
    model = {
        key: build(child, f"/{key}", leaves, schema)
        for key, child in schema["properties"].items()
        if key not in read_only
    }
    model["DomainId"] = DOMAIN
    return model, leaves


@pytest.mark.parametrize("schema", [SCHEMA, SPACE_SCHEMA], ids=["UserProfile", "Space"])
def test_every_pattern_of_the_schema_has_a_sample(schema: dict[str, Any]) -> None:
    found = set(re.findall(r'"pattern": "((?:[^"\\]|\\.)*)"', json.dumps(schema)))
    assert {json.loads(f'"{p}"') for p in found} - {""} <= set(PATTERN_SAMPLES)


@pytest.fixture
def named(emulator: EmulatorProcess) -> None:
    """What the samples' settings name (SageMaker refuses settings naming what does not exist)."""
    for type_name, desired in (
        (
            "AWS::SageMaker::StudioLifecycleConfig",
            {
                "StudioLifecycleConfigName": "setup",
                "StudioLifecycleConfigAppType": "JupyterLab",
                "StudioLifecycleConfigContent": "ZWNobyBoaQ==",
            },
        ),
        ("AWS::SageMaker::Image", {"ImageName": "my-image", "ImageRoleArn": "arn:aws:iam::123456789012:role/r"}),
        ("AWS::SageMaker::AppImageConfig", {"AppImageConfigName": "my-app-image-config"}),
    ):
        body = {"Region": REGION, "TypeName": type_name, "DesiredState": desired}
        emulator.admin("POST", "/_emulator/resources/create", body)


@pytest.mark.usefixtures("named")
def test_every_property_path_round_trips(client: Any) -> None:
    model, leaves = full_model()
    assert len(leaves) > 60  # every leaf of the schema, nested ones included
    create_and_wait(client, model)
    observed = get_properties(client, f"{model['UserProfileName']}|{DOMAIN}")
    assert observed.pop("UserProfileArn").endswith(f"/{DOMAIN}/{model['UserProfileName']}")
    assert observed == model


@pytest.mark.usefixtures("named")
def test_every_property_path_of_a_space_round_trips_but_the_write_only_ones(
    client: Any, emulator: EmulatorProcess
) -> None:
    model, leaves = full_model(SPACE_SCHEMA)
    assert len(leaves) > 35  # every leaf, SpaceSettings's nested ones included
    assert model["SpaceSharingSettings"] == {"SharingType": "Private"}
    create_and_wait(client, profile(model["OwnershipSettings"]["OwnerUserProfileName"]))
    create_and_wait(client, model, SPACE_TYPE)
    identifier = f"{DOMAIN}|{model['SpaceName']}"
    observed = get_properties(client, identifier, SPACE_TYPE)
    assert observed.pop("SpaceArn").endswith(f":space/{DOMAIN}/{model['SpaceName']}")
    assert observed.pop("Url").startswith("https://")
    written = dict(model)
    space_settings = written.pop("SpaceSettings")
    assert observed == written
    [stored] = emulator.admin("GET", f"/_emulator/resources?Region={REGION}&TypeName={SPACE_TYPE}")["Resources"]
    assert stored["Properties"]["SpaceSettings"] == space_settings


def test_linear_repository_url_pattern_agrees_with_the_original() -> None:
    original = re.compile(r"^https://([.\-_a-zA-Z0-9]+/?){3,1016}$")
    linear = compile_pattern(r"^https://([.\-_a-zA-Z0-9]+/?){3,1016}$")
    samples = [
        "https://abc",
        "https://ab",
        "https://a/b/c",
        "https://a/b",
        "https://a//bc",
        "https:///abc",
        "https://abc/",
        "https://github.com/org/repo.git",
        "https://a.b",
        "http://abc",
        "https://ab/",
        "https://a/b/",
        "https://ab!c",
        "https://a-b_c.d/e",
    ]
    for sample in samples:
        assert bool(original.search(sample)) == bool(linear.search(sample)), sample
