"""EFS's REST API, the part that shows a domain's home volume: ``DescribeFileSystems``.

``GET /2015-02-01/file-systems`` with the optional query parameters ``FileSystemId`` (an id or an
ARN), ``CreationToken``, ``Marker`` and ``MaxItems`` (default 100), as botocore's ``efs`` client sends
them. The file systems are the home volumes SageMaker made with each domain of the region (see
:class:`.backend.FileSystem`), sorted by id. Errors are rest-json: the HTTP status of the error,
``x-amzn-ErrorType: <Code>`` and ``{"ErrorCode": "<Code>", "Message": ...}``: ``FileSystemNotFound``
(404) for an unknown id, ``BadRequest`` (400) for a malformed parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

from . import errors
from .backend import FileSystem
from .protocol import JsonObject, decode_token, encode_token
from .studio import Studio

__all__ = ["CONTENT_TYPE", "OPERATION", "PATH", "describe_file_systems", "error_body"]

PATH: Final = "/2015-02-01/file-systems"
OPERATION: Final = "DescribeFileSystems"
CONTENT_TYPE: Final = "application/json"
DEFAULT_MAX_ITEMS: Final = 100
# botocore's FileSystemId pattern: an id, or the file system's ARN.
_FILE_SYSTEM_ID: Final = re.compile(r"(arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-:]+:file-system/)?(fs-[0-9a-f]{8,40})")
# What SageMaker's home volumes report (an empty volume of a new domain).
_EMPTY_VOLUME_BYTES: Final = 6144


def _description(file_system: FileSystem, region: str, account: str) -> JsonObject:
    return {
        "OwnerId": account,
        "CreationToken": file_system.creation_token,
        "FileSystemId": file_system.file_system_id,
        "FileSystemArn": f"arn:aws:elasticfilesystem:{region}:{account}:file-system/{file_system.file_system_id}",
        "CreationTime": file_system.created,
        "LifeCycleState": file_system.life_cycle_state,
        "NumberOfMountTargets": file_system.mount_targets,
        "SizeInBytes": {"Value": _EMPTY_VOLUME_BYTES, "ValueInStandard": _EMPTY_VOLUME_BYTES},
        "PerformanceMode": "generalPurpose",
        "Encrypted": True,
        "ThroughputMode": "bursting",
        "Tags": [dict(tag) for tag in file_system.tags],
    }


def _max_items(query: Mapping[str, str]) -> int:
    raw = query.get("MaxItems")
    if raw is None:
        return DEFAULT_MAX_ITEMS
    if not raw.isdigit() or int(raw) < 1:
        raise errors.BadRequest(f"MaxItems must be a positive integer, not {raw!r}.")
    return int(raw)


def describe_file_systems(studio: Studio, region: str, query: Mapping[str, str]) -> bytes:
    """The response body of DescribeFileSystems for this query (``FileSystemNotFound``, ``BadRequest``)."""
    found = studio.file_systems(region)
    wanted = query.get("FileSystemId")
    if wanted is not None:
        match = _FILE_SYSTEM_ID.fullmatch(wanted)
        if match is None:
            raise errors.BadRequest(f"Invalid file system id {wanted!r}.")
        found = [fs for fs in found if fs.file_system_id == match.group(2)]
        if not found:
            raise errors.FileSystemNotFound(f"File system '{match.group(2)}' does not exist.")
    token = query.get("CreationToken")
    if token is not None:
        found = [fs for fs in found if fs.creation_token == token]
    size = _max_items(query)
    result: JsonObject = {}
    marker = query.get("Marker")
    if marker is not None:
        try:
            after = decode_token(marker, str)
        except errors.ServiceError:
            raise errors.BadRequest(f"Invalid Marker {marker!r}.") from None
        found = [fs for fs in found if fs.file_system_id > after]
        result["Marker"] = marker
    page = found[:size]
    result["FileSystems"] = [_description(fs, region, studio.backend.account_id) for fs in page]
    if len(found) > size:
        result["NextMarker"] = encode_token(page[-1].file_system_id)
    return json.dumps(result).encode()


def error_body(error: errors.ServiceError) -> bytes:
    return json.dumps({"ErrorCode": error.name, "Message": error.message}).encode()
