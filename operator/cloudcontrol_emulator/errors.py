"""Errors the emulator answers with, each knowing its wire name and HTTP status.

The backend raises these; only the protocol layer turns them into HTTP. The names are the shape names
of botocore's ``cloudcontrol`` service model (plus ``ValidationException``, which AWS sends for
malformed input although the model does not list it), so botocore maps each one to the right
``client.exceptions.<Name>`` class.
"""

from __future__ import annotations

NAMESPACE = "com.amazonaws.cloudcontrol"


class CloudControlError(Exception):
    """Base class: a synchronous error answered as ``{"__type": ..., "Message": ...}``."""

    name: str = "ServiceInternalErrorException"
    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def wire_type(self) -> str:
        return f"{NAMESPACE}#{self.name}"


def _error(name: str, status: int = 400) -> type[CloudControlError]:
    return type(name, (CloudControlError,), {"name": name, "status": status})


ValidationException = _error("ValidationException")
TypeNotFoundException = _error("TypeNotFoundException")
ResourceNotFoundException = _error("ResourceNotFoundException")
NotUpdatableException = _error("NotUpdatableException")
ConcurrentOperationException = _error("ConcurrentOperationException")
ConcurrentModificationException = _error("ConcurrentModificationException")
ClientTokenConflictException = _error("ClientTokenConflictException")
RequestTokenNotFoundException = _error("RequestTokenNotFoundException")
ThrottlingException = _error("ThrottlingException")
InvalidRequestException = _error("InvalidRequestException")
ResourceConflictException = _error("ResourceConflictException")
UnsupportedActionException = _error("UnsupportedActionException")
ServiceInternalErrorException = _error("ServiceInternalErrorException")
# Protocol-level errors, named as AWS's JSON services name them.
UnknownOperationException = _error("UnknownOperationException")
SerializationException = _error("SerializationException")
MissingAuthenticationTokenException = _error("MissingAuthenticationTokenException", 403)

#: Every error a fault may inject synchronously, by wire name. The names of the service model's
#: other exceptions are accepted too (see :func:`by_name`).
SERVICE_MODEL_ERRORS = (
    "AlreadyExistsException",
    "ClientTokenConflictException",
    "ConcurrentModificationException",
    "ConcurrentOperationException",
    "GeneralServiceException",
    "HandlerFailureException",
    "HandlerInternalFailureException",
    "InvalidCredentialsException",
    "InvalidRequestException",
    "NetworkFailureException",
    "NotStabilizedException",
    "NotUpdatableException",
    "PrivateTypeException",
    "RequestTokenNotFoundException",
    "ResourceConflictException",
    "ResourceNotFoundException",
    "ServiceInternalErrorException",
    "ServiceLimitExceededException",
    "ThrottlingException",
    "TypeNotFoundException",
    "UnsupportedActionException",
    "ValidationException",
)


def by_name(name: str, message: str) -> CloudControlError:
    """Build an error of the given wire name (used by fault injection)."""
    if name not in SERVICE_MODEL_ERRORS:
        raise ValueError(f"unknown Cloud Control exception {name!r}")
    cls = _error(name)
    return cls(message)
