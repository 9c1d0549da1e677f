"""AWS::SageMaker::Space: the generic handlers with the Space's schema and SageMaker's rules.

Identifier `<DomainId>|<SpaceName>`; SpaceSettings is writeOnly (stored, never read back); a space
needs its domain, and a space with an owner needs that user profile; a profile that still owns
spaces cannot be deleted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance.helpers import (
    DOMAIN,
    REGION,
    SPACE_TYPE,
    TYPE_NAME,
    create,
    create_and_wait,
    delete_and_wait,
    get_properties,
    profile,
    space,
    update,
    wait_request,
)
from tests.support.emulator import EmulatorAdminError, EmulatorProcess

LAB = f"{DOMAIN}|lab"
SPACE_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:space/{DOMAIN}/lab"
SETTINGS = {"AppType": "JupyterLab", "SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 10}}}
PRIVATE: dict[str, Any] = {
    "OwnershipSettings": {"OwnerUserProfileName": "alice"},
    "SpaceSharingSettings": {"SharingType": "Private"},
}


def stored(emulator: EmulatorProcess, identifier: str) -> dict[str, Any]:
    """The model as the emulator stores it (the admin view shows writeOnly properties too)."""
    for item in emulator.admin("GET", f"/_emulator/resources?Region={REGION}&TypeName={SPACE_TYPE}")["Resources"]:
        if item["Identifier"] == identifier:
            properties: dict[str, Any] = item["Properties"]
            return properties
    raise AssertionError(f"{identifier} is not stored")


def test_create_read_update_list_delete(client: Any) -> None:
    event = create(client, space(SpaceDisplayName="Lab", Tags=[{"Key": "team", "Value": "ml"}]), SPACE_TYPE)
    assert event["OperationStatus"] == "IN_PROGRESS"
    assert "Identifier" not in event
    final = wait_request(client, event["RequestToken"])
    assert final["OperationStatus"] == "SUCCESS"
    assert final["Identifier"] == LAB
    expected = {
        "DomainId": DOMAIN,
        "SpaceName": "lab",
        "SpaceDisplayName": "Lab",
        "Tags": [{"Key": "team", "Value": "ml"}],
        "SpaceArn": SPACE_ARN,
        "Url": f"https://{DOMAIN}.studio.{REGION}.sagemaker.aws/spaces/lab",
    }
    assert json.loads(final["ResourceModel"]) == expected
    assert get_properties(client, LAB, SPACE_TYPE) == expected

    patch = [{"op": "replace", "path": "/SpaceDisplayName", "value": "Team lab"}]
    assert wait_request(client, update(client, LAB, patch, SPACE_TYPE)["RequestToken"])["OperationStatus"] == "SUCCESS"
    assert get_properties(client, LAB, SPACE_TYPE)["SpaceDisplayName"] == "Team lab"

    create_and_wait(client, space("notebooks"), SPACE_TYPE)
    listed = client.list_resources(TypeName=SPACE_TYPE)["ResourceDescriptions"]
    assert [d["Identifier"] for d in listed] == [LAB, f"{DOMAIN}|notebooks"]
    assert json.loads(listed[0]["Properties"]) == {"DomainId": DOMAIN, "SpaceName": "lab"}
    # Spaces and profiles are listed apart.
    assert client.list_resources(TypeName=TYPE_NAME)["ResourceDescriptions"] == []

    assert delete_and_wait(client, LAB, SPACE_TYPE)["OperationStatus"] == "SUCCESS"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=SPACE_TYPE, Identifier=LAB)


def test_space_settings_are_stored_but_never_read_back(client: Any, emulator: EmulatorProcess) -> None:
    emulator.set_config(ListFullProperties=True)
    created = create_and_wait(client, space(SpaceSettings=SETTINGS), SPACE_TYPE)
    assert "SpaceSettings" not in json.loads(created["ResourceModel"])
    assert stored(emulator, LAB)["SpaceSettings"] == SETTINGS

    assert "SpaceSettings" not in get_properties(client, LAB, SPACE_TYPE)
    [listed] = client.list_resources(TypeName=SPACE_TYPE)["ResourceDescriptions"]
    assert "SpaceSettings" not in json.loads(listed["Properties"])
    # Nor can a list filter find the resource by it.
    found = client.list_resources(TypeName=SPACE_TYPE, ResourceModel=json.dumps({"SpaceSettings": SETTINGS}))
    assert found["ResourceDescriptions"] == []

    # Accepted on update too, stored, and again not in the ProgressEvent nor in reads.
    patch = [{"op": "replace", "path": "/SpaceSettings/AppType", "value": "CodeEditor"}]
    updated = wait_request(client, update(client, LAB, patch, SPACE_TYPE)["RequestToken"])
    assert updated["OperationStatus"] == "SUCCESS"
    assert "SpaceSettings" not in json.loads(updated["ResourceModel"])
    assert stored(emulator, LAB)["SpaceSettings"]["AppType"] == "CodeEditor"
    assert "SpaceSettings" not in get_properties(client, LAB, SPACE_TYPE)
    for summary in client.list_resource_requests()["ResourceRequestStatusSummaries"]:
        assert "SpaceSettings" not in json.loads(summary.get("ResourceModel", "{}"))
    # The admin view of the requests shows what was asked for, writeOnly values included.
    create_request, update_request = emulator.requests(REGION)
    assert create_request["DesiredState"]["SpaceSettings"] == SETTINGS
    assert update_request["PatchDocument"] == patch
    assert "SpaceSettings" not in json.loads(update_request["ResourceModel"])


def test_space_settings_are_validated(client: Any) -> None:
    bad = {"SpaceStorageSettings": {"EbsStorageSettings": {"EbsVolumeSizeInGb": 1}}}
    with pytest.raises(ClientError) as caught:
        create(client, space(SpaceSettings=bad), SPACE_TYPE)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert (
        "#/SpaceSettings/SpaceStorageSettings/EbsStorageSettings/EbsVolumeSizeInGb: "
        "failed validation constraint for keyword [minimum]" in caught.value.response["Error"]["Message"]
    )


@pytest.mark.parametrize(
    ("patch", "pointer"),
    [
        (
            [{"op": "replace", "path": "/OwnershipSettings/OwnerUserProfileName", "value": "bob"}],
            "/properties/OwnershipSettings",
        ),
        (
            [{"op": "replace", "path": "/SpaceSharingSettings/SharingType", "value": "Shared"}],
            "/properties/SpaceSharingSettings",
        ),
        ([{"op": "remove", "path": "/OwnershipSettings"}], "/properties/OwnershipSettings"),
        ([{"op": "replace", "path": "/SpaceName", "value": "other"}], "/properties/SpaceName"),
    ],
)
def test_create_only_settings_are_not_updatable(client: Any, patch: list[dict[str, Any]], pointer: str) -> None:
    create_and_wait(client, profile())
    create_and_wait(client, space(**PRIVATE), SPACE_TYPE)
    with pytest.raises(client.exceptions.NotUpdatableException) as caught:
        update(client, LAB, patch, SPACE_TYPE)
    message = caught.value.response["Error"]["Message"]
    assert message.startswith("Invalid patch update: createOnlyProperties [")
    assert pointer in message


def test_read_only_url_is_not_updatable(client: Any) -> None:
    create_and_wait(client, space(), SPACE_TYPE)
    with pytest.raises(client.exceptions.NotUpdatableException) as caught:
        update(client, LAB, [{"op": "replace", "path": "/Url", "value": "https://example.com"}], SPACE_TYPE)
    assert "readOnlyProperties [/properties/Url]" in caught.value.response["Error"]["Message"]


def test_space_in_missing_domain_fails_with_not_found(client: Any) -> None:
    event = wait_request(client, create(client, space(domain="d-nosuchdomain"), SPACE_TYPE)["RequestToken"])
    assert (event["OperationStatus"], event["ErrorCode"]) == ("FAILED", "NotFound")
    assert "Domain d-nosuchdomain does not exist" in event["StatusMessage"]
    assert event["Identifier"] == "d-nosuchdomain|lab"


def test_space_of_missing_owner_fails_with_not_found(client: Any) -> None:
    event = wait_request(client, create(client, space(**PRIVATE), SPACE_TYPE)["RequestToken"])
    assert (event["OperationStatus"], event["ErrorCode"]) == ("FAILED", "NotFound")
    assert event["StatusMessage"] == f"UserProfile alice does not exist in Domain {DOMAIN} (region {REGION})."
    # A shared space with an owner needs the owner too.
    shared = space(OwnershipSettings={"OwnerUserProfileName": "bob"}, SpaceSharingSettings={"SharingType": "Shared"})
    event = wait_request(client, create(client, shared, SPACE_TYPE)["RequestToken"])
    assert (event["OperationStatus"], event["ErrorCode"]) == ("FAILED", "NotFound")
    # Once the owner exists, the space can be made.
    create_and_wait(client, profile())
    create_and_wait(client, space(**PRIVATE), SPACE_TYPE)


def test_private_space_without_owner_is_an_invalid_request(client: Any) -> None:
    model = space(SpaceSharingSettings={"SharingType": "Private"})
    event = wait_request(client, create(client, model, SPACE_TYPE)["RequestToken"])
    assert (event["OperationStatus"], event["ErrorCode"]) == ("FAILED", "InvalidRequest")
    assert "OwnershipSettings" in event["StatusMessage"]


def test_profile_owning_spaces_cannot_be_deleted(client: Any) -> None:
    create_and_wait(client, profile())
    create_and_wait(client, space(**PRIVATE), SPACE_TYPE)
    create_and_wait(client, space("notebooks", **PRIVATE), SPACE_TYPE)
    create_and_wait(client, space("shared"), SPACE_TYPE)  # owned by nobody: does not block

    event = delete_and_wait(client, f"alice|{DOMAIN}")
    assert (event["OperationStatus"], event["ErrorCode"]) == ("FAILED", "ResourceConflict")
    profile_arn = f"arn:aws:sagemaker:{REGION}:123456789012:user-profile/{DOMAIN}/alice"
    assert event["StatusMessage"] == (
        f"Unable to delete UserProfile [{profile_arn}] because Space(s) are associated with it: Space [lab, notebooks]."
    )
    assert get_properties(client, f"alice|{DOMAIN}")["UserProfileName"] == "alice"

    assert delete_and_wait(client, LAB, SPACE_TYPE)["OperationStatus"] == "SUCCESS"
    event = delete_and_wait(client, f"alice|{DOMAIN}")
    assert event["StatusMessage"].endswith("Space [notebooks].")
    assert delete_and_wait(client, f"{DOMAIN}|notebooks", SPACE_TYPE)["OperationStatus"] == "SUCCESS"
    assert delete_and_wait(client, f"alice|{DOMAIN}")["OperationStatus"] == "SUCCESS"


def test_out_of_band_delete_of_an_owner_is_refused_too(client: Any, emulator: EmulatorProcess) -> None:
    emulator.oob_create(REGION, profile())
    emulator.admin(
        "POST",
        "/_emulator/resources/create",
        {"Region": REGION, "TypeName": SPACE_TYPE, "DesiredState": space(**PRIVATE)},
    )
    with pytest.raises(EmulatorAdminError) as caught:
        emulator.oob_delete(REGION, f"alice|{DOMAIN}")
    assert caught.value.status == 400
    assert caught.value.body["__type"] == "ResourceConflictException"
    emulator.admin("POST", "/_emulator/resources/delete", {"Region": REGION, "TypeName": SPACE_TYPE, "Identifier": LAB})
    emulator.oob_delete(REGION, f"alice|{DOMAIN}")
