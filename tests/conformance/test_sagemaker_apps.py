"""Apps through SageMaker's own API (boto3's ``sagemaker`` client), on the store Cloud Control serves.

An app is Pending for the latency, then InService; DeleteApp makes it Deleting for the app-delete
latency, then Deleted, and a Deleted app stays listed. DeleteApp of a Deleted app and of a Failed one
are ValidationExceptions in AWS's words (the operator treats both as done); of a Pending one
ResourceInUse; of a Deleting one it is accepted again. Apps of spaces exist only here (Cloud Control's
App identifier has no space); apps of profiles are the same records Cloud Control reads.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance import helpers as cc
from tests.conformance.helpers import (
    APP_TYPE,
    DOMAIN,
    REGION,
    app_keys,
    app_status,
    assert_conforms,
    error_of,
    profile,
    space,
    wait_app,
)
from tests.support.emulator import EmulatorProcess

ARN = f"arn:aws:sagemaker:{REGION}:123456789012:app/{DOMAIN}"


@pytest.fixture(autouse=True)
def alice_and_her_space(client: Any) -> None:
    cc.create_and_wait(client, profile())
    cc.create_and_wait(client, space(OwnershipSettings={"OwnerUserProfileName": "alice"}), cc.SPACE_TYPE)


def in_service(sagemaker: Any, **keys: Any) -> dict[str, str]:
    """Create an app and wait until it is InService; returns its keys."""
    app = app_keys(**keys)
    sagemaker.create_app(**app)
    wait_app(sagemaker, app, "InService")
    return app


def test_an_app_is_pending_then_in_service(sagemaker: Any) -> None:
    app = app_keys()
    created = sagemaker.create_app(**app, ResourceSpec={"InstanceType": "system"})
    assert created["AppArn"] == f"{ARN}/alice/jupyterserver/default"
    assert_conforms(sagemaker, "CreateApp", created)
    described = sagemaker.describe_app(**app)
    assert_conforms(sagemaker, "DescribeApp", described)
    assert (described["Status"], described["AppArn"]) == ("Pending", created["AppArn"])
    assert described["ResourceSpec"] == {"InstanceType": "system"}
    wait_app(sagemaker, app, "InService")


def test_a_deleted_app_is_deleting_then_deleted_and_stays_listed(sagemaker: Any) -> None:
    app = in_service(sagemaker)
    assert_conforms(sagemaker, "DeleteApp", sagemaker.delete_app(**app))
    assert app_status(sagemaker, app) == "Deleting"
    # Asked again while it is Deleting: accepted, nothing changes.
    sagemaker.delete_app(**app)
    wait_app(sagemaker, app, "Deleted")
    listed = sagemaker.list_apps(DomainIdEquals=DOMAIN)
    assert_conforms(sagemaker, "ListApps", listed)
    assert [(a["AppName"], a["Status"]) for a in listed["Apps"]] == [("default", "Deleted")]
    with pytest.raises(ClientError) as caught:
        sagemaker.delete_app(**app)
    assert error_of(caught) == (
        "ValidationException",
        f"App [{ARN}/alice/jupyterserver/default] has already been deleted.",
    )


def test_a_deleted_app_can_be_made_again(sagemaker: Any) -> None:
    app = in_service(sagemaker)
    sagemaker.delete_app(**app)
    wait_app(sagemaker, app, "Deleted")
    sagemaker.create_app(**app)
    [listed] = sagemaker.list_apps(UserProfileNameEquals="alice")["Apps"]
    assert listed["Status"] == "Pending"
    wait_app(sagemaker, app, "InService")


def test_a_live_app_cannot_be_made_twice(sagemaker: Any) -> None:
    app = app_keys()
    sagemaker.create_app(**app)
    with pytest.raises(sagemaker.exceptions.ResourceInUse) as caught:
        sagemaker.create_app(**app)
    assert error_of(caught)[1] == f"App [{ARN}/alice/jupyterserver/default] already exists."


def test_a_pending_app_cannot_be_deleted_yet(sagemaker: Any) -> None:
    app = app_keys()
    sagemaker.create_app(**app)
    with pytest.raises(sagemaker.exceptions.ResourceInUse) as caught:
        sagemaker.delete_app(**app)
    assert "is in Pending status" in error_of(caught)[1]
    wait_app(sagemaker, app, "InService")
    sagemaker.delete_app(**app)


def test_a_failed_app_was_deleted_already_and_blocks_nothing(
    sagemaker: Any, client: Any, emulator: EmulatorProcess
) -> None:
    app = in_service(sagemaker)
    emulator.set_app_status(REGION, DOMAIN, "JupyterServer", "default", user_profile_name="alice", failure_reason="OOM")
    described = sagemaker.describe_app(**app)
    assert (described["Status"], described["FailureReason"]) == ("Failed", "OOM")
    with pytest.raises(ClientError) as caught:
        sagemaker.delete_app(**app)
    assert error_of(caught) == (
        "ValidationException",
        f"App [{ARN}/alice/jupyterserver/default] previously failed and was automatically deleted.",
    )
    # Failed: gone for Cloud Control, and the profile is not held by it (only by the space it owns).
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=APP_TYPE, Identifier=f"default|JupyterServer|{DOMAIN}|alice")
    sagemaker.delete_space(DomainId=DOMAIN, SpaceName="lab")
    cc.eventually(lambda: sagemaker.list_spaces()["Spaces"], lambda spaces: spaces == [])
    assert cc.delete_and_wait(client, f"alice|{DOMAIN}")["OperationStatus"] == "SUCCESS"


def test_the_owner_must_exist(sagemaker: Any) -> None:
    with pytest.raises(sagemaker.exceptions.ResourceNotFound) as caught:
        sagemaker.create_app(**app_keys(profile="bob"))
    assert error_of(caught)[1] == f"UserProfile bob does not exist in Domain {DOMAIN} (region {REGION})."
    with pytest.raises(sagemaker.exceptions.ResourceNotFound) as caught:
        sagemaker.create_app(**app_keys(app_type="JupyterLab", space="nowhere"))
    assert error_of(caught)[1] == f"Space nowhere does not exist in Domain {DOMAIN} (region {REGION})."
    with pytest.raises(sagemaker.exceptions.ResourceNotFound) as caught:
        sagemaker.describe_app(**app_keys(name="never"))
    assert error_of(caught)[1] == (
        f"App never of type JupyterServer does not exist for UserProfile alice in Domain {DOMAIN} (region {REGION})."
    )
    with pytest.raises(sagemaker.exceptions.ResourceNotFound):
        sagemaker.delete_app(**app_keys(name="never"))


@pytest.mark.parametrize("owners", [{}, {"UserProfileName": "alice", "SpaceName": "lab"}])
def test_an_app_has_exactly_one_owner(sagemaker: Any, owners: dict[str, str]) -> None:
    with pytest.raises(ClientError) as caught:
        sagemaker.create_app(DomainId=DOMAIN, AppType="JupyterLab", AppName="default", **owners)
    assert error_of(caught) == (
        "ValidationException",
        "Exactly one of UserProfileName and SpaceName must be specified.",
    )


def test_kernel_gateway_is_deprecated_for_sagemaker_and_cloud_control(sagemaker: Any, client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        sagemaker.create_app(**app_keys(app_type="KernelGateway"))
    assert error_of(caught) == ("ValidationException", "This AppType has been deprecated.")
    model = {"DomainId": DOMAIN, "UserProfileName": "alice", "AppType": "KernelGateway", "AppName": "default"}
    event = cc.wait_request(client, cc.create(client, model, APP_TYPE)["RequestToken"])
    assert (event["ErrorCode"], event["StatusMessage"]) == ("InvalidRequest", "This AppType has been deprecated.")


def test_members_are_checked_as_sagemaker_words_it(emulator: EmulatorProcess) -> None:
    # No client-side parameter validation: the emulator's own limits are seen.
    raw_sagemaker = emulator.sagemaker_client(REGION, retries={"total_max_attempts": 1}, parameter_validation=False)
    with pytest.raises(ClientError) as caught:
        raw_sagemaker.create_app(**{**app_keys(name="-bad"), "AppType": "Notebook"})
    code, message = error_of(caught)
    assert code == "ValidationException"
    assert message == (
        "2 validation errors detected: Value 'Notebook' at 'appType' failed to satisfy constraint: Member must "
        "satisfy enum value set: [JupyterServer, KernelGateway, DetailedProfiler, TensorBoard, CodeEditor, "
        "JupyterLab, RStudioServerPro, RSessionGateway, Canvas]; Value '-bad' at 'appName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
    )


def test_apps_of_spaces_live_in_sagemaker_only(sagemaker: Any, client: Any) -> None:
    app = in_service(sagemaker, app_type="JupyterLab", space="lab")
    described = sagemaker.describe_app(**app)
    assert described["AppArn"] == f"{ARN}/lab/jupyterlab/default"
    assert (described["SpaceName"], "UserProfileName" in described) == ("lab", False)
    assert client.list_resources(TypeName=APP_TYPE)["ResourceDescriptions"] == []
    [listed] = sagemaker.list_apps(SpaceNameEquals="lab")["Apps"]
    assert (listed["SpaceName"], listed["AppType"], listed["Status"]) == ("lab", "JupyterLab", "InService")


def test_profile_apps_are_the_records_cloud_control_reads(sagemaker: Any, client: Any) -> None:
    """Made through SageMaker, read through Cloud Control; made through Cloud Control, InService in
    SageMaker; deleted through Cloud Control, listed as Deleted."""
    in_service(sagemaker, name="made-here")
    identifier = f"made-here|JupyterServer|{DOMAIN}|alice"
    properties = cc.get_properties(client, identifier, APP_TYPE)
    assert properties["AppArn"] == f"{ARN}/alice/jupyterserver/made-here"
    model = {"DomainId": DOMAIN, "UserProfileName": "alice", "AppType": "JupyterServer", "AppName": "made-there"}
    cc.create_and_wait(client, model, APP_TYPE)
    assert app_status(sagemaker, app_keys(name="made-there")) == "InService"
    assert cc.delete_and_wait(client, identifier, APP_TYPE)["OperationStatus"] == "SUCCESS"
    assert app_status(sagemaker, app_keys(name="made-here")) == "Deleted"


def test_list_apps_filters(sagemaker: Any, emulator: EmulatorProcess, client: Any) -> None:
    emulator.add_domain("d-other0000001", REGION)
    cc.create_and_wait(client, profile("bob", domain="d-other0000001"))
    sagemaker.create_app(**app_keys())
    sagemaker.create_app(**app_keys(app_type="JupyterLab", space="lab"))
    sagemaker.create_app(**{**app_keys(profile="bob"), "DomainId": "d-other0000001"})

    def names(**filters: Any) -> list[tuple[str, str]]:
        return [
            (a["DomainId"], a.get("UserProfileName") or a["SpaceName"]) for a in sagemaker.list_apps(**filters)["Apps"]
        ]

    assert names() == [(DOMAIN, "alice"), (DOMAIN, "lab"), ("d-other0000001", "bob")]
    assert names(DomainIdEquals=DOMAIN) == [(DOMAIN, "alice"), (DOMAIN, "lab")]
    assert names(DomainIdEquals=DOMAIN, UserProfileNameEquals="alice") == [(DOMAIN, "alice")]
    assert names(SpaceNameEquals="lab") == [(DOMAIN, "lab")]
    assert names(UserProfileNameEquals="lab") == []
    assert names(SortOrder="Descending", SortBy="CreationTime")[0] == ("d-other0000001", "bob")
    with pytest.raises(ClientError) as caught:
        sagemaker.list_apps(UserProfileNameEquals="alice", SpaceNameEquals="lab")
    assert error_of(caught)[0] == "ValidationException"


def test_list_apps_pages(sagemaker: Any) -> None:
    names = [f"app-{index:02d}" for index in range(23)]
    for name in names:
        sagemaker.create_app(**app_keys(name=name))
    first = sagemaker.list_apps(MaxResults=10)
    assert [a["AppName"] for a in first["Apps"]] == names[:10] and first["NextToken"]
    second = sagemaker.list_apps(MaxResults=10, NextToken=first["NextToken"])
    assert [a["AppName"] for a in second["Apps"]] == names[10:20]
    pages = list(sagemaker.get_paginator("list_apps").paginate(PaginationConfig={"PageSize": 5}))
    assert len(pages) == 5
    assert [a["AppName"] for page in pages for a in page["Apps"]] == names
    assert "NextToken" not in sagemaker.list_apps(MaxResults=100)
    assert len(sagemaker.list_apps()["Apps"]) == 10  # SageMaker's default page
    with pytest.raises(ClientError) as caught:
        sagemaker.list_apps(NextToken="not-a-token")
    assert error_of(caught) == ("ValidationException", "Invalid NextToken")


def test_app_delete_latency_is_a_setting(sagemaker: Any, emulator: EmulatorProcess) -> None:
    assert emulator.config()["AppDeleteLatency"] == cc.APP_DELETE_LATENCY
    app = in_service(sagemaker)
    emulator.set_app_delete_latency(60)
    sagemaker.delete_app(**app)
    emulator.set_app_delete_latency(0)  # applies to deletes from now on
    assert app_status(sagemaker, app) == "Deleting"
    emulator.reset()
    assert emulator.config()["AppDeleteLatency"] == cc.APP_DELETE_LATENCY
