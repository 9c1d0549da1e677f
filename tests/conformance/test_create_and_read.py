"""CreateResource, GetResource and schema-driven validation, seen through boto3."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance.helpers import (
    DOMAIN,
    LATENCY,
    REGION,
    TYPE_NAME,
    create,
    create_and_wait,
    get_properties,
    profile,
    wait_request,
)
from tests.support.emulator import EmulatorProcess

ARN = f"arn:aws:sagemaker:{REGION}:123456789012:user-profile/{DOMAIN}/alice"


def test_create_is_asynchronous_and_ends_in_success(client: Any) -> None:
    first = create(client, profile())
    assert first["OperationStatus"] == "IN_PROGRESS"
    assert first["Operation"] == "CREATE"
    assert "Identifier" not in first  # like AWS, the identifier comes with the SUCCESS event
    assert isinstance(first["EventTime"], dt.datetime)
    assert first["RetryAfter"] > first["EventTime"]

    final = wait_request(client, first["RequestToken"])
    assert final["OperationStatus"] == "SUCCESS"
    assert final["Identifier"] == f"alice|{DOMAIN}"
    assert "RetryAfter" not in final
    assert json.loads(final["ResourceModel"])["UserProfileArn"] == ARN
    assert (final["EventTime"] - first["EventTime"]).total_seconds() == pytest.approx(LATENCY, abs=0.05)


def test_waiter_resource_request_success(client: Any) -> None:
    token = create(client, profile())["RequestToken"]
    client.get_waiter("resource_request_success").wait(
        RequestToken=token, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    assert get_properties(client, f"alice|{DOMAIN}")["UserProfileName"] == "alice"


def test_waiter_fails_on_failed_request(client: Any) -> None:
    from botocore.exceptions import WaiterError

    token = create(client, profile(domain="d-doesnotexist"))["RequestToken"]
    with pytest.raises(WaiterError):
        client.get_waiter("resource_request_success").wait(
            RequestToken=token, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
        )


def test_get_resource_returns_arn_tags_and_service_defaults(client: Any) -> None:
    create_and_wait(client, profile(Tags=[{"Key": "team", "Value": "ml"}]))
    properties = get_properties(client, f"alice|{DOMAIN}")
    assert properties == {
        "DomainId": DOMAIN,
        "UserProfileName": "alice",
        "UserProfileArn": ARN,
        "Tags": [{"Key": "team", "Value": "ml"}],
        # Filled in by the service although nobody asked for them.
        "UserSettings": {"StudioWebPortal": "ENABLED", "AutoMountHomeEFS": "DefaultAsDomain"},
    }


def test_defaults_never_override_given_values_and_can_be_switched_off(client: Any, emulator: EmulatorProcess) -> None:
    create_and_wait(client, profile(UserSettings={"StudioWebPortal": "DISABLED"}))
    assert get_properties(client, f"alice|{DOMAIN}")["UserSettings"]["StudioWebPortal"] == "DISABLED"
    emulator.set_config(FillDefaults=False)
    create_and_wait(client, profile("bob"))
    assert "UserSettings" not in get_properties(client, f"bob|{DOMAIN}")


def test_resource_is_not_readable_until_created(client: Any) -> None:
    token = create(client, profile())["RequestToken"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=TYPE_NAME, Identifier=f"alice|{DOMAIN}")
    wait_request(client, token)
    get_properties(client, f"alice|{DOMAIN}")


def test_get_missing_resource(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.get_resource(TypeName=TYPE_NAME, Identifier=f"nobody|{DOMAIN}")
    assert f"nobody|{DOMAIN}" in caught.value.response["Error"]["Message"]


def test_create_existing_profile_fails_async_with_already_exists(client: Any) -> None:
    create_and_wait(client, profile())
    event = wait_request(client, create(client, profile())["RequestToken"])
    assert event["OperationStatus"] == "FAILED"
    assert event["ErrorCode"] == "AlreadyExists"
    assert "already exists" in event["StatusMessage"]


def test_create_in_missing_domain_fails_with_not_found(client: Any) -> None:
    event = wait_request(client, create(client, profile(domain="d-nosuchdomain"))["RequestToken"])
    assert event["OperationStatus"] == "FAILED"
    assert event["ErrorCode"] == "NotFound"
    assert "d-nosuchdomain does not exist" in event["StatusMessage"]


def test_domains_are_per_region(client: Any, emulator: EmulatorProcess) -> None:
    west = emulator.boto3_client("us-west-2", retries={"total_max_attempts": 1})
    event = wait_request(west, create(west, profile())["RequestToken"])
    assert event["ErrorCode"] == "NotFound"
    emulator.add_domain(DOMAIN, "us-west-2")
    create_and_wait(west, profile())
    # Each region is its own world.
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=TYPE_NAME, Identifier=f"alice|{DOMAIN}")
    assert west.get_resource(TypeName=TYPE_NAME, Identifier=f"alice|{DOMAIN}")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (
            profile(UserSettings={"ExecutionRole": "arn:aws:iam::123456789012:user/not-a-role"}),
            "#/UserSettings/ExecutionRole: failed validation constraint for keyword [pattern]",
        ),
        (profile(Color="blue"), "#: extraneous key [Color] is not permitted"),
        (profile(UserSettings={"Foo": 1}), "#/UserSettings: extraneous key [Foo] is not permitted"),
        ({"DomainId": DOMAIN}, "#: required key [UserProfileName] not found"),
        (profile(UserSettings={"StudioWebPortal": "MAYBE"}), "#/UserSettings/StudioWebPortal: failed "),
        (profile(UserProfileName=7), "#/UserProfileName: expected type: String, found: Integer"),
        (profile(DomainId="D_BAD"), "#/DomainId: failed validation constraint for keyword [pattern]"),
        (profile("x" * 64), "#/UserProfileName: failed validation constraint for keyword [maxLength]"),
        (profile(Tags=[{"Key": "a!b", "Value": "v"}]), "#/Tags/0/Key: failed validation constraint"),
        (profile(Tags=[{"Key": "k"}]), "#/Tags/0: required key [Value] not found"),
        (
            profile(UserSettings={"CustomPosixUserConfig": {"Uid": 1, "Gid": 2000}}),
            "#/UserSettings/CustomPosixUserConfig/Uid: failed validation constraint for keyword [minimum]",
        ),
        (
            profile(UserProfileArn=f"arn:aws:sagemaker:{REGION}:123456789012:user-profile/{DOMAIN}/alice"),
            "#: extraneous key [UserProfileArn] is not permitted",  # readOnly
        ),
        (
            profile(
                UserSettings={
                    "JupyterLabAppSettings": {"CodeRepositories": [{"RepositoryUrl": "https://" + "a" * 40 + "!"}]}
                }
            ),
            "RepositoryUrl: failed validation constraint for keyword [pattern]",
        ),
    ],
)
def test_invalid_desired_state_is_refused(client: Any, model: dict[str, Any], expected: str) -> None:
    with pytest.raises(ClientError) as caught:
        create(client, model)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("Model validation failed (")
    assert expected in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_tag_pattern_accepts_unicode_letters(client: Any) -> None:
    create_and_wait(client, profile(Tags=[{"Key": "équipe", "Value": "データ 1"}]))
    assert get_properties(client, f"alice|{DOMAIN}")["Tags"] == [{"Key": "équipe", "Value": "データ 1"}]


def test_desired_state_that_is_not_json(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.create_resource(TypeName=TYPE_NAME, DesiredState="{not json")
    assert caught.value.response["Error"]["Code"] == "ValidationException"
