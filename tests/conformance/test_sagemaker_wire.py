"""SageMaker's and EFS's wire formats: the emulator's member limits are botocore's, and what it does
with a request that is not one.

The limits ``sagemaker_api.OPERATIONS`` declares are compared, member by member, with botocore's
``sagemaker`` model (names, wire names, required, types, lengths, patterns, enums, nested members), so
the emulator checks exactly what AWS checks and ignores no member; every property a Describe answers
with is a member of its output shape. The answers themselves are checked against the output shapes
in the tests of each operation (``assert_conforms``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import botocore.session
import pytest

from cloudcontrol_emulator import sagemaker_api
from cloudcontrol_emulator.protocol import Member
from tests.support.emulator import EmulatorProcess

MODEL = botocore.session.get_session().get_service_model("sagemaker")
KINDS = {"string": str, "integer": int, "boolean": bool, "structure": dict, "list": list}


def differences(members: dict[str, Member], shape: Any, where: str) -> list[str]:
    found: list[str] = []
    if set(members) != set(shape.members):
        found.append(f"{where}: members {sorted(members)} != {sorted(shape.members)}")
    for name, member in members.items():
        if name not in shape.members:
            continue
        model = shape.members[name]
        metadata = model.metadata
        expected = {
            "wire": name[0].lower() + name[1:],
            "kind": KINDS[model.type_name],
            "required": name in shape.required_members,
            "min": metadata.get("min"),
            "max": metadata.get("max"),
            "pattern": metadata.get("pattern"),
            "enum": tuple(getattr(model, "enum", None) or ()),
        }
        actual = {key: getattr(member, key) for key in expected}
        if actual != expected:
            found.append(f"{where}.{name}: {actual} != {expected}")
        if member.members is not None:
            found.extend(differences(dict(member.members), model, f"{where}.{name}"))
    return found


@pytest.mark.parametrize("operation", sorted(sagemaker_api.OPERATIONS))
def test_member_limits_are_botocores(operation: str) -> None:
    shape = MODEL.operation_model(operation).input_shape
    assert differences(sagemaker_api.OPERATIONS[operation], shape, operation) == []


@pytest.mark.parametrize("operation", sorted(sagemaker_api.DESCRIBED))
def test_what_a_describe_answers_with_is_in_its_output_shape(operation: str) -> None:
    shape = MODEL.operation_model(operation).output_shape
    assert set(sagemaker_api.DESCRIBED[operation]) <= set(shape.members)


def post(emulator: EmulatorProcess, target: str, headers: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    request = urllib.request.Request(
        emulator.url + "/",
        data=b"{}",
        method="POST",
        headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers["Content-Type"]


SIGNED = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sagemaker/aws4_request, Signed"}


def test_unknown_operations_and_missing_credentials(emulator: EmulatorProcess) -> None:
    status, body, content_type = post(emulator, "SageMaker.CreateTrainingJob", SIGNED)
    assert (status, body["__type"], content_type) == (400, "UnknownOperationException", sagemaker_api.CONTENT_TYPE)
    status, body, _ = post(emulator, "SageMaker.ListApps", {})
    assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")
    status, body, _ = post(emulator, "SageMaker.ListApps", SIGNED)
    assert (status, body) == (200, {"Apps": []})
    # Like Cloud Control's, an unknown operation is not counted; a call without credentials is.
    stats = emulator.stats()
    assert (stats["calls"], stats["errors"]) == ({"ListApps": 2}, {"ListApps:MissingAuthenticationTokenException": 1})


def test_unmodified_boto3_finds_sagemaker_and_efs_through_the_environment(
    emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    session = boto3.session.Session(region_name="us-east-1")
    assert session.client("sagemaker").describe_domain(DomainId="d-abc123def456")["Status"] == "InService"
    assert len(session.client("efs").describe_file_systems()["FileSystems"]) == 1
    assert session.client("cloudcontrol").list_resources(TypeName="AWS::SageMaker::Domain")["ResourceDescriptions"]


def test_efs_refuses_a_malformed_file_system_id(emulator: EmulatorProcess) -> None:
    efs = emulator.efs_client("us-east-1", retries={"total_max_attempts": 1})
    with pytest.raises(efs.exceptions.BadRequest) as caught:
        efs.describe_file_systems(FileSystemId="home")
    response = caught.value.response
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("BadRequest", 400)
    assert response["Error"]["Message"] == "Invalid file system id 'home'."
