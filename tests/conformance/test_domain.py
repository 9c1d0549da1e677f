"""AWS::SageMaker::Domain in the Studio setup: what the operator relies on when it makes or adopts one.

The create returns the generated DomainId as the Identifier of the finished request, and a ClientToken
sent again makes no second domain. SageMaker refuses a VpcId or SubnetIds item that is not an EC2 id
(the schema lets any `[-0-9a-zA-Z]+` through): the request ends FAILED with InvalidRequest.
ListResources shows each domain's DomainName, so a domain can be found by name. A domain made through
Cloud Control and one seeded through `POST /_emulator/domains` hold profiles and spaces alike, and
neither can be deleted while it does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance import helpers as cc
from tests.conformance.helpers import DOMAIN, DOMAIN_TYPE, REGION, SPACE_TYPE, profile, space
from tests.support.emulator import EmulatorAdminError, EmulatorProcess

VPC_PATTERN = "vpc-([0-9a-f]{8}|[0-9a-f]{17})"
SUBNET_PATTERN = "subnet-([0-9a-f]{8}|[0-9a-f]{17})"


def domain_ids(client: Any) -> list[str]:
    return [d["Identifier"] for d in client.list_resources(TypeName=DOMAIN_TYPE)["ResourceDescriptions"]]


def test_the_finished_create_carries_the_generated_identifier(client: Any, emulator: EmulatorProcess) -> None:
    event = cc.create(client, cc.domain(), DOMAIN_TYPE)
    assert (event["OperationStatus"], "Identifier" in event) == ("IN_PROGRESS", False)
    final = cc.wait_request(client, event["RequestToken"])
    domain_id = final["Identifier"]
    assert json.loads(final["ResourceModel"]) == cc.get_properties(client, domain_id, DOMAIN_TYPE)
    # Asked again, and in the list of requests, the finished request still says which domain it made.
    again = client.get_resource_request_status(RequestToken=event["RequestToken"])["ProgressEvent"]
    assert (again["Identifier"], again["ResourceModel"]) == (domain_id, final["ResourceModel"])
    [summary] = client.list_resource_requests()["ResourceRequestStatusSummaries"]
    assert (summary["Identifier"], summary["OperationStatus"]) == (domain_id, "SUCCESS")
    # With CreateEventIdentifier the IN_PROGRESS event names the id the finished request will have.
    emulator.set_config(CreateEventIdentifier=True)
    event = cc.create(client, cc.domain("second"), DOMAIN_TYPE)
    assert event["OperationStatus"] == "IN_PROGRESS"
    assert cc.wait_request(client, event["RequestToken"])["Identifier"] == event["Identifier"] != domain_id


def test_the_same_client_token_makes_one_domain(client: Any, emulator: EmulatorProcess) -> None:
    first = cc.create(client, cc.domain(), DOMAIN_TYPE, ClientToken="studio-setup-1")
    in_flight = cc.create(client, cc.domain(), DOMAIN_TYPE, ClientToken="studio-setup-1")
    assert in_flight["RequestToken"] == first["RequestToken"]
    domain_id = cc.wait_request(client, first["RequestToken"])["Identifier"]
    # Sent again once it has finished: the same request, now SUCCESS with the same Identifier.
    after = cc.create(client, cc.domain(), DOMAIN_TYPE, ClientToken="studio-setup-1")
    assert (after["RequestToken"], after["OperationStatus"]) == (first["RequestToken"], "SUCCESS")
    assert after["Identifier"] == domain_id
    assert domain_ids(client) == sorted([DOMAIN, domain_id])
    requests = emulator.admin("GET", f"/_emulator/requests?Region={REGION}")["Requests"]
    assert [(r["Operation"], r["Identifier"]) for r in requests] == [("CREATE", domain_id)]
    # The token cannot name another request; a new token is a new domain.
    with pytest.raises(client.exceptions.ClientTokenConflictException):
        cc.create(client, cc.domain("other"), DOMAIN_TYPE, ClientToken="studio-setup-1")
    other = cc.wait_request(client, cc.create(client, cc.domain(), DOMAIN_TYPE)["RequestToken"])["Identifier"]
    assert domain_ids(client) == sorted([DOMAIN, domain_id, other])


@pytest.mark.parametrize(
    "network",
    [
        {"VpcId": "vpc-0123abcd", "SubnetIds": ["subnet-89abcdef"]},
        {"VpcId": "vpc-0123456789abcdef0", "SubnetIds": ["subnet-0123456789abcdef0", "subnet-01234567"]},
        {"SubnetIds": ["subnet-0123456789abcdef0"]},
    ],
)
def test_ec2_ids_are_accepted(client: Any, network: dict[str, Any]) -> None:
    domain_id = cc.create_and_wait(client, cc.domain(**network), DOMAIN_TYPE)["Identifier"]
    properties = cc.get_properties(client, domain_id, DOMAIN_TYPE)
    assert {key: properties[key] for key in network} == network


def _refused(member: str, value: str, pattern: str) -> str:
    return (
        f"Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {pattern}"
    )


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ({"VpcId": "vpc-123"}, "1 validation error detected: " + _refused("vpcId", "vpc-123", VPC_PATTERN)),
        (
            {"VpcId": "vpc-0123456789ABCDEF0"},  # EC2 ids are lowercase
            "1 validation error detected: " + _refused("vpcId", "vpc-0123456789ABCDEF0", VPC_PATTERN),
        ),
        (
            {"VpcId": "subnet-0123abcd"},
            "1 validation error detected: " + _refused("vpcId", "subnet-0123abcd", VPC_PATTERN),
        ),
        (
            {"SubnetIds": ["subnet-0123abcd", "subnet-0123abcdz", "sn-01234567"]},
            "2 validation errors detected: "
            + _refused("subnetIds.2.member", "subnet-0123abcdz", SUBNET_PATTERN)
            + "; "
            + _refused("subnetIds.3.member", "sn-01234567", SUBNET_PATTERN),
        ),
        (
            {"VpcId": "vpc-0123456789abcdef", "SubnetIds": ["subnet-1"]},  # 16 digits
            "2 validation errors detected: "
            + _refused("vpcId", "vpc-0123456789abcdef", VPC_PATTERN)
            + "; "
            + _refused("subnetIds.1.member", "subnet-1", SUBNET_PATTERN),
        ),
    ],
)
def test_malformed_vpc_and_subnet_ids_fail_the_create(client: Any, network: dict[str, Any], message: str) -> None:
    event = cc.create(client, cc.domain(**network), DOMAIN_TYPE)
    assert event["OperationStatus"] == "IN_PROGRESS"  # the schema allows them: SageMaker refuses them
    final = cc.wait_request(client, event["RequestToken"])
    assert (final["OperationStatus"], final["ErrorCode"], final["StatusMessage"]) == (
        "FAILED",
        "InvalidRequest",
        message,
    )
    assert "ResourceModel" not in final
    assert domain_ids(client) == [DOMAIN]


def test_what_the_schema_refuses_is_refused_at_once(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        cc.create(client, cc.domain(VpcId="vpc-" + "0" * 29), DOMAIN_TYPE)  # 33 characters, at most 32
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "#/VpcId: failed validation constraint for keyword [maxLength]" in caught.value.response["Error"]["Message"]


def test_an_update_to_a_malformed_subnet_fails(client: Any, emulator: EmulatorProcess) -> None:
    network = {"VpcId": "vpc-0123abcd", "SubnetIds": ["subnet-0123abcd"]}
    domain_id = cc.create_and_wait(client, cc.domain(**network), DOMAIN_TYPE)["Identifier"]
    before = cc.get_properties(client, domain_id, DOMAIN_TYPE)
    bad = [{"op": "add", "path": "/SubnetIds/-", "value": "subnet-nope"}]
    final = cc.wait_request(client, cc.update(client, domain_id, bad, DOMAIN_TYPE)["RequestToken"])
    assert (final["OperationStatus"], final["ErrorCode"]) == ("FAILED", "InvalidRequest")
    assert final["StatusMessage"] == "1 validation error detected: " + _refused(
        "subnetIds.2.member", "subnet-nope", SUBNET_PATTERN
    )
    assert cc.get_properties(client, domain_id, DOMAIN_TYPE) == before
    with pytest.raises(EmulatorAdminError) as refused:  # a change "in the console" is checked alike
        emulator.admin(
            "POST",
            "/_emulator/resources/patch",
            {"Region": REGION, "Identifier": domain_id, "PatchDocument": bad, "TypeName": DOMAIN_TYPE},
        )
    assert (refused.value.status, refused.value.body["__type"]) == (400, "InvalidRequestException")
    assert cc.get_properties(client, domain_id, DOMAIN_TYPE) == before
    good = [{"op": "add", "path": "/SubnetIds/-", "value": "subnet-0123456789abcdef0"}]
    final = cc.wait_request(client, cc.update(client, domain_id, good, DOMAIN_TYPE)["RequestToken"])
    assert final["OperationStatus"] == "SUCCESS"
    assert json.loads(final["ResourceModel"])["SubnetIds"] == ["subnet-0123abcd", "subnet-0123456789abcdef0"]


def test_list_resources_shows_each_domain_name(client: Any, emulator: EmulatorProcess) -> None:
    """How the operator adopts a domain: it finds its DomainName in ListResources."""
    made = {cc.create_and_wait(client, cc.domain(name), DOMAIN_TYPE)["Identifier"]: name for name in ("ml", "bio")}
    listed = {
        d["Identifier"]: json.loads(d["Properties"])
        for d in client.list_resources(TypeName=DOMAIN_TYPE)["ResourceDescriptions"]
    }
    assert {identifier: p["DomainName"] for identifier, p in listed.items()} == {**made, DOMAIN: DOMAIN}
    for identifier, shown in listed.items():
        properties = cc.get_properties(client, identifier, DOMAIN_TYPE)
        # What SageMaker's ListDomains reports; the rest (settings, EFS id) needs a GetResource.
        assert shown == {key: properties[key] for key in ("DomainId", "DomainName", "DomainArn", "Url")}
    emulator.set_config(ListFullProperties=True)
    for description in client.list_resources(TypeName=DOMAIN_TYPE)["ResourceDescriptions"]:
        identifier = description["Identifier"]
        assert json.loads(description["Properties"]) == cc.get_properties(client, identifier, DOMAIN_TYPE)


@pytest.fixture(params=["seeded", "created"])
def studio(request: pytest.FixtureRequest, client: Any, emulator: EmulatorProcess) -> str:
    """A domain seeded through the admin API (the autouse one) or made through Cloud Control."""
    if request.param == "seeded":
        return DOMAIN
    domain_id: str = cc.create_and_wait(client, cc.domain(), DOMAIN_TYPE)["Identifier"]
    return domain_id


def test_a_domain_in_use_cannot_be_deleted(client: Any, emulator: EmulatorProcess, studio: str) -> None:
    alice = cc.create_and_wait(client, profile(domain=studio))["Identifier"]
    owned = space("lab", domain=studio, OwnershipSettings={"OwnerUserProfileName": "alice"})
    lab = cc.create_and_wait(client, owned, SPACE_TYPE)["Identifier"]
    shared = cc.create_and_wait(client, space("shared", domain=studio), SPACE_TYPE)["Identifier"]
    assert (alice, lab, shared) == (f"alice|{studio}", f"{studio}|lab", f"{studio}|shared")
    arn = f"arn:aws:sagemaker:{REGION}:123456789012:domain/{studio}"
    event = cc.delete_and_wait(client, studio, DOMAIN_TYPE)
    assert (event["OperationStatus"], event["ErrorCode"]) == ("FAILED", "ResourceConflict")
    assert event["StatusMessage"] == (
        f"Unable to delete Domain [{arn}] because UserProfile(s), Space(s) are associated with it: "
        "UserProfile [alice]; Space [lab, shared]."
    )
    assert cc.get_properties(client, studio, DOMAIN_TYPE)["DomainArn"] == arn
    assert cc.delete_and_wait(client, lab, SPACE_TYPE)["OperationStatus"] == "SUCCESS"
    assert cc.delete_and_wait(client, alice)["OperationStatus"] == "SUCCESS"
    event = cc.delete_and_wait(client, studio, DOMAIN_TYPE)
    assert event["StatusMessage"] == (
        f"Unable to delete Domain [{arn}] because Space(s) are associated with it: Space [shared]."
    )
    assert cc.delete_and_wait(client, shared, SPACE_TYPE)["OperationStatus"] == "SUCCESS"
    assert cc.delete_and_wait(client, studio, DOMAIN_TYPE)["OperationStatus"] == "SUCCESS"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=DOMAIN_TYPE, Identifier=studio)
    assert studio not in domain_ids(client)
    assert studio not in {d["DomainId"] for d in emulator.domains()}
    event = cc.wait_request(client, cc.create(client, profile(domain=studio))["RequestToken"])
    assert (event["ErrorCode"], event["StatusMessage"]) == (
        "NotFound",
        f"Domain {studio} does not exist (region {REGION}).",
    )
