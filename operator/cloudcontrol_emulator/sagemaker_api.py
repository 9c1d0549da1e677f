"""SageMaker's JSON API (AWS JSON 1.1, ``X-Amz-Target: SageMaker.<Operation>``): the part Studio's
clean-up needs, on the same store as Cloud Control.

This module checks each request's members against the limits of botocore's ``sagemaker`` model
(declared as data in ``OPERATIONS``; a conformance test compares them with the model), calls
:class:`.studio.Studio` and shapes the answers (``DESCRIBED`` names the model properties each Describe
returns). Lists are sorted by ``SortBy`` (CreationTime by default; LastModifiedTime where the model
allows it) in ``SortOrder`` (Ascending by default), ``MaxResults`` (default 10) per page, with an opaque
``NextToken``. Errors are ``{"__type": "<Code>", "Message": ...}`` with HTTP 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from . import errors
from .backend import Resource
from .protocol import JsonObject, Member, decode_token, encode_token, member_problems, raise_problems
from .rules import APP_TYPES, DOMAIN, SPACE, USER_PROFILE
from .studio import APP_OWNERS, Studio

__all__ = ["CONTENT_TYPE", "DESCRIBED", "OPERATIONS", "TARGET_PREFIX", "dispatch", "error_body", "operation_of"]

TARGET_PREFIX: Final = "SageMaker."
CONTENT_TYPE: Final = "application/x-amz-json-1.1"
DEFAULT_PAGE: Final = 10

_NAME = "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"


def _name(wire: str, required: bool = False) -> Member:
    return Member(wire, str, required, 0, 63, _NAME)


def _domain_id(wire: str = "domainId", required: bool = True) -> Member:
    return Member(wire, str, required, 0, 63, "d-(-*[a-z0-9]){1,61}")


def _listing(sort_keys: tuple[str, ...], **filters: Member) -> dict[str, Member]:
    return {
        "NextToken": Member("nextToken", str, False, 0, 8192, ".*"),
        "MaxResults": Member("maxResults", int, False, 1, 100),
        "SortOrder": Member("sortOrder", str, enum=("Ascending", "Descending")),
        "SortBy": Member("sortBy", str, enum=sort_keys),
        "DomainIdEquals": _domain_id("domainIdEquals", required=False),
        **filters,
    }


_APP_KEYS: Final = {
    "DomainId": _domain_id(),
    "UserProfileName": _name("userProfileName"),
    "SpaceName": _name("spaceName"),
    "AppType": Member("appType", str, True, enum=APP_TYPES),
    "AppName": _name("appName", True),
}
_SPACE_KEYS: Final = {"DomainId": _domain_id(), "SpaceName": _name("spaceName", True)}
_PROFILE_KEYS: Final = {"DomainId": _domain_id(), "UserProfileName": _name("userProfileName", True)}
_TAGS: Final = Member("tags", list, False, 0, 50)

OPERATIONS: Final[dict[str, dict[str, Member]]] = {
    "CreateApp": {
        **_APP_KEYS,
        "Tags": _TAGS,
        "ResourceSpec": Member("resourceSpec", dict),
        "RecoveryMode": Member("recoveryMode", bool),
    },
    "DescribeApp": _APP_KEYS,
    "DeleteApp": _APP_KEYS,
    "ListApps": _listing(
        ("CreationTime",),
        UserProfileNameEquals=_name("userProfileNameEquals"),
        SpaceNameEquals=_name("spaceNameEquals"),
    ),
    "CreateSpace": {
        **_SPACE_KEYS,
        "Tags": _TAGS,
        "SpaceSettings": Member("spaceSettings", dict),
        "OwnershipSettings": Member(
            "ownershipSettings", dict, members={"OwnerUserProfileName": _name("ownerUserProfileName", True)}
        ),
        "SpaceSharingSettings": Member(
            "spaceSharingSettings",
            dict,
            members={"SharingType": Member("sharingType", str, True, enum=("Private", "Shared"))},
        ),
        "SpaceDisplayName": Member("spaceDisplayName", str, False, 0, 64, r"(?!\s*$).+"),
    },
    "DescribeSpace": _SPACE_KEYS,
    "DeleteSpace": _SPACE_KEYS,
    "ListSpaces": _listing(("CreationTime", "LastModifiedTime"), SpaceNameContains=_name("spaceNameContains")),
    "DescribeUserProfile": _PROFILE_KEYS,
    "DeleteUserProfile": _PROFILE_KEYS,
    "ListUserProfiles": _listing(
        ("CreationTime", "LastModifiedTime"), UserProfileNameContains=_name("userProfileNameContains")
    ),
    "DescribeDomain": {"DomainId": _domain_id()},
    "DeleteDomain": {
        "DomainId": _domain_id(),
        "RetentionPolicy": Member(
            "retentionPolicy",
            dict,
            members={"HomeEfsFileSystem": Member("homeEfsFileSystem", str, enum=("Retain", "Delete"))},
        ),
    },
}

#: What each Describe answers with from the model (besides Status, the times and FailureReason).
DESCRIBED: Final[dict[str, tuple[str, ...]]] = {
    "DescribeApp": ("AppArn", "AppType", "AppName", "DomainId", "UserProfileName", "SpaceName", "ResourceSpec"),
    "DescribeSpace": (
        "DomainId",
        "SpaceArn",
        "SpaceName",
        "SpaceSettings",
        "OwnershipSettings",
        "SpaceSharingSettings",
        "SpaceDisplayName",
        "Url",
    ),
    "DescribeUserProfile": (
        "DomainId",
        "UserProfileArn",
        "UserProfileName",
        "SingleSignOnUserIdentifier",
        "SingleSignOnUserValue",
        "UserSettings",
    ),
    "DescribeDomain": (
        "DomainArn",
        "DomainId",
        "DomainName",
        "HomeEfsFileSystemId",
        "SingleSignOnManagedApplicationInstanceId",
        "SingleSignOnApplicationArn",
        "SecurityGroupIdForDomainBoundary",
        "AuthMode",
        "DefaultUserSettings",
        "DomainSettings",
        "AppNetworkAccessType",
        "SubnetIds",
        "Url",
        "VpcId",
        "KmsKeyId",
        "AppSecurityGroupManagement",
        "TagPropagation",
        "DefaultSpaceSettings",
    ),
}

_SORT_TIMES: Final[dict[str, Callable[[Resource], float]]] = {
    "CreationTime": lambda resource: resource.created,
    "LastModifiedTime": lambda resource: resource.modified,
}


# ------------------------------------------------------------------------------------ answers


def _picked(model: Mapping[str, Any], names: tuple[str, ...]) -> JsonObject:
    return {name: model[name] for name in names if name in model}


def _lifecycle(resource: Resource, modified: bool = True) -> JsonObject:
    shown: JsonObject = {"Status": resource.status, "CreationTime": resource.created}
    if modified:
        shown["LastModifiedTime"] = resource.modified
    if resource.failure_reason is not None:
        shown["FailureReason"] = resource.failure_reason
    return shown


def _described(operation: str, resource: Resource, modified: bool = True) -> JsonObject:
    return {**_picked(resource.model, DESCRIBED[operation]), **_lifecycle(resource, modified)}


def _app_details(resource: Resource) -> JsonObject:
    names = ("DomainId", "UserProfileName", "SpaceName", "AppType", "AppName", "ResourceSpec")
    return {**_picked(resource.model, names), "Status": resource.status, "CreationTime": resource.created}


def _profile_details(resource: Resource) -> JsonObject:
    return {**_picked(resource.model, ("DomainId", "UserProfileName")), **_lifecycle(resource)}


def _space_details(resource: Resource) -> JsonObject:
    model = resource.model
    details = {**_picked(model, ("DomainId", "SpaceName", "SpaceDisplayName")), **_lifecycle(resource)}
    settings = _picked(model.get("SpaceSettings") or {}, ("AppType", "RemoteAccess", "SpaceStorageSettings"))
    if settings:
        details["SpaceSettingsSummary"] = settings
    if "SpaceSharingSettings" in model:
        details["SpaceSharingSettingsSummary"] = _picked(model["SpaceSharingSettings"], ("SharingType",))
    if "OwnershipSettings" in model:
        details["OwnershipSettingsSummary"] = _picked(model["OwnershipSettings"], ("OwnerUserProfileName",))
    return details


def _page(found: list[Resource], body: JsonObject) -> tuple[list[Resource], str | None]:
    """One page of ``found`` in the order the request asks for, and the token of the next one."""
    when = _SORT_TIMES[body.get("SortBy") or "CreationTime"]
    descending = body.get("SortOrder") == "Descending"

    def order(resource: Resource) -> tuple[float, int, str]:
        return (when(resource), resource.seq, resource.identifier)

    ordered = sorted(found, key=order, reverse=descending)
    if body.get("NextToken"):
        after = decode_token(body["NextToken"], list)
        if len(after) != 3:
            raise errors.ValidationException("Invalid NextToken")
        last = (after[0], after[1], after[2])
        ordered = [r for r in ordered if (order(r) < last if descending else order(r) > last)]
    size = body.get("MaxResults") or DEFAULT_PAGE
    page = ordered[:size]
    return page, encode_token(list(order(page[-1]))) if len(ordered) > size else None


def _listed(key: str, found: list[Resource], body: JsonObject, shape: Callable[[Resource], JsonObject]) -> JsonObject:
    page, next_token = _page(found, body)
    result: JsonObject = {key: [shape(resource) for resource in page]}
    if next_token is not None:
        result["NextToken"] = next_token
    return result


def _in_domain(body: JsonObject, resource: Resource) -> bool:
    wanted = body.get("DomainIdEquals")
    return wanted is None or resource.model.get("DomainId") == wanted


def _contains(body: JsonObject, member: str, resource: Resource, prop: str) -> bool:
    wanted = body.get(member)
    return wanted is None or str(wanted).lower() in str(resource.model.get(prop, "")).lower()


def _app_owner(body: JsonObject) -> tuple[str, JsonObject]:
    """The app's type (a profile's or a space's) and its identifying model."""
    owners = [name for name in APP_OWNERS if body.get(name) is not None]
    if len(owners) != 1:
        raise errors.ValidationException("Exactly one of UserProfileName and SpaceName must be specified.")
    names = ("DomainId", owners[0], "AppType", "AppName")
    return APP_OWNERS[owners[0]], {name: body[name] for name in names}


# ----------------------------------------------------------------------------------- operations

Handler = Callable[[Studio, str, JsonObject], JsonObject]


def _create_app(studio: Studio, region: str, body: JsonObject) -> JsonObject:
    type_name, model = _app_owner(body)
    model.update(_picked(body, ("ResourceSpec", "Tags", "RecoveryMode")))
    return {"AppArn": studio.create(region, type_name, model).model["AppArn"]}


def _describe_app(studio: Studio, region: str, body: JsonObject) -> JsonObject:
    return _described("DescribeApp", studio.describe(region, *_app_owner(body)), modified=False)


def _delete_app(studio: Studio, region: str, body: JsonObject) -> JsonObject:
    studio.delete_app(region, *_app_owner(body))
    return {}


def _list_apps(studio: Studio, region: str, body: JsonObject) -> JsonObject:
    owners = {name: body.get(f"{name}Equals") for name in APP_OWNERS}
    given = {name: value for name, value in owners.items() if value is not None}
    if len(given) > 1:
        raise errors.ValidationException("UserProfileNameEquals and SpaceNameEquals cannot both be set.")
    types = [APP_OWNERS[name] for name in given] or list(APP_OWNERS.values())
    found = [
        resource
        for resource in studio.listed(region, types)
        if _in_domain(body, resource) and all(resource.model.get(name) == value for name, value in given.items())
    ]
    return _listed("Apps", found, body, _app_details)


def _create_space(studio: Studio, region: str, body: JsonObject) -> JsonObject:
    model = _picked(body, tuple(OPERATIONS["CreateSpace"]))
    return {"SpaceArn": studio.create(region, SPACE, model).model["SpaceArn"]}


def _keys(body: JsonObject, members: Mapping[str, Member]) -> JsonObject:
    return {name: body[name] for name in members}


def _describe(type_name: str, keys: Mapping[str, Member], operation: str) -> Handler:
    """Describe<Kind>: the resource named by the ``keys`` members."""

    def describe(studio: Studio, region: str, body: JsonObject) -> JsonObject:
        return _described(operation, studio.describe(region, type_name, _keys(body, keys)))

    return describe


def _delete(type_name: str, keys: Mapping[str, Member]) -> Handler:
    """Delete<Kind>: Deleting, then gone; refused while anything live refers to it."""

    def delete(studio: Studio, region: str, body: JsonObject) -> JsonObject:
        studio.delete(region, type_name, _keys(body, keys))
        return {}

    return delete


def _list(type_name: str, name: str, listed_as: str, details: Callable[[Resource], JsonObject]) -> Handler:
    """List<Kinds>: filtered by ``DomainIdEquals`` and ``<name>Contains`` (case-insensitive), paged."""

    def list_(studio: Studio, region: str, body: JsonObject) -> JsonObject:
        found = [
            resource
            for resource in studio.listed(region, (type_name,))
            if _in_domain(body, resource) and _contains(body, f"{name}Contains", resource, name)
        ]
        return _listed(listed_as, found, body, details)

    return list_


def _delete_domain(studio: Studio, region: str, body: JsonObject) -> JsonObject:
    retention = (body.get("RetentionPolicy") or {}).get("HomeEfsFileSystem") or "Retain"
    studio.delete_domain(region, body["DomainId"], retention)
    return {}


HANDLERS: Final[dict[str, Handler]] = {
    "CreateApp": _create_app,
    "DescribeApp": _describe_app,
    "DeleteApp": _delete_app,
    "ListApps": _list_apps,
    "CreateSpace": _create_space,
    "DescribeSpace": _describe(SPACE, _SPACE_KEYS, "DescribeSpace"),
    "DeleteSpace": _delete(SPACE, _SPACE_KEYS),
    "ListSpaces": _list(SPACE, "SpaceName", "Spaces", _space_details),
    "DescribeUserProfile": _describe(USER_PROFILE, _PROFILE_KEYS, "DescribeUserProfile"),
    "DeleteUserProfile": _delete(USER_PROFILE, _PROFILE_KEYS),
    "ListUserProfiles": _list(USER_PROFILE, "UserProfileName", "UserProfiles", _profile_details),
    "DescribeDomain": _describe(DOMAIN, {"DomainId": _domain_id()}, "DescribeDomain"),
    "DeleteDomain": _delete_domain,
}


def operation_of(target: str | None) -> str:
    operation = (target or "").removeprefix(TARGET_PREFIX)
    if not target or not target.startswith(TARGET_PREFIX) or operation not in HANDLERS:
        raise errors.UnknownOperationException(f"Unknown operation {target}")
    return operation


def dispatch(studio: Studio, operation: str, region: str, body: JsonObject) -> bytes:
    """Check the members, run the operation, return the response body."""
    raise_problems(member_problems(OPERATIONS[operation], body))
    return json.dumps(HANDLERS[operation](studio, region, body)).encode()


def error_body(error: errors.ServiceError) -> bytes:
    return json.dumps({"__type": error.name, "Message": error.message}).encode()
