"""Errors the emulator answers with, each knowing its name and HTTP status.

The backend raises these; only the wire modules turn them into HTTP, each in its service's format:
Cloud Control (:mod:`.protocol`) as ``{"__type": "com.amazonaws.cloudcontrol#<Name>", ...}``, SageMaker
(:mod:`.sagemaker_api`) as ``{"__type": "<Name>", ...}``, EFS (:mod:`.efs`) as ``{"ErrorCode": "<Name>", ...}``.
An error therefore carries no service: ``ValidationException`` is the same class for all three.
The names are the shape names of botocore's service models (plus ``ValidationException``, which AWS
sends for malformed input although the Cloud Control and SageMaker models do not list it), so botocore
maps each one to the right ``client.exceptions.<Name>`` class or ``ClientError`` code.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: a synchronous error, answered with its ``name`` and ``message``."""

    name: str = "ServiceInternalErrorException"
    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _error(name: str, status: int = 400) -> type[ServiceError]:
    return type(name, (ServiceError,), {"name": name, "status": status})


ValidationException = _error("ValidationException")
# Cloud Control's.
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
# SageMaker's (its shapes have no "Exception" suffix).
ResourceNotFound = _error("ResourceNotFound")
ResourceInUse = _error("ResourceInUse")
# EFS's (rest-json: the HTTP status is part of the error).
FileSystemNotFound = _error("FileSystemNotFound", 404)
BadRequest = _error("BadRequest")
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


def by_name(name: str, message: str) -> ServiceError:
    """Build a Cloud Control error of the given wire name (used by fault injection)."""
    if name not in SERVICE_MODEL_ERRORS:
        raise ValueError(f"unknown Cloud Control exception {name!r}")
    cls = _error(name)
    return cls(message)
