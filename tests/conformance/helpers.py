"""Helpers shared by the conformance tests: constants, polling, small request builders, and a check
that an answer fits botocore's output shape."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.validate import ParamValidator

T = TypeVar("T")

TYPE_NAME = "AWS::SageMaker::UserProfile"
SPACE_TYPE = "AWS::SageMaker::Space"
DOMAIN_TYPE = "AWS::SageMaker::Domain"
APP_TYPE = "AWS::SageMaker::App"
REGION = "us-east-1"
DOMAIN = "d-abc123def456"
LATENCY = 0.2
APP_DELETE_LATENCY = 0.3
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


def eventually(fetch: Callable[[], T], until: Callable[[T], bool], timeout: float = 5.0) -> T:
    """Poll ``fetch()`` until ``until`` holds for its result (which is returned), or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout}s")
        time.sleep(0.02)


def _enum_problems(shape: Any, value: Any, where: str) -> list[str]:
    """Values outside their shape's enum (botocore's ParamValidator does not check enums)."""
    if shape.type_name == "structure" and isinstance(value, dict):
        return [
            problem
            for name, member in shape.members.items()
            if name in value
            for problem in _enum_problems(member, value[name], f"{where}.{name}")
        ]
    if shape.type_name == "list" and isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _enum_problems(shape.member, item, f"{where}[{i}]")]
    enum = getattr(shape, "enum", None)
    if enum and value not in enum:
        return [f"{where}: {value!r} not in {enum}"]
    return []


def assert_conforms(client: Any, operation: str, response: dict[str, Any]) -> None:
    """The parsed answer has every required member, the right types, known members and enum values only."""
    shape = client.meta.service_model.operation_model(operation).output_shape
    answer = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    if shape is None:  # an operation without output (DeleteApp): an empty body
        assert answer == {}
        return
    report = ParamValidator().validate(answer, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    assert problems + _enum_problems(shape, answer, operation) == []


def app_keys(
    name: str = "default", app_type: str = "JupyterServer", profile: str | None = "alice", space: str | None = None
) -> dict[str, str]:
    """The keys SageMaker's CreateApp, DescribeApp and DeleteApp take: a profile's app, or a space's."""
    owner = {"SpaceName": space} if space is not None else {"UserProfileName": str(profile)}
    return {"DomainId": DOMAIN, **owner, "AppType": app_type, "AppName": name}


def app_status(sagemaker: Any, keys: dict[str, str]) -> str:
    status: str = sagemaker.describe_app(**keys)["Status"]
    return status


def wait_app(sagemaker: Any, keys: dict[str, str], status: str) -> None:
    eventually(lambda: app_status(sagemaker, keys), lambda seen: seen == status)


def error_of(caught: Any) -> tuple[str, str]:
    """(code, message) of a botocore ClientError caught by ``pytest.raises``."""
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def wait_gone(describe: Any, **keys: Any) -> None:
    """Wait until SageMaker's ``describe`` (a bound client method) answers ResourceNotFound for ``keys``."""

    def missing() -> bool:
        try:
            describe(**keys)
        except describe.__self__.exceptions.ResourceNotFound:
            return True
        return False

    eventually(missing, bool)
