"""Typed views of a managed object's spec and status, consistent with the generated CRDs.

The spec model (`ManagedSpec`, one subclass per kind from `spec_model(kind)`) types the operator's own
fields; the kind's CloudFormation properties stay plain camelCase data that is validated against the
kind's registry schema (the same source its CRD is generated from), so the two can never drift apart.
Conversions to CloudFormation names go through the kind's `Naming`.

These are data and conversions only: no decisions (what to create, update or report) and no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from cfn_registry.validation import desired_state_errors
from userprofile_operator.kind import Kind
from userprofile_operator.naming import NamingError

__all__ = [
    "OPERATOR_SPEC_FIELDS",
    "REGION_MAX_LENGTH",
    "REGION_PATTERN",
    "AdoptionPolicy",
    "Condition",
    "ConditionStatus",
    "DeletionPolicy",
    "KubeTime",
    "ManagedSpec",
    "ManagementPolicy",
    "OperationInFlight",
    "OperationType",
    "ResourceStatus",
    "spec_model",
]


class DeletionPolicy(StrEnum):
    DELETE = "Delete"
    RETAIN = "Retain"


class ManagementPolicy(StrEnum):
    MANAGE = "Manage"
    OBSERVE_ONLY = "ObserveOnly"


class AdoptionPolicy(StrEnum):
    NEVER = "Never"
    ADOPT = "Adopt"


class OperationType(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


ConditionStatus = Literal["True", "False", "Unknown"]

REGION_PATTERN: Final = r"^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$"
"""AWS region names: us-east-1, us-gov-west-1, us-isob-east-1, eusc-de-east-1, ..."""
REGION_MAX_LENGTH: Final = 32

Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN, max_length=REGION_MAX_LENGTH)]

OPERATOR_SPEC_FIELDS: Final = ("region", "deletionPolicy", "managementPolicy", "adoptionPolicy")
"""camelCase names of the spec fields that belong to the operator, not to CloudFormation."""


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rfc3339(value: datetime) -> str:
    return _as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


KubeTime = Annotated[datetime, AfterValidator(_as_utc), PlainSerializer(_rfc3339, return_type=str)]
"""A timestamp in UTC, serialized the way Kubernetes writes metav1.Time (seconds, `Z`)."""


class _CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _without_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value if item is not None]
    return value


class ManagedSpec(BaseModel):
    """`.spec` of a managed object. Use `spec_model(kind)` for a kind's own class, and build it with
    `from_spec()`; it validates on construction.

    The operator's fields are typed (snake_case in Python, camelCase in the document); the kind's
    CloudFormation properties are the model's extra fields, as written (camelCase).
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")
    kind: ClassVar[Kind]

    region: Region | None = None
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE
    management_policy: ManagementPolicy = ManagementPolicy.MANAGE
    adoption_policy: AdoptionPolicy = AdoptionPolicy.NEVER

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Self:
        """Parse a `.spec` document (camelCase). Raises pydantic.ValidationError when invalid."""
        return cls.model_validate(dict(spec))

    @classmethod
    def from_desired_state(cls, state: Mapping[str, Any], **operator_fields: Any) -> Self:
        """A spec from a CloudFormation model (e.g. what GetResource returns), readOnly props dropped.

        `operator_fields` are the operator's own fields, by Python or camelCase name.
        """
        read_only = cls.kind.schema.read_only
        writable = {k: v for k, v in state.items() if (k,) not in read_only}
        return cls.model_validate({**cls.kind.naming.cfn_to_spec(_without_none(writable)), **operator_fields})

    @model_validator(mode="after")
    def _valid_for_cloudformation(self) -> Self:
        try:
            errors = desired_state_errors(self.kind.schema, self.to_desired_state())
        except NamingError as err:
            raise ValueError(f"unknown field: {err}") from None
        if errors:
            raise ValueError(f"invalid for {self.kind.type_name}: " + "; ".join(errors))
        return self

    @property
    def properties(self) -> dict[str, Any]:
        """The CloudFormation properties as the document has them (camelCase), without unset ones."""
        extra: dict[str, Any] = _without_none(dict(self.model_extra or {}))
        return extra

    def to_spec(self) -> dict[str, Any]:
        """The `.spec` document (camelCase), without unset optional fields."""
        document: dict[str, Any] = _without_none(self.model_dump(mode="json", by_alias=True, exclude_none=True))
        return document

    def to_desired_state(self) -> dict[str, Any]:
        """The CloudFormation desired state: PascalCase, only what is set, no operator fields."""
        desired: dict[str, Any] = self.kind.naming.spec_to_cfn(self.properties)
        return desired

    @property
    def identifier(self) -> str:
        """The Cloud Control Identifier (the schema's primaryIdentifier values joined by `|`)."""
        return self.kind.schema.identifier_of(self.to_desired_state())


@cache
def spec_model(kind: Kind) -> type[ManagedSpec]:
    """The spec model of one kind: `ManagedSpec` bound to the kind's schema."""
    return type(f"{kind.kind}Spec", (ManagedSpec,), {"kind": kind, "__module__": __name__})


class _StatusModel(BaseModel):
    # Unknown keys are ignored, not refused: status is shared with kopf and older operator versions.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Condition(_StatusModel):
    """A Kubernetes condition (metav1.Condition conventions)."""

    type: str
    status: ConditionStatus
    reason: str | None = None
    message: str | None = None
    last_transition_time: KubeTime | None = None
    observed_generation: int | None = None


class OperationInFlight(_StatusModel):
    """The Cloud Control operation the operator started and has not seen finish."""

    type: OperationType
    request_token: str | None = None
    client_token: str | None = None
    generation: int | None = None
    started_at: KubeTime | None = None


class ResourceStatus(_StatusModel):
    """`.status` of a managed object, as the operator writes it."""

    observed_generation: int | None = None
    arn: str | None = None
    identifier: str | None = None
    region: str | None = None
    conditions: list[Condition] | None = None
    operation: OperationInFlight | None = None
    last_sync_time: KubeTime | None = None
    last_drift_check_time: KubeTime | None = None
    drift_detected: bool | None = None
    failed_generation: int | None = None
    aws_state: dict[str, Any] | None = None

    @classmethod
    def from_status(cls, status: Mapping[str, Any] | None) -> Self:
        """Parse a `.status` document (camelCase); None or {} give an empty status."""
        return cls.model_validate(dict(status or {}))

    def condition(self, type_: str) -> Condition | None:
        for condition in self.conditions or ():
            if condition.type == type_:
                return condition
        return None

    def to_patch(self, *, clear: Collection[str] = ()) -> dict[str, Any]:
        """A merge patch for `.status`: camelCase, unset fields left out.

        `clear` names fields (Python or camelCase names) to remove, sent as null: a merge patch
        cannot otherwise delete a key, e.g. `operation` once the operation has finished.
        """
        patch: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for name in clear:
            info = type(self).model_fields.get(name)
            alias = (info.alias or name) if info is not None else name
            if alias not in {field.alias or key for key, field in type(self).model_fields.items()}:
                raise ValueError(f"status has no field {name!r}")
            patch[alias] = None
        return patch
