"""The Cloud Control wire format: AWS JSON 1.0 requests in, JSON documents out.

This module checks each request's members against the limits of botocore's service model (declared
as data in ``OPERATIONS``), calls the backend and turns what it returns into the response shapes.
Pagination sizes are data too (``PAGE_SIZES``). It does not do HTTP (see :mod:`.app`) nor decide
behaviour (see :mod:`.backend`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import errors
from .backend import Backend, Resource, ResourceRequest

JsonObject = dict[str, Any]

TARGET_PREFIX = "CloudApiService."
NAMESPACE = "com.amazonaws.cloudcontrol"
CONTENT_TYPE = "application/x-amz-json-1.0"


@dataclass(frozen=True)
class Member:
    """One input member and its constraints, as botocore's model states them."""

    wire: str
    kind: type
    required: bool = False
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    sensitive: bool = False
    members: Mapping[str, Member] | None = None
    """The members of a structure, checked in turn (their wire names prefixed with this one's)."""

    @property
    def compiled(self) -> re.Pattern[str] | None:
        return _compiled(self.pattern) if self.pattern else None


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled


TYPE_NAME_PATTERN = "[A-Za-z0-9]{2,64}::[A-Za-z0-9]{2,64}::[A-Za-z0-9]{2,64}"
TOKEN_PATTERN = "[-A-Za-z0-9+/=]+"


def _type_name(required: bool = True) -> Member:
    return Member("typeName", str, required, 10, 196, TYPE_NAME_PATTERN)


def _common() -> dict[str, Member]:
    return {
        "TypeName": _type_name(),
        "TypeVersionId": Member("typeVersionId", str, False, 1, 128, "[A-Za-z0-9-]+"),
        "RoleArn": Member("roleArn", str, False, 20, 2048, "arn:.+:iam::[0-9]{12}:role/.+"),
    }


_CLIENT_TOKEN = Member("clientToken", str, False, 1, 128, TOKEN_PATTERN)
_IDENTIFIER = Member("identifier", str, True, 1, 1024, ".+")
_REQUEST_TOKEN = Member("requestToken", str, True, 1, 128, TOKEN_PATTERN)


def _document(wire: str, required: bool) -> Member:
    return Member(wire, str, required, 1, 262144, r"[\s\S]*", sensitive=True)


OPERATIONS: dict[str, dict[str, Member]] = {
    "CreateResource": {
        **_common(),
        "ClientToken": _CLIENT_TOKEN,
        "DesiredState": _document("desiredState", True),
    },
    "UpdateResource": {
        **_common(),
        "ClientToken": _CLIENT_TOKEN,
        "Identifier": _IDENTIFIER,
        "PatchDocument": _document("patchDocument", True),
    },
    "DeleteResource": {**_common(), "ClientToken": _CLIENT_TOKEN, "Identifier": _IDENTIFIER},
    "GetResource": {**_common(), "Identifier": _IDENTIFIER},
    "GetResourceRequestStatus": {"RequestToken": _REQUEST_TOKEN},
    "CancelResourceRequest": {"RequestToken": _REQUEST_TOKEN},
    "ListResources": {
        **_common(),
        "NextToken": Member("nextToken", str, False, 1, 4096, ".+"),
        "MaxResults": Member("maxResults", int, False, 1, 100),
        "ResourceModel": _document("resourceModel", False),
    },
    "ListResourceRequests": {
        "NextToken": Member("nextToken", str, False, 1, 2048, TOKEN_PATTERN),
        "MaxResults": Member("maxResults", int, False, 1, 100),
        "ResourceRequestStatusFilter": Member("resourceRequestStatusFilter", dict),
    },
}

#: Page sizes: ListResources ignores MaxResults (the model calls it reserved), ListResourceRequests
#: honours it up to 100 with 20 as default.
PAGE_SIZES = {"ListResources": 25, "ListResourceRequests": 20}

_FILTER_ENUMS = {
    "Operations": ("operations", ("CREATE", "DELETE", "UPDATE")),
    "OperationStatuses": (
        "operationStatuses",
        ("PENDING", "IN_PROGRESS", "SUCCESS", "FAILED", "CANCEL_IN_PROGRESS", "CANCEL_COMPLETE"),
    ),
}


def _show(value: Any, member: Member) -> str:
    return "'***'" if member.sensitive else f"'{value}'"


def member_problems(members: Mapping[str, Member], body: Mapping[str, Any], prefix: str = "") -> list[str]:
    """AWS's wording of every member of ``body`` that breaks its constraint (nested members too).

    A member of the wrong JSON type raises SerializationException at once, as AWS's JSON services do.
    ``prefix`` is the wire path of the structure ``body`` sits in (``retentionPolicy.``).
    """
    problems: list[str] = []
    for name, member in members.items():
        value = body.get(name)
        where = prefix + member.wire
        if value is None:
            if member.required:
                problems.append(f"Value null at '{where}' failed to satisfy constraint: Member must not be null")
            continue
        if not isinstance(value, member.kind) or (isinstance(value, bool) and member.kind is not bool):
            raise errors.SerializationException(f"Unexpected value type for member {name}")
        if isinstance(value, str | int | list) and not isinstance(value, bool):
            size = value if isinstance(value, int) else len(value)
            what = "have value" if isinstance(value, int) else "have length"
            if member.min is not None and size < member.min:
                problems.append(
                    f"Value {_show(value, member)} at '{where}' failed to satisfy constraint: "
                    f"Member must {what} greater than or equal to {member.min}"
                )
            if member.max is not None and size > member.max:
                problems.append(
                    f"Value {_show(value, member)} at '{where}' failed to satisfy constraint: "
                    f"Member must {what} less than or equal to {member.max}"
                )
        compiled = member.compiled
        if compiled is not None and isinstance(value, str) and not compiled.fullmatch(value):
            problems.append(
                f"Value {_show(value, member)} at '{where}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {member.pattern}"
            )
        if member.enum and value not in member.enum:
            problems.append(
                f"Value {_show(value, member)} at '{where}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(member.enum)}]"
            )
        if member.members and isinstance(value, dict):
            problems.extend(member_problems(member.members, value, f"{where}."))
    return problems


def raise_problems(problems: list[str]) -> None:
    """ValidationException in AWS's wording ("2 validation errors detected: ...") when there are any."""
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected: "
        raise errors.ValidationException(count + "; ".join(problems))


def check_members(operation: str, body: Mapping[str, Any]) -> None:
    """Raise ValidationException (AWS's wording) or SerializationException for bad members."""
    problems = member_problems(OPERATIONS[operation], body)
    status_filter = body.get("ResourceRequestStatusFilter")
    if operation == "ListResourceRequests" and isinstance(status_filter, dict):
        for key, (wire, allowed) in _FILTER_ENUMS.items():
            values = status_filter.get(key)
            if values is None:
                continue
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise errors.SerializationException(f"Unexpected value type for member {key}")
            for value in values:
                if value not in allowed:
                    problems.append(
                        f"Value '{value}' at 'resourceRequestStatusFilter.{wire}' failed to satisfy "
                        f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
                    )
    raise_problems(problems)


# ---------------------------------------------------------------------------------- serializing


def progress_event(request: ResourceRequest, show_create_identifier: bool) -> JsonObject:
    event: JsonObject = {
        "TypeName": request.type_name,
        "RequestToken": request.token,
        "Operation": request.operation,
        "OperationStatus": request.status,
        "EventTime": request.event_time,
    }
    if request.operation != "CREATE" or request.terminal or show_create_identifier:
        event["Identifier"] = request.identifier
    if not request.terminal:
        event["RetryAfter"] = request.due
    if request.resource_model is not None:
        event["ResourceModel"] = request.resource_model
    if request.status_message is not None:
        event["StatusMessage"] = request.status_message[:2048]
    if request.error_code is not None:
        event["ErrorCode"] = request.error_code
    return event


def encode_token(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def decode_token(token: str, kind: type) -> Any:
    try:
        value = json.loads(base64.b64decode(token.encode(), validate=True))
    except (binascii.Error, ValueError):
        raise errors.ValidationException("Invalid NextToken") from None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise errors.ValidationException("Invalid NextToken")
    return value


def _get_resource_body(type_name: str, resource: Resource) -> bytes:
    cached = resource.wire_cache
    if cached is None:
        cached = resource.wire_cache = json.dumps(
            {
                "TypeName": type_name,
                "ResourceDescription": {
                    "Identifier": resource.identifier,
                    "Properties": resource.properties_json,
                },
            }
        ).encode()
    return cached


# ------------------------------------------------------------------------------------ operations

Handler = Callable[[Backend, str, JsonObject, "str | None"], "JsonObject | bytes"]


def _show_id(backend: Backend) -> bool:
    return backend.settings.create_event_identifier


def _create(backend: Backend, region: str, body: JsonObject, fault: str | None) -> JsonObject | bytes:
    request = backend.create_resource(region, body["TypeName"], body["DesiredState"], body.get("ClientToken"), fault)
    return {"ProgressEvent": progress_event(request, _show_id(backend))}


def _update(backend: Backend, region: str, body: JsonObject, fault: str | None) -> JsonObject | bytes:
    request = backend.update_resource(
        region, body["TypeName"], body["Identifier"], body["PatchDocument"], body.get("ClientToken"), fault
    )
    return {"ProgressEvent": progress_event(request, _show_id(backend))}


def _delete(backend: Backend, region: str, body: JsonObject, fault: str | None) -> JsonObject | bytes:
    request = backend.delete_resource(region, body["TypeName"], body["Identifier"], body.get("ClientToken"), fault)
    return {"ProgressEvent": progress_event(request, _show_id(backend))}


def _get(backend: Backend, region: str, body: JsonObject, fault: str | None) -> JsonObject | bytes:
    type_name = body["TypeName"]
    return _get_resource_body(type_name, backend.get_resource(region, type_name, body["Identifier"]))


def _status(backend: Backend, region: str, body: JsonObject, fault: str | None) -> JsonObject | bytes:
    request = backend.get_request(region, body["RequestToken"])
    return {"ProgressEvent": progress_event(request, _show_id(backend)), "HooksProgressEvent": []}


def _cancel(backend: Backend, region: str, body: JsonObject, fault: str | None) -> JsonObject | bytes:
    request = backend.cancel_request(region, body["RequestToken"])
    return {"ProgressEvent": progress_event(request, _show_id(backend))}


def _list_resources(backend: Backend, region: str, body: JsonObject, fault: str | None) -> JsonObject | bytes:
    type_name = body["TypeName"]
    after = decode_token(body["NextToken"], str) if body.get("NextToken") else None
    model_filter: JsonObject | None = None
    if body.get("ResourceModel"):
        try:
            model_filter = json.loads(body["ResourceModel"])
        except ValueError:
            raise errors.ValidationException("ResourceModel is not valid JSON") from None
        if not isinstance(model_filter, dict):
            raise errors.ValidationException("ResourceModel must be a JSON object")
    page = backend.list_resources(region, type_name, after, PAGE_SIZES["ListResources"], model_filter)
    descriptions = [
        {"Identifier": resource.identifier, "Properties": backend.listed_properties(type_name, resource)}
        for resource in page.items
    ]
    result: JsonObject = {"TypeName": type_name, "ResourceDescriptions": descriptions}
    if page.next_token is not None:
        result["NextToken"] = encode_token(page.next_token)
    return result


def _list_requests(backend: Backend, region: str, body: JsonObject, fault: str | None) -> JsonObject | bytes:
    before = decode_token(body["NextToken"], int) if body.get("NextToken") else None
    status_filter = body.get("ResourceRequestStatusFilter") or {}
    page = backend.list_requests(
        region,
        before,
        body.get("MaxResults") or PAGE_SIZES["ListResourceRequests"],
        status_filter.get("Operations"),
        status_filter.get("OperationStatuses"),
    )
    show = _show_id(backend)
    result: JsonObject = {"ResourceRequestStatusSummaries": [progress_event(r, show) for r in page.items]}
    if page.next_token is not None:
        result["NextToken"] = encode_token(int(page.next_token))
    return result


HANDLERS: dict[str, Handler] = {
    "CreateResource": _create,
    "UpdateResource": _update,
    "DeleteResource": _delete,
    "GetResource": _get,
    "GetResourceRequestStatus": _status,
    "CancelResourceRequest": _cancel,
    "ListResources": _list_resources,
    "ListResourceRequests": _list_requests,
}


def operation_of(target: str | None) -> str:
    if not target or not target.startswith(TARGET_PREFIX) or target[len(TARGET_PREFIX) :] not in HANDLERS:
        raise errors.UnknownOperationException(f"Unknown operation {target}")
    return target[len(TARGET_PREFIX) :]


def parse_body(raw: bytes) -> JsonObject:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        raise errors.SerializationException("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise errors.SerializationException("Request body must be a JSON object")
    return body


def dispatch(
    backend: Backend, operation: str, region: str, body: JsonObject, async_error_code: str | None = None
) -> bytes:
    """Check the members, run the operation, return the response body."""
    check_members(operation, body)
    if "TypeName" in OPERATIONS[operation]:
        backend.schema(body["TypeName"])  # TypeNotFoundException before anything else
    result = HANDLERS[operation](backend, region, body, async_error_code)
    return result if isinstance(result, bytes) else json.dumps(result).encode()


def error_body(error: errors.ServiceError) -> bytes:
    return json.dumps({"__type": f"{NAMESPACE}#{error.name}", "Message": error.message}).encode()
