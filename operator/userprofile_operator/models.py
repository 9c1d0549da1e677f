"""Typed views of a SageMakerUserProfile's spec and status, consistent with the generated CRD.

The spec model types the operator's own fields and the top-level CloudFormation properties; the
nested CloudFormation part (`userSettings`) stays a plain dict that is validated against the vendored
schema (the same source the CRD is generated from), so the two can never drift apart. Conversions
to CloudFormation names go through `naming.py`.

These are data and conversions only: no decisions (what to create, update or report) and no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel

from userprofile_operator.naming import NamingError, cfn_to_spec, spec_to_cfn
from userprofile_operator.schema import identifier as schema_identifier
from userprofile_operator.schema import read_only_paths, validate_desired_state

__all__ = [
    "OPERATOR_SPEC_FIELDS",
    "REGION_MAX_LENGTH",
    "REGION_PATTERN",
    "AdoptionPolicy",
    "Condition",
    "ConditionStatus",
    "DeletionPolicy",
    "KubeTime",
    "ManagementPolicy",
    "OperationInFlight",
    "OperationType",
    "SageMakerUserProfileSpec",
    "SageMakerUserProfileStatus",
    "Tag",
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


class Tag(_CamelModel):
    key: str
    value: str


class SageMakerUserProfileSpec(_CamelModel):
    """`.spec` of a SageMakerUserProfile. Build it with `from_spec()`; it validates on construction.

    Field names are snake_case in Python and camelCase in the document (aliases).
    """

    # the CloudFormation properties (top level)
    domain_id: str
    user_profile_name: str
    single_sign_on_user_identifier: str | None = None
    single_sign_on_user_value: str | None = None
    user_settings: dict[str, Any] | None = Field(
        default=None, description="CloudFormation UserSettings, camelCase, validated against the schema."
    )
    tags: list[Tag] | None = None
    # the operator's own fields
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
        writable = {k: v for k, v in state.items() if (k,) not in read_only_paths()}
        return cls.model_validate({**cfn_to_spec(_without_none(writable)), **operator_fields})

    @model_validator(mode="after")
    def _valid_for_cloudformation(self) -> Self:
        try:
            errors = validate_desired_state(self.to_desired_state())
        except NamingError as err:
            raise ValueError(f"unknown field: {err}") from None
        if errors:
            raise ValueError("invalid for AWS::SageMaker::UserProfile: " + "; ".join(errors))
        return self

    def to_spec(self) -> dict[str, Any]:
        """The `.spec` document (camelCase), without unset optional fields."""
        document: dict[str, Any] = _without_none(
            self.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
        return document

    def to_desired_state(self) -> dict[str, Any]:
        """The CloudFormation desired state: PascalCase, only what is set, no operator fields."""
        document = self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude=set(_OPERATOR_ATTRS)
        )
        desired: dict[str, Any] = spec_to_cfn(_without_none(document))
        return desired

    @property
    def identifier(self) -> str:
        """The Cloud Control Identifier, `userProfileName|domainId` (the schema's primaryIdentifier)."""
        return schema_identifier(self.to_desired_state())


_OPERATOR_ATTRS: Final = frozenset(
    name
    for name, info in SageMakerUserProfileSpec.model_fields.items()
    if (info.alias or name) in OPERATOR_SPEC_FIELDS
)


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


class SageMakerUserProfileStatus(_StatusModel):
    """`.status` of a SageMakerUserProfile, as the operator writes it."""

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
