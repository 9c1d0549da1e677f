"""Cloud Control's wire types as the operator uses them: the ProgressEvent, AWS's error codes, AwsError.

No boto3 here: `cloudcontrol.py` turns botocore's answers into these, and the decisions read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["NOT_FOUND_CODES", "TRANSIENT_CODES", "AwsError", "ProgressEvent", "is_transient"]

# Cloud Control error codes (the ProgressEvent ErrorCode, or the exception name without "Exception").
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ServiceInternalError",
        "NetworkFailure",
        "InternalFailure",
        "ConcurrentOperation",
        "ServiceTimeout",
        "NotStabilized",
        "GeneralServiceException",
        "GeneralService",
        "HandlerInternalFailure",
        "ServiceLimitExceeded",
        "ResourceConflict",
        "ConcurrentModification",
        "RequestTimeout",
        "ServiceUnavailable",
        "InternalServerError",
        "Throttled",
        "TooManyRequests",
        "RequestLimitExceeded",
    }
)
NOT_FOUND_CODES = frozenset({"NotFound", "ResourceNotFound"})


class AwsError(Exception):
    """An AWS call or request that failed, with Cloud Control's error code and AWS's own message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def transient(self) -> bool:
        return is_transient(self.code)


def is_transient(code: str | None) -> bool:
    """Whether an error code (ErrorCode or exception name) is worth retrying as it is."""
    return code is not None and code.removesuffix("Exception") in TRANSIENT_CODES


@dataclass(frozen=True)
class ProgressEvent:
    """The parts of a Cloud Control ProgressEvent the operator uses."""

    operation: str
    status: str
    request_token: str
    identifier: str | None = None
    error_code: str | None = None
    message: str = ""
    retry_after: float | None = None
    resource_model: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.status in {"SUCCESS", "FAILED", "CANCEL_COMPLETE"}
