"""AWS::SageMaker::Domain and AWS::SageMaker::App, and what every served type shares.

A domain's DomainId is readOnly: SageMaker invents it (`d-` and 12 lowercase alphanumerics) and
Cloud Control returns it as the Identifier of the finished request. A profile with apps cannot be
deleted. What a domain goes through in the Studio setup (idempotent creates, VPC and subnet checks,
listing by name, deletion while in use) is in test_domain.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

import cfn_registry
from cfn_registry.validation import model_validator
from tests.conformance import helpers as cc
from tests.conformance.helpers import APP_TYPE, DOMAIN, DOMAIN_TYPE, REGION, SPACE_TYPE, TYPE_NAME, profile, space
from tests.support.emulator import EmulatorProcess

NEW_DOMAIN = cc.domain()
APP = {"DomainId": DOMAIN, "UserProfileName": "alice", "AppType": "JupyterServer", "AppName": "default"}


def test_create_domain_returns_a_generated_identifier(client: Any) -> None:
    event = cc.create(client, NEW_DOMAIN, DOMAIN_TYPE)
    assert event["OperationStatus"] == "IN_PROGRESS" and "Identifier" not in event
    final = cc.wait_request(client, event["RequestToken"])
    assert final["OperationStatus"] == "SUCCESS"
    domain_id = final["Identifier"]
    assert re.fullmatch(r"d-[a-z0-9]{12}", domain_id)
    properties = cc.get_properties(client, domain_id, DOMAIN_TYPE)
    assert json.loads(final["ResourceModel"]) == properties
    assert properties == {
        **NEW_DOMAIN,
        "DomainId": domain_id,
        "DomainArn": f"arn:aws:sagemaker:{REGION}:123456789012:domain/{domain_id}",
        "Url": f"https://{domain_id}.studio.{REGION}.sagemaker.aws",
        "HomeEfsFileSystemId": properties["HomeEfsFileSystemId"],
    }
    assert re.fullmatch(r"fs-[0-9a-f]{17}", properties["HomeEfsFileSystemId"])
    # Profiles can live in it at once; the update keeps the generated values.
    cc.create_and_wait(client, profile(domain=domain_id))
    tags = [{"Key": "team", "Value": "ml"}]
    event = cc.update(client, domain_id, [{"op": "add", "path": "/Tags", "value": tags}], DOMAIN_TYPE)
    assert cc.wait_request(client, event["RequestToken"])["OperationStatus"] == "SUCCESS"
    assert cc.get_properties(client, domain_id, DOMAIN_TYPE) == {**properties, "Tags": tags}


def test_domain_id_cannot_be_given(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        cc.create(client, {**NEW_DOMAIN, "DomainId": "d-mine12345678"}, DOMAIN_TYPE)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "#: extraneous key [DomainId] is not permitted" in caught.value.response["Error"]["Message"]


def test_seeded_domains_are_domain_resources(client: Any, emulator: EmulatorProcess) -> None:
    properties = cc.get_properties(client, DOMAIN, DOMAIN_TYPE)
    assert properties["DomainId"] == DOMAIN
    assert properties["DomainArn"] == f"arn:aws:sagemaker:{REGION}:123456789012:domain/{DOMAIN}"
    [listed] = client.list_resources(TypeName=DOMAIN_TYPE)["ResourceDescriptions"]
    assert json.loads(listed["Properties"]) == {
        key: properties[key] for key in ("DomainId", "DomainName", "DomainArn", "Url")
    }
    assert properties["DomainName"] == DOMAIN
    emulator.add_domain(DOMAIN, REGION)  # seeding again changes nothing
    assert emulator.domains() == [{"DomainId": DOMAIN, "Region": REGION}]


def test_reset_keeps_domains_made_through_cloud_control(client: Any, emulator: EmulatorProcess) -> None:
    domain_id = cc.create_and_wait(client, NEW_DOMAIN, DOMAIN_TYPE)["Identifier"]
    emulator.reset()
    assert {d["DomainId"] for d in emulator.domains()} == {DOMAIN, domain_id}
    cc.create_and_wait(client, profile(domain=domain_id))


def test_app_needs_its_profile_and_blocks_its_deletion(client: Any) -> None:
    event = cc.wait_request(client, cc.create(client, APP, APP_TYPE)["RequestToken"])
    assert (event["OperationStatus"], event["ErrorCode"]) == ("FAILED", "NotFound")
    assert "UserProfile alice does not exist" in event["StatusMessage"]
    cc.create_and_wait(client, profile())
    app = cc.create_and_wait(client, APP, APP_TYPE)
    assert app["Identifier"] == f"default|JupyterServer|{DOMAIN}|alice"
    assert cc.get_properties(client, app["Identifier"], APP_TYPE)["AppArn"] == (
        f"arn:aws:sagemaker:{REGION}:123456789012:app/{DOMAIN}/alice/jupyterserver/default"
    )
    event = cc.delete_and_wait(client, f"alice|{DOMAIN}")
    assert event["ErrorCode"] == "ResourceConflict"
    assert event["StatusMessage"].endswith("because App(s) are associated with it: App [default (JupyterServer)].")
    assert cc.delete_and_wait(client, app["Identifier"], APP_TYPE)["OperationStatus"] == "SUCCESS"
    assert cc.delete_and_wait(client, f"alice|{DOMAIN}")["OperationStatus"] == "SUCCESS"


@pytest.mark.parametrize(
    ("type_name", "model", "identifier"),
    [
        (TYPE_NAME, profile(Tags=[{"Key": "team", "Value": "ml"}]), f"alice|{DOMAIN}"),
        (SPACE_TYPE, space(OwnershipSettings={"OwnerUserProfileName": "alice"}), f"{DOMAIN}|lab"),
        (DOMAIN_TYPE, None, DOMAIN),
        (APP_TYPE, APP, f"default|JupyterServer|{DOMAIN}|alice"),
    ],
)
def test_what_the_service_adds_satisfies_the_schema(
    client: Any, type_name: str, model: dict[str, Any] | None, identifier: str
) -> None:
    """Computed ARNs, URLs and ids match the schema's own patterns for every served type."""
    if type_name != TYPE_NAME:
        cc.create_and_wait(client, profile())
    if model is not None:
        cc.create_and_wait(client, model, type_name)
    properties = cc.get_properties(client, identifier, type_name)
    schema = cfn_registry.load(type_name)
    assert {path[0] for path in schema.read_only} & set(properties)
    errors = [error.message for error in model_validator(schema).iter_errors(properties)]
    assert errors == []


def test_every_vendored_type_is_served(client: Any) -> None:
    for type_name in cfn_registry.type_names():
        # The filters the list handler requires (an image version is listed within its image).
        handlers = cfn_registry.load(type_name).document["handlers"]
        required = handlers["list"].get("handlerSchema", {}).get("required", [])
        model = json.dumps(dict.fromkeys(required, "x"))
        assert "ResourceDescriptions" in client.list_resources(TypeName=type_name, ResourceModel=model)
