"""The platform kit's types: lifecycle configs, images, image versions and app image configs.

What Cloud Control and SageMaker do with them, as a user of boto3 sees it: identifiers and ARNs, the
versions AWS numbers, the update a lifecycle config does not have, SageMaker's checks of what the
settings of a domain, profile or space name, and the deletes refused while something names them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance.helpers import (
    DOMAIN,
    DOMAIN_TYPE,
    REGION,
    SPACE_TYPE,
    TYPE_NAME,
    create,
    create_and_wait,
    delete_and_wait,
    domain,
    error_of,
    get_properties,
    profile,
    space,
    update,
    wait_request,
)

LCC_TYPE = "AWS::SageMaker::StudioLifecycleConfig"
IMAGE_TYPE = "AWS::SageMaker::Image"
VERSION_TYPE = "AWS::SageMaker::ImageVersion"
AIC_TYPE = "AWS::SageMaker::AppImageConfig"
ARN = f"arn:aws:sagemaker:{REGION}:123456789012"
LCC_ARN = f"{ARN}:studio-lifecycle-config/setup"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ROLE = "arn:aws:iam::123456789012:role/SageMakerImages"
SCRIPT = "IyEvYmluL2Jhc2gKZWNobyBoaQ=="  # base64 of a two-line shell script


def lifecycle_config(name: str = "setup", **extra: Any) -> dict[str, Any]:
    return {
        "StudioLifecycleConfigName": name,
        "StudioLifecycleConfigAppType": "JupyterLab",
        "StudioLifecycleConfigContent": SCRIPT,
        **extra,
    }


def image(name: str = "team-image", **extra: Any) -> dict[str, Any]:
    return {"ImageName": name, "ImageRoleArn": ROLE, **extra}


def version(image_name: str = "team-image", tag: str = "1.0", **extra: Any) -> dict[str, Any]:
    return {"ImageName": image_name, "BaseImage": f"{ECR}/team-image:{tag}", **extra}


def failed(client: Any, model: dict[str, Any], type_name: str) -> dict[str, Any]:
    event = wait_request(client, create(client, model, type_name)["RequestToken"])
    assert event["OperationStatus"] == "FAILED", event
    return event


def listed(client: Any, type_name: str, **model: Any) -> list[str]:
    kwargs = {"ResourceModel": json.dumps(model)} if model else {}
    answer = client.list_resources(TypeName=type_name, **kwargs)
    return [item["Identifier"] for item in answer["ResourceDescriptions"]]


def patched(client: Any, identifier: str, patch: list[dict[str, Any]], type_name: str) -> dict[str, Any]:
    return wait_request(client, update(client, identifier, patch, type_name)["RequestToken"])


# -------------------------------------------------------------------------- lifecycle configs


def test_a_lifecycle_config_is_named_by_its_name_and_has_no_update(client: Any) -> None:
    final = create_and_wait(client, lifecycle_config(Tags=[{"Key": "team", "Value": "ml"}]), LCC_TYPE)
    assert final["Identifier"] == "setup"
    assert get_properties(client, "setup", LCC_TYPE) == {
        **lifecycle_config(Tags=[{"Key": "team", "Value": "ml"}]),
        "StudioLifecycleConfigArn": LCC_ARN,
    }
    assert listed(client, LCC_TYPE) == ["setup"]
    # The schema has no update handler: Cloud Control refuses at once, whatever the patch.
    with pytest.raises(client.exceptions.UnsupportedActionException) as caught:
        update(client, "setup", [{"op": "add", "path": "/Tags/0", "value": {"Key": "a", "Value": "b"}}], LCC_TYPE)
    assert error_of(caught) == (
        "UnsupportedActionException",
        "Resource type AWS::SageMaker::StudioLifecycleConfig does not support UPDATE action",
    )
    assert delete_and_wait(client, "setup", LCC_TYPE)["OperationStatus"] == "SUCCESS"
    assert listed(client, LCC_TYPE) == []


def test_lifecycle_config_content_must_be_base64_within_the_schemas_length(client: Any) -> None:
    event = failed(client, lifecycle_config(StudioLifecycleConfigContent="echo hi"), LCC_TYPE)
    assert event["ErrorCode"] == "InvalidRequest"
    assert event["StatusMessage"].startswith(
        "1 validation error detected: Value 'echo hi' at 'studioLifecycleConfigContent' failed to satisfy"
    )
    with pytest.raises(ClientError) as caught:
        create(client, lifecycle_config(StudioLifecycleConfigContent="QUFB" * 4097), LCC_TYPE)
    assert error_of(caught) == (
        "ValidationException",
        "Model validation failed (#/StudioLifecycleConfigContent: failed validation constraint for keyword "
        "[maxLength])",
    )


# ------------------------------------------------------------------------- images and versions


def test_an_image_is_named_by_the_arn_aws_makes_from_its_name(client: Any) -> None:
    final = create_and_wait(client, image(ImageDisplayName="Team image"), IMAGE_TYPE)
    arn = f"{ARN}:image/team-image"
    assert final["Identifier"] == arn
    assert get_properties(client, arn, IMAGE_TYPE)["ImageDisplayName"] == "Team image"
    assert (
        patched(client, arn, [{"op": "replace", "path": "/ImageDisplayName", "value": "Ours"}], IMAGE_TYPE)[
            "OperationStatus"
        ]
        == "SUCCESS"
    )
    assert get_properties(client, arn, IMAGE_TYPE)["ImageDisplayName"] == "Ours"
    assert failed(client, image(), IMAGE_TYPE)["ErrorCode"] == "AlreadyExists"
    with pytest.raises(ClientError) as caught:
        create(client, image("other", ImageArn=f"{ARN}:image/other"), IMAGE_TYPE)
    assert error_of(caught)[0] == "ValidationException"


def test_versions_are_numbered_per_image_and_named_by_their_arn(client: Any) -> None:
    create_and_wait(client, image(), IMAGE_TYPE)
    create_and_wait(client, image("other-image"), IMAGE_TYPE)
    first = create_and_wait(client, version(tag="1.0"), VERSION_TYPE)["Identifier"]
    second = create_and_wait(client, version(tag="1.1"), VERSION_TYPE)["Identifier"]
    elsewhere = create_and_wait(client, version("other-image"), VERSION_TYPE)["Identifier"]
    assert (first, second, elsewhere) == (
        f"{ARN}:image-version/team-image/1",
        f"{ARN}:image-version/team-image/2",
        f"{ARN}:image-version/other-image/1",
    )
    assert get_properties(client, second, VERSION_TYPE) == {
        **version(tag="1.1"),
        "ImageArn": f"{ARN}:image/team-image",
        "ImageVersionArn": second,
        "Version": 2,
        "ContainerImage": f"{ECR}/team-image:1.1",
    }
    # A deleted version's number is not given again.
    assert delete_and_wait(client, second, VERSION_TYPE)["OperationStatus"] == "SUCCESS"
    third = create_and_wait(client, version(tag="1.2"), VERSION_TYPE)["Identifier"]
    assert get_properties(client, third, VERSION_TYPE)["Version"] == 3
    # An update keeps the number; BaseImage cannot change.
    assert (
        patched(client, third, [{"op": "add", "path": "/JobType", "value": "NOTEBOOK_KERNEL"}], VERSION_TYPE)[
            "OperationStatus"
        ]
        == "SUCCESS"
    )
    assert get_properties(client, third, VERSION_TYPE)["Version"] == 3
    with pytest.raises(client.exceptions.NotUpdatableException):
        update(client, third, [{"op": "replace", "path": "/BaseImage", "value": f"{ECR}/x:2"}], VERSION_TYPE)


def test_versions_are_listed_within_their_image_only(client: Any) -> None:
    create_and_wait(client, image(), IMAGE_TYPE)
    create_and_wait(client, image("other-image"), IMAGE_TYPE)
    mine = create_and_wait(client, version(), VERSION_TYPE)["Identifier"]
    create_and_wait(client, version("other-image"), VERSION_TYPE)
    assert listed(client, VERSION_TYPE, ImageName="team-image") == [mine]
    with pytest.raises(client.exceptions.InvalidRequestException) as caught:
        client.list_resources(TypeName=VERSION_TYPE)
    assert error_of(caught)[1] == (
        "Missing Or Invalid ResourceModel property in AWS::SageMaker::ImageVersion list handler request input. "
        "Required property: [ImageName]"
    )


def test_a_version_needs_its_image_and_an_ecr_base_image(client: Any) -> None:
    event = failed(client, version(), VERSION_TYPE)
    assert (event["ErrorCode"], event["StatusMessage"]) == (
        "InvalidRequest",
        "Invalid request provided: Image: [team-image] not found. Failed to create Image Version",
    )
    create_and_wait(client, image(), IMAGE_TYPE)
    event = failed(client, {"ImageName": "team-image", "BaseImage": "docker.io/library/python:3.12"}, VERSION_TYPE)
    assert event["ErrorCode"] == "InvalidRequest"
    assert "Value 'docker.io/library/python:3.12' at 'baseImage' failed to satisfy constraint" in event["StatusMessage"]
    digest = f"{ECR}/teams/ml-image@sha256:{'ab' * 32}"
    created = create_and_wait(client, version(BaseImage=digest), VERSION_TYPE)["Identifier"]
    # The failed creates took no number.
    assert created == f"{ARN}:image-version/team-image/1"


def test_deleting_an_image_deletes_its_versions(client: Any) -> None:
    """DeleteImage "deletes a SageMaker AI image and all versions of the image" (API reference)."""
    arn = create_and_wait(client, image(), IMAGE_TYPE)["Identifier"]
    one = create_and_wait(client, version(), VERSION_TYPE)["Identifier"]
    assert delete_and_wait(client, arn, IMAGE_TYPE)["OperationStatus"] == "SUCCESS"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=VERSION_TYPE, Identifier=one)
    # A new image of that name counts its versions from 1 again.
    create_and_wait(client, image(), IMAGE_TYPE)
    assert create_and_wait(client, version(), VERSION_TYPE)["Identifier"] == one


# ------------------------------------------------------------------------------ app image configs


def test_an_app_image_config_is_named_by_its_name_and_updates(client: Any) -> None:
    config = {"AppImageConfigName": "team-kernels", "JupyterLabAppImageConfig": {}}
    assert create_and_wait(client, config, AIC_TYPE)["Identifier"] == "team-kernels"
    args = {"ContainerConfig": {"ContainerArguments": ["--debug"]}}
    patch = [{"op": "replace", "path": "/JupyterLabAppImageConfig", "value": args}]
    assert patched(client, "team-kernels", patch, AIC_TYPE)["OperationStatus"] == "SUCCESS"
    assert get_properties(client, "team-kernels", AIC_TYPE) == {
        "AppImageConfigName": "team-kernels",
        "AppImageConfigArn": f"{ARN}:app-image-config/team-kernels",
        "JupyterLabAppImageConfig": args,
    }


# ---------------------------------------------------------- what settings name, and deletes refused


def kit(client: Any) -> None:
    create_and_wait(client, lifecycle_config(), LCC_TYPE)
    create_and_wait(client, image(), IMAGE_TYPE)
    create_and_wait(client, {"AppImageConfigName": "team-kernels"}, AIC_TYPE)


CUSTOM = {"ImageName": "team-image", "AppImageConfigName": "team-kernels"}


def test_settings_naming_what_does_not_exist_are_refused(client: Any) -> None:
    uses_lcc = {"UserSettings": {"JupyterLabAppSettings": {"LifecycleConfigArns": [LCC_ARN]}}}
    event = failed(client, profile(**uses_lcc), TYPE_NAME)
    assert (event["ErrorCode"], event["StatusMessage"]) == (
        "NotFound",
        f"StudioLifecycleConfig {LCC_ARN} does not exist (region {REGION}).",
    )
    uses_image = {"UserSettings": {"KernelGatewayAppSettings": {"CustomImages": [CUSTOM]}}}
    assert failed(client, profile(**uses_image), TYPE_NAME)["StatusMessage"] == (
        f"Image team-image does not exist (region {REGION})."
    )
    create_and_wait(client, image(), IMAGE_TYPE)
    assert failed(client, profile(**uses_image), TYPE_NAME)["StatusMessage"] == (
        f"AppImageConfig team-kernels does not exist (region {REGION})."
    )
    # An update that names a missing one fails the same way, and changes nothing.
    create_and_wait(client, profile())
    spec = {"DefaultResourceSpec": {"LifecycleConfigArn": LCC_ARN}}
    patch = [{"op": "add", "path": "/UserSettings/JupyterServerAppSettings", "value": spec}]
    event = patched(client, f"alice|{DOMAIN}", patch, TYPE_NAME)
    assert (event["OperationStatus"], event["ErrorCode"]) == ("FAILED", "NotFound")
    assert "DefaultResourceSpec" not in json.dumps(get_properties(client, f"alice|{DOMAIN}"))
    # "None" is SageMaker's word for no lifecycle config: it names nothing.
    none = {"JupyterServerAppSettings": {"DefaultResourceSpec": {"LifecycleConfigArn": "None"}}}
    assert (
        patched(client, f"alice|{DOMAIN}", [{"op": "add", "path": "/UserSettings", "value": none}], TYPE_NAME)[
            "OperationStatus"
        ]
        == "SUCCESS"
    )
    # A lifecycle config of another region is none of this region's.
    elsewhere = {"LifecycleConfigArns": [LCC_ARN.replace(REGION, "eu-west-1")]}
    event = failed(client, space(SpaceSettings={"JupyterServerAppSettings": elsewhere}), SPACE_TYPE)
    assert event["ErrorCode"] == "NotFound"


def test_what_a_domain_profile_or_space_names_cannot_be_deleted_until_they_let_go(client: Any) -> None:
    kit(client)
    settings = {"LifecycleConfigArns": [LCC_ARN], "CustomImages": [CUSTOM]}
    made = create_and_wait(
        client,
        domain(DefaultUserSettings={"ExecutionRole": ROLE, "JupyterLabAppSettings": settings}),
        DOMAIN_TYPE,
    )
    domain_id = made["Identifier"]
    create_and_wait(client, profile(UserSettings={"KernelGatewayAppSettings": {"CustomImages": [CUSTOM]}}))
    spec = {"DefaultResourceSpec": {"LifecycleConfigArn": LCC_ARN}}
    create_and_wait(client, space(SpaceSettings={"JupyterServerAppSettings": spec}), SPACE_TYPE)

    event = delete_and_wait(client, "setup", LCC_TYPE)
    assert (event["OperationStatus"], event["ErrorCode"], event["StatusMessage"]) == (
        "FAILED",
        "ResourceConflict",
        f"Unable to delete StudioLifecycleConfig [{LCC_ARN}] because Domain(s), Space(s) are associated with it: "
        f"Domain [{domain_id}]; Space [lab].",
    )
    event = delete_and_wait(client, f"{ARN}:image/team-image", IMAGE_TYPE)
    assert event["ErrorCode"] == "ResourceConflict"
    assert event["StatusMessage"] == (
        f"Unable to delete Image [{ARN}:image/team-image] because Domain(s), UserProfile(s) are associated "
        f"with it: Domain [{domain_id}]; UserProfile [alice]."
    )
    assert delete_and_wait(client, "team-kernels", AIC_TYPE)["ErrorCode"] == "ResourceConflict"
    assert get_properties(client, "setup", LCC_TYPE)["StudioLifecycleConfigName"] == "setup"

    # Let go: the domain drops its settings, the profile goes, the space names none any more.
    let_go = [{"op": "remove", "path": "/DefaultUserSettings/JupyterLabAppSettings"}]
    assert patched(client, domain_id, let_go, DOMAIN_TYPE)["OperationStatus"] == "SUCCESS"
    assert delete_and_wait(client, f"alice|{DOMAIN}")["OperationStatus"] == "SUCCESS"
    event = delete_and_wait(client, "setup", LCC_TYPE)
    assert event["StatusMessage"].endswith("because Space(s) are associated with it: Space [lab].")
    empty = [{"op": "replace", "path": "/SpaceSettings", "value": {}}]
    assert patched(client, f"{DOMAIN}|lab", empty, SPACE_TYPE)["OperationStatus"] == "SUCCESS"
    for identifier, type_name in (
        ("setup", LCC_TYPE),
        (f"{ARN}:image/team-image", IMAGE_TYPE),
        ("team-kernels", AIC_TYPE),
    ):
        assert delete_and_wait(client, identifier, type_name)["OperationStatus"] == "SUCCESS", type_name
