"""The wire protocol's edges, request limits, fault injection, statistics and the admin API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance.helpers import DOMAIN, REGION, TYPE_NAME, create, get_properties, profile, wait_request
from tests.support.emulator import EmulatorAdminError, EmulatorProcess

ALICE = f"alice|{DOMAIN}"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/cloudcontrolapi/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0"
)


def raw_call(emulator: EmulatorProcess, target: str | None, body: bytes, auth: str | None = AUTH) -> tuple[int, Any]:
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    if target:
        headers["X-Amz-Target"] = target
    if auth:
        headers["Authorization"] = auth
    request = urllib.request.Request(emulator.url + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_error_shape_on_the_wire(emulator: EmulatorProcess) -> None:
    status, body = raw_call(
        emulator,
        "CloudApiService.GetResource",
        json.dumps({"TypeName": TYPE_NAME, "Identifier": "x|d-y"}).encode(),
    )
    assert status == 400
    assert body["__type"] == "com.amazonaws.cloudcontrol#ResourceNotFoundException"
    assert "Message" in body


@pytest.mark.parametrize(
    ("target", "body", "auth", "error"),
    [
        ("CloudApiService.Frobnicate", b"{}", AUTH, "UnknownOperationException"),
        (None, b"{}", AUTH, "UnknownOperationException"),
        ("CloudApiService.GetResource", b"{nope", AUTH, "SerializationException"),
        (
            "CloudApiService.GetResource",
            b'{"TypeName": 5, "Identifier": "a"}',
            AUTH,
            "SerializationException",
        ),
        (
            "CloudApiService.GetResource",
            b'{"TypeName": "AWS::SageMaker::UserProfile"}',
            AUTH,
            "ValidationException",
        ),
        (
            "CloudApiService.ListResources",
            b'{"TypeName": "AWS::SageMaker::UserProfile"}',
            None,
            "MissingAuthenticationTokenException",
        ),
    ],
)
def test_protocol_errors(
    emulator: EmulatorProcess, target: str | None, body: bytes, auth: str | None, error: str
) -> None:
    _, answer = raw_call(emulator, target, body, auth)
    assert answer["__type"].endswith("#" + error)


def test_request_limits_are_checked(raw_client: Any) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("get_resource", {"TypeName": "NotAType", "Identifier": "a"}, "Member must have length greater than"),
        (
            "get_resource",
            {"TypeName": "AWS::Sage-Maker::UserProfile", "Identifier": "a"},
            "regular expression",
        ),
        ("get_resource", {"TypeName": TYPE_NAME, "Identifier": "x" * 1025}, "less than or equal to 1024"),
        ("get_resource", {"TypeName": TYPE_NAME, "Identifier": ""}, "greater than or equal to 1"),
        ("get_resource_request_status", {"RequestToken": "bad token!"}, "regular expression"),
        (
            "create_resource",
            {"TypeName": TYPE_NAME, "DesiredState": "{}", "ClientToken": "x" * 129},
            "clientToken",
        ),
        (
            "get_resource",
            {"TypeName": TYPE_NAME, "Identifier": "a", "RoleArn": "arn:aws:iam::1:user/someone-else"},
            "roleArn",
        ),
    ]
    for method, params, text in cases:
        with pytest.raises(ClientError) as caught:
            getattr(raw_client, method)(**params)
        assert caught.value.response["Error"]["Code"] == "ValidationException", (method, params)
        assert text in caught.value.response["Error"]["Message"], caught.value.response["Error"]["Message"]


def test_unknown_type_name(client: Any) -> None:
    with pytest.raises(client.exceptions.TypeNotFoundException):
        client.get_resource(TypeName="AWS::SageMaker::Endpoint", Identifier="my-endpoint")
    with pytest.raises(client.exceptions.TypeNotFoundException):
        client.create_resource(TypeName="AWS::S3::Bucket", DesiredState="{}")


def test_stats_count_cloud_control_calls_only(client: Any, emulator: EmulatorProcess) -> None:
    create(client, profile())
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=TYPE_NAME, Identifier=ALICE)
    client.list_resources(TypeName=TYPE_NAME)
    emulator.resources(REGION)  # admin calls are not counted
    stats = emulator.stats()
    assert stats["calls"] == {"CreateResource": 1, "GetResource": 1, "ListResources": 1}
    assert stats["throttled"] == {}
    assert stats["callsByAccessKey"] == {"testing": {"CreateResource": 1, "GetResource": 1, "ListResources": 1}}


def test_stats_tell_callers_apart_by_access_key(emulator: EmulatorProcess) -> None:
    import boto3

    for key in ("AKIAREPLICA0", "AKIAREPLICA1", "AKIAREPLICA1"):
        boto3.session.Session().client(
            "cloudcontrol",
            region_name=REGION,
            endpoint_url=emulator.url,
            aws_access_key_id=key,
            aws_secret_access_key="testing",
        ).list_resources(TypeName=TYPE_NAME)
    assert emulator.stats()["callsByAccessKey"] == {
        "AKIAREPLICA0": {"ListResources": 1},
        "AKIAREPLICA1": {"ListResources": 2},
    }


def test_throttling_probability(client: Any, emulator: EmulatorProcess) -> None:
    emulator.set_faults({"GetResource": {"ThrottleRate": 1.0}})
    with pytest.raises(client.exceptions.ThrottlingException):
        client.get_resource(TypeName=TYPE_NAME, Identifier=ALICE)
    client.list_resources(TypeName=TYPE_NAME)  # other operations are untouched
    assert emulator.stats()["throttled"] == {"GetResource": 1}


def test_botocore_retries_throttling(emulator: EmulatorProcess) -> None:
    emulator.set_faults({"ListResources": {"ThrottleRate": 1.0}})
    retrying = emulator.boto3_client(REGION, retries={"mode": "standard", "total_max_attempts": 3})
    with pytest.raises(retrying.exceptions.ThrottlingException):
        retrying.list_resources(TypeName=TYPE_NAME)
    assert emulator.stats()["throttled"]["ListResources"] == 3


def test_injected_synchronous_error(client: Any, emulator: EmulatorProcess) -> None:
    emulator.set_faults({"ListResources": {"ErrorRate": 1.0, "Error": "ServiceInternalErrorException"}})
    with pytest.raises(client.exceptions.ServiceInternalErrorException):
        client.list_resources(TypeName=TYPE_NAME)
    emulator.clear_faults()
    client.list_resources(TypeName=TYPE_NAME)


def test_injected_asynchronous_error_code(client: Any, emulator: EmulatorProcess) -> None:
    emulator.set_faults({"CreateResource": {"ErrorRate": 1.0, "ErrorCode": "ServiceInternalError"}})
    event = wait_request(client, create(client, profile())["RequestToken"])
    assert (event["OperationStatus"], event["ErrorCode"]) == ("FAILED", "ServiceInternalError")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=TYPE_NAME, Identifier=ALICE)


def test_error_rate_is_a_share(client: Any, emulator: EmulatorProcess) -> None:
    emulator.set_faults({"ListResources": {"ErrorRate": 0.5, "Error": "GeneralServiceException"}}, seed=7)
    failures = 0
    for _ in range(200):
        try:
            client.list_resources(TypeName=TYPE_NAME)
        except client.exceptions.GeneralServiceException:
            failures += 1
    assert 60 < failures < 140


def test_extra_latency(client: Any, emulator: EmulatorProcess) -> None:
    emulator.set_faults({"ListResources": {"ExtraLatency": 0.3}})
    start = time.monotonic()
    client.list_resources(TypeName=TYPE_NAME)
    assert time.monotonic() - start >= 0.3


def test_rate_limit_throttles_above_the_rate(client: Any, emulator: EmulatorProcess) -> None:
    emulator.set_faults(rate_limit=25)
    ok = throttled = 0
    start = time.monotonic()
    while time.monotonic() - start < 1.0:
        try:
            client.list_resources(TypeName=TYPE_NAME)
            ok += 1
        except client.exceptions.ThrottlingException:
            throttled += 1
    assert throttled > 0
    assert 25 <= ok <= 25 + 25 * 1.2 + 2  # the burst of 25, then about 25 per second
    # Another region has a bucket of its own.
    emulator.boto3_client("eu-west-1", retries={"total_max_attempts": 1}).list_resources(TypeName=TYPE_NAME)


def test_fault_configuration_is_checked(emulator: EmulatorProcess) -> None:
    for bad in (
        {"Operations": {"Nope": {"ThrottleRate": 1}}},
        {"Operations": {"GetResource": {"ThrottleRate": 2}}},
        {"Operations": {"GetResource": {"ErrorRate": 1, "Error": "NoSuchException"}}},
        {"Operations": {"GetResource": {"ErrorRate": 1, "ErrorCode": "NotFound"}}},
        {"RateLimit": -1},
    ):
        with pytest.raises(EmulatorAdminError) as caught:
            emulator.admin("POST", "/_emulator/faults", bad)
        assert caught.value.status == 400


def test_latency_can_change_at_runtime(client: Any, emulator: EmulatorProcess) -> None:
    emulator.set_latency(0.0)
    event = create(client, profile())
    assert wait_request(client, event["RequestToken"])["OperationStatus"] == "SUCCESS"
    assert emulator.config()["Latency"] == 0.0


def test_out_of_band_changes(client: Any, emulator: EmulatorProcess) -> None:
    assert emulator.oob_create(REGION, profile()) == {"Identifier": ALICE}
    emulator.oob_patch(REGION, ALICE, [{"op": "add", "path": "/Tags", "value": [{"Key": "k", "Value": "v"}]}])
    assert get_properties(client, ALICE)["Tags"] == [{"Key": "k", "Value": "v"}]
    [dumped] = emulator.resources(REGION)
    assert dumped["Identifier"] == ALICE and dumped["Properties"]["Tags"] == [{"Key": "k", "Value": "v"}]
    emulator.oob_delete(REGION, ALICE)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=TYPE_NAME, Identifier=ALICE)
    assert emulator.stats()["calls"] == {"GetResource": 2}
    with pytest.raises(EmulatorAdminError):
        emulator.oob_create(REGION, profile(domain="d-unknown"))
    with pytest.raises(EmulatorAdminError):
        emulator.oob_create(REGION, profile(UserSettings={"Bad": 1}))
    with pytest.raises(EmulatorAdminError) as caught:
        emulator.oob_delete(REGION, ALICE)
    assert caught.value.status == 404


def test_bulk_seeding_is_fast(emulator: EmulatorProcess) -> None:
    start = time.monotonic()
    result = emulator.oob_create(REGION, [profile(f"seed{i:05d}") for i in range(2000)])
    assert len(result["Identifiers"]) == 2000
    assert time.monotonic() - start < 5
    assert len(emulator.resources(REGION)) == 2000


def test_reset_clears_everything_but_domains(client: Any, emulator: EmulatorProcess) -> None:
    emulator.oob_create(REGION, profile())
    emulator.set_faults(rate_limit=5)
    emulator.set_latency(3)
    client.list_resources(TypeName=TYPE_NAME)
    emulator.reset()
    assert emulator.resources() == []
    assert emulator.stats()["calls"] == {}
    assert emulator.faults()["RateLimit"] is None
    assert emulator.config()["Latency"] == 0.2
    assert {"DomainId": DOMAIN, "Region": REGION} in emulator.domains()
    emulator.reset(keep_domains=False)
    assert emulator.domains() == []


def test_command_line_contract_and_clean_shutdown() -> None:
    emulator = EmulatorProcess(latency=0.1, account_id="210987654321")
    emulator.start()
    try:
        assert emulator.url == f"http://127.0.0.1:{emulator.port}" and emulator.port > 0
        emulator.add_domain(DOMAIN, "eu-central-1")
        emulator.oob_create("eu-central-1", profile())
        [dumped] = emulator.resources("eu-central-1")
        assert dumped["Properties"]["UserProfileArn"] == (
            f"arn:aws:sagemaker:eu-central-1:210987654321:user-profile/{DOMAIN}/alice"
        )
    finally:
        emulator.stop()
    assert emulator.returncode == 0
