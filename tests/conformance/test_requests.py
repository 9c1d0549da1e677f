"""Resource requests: idempotency, concurrency, cancellation, listing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance.helpers import (
    DOMAIN,
    TYPE_NAME,
    create,
    create_and_wait,
    get_properties,
    profile,
    update,
    wait_request,
)
from tests.support.emulator import EmulatorProcess

ALICE = f"alice|{DOMAIN}"


def test_same_client_token_same_request_returns_the_same_request(client: Any, emulator: EmulatorProcess) -> None:
    first = create(client, profile(), ClientToken="token-1")
    again = create(client, profile(), ClientToken="token-1")
    assert again["RequestToken"] == first["RequestToken"]
    wait_request(client, first["RequestToken"])
    # Replayed after completion: still the same request, now with its outcome, nothing created twice.
    late = create(client, profile(), ClientToken="token-1")
    assert (late["RequestToken"], late["OperationStatus"]) == (first["RequestToken"], "SUCCESS")
    assert len(emulator.requests()) == 1


def test_used_client_token_for_another_request_conflicts(client: Any) -> None:
    create(client, profile(), ClientToken="token-2")
    with pytest.raises(client.exceptions.ClientTokenConflictException):
        create(client, profile("bob"), ClientToken="token-2")
    with pytest.raises(client.exceptions.ClientTokenConflictException):
        client.delete_resource(TypeName=TYPE_NAME, Identifier=ALICE, ClientToken="token-2")


def test_second_mutation_while_one_is_in_flight(client: Any) -> None:
    create_and_wait(client, profile())
    token = update(client, ALICE, [{"op": "add", "path": "/Tags", "value": []}])["RequestToken"]
    with pytest.raises(client.exceptions.ConcurrentOperationException):
        client.delete_resource(TypeName=TYPE_NAME, Identifier=ALICE)
    with pytest.raises(client.exceptions.ConcurrentOperationException):
        update(client, ALICE, [{"op": "add", "path": "/Tags", "value": []}])
    wait_request(client, token)
    event = client.delete_resource(TypeName=TYPE_NAME, Identifier=ALICE)["ProgressEvent"]
    assert wait_request(client, event["RequestToken"])["OperationStatus"] == "SUCCESS"


def test_second_create_while_create_in_flight(client: Any) -> None:
    create(client, profile())
    with pytest.raises(client.exceptions.ConcurrentOperationException):
        create(client, profile())


def test_cancel_in_progress_request_prevents_the_mutation(client: Any) -> None:
    token = create(client, profile())["RequestToken"]
    event = client.cancel_resource_request(RequestToken=token)["ProgressEvent"]
    assert event["OperationStatus"] == "CANCEL_COMPLETE"
    assert wait_request(client, token)["OperationStatus"] == "CANCEL_COMPLETE"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName=TYPE_NAME, Identifier=ALICE)
    # The resource is free again.
    create_and_wait(client, profile())


def test_cancel_of_completed_request(client: Any) -> None:
    token = create_and_wait(client, profile())["RequestToken"]
    with pytest.raises(client.exceptions.ConcurrentModificationException):
        client.cancel_resource_request(RequestToken=token)


def test_unknown_request_token(client: Any) -> None:
    with pytest.raises(client.exceptions.RequestTokenNotFoundException):
        client.get_resource_request_status(RequestToken="00000000-0000-0000-0000-000000000000")
    with pytest.raises(client.exceptions.RequestTokenNotFoundException):
        client.cancel_resource_request(RequestToken="00000000-0000-0000-0000-000000000000")


def test_list_resource_requests_pages_and_filters(client: Any, emulator: EmulatorProcess) -> None:
    emulator.oob_create("us-east-1", [profile(f"user{i:02d}") for i in range(15)])
    for i in range(15):
        client.delete_resource(TypeName=TYPE_NAME, Identifier=f"user{i:02d}|{DOMAIN}")
    for i in range(30):
        create(client, profile(f"new{i:02d}"))

    first = client.list_resource_requests()
    assert len(first["ResourceRequestStatusSummaries"]) == 20
    newest = first["ResourceRequestStatusSummaries"][0]
    assert newest["Operation"] == "CREATE"
    seen = [e["RequestToken"] for e in first["ResourceRequestStatusSummaries"]]
    token = first.get("NextToken")
    while token:
        page = client.list_resource_requests(NextToken=token)
        seen += [e["RequestToken"] for e in page["ResourceRequestStatusSummaries"]]
        token = page.get("NextToken")
    assert len(seen) == len(set(seen)) == 45

    big = client.list_resource_requests(MaxResults=100)
    assert len(big["ResourceRequestStatusSummaries"]) == 45
    assert "NextToken" not in big

    deletes = client.list_resource_requests(MaxResults=100, ResourceRequestStatusFilter={"Operations": ["DELETE"]})[
        "ResourceRequestStatusSummaries"
    ]
    assert len(deletes) == 15 and {e["Operation"] for e in deletes} == {"DELETE"}

    wait_request(client, seen[0])
    done = client.list_resource_requests(
        MaxResults=100, ResourceRequestStatusFilter={"OperationStatuses": ["SUCCESS"]}
    )["ResourceRequestStatusSummaries"]
    assert len(done) == 45


def test_list_resource_requests_limits(raw_client: Any) -> None:
    for bad in ({"MaxResults": 101}, {"MaxResults": 0}, {"NextToken": "not a token!"}):
        with pytest.raises(ClientError) as caught:
            raw_client.list_resource_requests(**bad)
        assert caught.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as caught:
        raw_client.list_resource_requests(ResourceRequestStatusFilter={"OperationStatuses": ["DONE"]})
    assert "enum value set" in caught.value.response["Error"]["Message"]


def test_list_resources_pages_of_25(client: Any, emulator: EmulatorProcess) -> None:
    emulator.oob_create("us-east-1", [profile(f"user{i:03d}") for i in range(60)])
    pages, identifiers, token = 0, [], None
    while True:
        kwargs = {"NextToken": token} if token else {}
        page = client.list_resources(TypeName=TYPE_NAME, **kwargs)
        pages += 1
        assert page["TypeName"] == TYPE_NAME
        assert len(page["ResourceDescriptions"]) <= 25
        for description in page["ResourceDescriptions"]:
            identifiers.append(description["Identifier"])
            assert json.loads(description["Properties"])["DomainId"] == DOMAIN
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3
    assert identifiers == sorted(f"user{i:03d}|{DOMAIN}" for i in range(60))


def test_list_resources_filter_and_full_properties(client: Any, emulator: EmulatorProcess) -> None:
    emulator.add_domain("d-second", "us-east-1")
    emulator.oob_create("us-east-1", [profile("a"), profile("b", domain="d-second")])
    page = client.list_resources(TypeName=TYPE_NAME, ResourceModel=json.dumps({"DomainId": "d-second"}))
    assert [d["Identifier"] for d in page["ResourceDescriptions"]] == ["b|d-second"]
    assert json.loads(page["ResourceDescriptions"][0]["Properties"]) == {
        "UserProfileName": "b",
        "DomainId": "d-second",
    }
    emulator.set_config(ListFullProperties=True)
    page = client.list_resources(TypeName=TYPE_NAME, ResourceModel=json.dumps({"DomainId": "d-second"}))
    assert json.loads(page["ResourceDescriptions"][0]["Properties"]) == get_properties(client, "b|d-second")


def test_list_resources_sees_completed_creates(client: Any) -> None:
    token = create(client, profile())["RequestToken"]
    assert client.list_resources(TypeName=TYPE_NAME)["ResourceDescriptions"] == []
    wait_request(client, token)
    assert [d["Identifier"] for d in client.list_resources(TypeName=TYPE_NAME)["ResourceDescriptions"]] == [ALICE]
