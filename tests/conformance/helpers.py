"""Helpers shared by the conformance tests: constants, polling, small request builders."""

from __future__ import annotations

import json
import time
from typing import Any

TYPE_NAME = "AWS::SageMaker::UserProfile"
SPACE_TYPE = "AWS::SageMaker::Space"
DOMAIN_TYPE = "AWS::SageMaker::Domain"
APP_TYPE = "AWS::SageMaker::App"
REGION = "us-east-1"
DOMAIN = "d-abc123def456"
LATENCY = 0.2
TERMINAL = {"SUCCESS", "FAILED", "CANCEL_COMPLETE"}


def wait_request(client: Any, token: str, timeout: float = 5.0) -> dict[str, Any]:
    """Poll GetResourceRequestStatus until the request is terminal; returns the ProgressEvent."""
    deadline = time.monotonic() + timeout
    while True:
        event: dict[str, Any] = client.get_resource_request_status(RequestToken=token)["ProgressEvent"]
        if event["OperationStatus"] in TERMINAL:
            return event
        if time.monotonic() > deadline:
            raise AssertionError(f"request {token} still {event['OperationStatus']} after {timeout}s")
        time.sleep(0.02)


def profile(name: str = "alice", domain: str = DOMAIN, **extra: Any) -> dict[str, Any]:
    return {"DomainId": domain, "UserProfileName": name, **extra}


def space(name: str = "lab", domain: str = DOMAIN, **extra: Any) -> dict[str, Any]:
    return {"DomainId": domain, "SpaceName": name, **extra}


def domain(name: str = "research", **extra: Any) -> dict[str, Any]:
    """The desired state of a new domain (its DomainId is the service's to make)."""
    return {
        "DomainName": name,
        "AuthMode": "IAM",
        "DefaultUserSettings": {"ExecutionRole": "arn:aws:iam::123456789012:role/SageMakerExec"},
        **extra,
    }


def create(client: Any, model: dict[str, Any], type_name: str = TYPE_NAME, **kwargs: Any) -> dict[str, Any]:
    event: dict[str, Any] = client.create_resource(TypeName=type_name, DesiredState=json.dumps(model), **kwargs)[
        "ProgressEvent"
    ]
    return event


def create_and_wait(client: Any, model: dict[str, Any], type_name: str = TYPE_NAME) -> dict[str, Any]:
    event = wait_request(client, create(client, model, type_name)["RequestToken"])
    assert event["OperationStatus"] == "SUCCESS", event
    return event


def update(
    client: Any, identifier: str, patch: list[dict[str, Any]], type_name: str = TYPE_NAME, **kwargs: Any
) -> dict[str, Any]:
    event: dict[str, Any] = client.update_resource(
        TypeName=type_name, Identifier=identifier, PatchDocument=json.dumps(patch), **kwargs
    )["ProgressEvent"]
    return event


def delete_and_wait(client: Any, identifier: str, type_name: str = TYPE_NAME) -> dict[str, Any]:
    """Delete and poll: the terminal ProgressEvent, SUCCESS or FAILED."""
    token = client.delete_resource(TypeName=type_name, Identifier=identifier)["ProgressEvent"]["RequestToken"]
    return wait_request(client, token)


def get_properties(client: Any, identifier: str, type_name: str = TYPE_NAME) -> dict[str, Any]:
    description = client.get_resource(TypeName=type_name, Identifier=identifier)["ResourceDescription"]
    assert description["Identifier"] == identifier
    properties: dict[str, Any] = json.loads(description["Properties"])
    return properties
