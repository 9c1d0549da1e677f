"""A `Kind`: everything type-specific about one Cloud Control type, as one value.

The core (reconciler, plan, drift, resync, CRD generator, Cloud Control client, inventory, metrics,
the kopf registration) takes a Kind and never names a type. A Kind holds the type name, the Kubernetes
API names, its registry schema (from `cfn_registry`), the camelCase naming of its properties, the
property that carries the ARN, printer columns, the CEL rules and descriptions the schema states only in
prose (or gets wrong), and the enums AWS extends between schema releases (instance types). The
descriptors themselves live in `kinds/`, one module each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import cfn_registry
from cfn_registry.open_enums import OpenEnum
from cfn_registry.schema import JsonObject, PropertyPath, ResourceSchema
from userprofile_operator.naming import Naming
from userprofile_operator.references import Reference

__all__ = ["CATEGORIES", "FINALIZER", "GROUP", "VERSION", "Cleanup", "Column", "Kind", "Rule"]

GROUP: Final = "sagemaker.awscc.dev"
VERSION: Final = "v1alpha1"
FINALIZER: Final = f"{GROUP}/finalizer"
CATEGORIES: Final = ("aws", "sagemaker")


@dataclass(frozen=True)
class Rule:
    """A CEL validation rule of the CRD (`x-kubernetes-validations`)."""

    rule: str
    message: str
    field_path: str | None = None

    def render(self) -> JsonObject:
        rendered: JsonObject = {"rule": self.rule, "message": self.message}
        if self.field_path is not None:
            rendered["fieldPath"] = self.field_path
        return rendered


@dataclass(frozen=True)
class Column:
    """A printer column of `kubectl get` (additionalPrinterColumns)."""

    name: str
    json_path: str
    type: str = "string"
    priority: int | None = None

    def render(self) -> JsonObject:
        rendered: JsonObject = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority is not None:
            rendered["priority"] = self.priority
        return rendered


@dataclass(frozen=True)
class Cleanup:
    """What SageMaker keeps from deleting a resource of the kind, and so what `spec.cleanupOnDelete` offers
    (`cleanup.py` decides; the reconciler surveys and acts)."""

    apps: str | None = None
    """The ListApps filter that finds the resource's own apps (`UserProfileNameEquals`,
    `SpaceNameEquals`): its apps are deleted first (`apps: Delete | Block`)."""
    owned_spaces: bool = False
    """Private spaces it owns go before it (`ownedSpaces: Delete | Block`): a user profile."""
    members: bool = False
    """Its user profiles and spaces must be gone first, and are never deleted for it: a domain."""
    home_efs: bool = False
    """It has a home EFS volume that its delete may take along (`homeEfs: Retain | Delete`): a domain."""

    @property
    def options(self) -> tuple[str, ...]:
        """The camelCase fields of `spec.cleanupOnDelete` that apply."""
        flags = (("apps", self.apps is not None), ("ownedSpaces", self.owned_spaces), ("homeEfs", self.home_efs))
        return tuple(name for name, on in flags if on)


def _no_rules(kind: Kind) -> Mapping[str, Sequence[Rule]]:
    return {}


def _no_spec_rules(kind: Kind) -> Sequence[Rule]:
    return ()


@dataclass(frozen=True, eq=False)
class Kind:
    """One managed kind. Hashable by identity: there is one value per kind."""

    type_name: str
    """The Cloud Control type, e.g. AWS::SageMaker::UserProfile."""
    kind: str
    plural: str
    short_names: tuple[str, ...]
    noun: str
    """What messages call one resource of the type ("user profile")."""
    short_noun: str
    """The same, in one word ("profile")."""
    arn_property: str
    """The readOnly property that holds the resource's ARN."""
    name_property: str
    """The property that names the resource within its domain (UserProfileName, SpaceName)."""
    execution_role: PropertyPath | None = None
    """Where the resource's IAM execution role is, when it has one (`list` shows it)."""
    columns: tuple[Column, ...] = ()
    """Printer columns of the kind's own fields, shown before Region, Ready, Synced and Age."""
    definition_rules: Callable[[Kind], Mapping[str, Sequence[Rule]]] = _no_rules
    """CEL rules per schema definition name, for constraints the schema states only in prose."""
    spec_rules: Callable[[Kind], Sequence[Rule]] = _no_spec_rules
    """CEL rules on the whole spec (cross-field constraints between top-level properties)."""
    descriptions: Mapping[str | tuple[str, str], str] = field(default_factory=dict)
    """Descriptions the schema lacks or gets wrong: by definition name (where the schema has none), or by
    (definition, property), ("", property) for a top-level one, in place of the schema's own (registry
    schemas copy descriptions between resources: a domain's tags "to apply to the user profile")."""
    extra_max_lengths: Mapping[PropertyPath, int] = field(default_factory=dict)
    """maxLength for strings the schema leaves unbounded but CEL rules compare."""
    references: tuple[Reference, ...] = ()
    """Fields another managed object can supply (`<field>Ref: {name}` beside them, same namespace)."""
    cleanup: Cleanup | None = None
    """What Studio leaves behind that blocks the kind's delete; None: nothing does."""
    listed_within: tuple[str, str] | None = None
    """(kind, property) when Cloud Control lists the type only within a parent: an image's versions, by
    the image's ImageName (ListResources with that property in its ResourceModel)."""
    open_enums: tuple[OpenEnum, ...] = ()
    """Enums of the schema that AWS extends without a new schema (instance types): the CRD and the operator
    check the form of a value, and the schema's list only makes an admission warning."""
    replace_on_change: bool = False
    """Content-addressed: AWS cannot change the resource (its properties are createOnly), and people edit
    it in git (a lifecycle script). Its AWS name (`name_property`) is derived: the spec's name, or the
    object's, as a prefix, then a short hash of the createOnly content (kustomize's configMapGenerator
    does the same). An edit is a new name: the operator creates the new resource, the objects that name
    this one by reference follow to the new ARN, and the old resource is deleted once nothing of ours
    refers to it (`status.retiring` until then). The CRD makes none of its createOnly fields immutable."""

    # -- API names -----------------------------------------------------------------------------------

    @property
    def group(self) -> str:
        return GROUP

    @property
    def version(self) -> str:
        return VERSION

    @property
    def api_version(self) -> str:
        return f"{GROUP}/{VERSION}"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"

    @property
    def resource(self) -> tuple[str, str, str]:
        """(group, version, plural), as kopf's handler decorators and the kubernetes client take it."""
        return (GROUP, VERSION, self.plural)

    # -- the schema ----------------------------------------------------------------------------------

    @cached_property
    def schema(self) -> ResourceSchema:
        return cfn_registry.load(self.type_name)

    @cached_property
    def naming(self) -> Naming:
        return Naming(self.schema.property_names())

    @cached_property
    def generated_identifier(self) -> bool:
        """Whether AWS makes the identifier (it is readOnly, like a domain's DomainId): then it is known
        only from the create request's ProgressEvent, and an existing resource is found by its name."""
        return all(path in self.schema.read_only for path in self.schema.primary_identifier)

    @cached_property
    def identifier_help(self) -> str:
        """How the Cloud Control identifier is written, e.g. `UserProfileName|DomainId`."""
        return "|".join("/".join(path) for path in self.schema.primary_identifier)

    def identifier_of_spec(self, spec: Mapping[str, Any]) -> str | None:
        """The identifier a `.spec` document names, or None while a part of it is missing."""
        values = []
        for path in self.schema.primary_identifier:
            node: Any = spec
            for name in self.naming.spec_path(path):
                node = node.get(name) if isinstance(node, Mapping) else None
            if node in (None, ""):
                return None
            values.append(str(node))
        return "|".join(values)

    def __repr__(self) -> str:
        return f"Kind({self.kind})"
