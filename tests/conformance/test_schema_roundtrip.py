"""Every property path of the schema can be created and read back unchanged.

The full model is built from the emulator's own schema file: every property of every object, one
item in every array, the first enum value, the minimum of every number, and for patterned strings a
sample from ``PATTERN_SAMPLES`` (a new pattern in the schema makes this test fail until a sample is
added, so no property is silently left out).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from cloudcontrol_emulator.schema import compile_pattern
from tests.conformance.helpers import DOMAIN, create_and_wait, get_properties

SCHEMA: dict[str, Any] = json.loads(
    resources.files("cloudcontrol_emulator").joinpath("schemas/AWS-SageMaker-UserProfile.json").read_text()
)

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
}


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["definitions"][node["$ref"].split("/")[-1]]
    return node


def build(node: dict[str, Any], path: str, leaves: list[str]) -> Any:
    node = _resolve(node)
    kind = node.get("type")
    if kind == "object":
        return {key: build(child, f"{path}/{key}", leaves) for key, child in node["properties"].items()}
    if kind == "array":
        return [build(node["items"], f"{path}/0", leaves)]
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


def full_model() -> tuple[dict[str, Any], list[str]]:
    leaves: list[str] = []
    read_only = {p.split("/")[-1] for p in SCHEMA["readOnlyProperties"]}
    model = {
        key: build(child, f"/{key}", leaves) for key, child in SCHEMA["properties"].items() if key not in read_only
    }
    model["DomainId"] = DOMAIN
    return model, leaves


def test_every_pattern_of_the_schema_has_a_sample() -> None:
    found = set(re.findall(r'"pattern": "((?:[^"\\]|\\.)*)"', json.dumps(SCHEMA)))
    assert {json.loads(f'"{p}"') for p in found} - {""} <= set(PATTERN_SAMPLES)


def test_every_property_path_round_trips(client: Any) -> None:
    model, leaves = full_model()
    assert len(leaves) > 60  # every leaf of the schema, nested ones included
    create_and_wait(client, model)
    observed = get_properties(client, f"{model['UserProfileName']}|{DOMAIN}")
    assert observed.pop("UserProfileArn").endswith(f"/{DOMAIN}/{model['UserProfileName']}")
    assert observed == model


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
