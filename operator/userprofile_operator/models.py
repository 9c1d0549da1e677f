"""Typed views of a managed object's spec and status, consistent with the generated CRDs.

The spec model (`ManagedSpec`, one subclass per kind from `spec_model(kind)`) types the operator's own
fields; the kind's CloudFormation properties stay plain camelCase data that is validated against the
kind's registry schema (the same source its CRD is generated from), so the two can never drift apart.
The status model (`ResourceStatus`, one subclass per kind from `status_model(kind)`, with the values the
kind's references settled) is what the reconciler writes, and what the CRD's status schema is made from.
Conversions to CloudFormation names go through the kind's `Naming`.

These are data and conversions only: no decisions (what to create, update or report) and no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    create_model,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake

from cfn_registry.validation import desired_state_errors
from userprofile_operator.kind import Kind
from userprofile_operator.naming import NamingError
from userprofile_operator.references import REF_SUFFIX, Reference

__all__ = [
    "OPERATOR_SPEC_FIELDS",
    "REGION_MAX_LENGTH",
    "REGION_PATTERN",
    "AdoptionPolicy",
    "CleanupOnDelete",
    "CleanupPolicy",
    "Condition",
    "ConditionStatus",
    "DeletionPolicy",
    "HomeEfsPolicy",
    "KubeTime",
    "ManagedSpec",
    "ManagementPolicy",
    "OperationInFlight",
    "OperationType",
    "ResourceStatus",
    "reference_fields",
    "spec_model",
    "status_model",
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


class CleanupPolicy(StrEnum):
    """What a delete does with the apps or spaces in its way: delete them first, or touch nothing."""

    DELETE = "Delete"
    BLOCK = "Block"


class HomeEfsPolicy(StrEnum):
    """What a domain's delete does with its home EFS volume (SageMaker's DeleteDomain RetentionPolicy)."""

    RETAIN = "Retain"
    DELETE = "Delete"


class OperationType(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


ConditionStatus = Literal["True", "False", "Unknown"]

REGION_PATTERN: Final = r"^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$"
"""AWS region names: us-east-1, us-gov-west-1, us-isob-east-1, eusc-de-east-1, ..."""
REGION_MAX_LENGTH: Final = 32

Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN, max_length=REGION_MAX_LENGTH)]

OPERATOR_SPEC_FIELDS: Final = ("region", "deletionPolicy", "managementPolicy", "adoptionPolicy", "cleanupOnDelete")
"""camelCase names of the spec fields that belong to the operator, not to CloudFormation (`cleanupOnDelete`
only on kinds whose delete something in Studio can block)."""


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


class CleanupOnDelete(_CamelModel):
    """`spec.cleanupOnDelete`: what a delete may remove first. A kind's CRD offers only the fields that apply
    to it (`Kind.cleanup`); the defaults are the same everywhere. Ignored under `deletionPolicy: Retain`."""

    apps: CleanupPolicy = CleanupPolicy.DELETE
    owned_spaces: CleanupPolicy = CleanupPolicy.BLOCK
    home_efs: HomeEfsPolicy = HomeEfsPolicy.RETAIN


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
    cleanup_on_delete: CleanupOnDelete = Field(default_factory=CleanupOnDelete)

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
            errors = desired_state_errors(self.kind.schema, self.to_desired_state(), self.kind.open_enums)
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
        """The `.spec` document (camelCase), without unset optional fields (of `cleanupOnDelete`, only what
        was set: which of its fields a kind has depends on the kind)."""
        document: dict[str, Any] = _without_none(
            self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"cleanup_on_delete"})
        )
        if "cleanup_on_delete" in self.model_fields_set:
            document["cleanupOnDelete"] = self.cleanup_on_delete.model_dump(
                mode="json", by_alias=True, exclude_unset=True
            )
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

    description: ClassVar[str] = ""
    """What the CRD says of an object of this model (its fields say the rest, in `Field(description=)`).

    Descriptions may name the kind: `{noun}`, `{short_noun}` and `{identifier}` are filled in per kind."""


_K8S_MAX_STRING: Final = 32768


class Condition(_StatusModel):
    """A Kubernetes condition (metav1.Condition conventions)."""

    description: ClassVar[str] = "A condition of the resource, following Kubernetes conventions."

    type: str = Field(
        max_length=316,
        description="Ready: the AWS {short_noun} exists and matches the spec; Synced: the last reconcile succeeded.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str | None = Field(default=None, max_length=1024, description="A CamelCase word saying why.")
    message: str | None = Field(
        default=None, max_length=_K8S_MAX_STRING, description="Details for humans; quotes AWS's own error text."
    )
    last_transition_time: KubeTime | None = Field(default=None, description="When the status last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The generation of the spec this condition describes."
    )


class OperationInFlight(_StatusModel):
    """The Cloud Control operation the operator started and has not seen finish."""

    description: ClassVar[str] = "The Cloud Control operation in flight, kept so that a restarted operator resumes it."

    type: OperationType = Field(description="The operation.")
    request_token: str | None = Field(default=None, max_length=128, description="Cloud Control's RequestToken.")
    client_token: str | None = Field(
        default=None, max_length=128, description="The idempotency ClientToken sent with the request."
    )
    generation: int | None = Field(default=None, ge=0, description="The generation of the spec the operation applies.")
    started_at: KubeTime | None = Field(default=None, description="When the operation was requested.")


class ReferenceInUse(_StatusModel):
    """What one reference resolved to in what the object last sent to AWS."""

    description: ClassVar[str] = "A value a reference of this object resolved to, as last sent to AWS."

    kind: str = Field(max_length=63, description="The kind of the object the reference names.")
    name: str = Field(max_length=253, description="The name of that object (same namespace).")
    value: str = Field(max_length=2048, description="What it resolved to (an id, a name or an ARN).")


class Retiring(_StatusModel):
    """An old resource of a content-addressed kind: replaced after an edit, deleted once nothing uses it."""

    description: ClassVar[str] = (
        "A {noun} this object made before its content last changed, deleted once nothing of ours uses it."
    )

    identifier: str = Field(max_length=256, description="Its Cloud Control identifier (its name).")
    arn: str | None = Field(default=None, max_length=256, description="Its ARN.")
    waiting_for: str | None = Field(
        default=None, max_length=_K8S_MAX_STRING, description="What its delete waits for: who still uses it."
    )
    attempts: int | None = Field(default=None, ge=0, description="Delete requests AWS refused or failed so far.")


class ResourceStatus(_StatusModel):
    """`.status` of a managed object, as the operator writes it; the CRDs' status schema is generated
    from this model (`crd.status_schema`)."""

    description: ClassVar[str] = "The observed state of the SageMaker Studio {noun}."
    foreign: ClassVar[dict[str, Any]] = {
        "kopf": {
            "type": "object",
            "description": "Progress records of the kopf framework.",
            "x-kubernetes-preserve-unknown-fields": True,
        }
    }
    """Status fields others write (kopf's own records): in the CRD's schema, never in this model, so that
    parsing and writing status never touches them."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The generation of the spec the operator last reconciled."
    )
    arn: str | None = Field(default=None, max_length=256, description="The ARN of the AWS {noun}.")
    identifier: str | None = Field(
        default=None, max_length=256, description="The Cloud Control identifier, {identifier}."
    )
    region: str | None = Field(default=None, max_length=REGION_MAX_LENGTH, description="The AWS region in use.")
    conditions: list[Condition] | None = Field(
        default=None,
        description="Ready and Synced conditions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    operation: OperationInFlight | None = None
    last_sync_time: KubeTime | None = Field(
        default=None, description="When the operator last reconciled successfully with AWS."
    )
    last_drift_check_time: KubeTime | None = Field(
        default=None, description="When the operator last compared AWS with the spec."
    )
    drift_detected: bool | None = Field(
        default=None, description="Whether the last drift check found AWS differing from the spec."
    )
    failed_generation: int | None = Field(
        default=None, ge=0, description="The generation whose reconcile hit a terminal error."
    )
    aws_state: dict[str, Any] | None = Field(
        default=None, description="The {noun} as AWS last reported it (camelCase)."
    )
    references: list[ReferenceInUse] | None = Field(
        default=None,
        description=(
            "What the object's references (the `...Ref` fields) resolved to in what it last sent to AWS: "
            "a resource replaced after an edit is deleted once every object naming it has moved on."
        ),
    )

    @classmethod
    def patch(cls, **fields: Any) -> dict[str, Any]:
        """A merge patch of `.status` with these fields (Python names), checked by the model.

        A field given as None is sent as null, which removes it (`operation` once it has finished).
        """
        unknown = set(fields) - set(cls.model_fields)
        if unknown:
            raise ValueError(f"status has no field {sorted(unknown)}")
        model = cls.model_validate({k: v for k, v in fields.items() if v is not None})
        patch: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
        patch.update({cls.model_fields[k].alias or k: None for k, v in fields.items() if v is None})
        return patch

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


def _mirrored(kind: Kind) -> list[Reference]:
    """The references whose value status keeps beside the identifier: one value each (not a list, not in
    a list's items) and the only reference of its field name (a domain's many `lifecycleConfigArnRef`s
    have no one value to show)."""
    names = Counter(reference.path[-1] for reference in kind.references)
    return [
        reference
        for reference in kind.references
        if not reference.plural
        and names[reference.path[-1]] == 1
        and not any(
            kind.schema.node_at(reference.path[:i]).get("type") == "array" for i in range(1, len(reference.path))
        )
    ]


def reference_fields(kind: Kind) -> dict[str, tuple[str, ...]]:
    """The status fields that hold what the kind's references settled, by Python name, each with the
    camelCase path under spec it mirrors: `domain_id` <- `domainId`, `owner_user_profile_name` <-
    `ownershipSettings.ownerUserProfileName`."""
    paths = (kind.naming.spec_path(reference.path) for reference in _mirrored(kind))
    return {to_snake(path[-1]): path for path in paths}


@cache
def status_model(kind: Kind) -> type[ResourceStatus]:
    """The status model of one kind: `ResourceStatus` and, for each field another object can supply (a
    reference), the value in use, whether the spec gave it or its `<field>Ref` resolved to it. Printer
    columns read them, so `kubectl get` shows the domain of a profile that names its domain object."""
    fields: dict[str, Any] = {}
    if kind.replace_on_change:
        name = kind.naming.spec_name(kind.name_property)
        description = (
            f"The {name} in AWS now: spec.{name} (else the object's name) and a hash of the content. An edit "
            "makes a new one."
        )
        max_length = int(kind.schema.node_at((kind.name_property,)).get("maxLength", 256))
        fields[to_snake(name)] = (
            str | None,
            Field(default=None, alias=name, max_length=max_length, description=description),
        )
        fields["retiring"] = (
            list[Retiring] | None,
            Field(
                default=None,
                description=(
                    "What this object made before its content last changed, still to delete: deleted once "
                    "nothing of ours uses it (SageMaker refuses while something does), and with the object."
                ),
            ),
        )
    for reference in _mirrored(kind):
        path = kind.naming.spec_path(reference.path)
        dotted, ref = ".".join(path), ".".join((*path[:-1], path[-1] + REF_SUFFIX))
        description = f"The {dotted} in use: spec.{dotted}, or what spec.{ref} resolved to."
        max_length = int(kind.schema.node_at(reference.path).get("maxLength", 256))
        field = Field(default=None, alias=path[-1], max_length=max_length, description=description)
        fields[to_snake(path[-1])] = (str | None, field)
    model: type[ResourceStatus] = create_model(
        f"{kind.kind}Status", __base__=ResourceStatus, __module__=__name__, **fields
    )
    return model
