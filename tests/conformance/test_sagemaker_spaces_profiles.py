"""Spaces and user profiles through SageMaker's own API, and the deletes SageMaker refuses.

A space made with CreateSpace is the resource Cloud Control's GetResource reads, and a profile made
through Cloud Control is what DescribeUserProfile and ListUserProfiles show. A profile cannot be
deleted while any of its apps is live (Deleting counts, Failed and Deleted do not) or a space it owns
exists, a space while any of its apps is live: SageMaker answers ResourceInUse at once, Cloud
Control's request ends FAILED with ResourceConflict, with the same message naming what is in the way.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from tests.conformance import helpers as cc
from tests.conformance.helpers import DOMAIN, REGION, SPACE_TYPE, app_keys, error_of, wait_app, wait_gone
from tests.support.emulator import EmulatorProcess

ACCOUNT_ARN = f"arn:aws:sagemaker:{REGION}:123456789012"
PROFILE_ARN = f"{ACCOUNT_ARN}:user-profile/{DOMAIN}/alice"
SPACE_ARN = f"{ACCOUNT_ARN}:space/{DOMAIN}/lab"
OWNED = {"OwnershipSettings": {"OwnerUserProfileName": "alice"}, "SpaceSharingSettings": {"SharingType": "Private"}}


@pytest.fixture
def alice(client: Any) -> None:
    cc.create_and_wait(client, cc.profile(UserSettings={"ExecutionRole": "arn:aws:iam::123456789012:role/Exec"}))


def spaces(sagemaker: Any, **filters: Any) -> list[str]:
    return [s["SpaceName"] for s in sagemaker.list_spaces(**filters)["Spaces"]]


class Deletable(NamedTuple):
    """One resource as SageMaker's delete names it and as Cloud Control's does."""

    delete: str
    keys: dict[str, str]
    type_name: str
    identifier: str


ALICE = Deletable(
    "delete_user_profile", {"DomainId": DOMAIN, "UserProfileName": "alice"}, cc.TYPE_NAME, f"alice|{DOMAIN}"
)
LAB = Deletable("delete_space", {"DomainId": DOMAIN, "SpaceName": "lab"}, SPACE_TYPE, f"{DOMAIN}|lab")


def refused(sagemaker: Any, client: Any, target: Deletable, message: str) -> None:
    """SageMaker refuses the delete with ResourceInUse, Cloud Control's request ends ResourceConflict,
    both with ``message``."""
    with pytest.raises(sagemaker.exceptions.ResourceInUse) as caught:
        getattr(sagemaker, target.delete)(**target.keys)
    assert error_of(caught)[1] == message
    event = cc.delete_and_wait(client, target.identifier, target.type_name)
    assert (event["OperationStatus"], event["ErrorCode"], event["StatusMessage"]) == (
        "FAILED",
        "ResourceConflict",
        message,
    )


@pytest.mark.usefixtures("alice")
def test_a_space_made_by_sagemaker_is_read_by_cloud_control(sagemaker: Any, client: Any) -> None:
    created = sagemaker.create_space(DomainId=DOMAIN, SpaceName="lab", SpaceDisplayName="Lab", **OWNED)
    assert created["SpaceArn"] == SPACE_ARN
    described = sagemaker.describe_space(DomainId=DOMAIN, SpaceName="lab")
    cc.assert_conforms(sagemaker, "DescribeSpace", described)
    assert (described["Status"], described["SpaceDisplayName"]) == ("Pending", "Lab")
    cc.eventually(lambda: sagemaker.describe_space(DomainId=DOMAIN, SpaceName="lab")["Status"], "InService".__eq__)
    properties = cc.get_properties(client, f"{DOMAIN}|lab", SPACE_TYPE)
    assert properties == {
        "DomainId": DOMAIN,
        "SpaceName": "lab",
        "SpaceArn": SPACE_ARN,
        "SpaceDisplayName": "Lab",
        "Url": described["Url"],
        **OWNED,
    }
    with pytest.raises(sagemaker.exceptions.ResourceInUse):
        sagemaker.create_space(DomainId=DOMAIN, SpaceName="lab")


def test_a_space_needs_its_domain_and_owner(sagemaker: Any) -> None:
    with pytest.raises(sagemaker.exceptions.ResourceNotFound) as caught:
        sagemaker.create_space(DomainId=DOMAIN, SpaceName="lab", **OWNED)
    assert error_of(caught)[1] == f"UserProfile alice does not exist in Domain {DOMAIN} (region {REGION})."
    with pytest.raises(sagemaker.exceptions.ResourceNotFound) as caught:
        sagemaker.describe_space(DomainId=DOMAIN, SpaceName="lab")
    assert error_of(caught)[1] == f"Space lab does not exist in Domain {DOMAIN} (region {REGION})."


@pytest.mark.usefixtures("alice")
def test_profiles_made_through_cloud_control_are_described_and_listed(sagemaker: Any, client: Any) -> None:
    described = sagemaker.describe_user_profile(DomainId=DOMAIN, UserProfileName="alice")
    cc.assert_conforms(sagemaker, "DescribeUserProfile", described)
    assert (described["UserProfileArn"], described["Status"]) == (PROFILE_ARN, "InService")
    assert described["UserSettings"]["ExecutionRole"] == "arn:aws:iam::123456789012:role/Exec"
    for name in ("bob", "alicia", "carol"):
        cc.create_and_wait(client, cc.profile(name))
    listed = sagemaker.list_user_profiles(DomainIdEquals=DOMAIN)
    cc.assert_conforms(sagemaker, "ListUserProfiles", listed)
    assert [p["UserProfileName"] for p in listed["UserProfiles"]] == ["alice", "bob", "alicia", "carol"]
    contains = sagemaker.list_user_profiles(UserProfileNameContains="ALI")["UserProfiles"]
    assert [p["UserProfileName"] for p in contains] == ["alice", "alicia"]
    assert sagemaker.list_user_profiles(DomainIdEquals="d-elsewhere")["UserProfiles"] == []
    page = sagemaker.list_user_profiles(MaxResults=3, SortOrder="Descending")
    assert [p["UserProfileName"] for p in page["UserProfiles"]] == ["carol", "alicia", "bob"]
    rest = sagemaker.list_user_profiles(MaxResults=3, SortOrder="Descending", NextToken=page["NextToken"])
    assert ([p["UserProfileName"] for p in rest["UserProfiles"]], "NextToken" in rest) == (["alice"], False)
    with pytest.raises(sagemaker.exceptions.ResourceNotFound) as caught:
        sagemaker.describe_user_profile(DomainId=DOMAIN, UserProfileName="dave")
    assert error_of(caught)[1] == f"UserProfile dave does not exist in Domain {DOMAIN} (region {REGION})."


@pytest.mark.usefixtures("alice")
def test_list_spaces_shows_owner_and_sharing_filters_and_pages(
    sagemaker: Any, client: Any, emulator: EmulatorProcess
) -> None:
    cc.create_and_wait(client, cc.space("lab", **OWNED, SpaceSettings={"AppType": "JupyterLab"}), SPACE_TYPE)
    cc.create_and_wait(client, cc.space("shared-lab", SpaceSharingSettings={"SharingType": "Shared"}), SPACE_TYPE)
    emulator.add_domain("d-other0000001", REGION)
    cc.create_and_wait(client, cc.space("lab", domain="d-other0000001"), SPACE_TYPE)
    sagemaker.create_space(DomainId=DOMAIN, SpaceName="notebooks")
    listed = sagemaker.list_spaces(DomainIdEquals=DOMAIN)
    cc.assert_conforms(sagemaker, "ListSpaces", listed)
    lab, shared, notebooks = listed["Spaces"]
    assert lab["OwnershipSettingsSummary"] == {"OwnerUserProfileName": "alice"}
    assert lab["SpaceSharingSettingsSummary"] == {"SharingType": "Private"}
    assert lab["SpaceSettingsSummary"] == {"AppType": "JupyterLab"}
    assert shared["SpaceSharingSettingsSummary"] == {"SharingType": "Shared"}
    assert "OwnershipSettingsSummary" not in shared
    assert (notebooks["SpaceName"], notebooks["Status"]) == ("notebooks", "Pending")
    assert spaces(sagemaker, SpaceNameContains="LAB") == ["lab", "shared-lab", "lab"]
    assert spaces(sagemaker, SpaceNameContains="lab", DomainIdEquals=DOMAIN) == ["lab", "shared-lab"]
    pages = sagemaker.get_paginator("list_spaces").paginate(PaginationConfig={"PageSize": 3})
    assert [[s["SpaceName"] for s in page["Spaces"]] for page in pages] == [["lab", "shared-lab", "lab"], ["notebooks"]]
    # Changed last, listed first by LastModifiedTime; made last, first by CreationTime.
    event = cc.update(
        client, f"{DOMAIN}|shared-lab", [{"op": "add", "path": "/SpaceDisplayName", "value": "S"}], SPACE_TYPE
    )
    assert cc.wait_request(client, event["RequestToken"])["OperationStatus"] == "SUCCESS"
    newest = {"SortOrder": "Descending", "MaxResults": 1, "DomainIdEquals": DOMAIN}
    assert spaces(sagemaker, SortBy="LastModifiedTime", **newest) == ["shared-lab"]
    assert spaces(sagemaker, SortBy="CreationTime", **newest) == ["notebooks"]


@pytest.mark.usefixtures("alice")
def test_a_space_with_live_apps_cannot_be_deleted(sagemaker: Any, client: Any) -> None:
    cc.create_and_wait(client, cc.space("lab", **OWNED), SPACE_TYPE)
    app = app_keys(app_type="JupyterLab", space="lab")
    sagemaker.create_app(**app)
    message = f"Unable to delete Space [{SPACE_ARN}] because App(s) are associated with it: App [default (JupyterLab)]."
    refused(sagemaker, client, LAB, message)
    wait_app(sagemaker, app, "InService")
    sagemaker.delete_app(**app)
    with pytest.raises(sagemaker.exceptions.ResourceInUse):  # Deleting is still live
        sagemaker.delete_space(**LAB.keys)
    wait_app(sagemaker, app, "Deleted")
    sagemaker.delete_space(**LAB.keys)
    assert sagemaker.describe_space(**LAB.keys)["Status"] == "Deleting"
    sagemaker.delete_space(**LAB.keys)  # again while Deleting: accepted
    wait_gone(sagemaker.describe_space, **LAB.keys)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=SPACE_TYPE, Identifier=LAB.identifier)


@pytest.mark.usefixtures("alice")
def test_a_profile_with_live_apps_or_owned_spaces_cannot_be_deleted(
    sagemaker: Any, client: Any, emulator: EmulatorProcess
) -> None:
    studio, canvas = app_keys(), app_keys(name="canvas", app_type="Canvas")
    sagemaker.create_app(**studio)
    sagemaker.create_app(**canvas)
    cc.create_and_wait(client, cc.space("lab", **OWNED), SPACE_TYPE)
    prefix = f"Unable to delete UserProfile [{PROFILE_ARN}] because App(s)"
    apps_and_space = "App [default (JupyterServer), canvas (Canvas)]; Space [lab]"
    refused(sagemaker, client, ALICE, f"{prefix}, Space(s) are associated with it: {apps_and_space}.")
    sagemaker.delete_space(**LAB.keys)
    wait_gone(sagemaker.describe_space, **LAB.keys)
    # A failed app blocks nothing; a Deleting one does.
    emulator.set_app_status(REGION, DOMAIN, "Canvas", "canvas", user_profile_name="alice")
    wait_app(sagemaker, studio, "InService")
    sagemaker.delete_app(**studio)
    refused(sagemaker, client, ALICE, f"{prefix} are associated with it: App [default (JupyterServer)].")
    wait_app(sagemaker, studio, "Deleted")
    keys = ALICE.keys
    sagemaker.delete_user_profile(**keys)
    assert sagemaker.describe_user_profile(**keys)["Status"] == "Deleting"
    with pytest.raises(sagemaker.exceptions.ResourceNotFound):  # no new apps for a profile being deleted
        sagemaker.create_app(**app_keys(name="late"))
    wait_gone(sagemaker.describe_user_profile, **keys)
    # Its Deleted and Failed apps are still listed.
    listed = sagemaker.list_apps(UserProfileNameEquals="alice")["Apps"]
    assert sorted((a["AppName"], a["Status"]) for a in listed) == [("canvas", "Failed"), ("default", "Deleted")]
