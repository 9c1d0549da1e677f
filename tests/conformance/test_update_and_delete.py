"""UpdateResource (RFC 6902 patches) and DeleteResource."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance.helpers import (
    DOMAIN,
    TYPE_NAME,
    create_and_wait,
    get_properties,
    profile,
    update,
    wait_request,
)

ALICE = f"alice|{DOMAIN}"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExec"


def test_update_applies_patch_after_latency(client: Any) -> None:
    create_and_wait(client, profile(UserSettings={"ExecutionRole": ROLE}))
    event = update(client, ALICE, [{"op": "replace", "path": "/UserSettings/ExecutionRole", "value": ROLE + "2"}])
    assert event["OperationStatus"] == "IN_PROGRESS"
    assert event["Operation"] == "UPDATE"
    assert event["Identifier"] == ALICE
    assert get_properties(client, ALICE)["UserSettings"]["ExecutionRole"] == ROLE  # not yet
    final = wait_request(client, event["RequestToken"])
    assert final["OperationStatus"] == "SUCCESS"
    assert get_properties(client, ALICE)["UserSettings"]["ExecutionRole"] == ROLE + "2"


def test_tags_are_updatable(client: Any) -> None:
    create_and_wait(client, profile(Tags=[{"Key": "team", "Value": "ml"}]))
    patch = [
        {"op": "replace", "path": "/Tags/0/Value", "value": "data"},
        {"op": "add", "path": "/Tags/-", "value": {"Key": "cost-center", "Value": "42"}},
    ]
    assert wait_request(client, update(client, ALICE, patch)["RequestToken"])["OperationStatus"] == "SUCCESS"
    assert get_properties(client, ALICE)["Tags"] == [
        {"Key": "team", "Value": "data"},
        {"Key": "cost-center", "Value": "42"},
    ]
    event = update(client, ALICE, [{"op": "remove", "path": "/Tags"}])
    assert wait_request(client, event["RequestToken"])["OperationStatus"] == "SUCCESS"
    assert "Tags" not in get_properties(client, ALICE)


@pytest.mark.parametrize(
    ("patch", "pointer"),
    [
        ([{"op": "replace", "path": "/DomainId", "value": "d-other"}], "/properties/DomainId"),
        (
            [{"op": "add", "path": "/SingleSignOnUserValue", "value": "a"}],
            "/properties/SingleSignOnUserValue",
        ),
        (
            [
                {
                    "op": "add",
                    "path": "/UserSettings/RStudioServerProAppSettings",
                    "value": {"UserGroup": "R_STUDIO_ADMIN"},
                }
            ],
            "/properties/UserSettings/RStudioServerProAppSettings/UserGroup",
        ),
    ],
)
def test_patch_of_create_only_property_is_not_updatable(client: Any, patch: list[dict[str, Any]], pointer: str) -> None:
    create_and_wait(client, profile())
    with pytest.raises(client.exceptions.NotUpdatableException) as caught:
        update(client, ALICE, patch)
    message = caught.value.response["Error"]["Message"]
    assert message.startswith("Invalid patch update: createOnlyProperties [")
    assert pointer in message
    assert message.endswith("cannot be updated")


def test_patch_of_read_only_property_is_not_updatable(client: Any) -> None:
    create_and_wait(client, profile())
    with pytest.raises(client.exceptions.NotUpdatableException) as caught:
        update(client, ALICE, [{"op": "replace", "path": "/UserProfileArn", "value": "arn:aws:x"}])
    assert "readOnlyProperties [/properties/UserProfileArn]" in caught.value.response["Error"]["Message"]


def test_patched_model_is_validated_against_the_schema(client: Any) -> None:
    create_and_wait(client, profile())
    with pytest.raises(ClientError) as caught:
        update(client, ALICE, [{"op": "add", "path": "/UserSettings/ExecutionRole", "value": "not-an-arn"}])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert (
        "#/UserSettings/ExecutionRole: failed validation constraint for keyword [pattern]"
        in (caught.value.response["Error"]["Message"])
    )


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        '{"op": "add"}',
        '[{"op": "frobnicate", "path": "/Tags"}]',
        '[{"op": "add", "path": "/Tags"}]',
    ],
)
def test_malformed_patch_document(client: Any, document: str) -> None:
    create_and_wait(client, profile())
    with pytest.raises(ClientError) as caught:
        client.update_resource(TypeName=TYPE_NAME, Identifier=ALICE, PatchDocument=document)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_failed_test_operation_fails_the_request(client: Any) -> None:
    create_and_wait(client, profile(UserSettings={"StudioWebPortal": "ENABLED"}))
    patch = [
        {"op": "test", "path": "/UserSettings/StudioWebPortal", "value": "DISABLED"},
        {"op": "replace", "path": "/UserSettings/StudioWebPortal", "value": "DISABLED"},
    ]
    event = wait_request(client, update(client, ALICE, patch)["RequestToken"])
    assert event["OperationStatus"] == "FAILED"
    assert event["ErrorCode"] == "InvalidRequest"
    assert get_properties(client, ALICE)["UserSettings"]["StudioWebPortal"] == "ENABLED"


def test_passing_test_operation_and_test_on_create_only_path(client: Any) -> None:
    create_and_wait(client, profile())
    patch = [
        {"op": "test", "path": "/DomainId", "value": DOMAIN},
        {"op": "add", "path": "/UserSettings/DefaultLandingUri", "value": "studio::"},
    ]
    assert wait_request(client, update(client, ALICE, patch)["RequestToken"])["OperationStatus"] == "SUCCESS"
    assert get_properties(client, ALICE)["UserSettings"]["DefaultLandingUri"] == "studio::"


def test_update_of_missing_profile_fails_with_not_found(client: Any) -> None:
    event = update(client, f"ghost|{DOMAIN}", [{"op": "add", "path": "/Tags", "value": []}])
    event = wait_request(client, event["RequestToken"])
    assert (event["OperationStatus"], event["ErrorCode"]) == ("FAILED", "NotFound")


def test_delete_removes_the_profile_after_latency(client: Any) -> None:
    create_and_wait(client, profile())
    event = client.delete_resource(TypeName=TYPE_NAME, Identifier=ALICE)["ProgressEvent"]
    assert (event["Operation"], event["OperationStatus"], event["Identifier"]) == (
        "DELETE",
        "IN_PROGRESS",
        ALICE,
    )
    get_properties(client, ALICE)  # still there while in progress
    assert wait_request(client, event["RequestToken"])["OperationStatus"] == "SUCCESS"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=TYPE_NAME, Identifier=ALICE)


def test_delete_of_missing_profile_fails_with_not_found(client: Any) -> None:
    event = client.delete_resource(TypeName=TYPE_NAME, Identifier=f"ghost|{DOMAIN}")["ProgressEvent"]
    event = wait_request(client, event["RequestToken"])
    assert (event["OperationStatus"], event["ErrorCode"]) == ("FAILED", "NotFound")
    assert "was not found" in event["StatusMessage"]


def test_recreate_after_delete(client: Any) -> None:
    create_and_wait(client, profile())
    token = client.delete_resource(TypeName=TYPE_NAME, Identifier=ALICE)["ProgressEvent"]["RequestToken"]
    wait_request(client, token)
    create_and_wait(client, profile())
    get_properties(client, ALICE)
