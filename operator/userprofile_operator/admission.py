"""Tenant guardrails, enforced by the API server: the SageMakerTenantPolicy CRD (the parameters) and one
ValidatingAdmissionPolicy per managed kind, both generated from the kinds' registry schemas.

One operator serves many teams, each in namespaces of its own. Whoever may create an object of our kinds
in a namespace must not be able to point it at another team's domain or IAM role (the confused deputy):
the operator's AWS identity would do it for them. Each tenant namespace holds one SageMakerTenantPolicy
named `default`, written by the platform team; a ValidatingAdmissionPolicy per kind reads it (the
binding's paramRef) and refuses, at `kubectl apply`, an object that names

- a `domainId` outside `allowedDomainIds` (the fields a `domainIdRef` can stand for: a reference names a
  SageMakerDomain object of the same namespace, which went through these checks itself);
- an IAM role that matches none of the RE2 patterns of `allowedExecutionRoles` (whole-ARN match), at every
  property of the schema that names roles (`...Role`, `...RoleArn`, `...RoleArns`);
- an instance type outside `allowedInstanceTypes`, when the list is set, at every
  `DefaultResourceSpec.InstanceType` of every app setting;
- `adoptionPolicy: Adopt` (and, for kinds whose identifier AWS makes, `managementPolicy: ObserveOnly`,
  which finds an existing resource by name just as adoption does and hands its id to references), unless
  `allowAdoption` is true;
- `cleanupOnDelete.ownedSpaces: Delete` (profiles) or `cleanupOnDelete.homeEfs: Delete` (domains), which
  make a delete remove people's files, unless `allowDataDeletion` is true.

On an update, a value the object already had passes: a guardrail tightened later never blocks the edits
of other fields, nor the finalizer the operator removes at deletion; a new value must be allowed.

Beside the guardrails, one advisory policy per kind (and one for the SageMakerTenantPolicy) warns, and
never refuses, where a spec names a value of an open enum that no vendored schema lists: the CRDs check an
instance type by its form (`ml.<family>.<size>`), so a type AWS launches after this release is accepted,
and a typo is pointed out at `kubectl apply` (AWS refuses a type it does not have).

The paths are derived from the schemas (`iter_property_paths`, camelCase by the kind's naming), never
listed by hand, so a property AWS adds to a schema is guarded once the schema is vendored. What this
module does not do: bindings, names and namespace selection (the Helm chart's `templates/admission.yaml`
adds them), or anything at run time: the policies are files (`userprofile-operator crd --policies-dir`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from cfn_registry.open_enums import OpenEnum
from cfn_registry.patterns import re2_pattern
from cfn_registry.schema import JsonObject, PropertyPath
from userprofile_operator.crd import dump_yaml
from userprofile_operator.kind import GROUP, VERSION, Kind
from userprofile_operator.kinds import all_kinds
from userprofile_operator.models import AdoptionPolicy, CleanupPolicy, HomeEfsPolicy, ManagementPolicy

__all__ = [
    "TENANT_POLICY_KIND",
    "TENANT_POLICY_NAME",
    "TENANT_POLICY_PLURAL",
    "Guard",
    "guards",
    "instance_type_paths",
    "policy_file_name",
    "policy_files",
    "policy_name",
    "render_policy",
    "render_policy_yaml",
    "render_tenant_policy_crd",
    "render_tenant_policy_crd_yaml",
    "render_tenant_policy_warning_policy",
    "render_warning_policy",
    "role_paths",
    "tenant_policy_crd_file_name",
    "warning_policy_file_name",
]

TENANT_POLICY_KIND: Final = "SageMakerTenantPolicy"
TENANT_POLICY_PLURAL: Final = "sagemakertenantpolicies"
TENANT_POLICY_SHORT_NAME: Final = "smtp"
TENANT_POLICY_NAME: Final = "default"
"""The one SageMakerTenantPolicy a namespace has: the bindings' paramRef names it."""

# Properties that name IAM roles: ExecutionRole, DomainExecutionRoleArn, EmrSettings.ExecutionRoleArns, ...
_ROLE_NAME: Final = re.compile(r"Role(Arns?)?$")
_INSTANCE_TYPE: Final = ("DefaultResourceSpec", "InstanceType")
_DOMAIN_KIND: Final = "SageMakerDomain"

# Bounds of the parameters, so the API server can bound the cost of the CEL that reads them.
_MAX_DOMAINS: Final = 256
_MAX_ROLE_PATTERNS: Final = 64
_MAX_PATTERN_LENGTH: Final = 512
_MAX_INSTANCE_TYPES: Final = 256

_MAX_NAME_PATTERNS: Final = 64

Rule = Literal[
    "allowedDomainIds", "allowedExecutionRoles", "allowedInstanceTypes", "allowedLifecycleConfigs", "allowedImages"
]

# What names a lifecycle configuration or a custom image, by property name wherever a schema has it: its ARN
# (`...Arn`, `...Arns`: the name is the ARN's part after the resource type) or its name. The kinds' own names
# are among them (StudioLifecycleConfigName; an image's and an image version's ImageName), so a reference,
# which names an object of the namespace, reaches only what that object's own guard let in.
_NAMED: Final[dict[Rule, frozenset[str]]] = {
    "allowedLifecycleConfigs": frozenset({"LifecycleConfigArns", "LifecycleConfigArn", "StudioLifecycleConfigName"}),
    "allowedImages": frozenset({"SageMakerImageArn", "SageMakerImageVersionArn", "ImageName"}),
}


@dataclass(frozen=True)
class Guard:
    """One guarded field of a kind's spec: which parameter allows its values, and where it is."""

    rule: Rule
    path: tuple[str, ...]
    """camelCase names below `.spec`."""
    many: bool = False
    """A list of values (EmrSettings.ExecutionRoleArns) rather than one."""
    items: int | None = None
    """Where the path goes through a list (`customImages[].imageName`): the list is `path[:items]`, the
    field of each item `path[items:]`."""
    by_arn: bool = False
    """The values are ARNs of what the rule allows by name (a lifecycle config's, an image's)."""
    or_object_name: bool = False
    """Unset, the field is the object's own name (`metadata.name`): a content-addressed kind's name in AWS
    (`Kind.replace_on_change`) starts with it, so the guard checks that name instead."""

    @property
    def dotted(self) -> str:
        return "spec." + ".".join(self.path)


def _leaf(kind: Kind, path: PropertyPath) -> tuple[JsonObject, bool]:
    """The schema node of the values at `path` (a list's items), and whether it is a list."""
    node = kind.schema.node_at(path)
    if node.get("type") == "array":
        return kind.schema.resolve(node.get("items", {})), True
    return node, False


def _through_array(kind: Kind, path: PropertyPath) -> bool:
    return any(kind.schema.node_at(path[: i + 1]).get("type") == "array" for i in range(len(path) - 1))


def role_paths(kind: Kind) -> tuple[PropertyPath, ...]:
    """Every writable property of the kind that names IAM roles (a string, or a list of strings)."""

    def names_roles(path: PropertyPath) -> bool:
        leaf, _ = _leaf(kind, path)
        # not ExecutionRoleIdentityConfig (an enum) nor an object
        return leaf.get("type") == "string" and "enum" not in leaf

    return tuple(
        path for path in kind.schema.writable_property_paths() if _ROLE_NAME.search(path[-1]) and names_roles(path)
    )


def instance_type_paths(kind: Kind) -> tuple[PropertyPath, ...]:
    """Every `DefaultResourceSpec.InstanceType` of the kind: the instance type each app runs by default."""
    return tuple(path for path in kind.schema.writable_property_paths() if path[-2:] == _INSTANCE_TYPE)


def named_paths(kind: Kind, rule: Rule) -> tuple[PropertyPath, ...]:
    """Every writable property of the kind that names a lifecycle configuration or an image (`_NAMED`)."""
    return tuple(path for path in kind.schema.writable_property_paths() if path[-1] in _NAMED[rule])


def _list_at(kind: Kind, path: PropertyPath) -> int | None:
    """Where `path` goes through a list (the index after the list's name), or None."""
    lists = [i + 1 for i in range(len(path) - 1) if kind.schema.node_at(path[: i + 1]).get("type") == "array"]
    if len(lists) > 1:
        raise ValueError(f"{kind.kind}: {'/'.join(path)} lies inside nested lists, which the policy cannot guard")
    return lists[0] if lists else None


def guards(kind: Kind) -> tuple[Guard, ...]:
    """The kind's guarded fields: its domain ids, roles, instance types, lifecycle configs and images."""
    domain_ids = tuple(ref.path for ref in kind.references if ref.target == _DOMAIN_KIND)
    rules: tuple[tuple[Rule, tuple[PropertyPath, ...]], ...] = (
        ("allowedDomainIds", domain_ids),
        ("allowedExecutionRoles", role_paths(kind)),
        ("allowedInstanceTypes", instance_type_paths(kind)),
        ("allowedLifecycleConfigs", named_paths(kind, "allowedLifecycleConfigs")),
        ("allowedImages", named_paths(kind, "allowedImages")),
    )
    found: list[Guard] = []
    for rule, paths in rules:
        for path in paths:
            items = _list_at(kind, path)
            if items is not None and rule not in _NAMED:
                # CEL would need a map over the list: add it here when a schema brings such a path.
                raise ValueError(f"{kind.kind}: {'/'.join(path)} lies inside a list, which the policy cannot guard")
            leaf, many = _leaf(kind, path)
            if leaf.get("type") != "string" or (many and items is not None):
                raise ValueError(f"{kind.kind}: {'/'.join(path)} is not a string or a list of strings")
            by_arn = path[-1].endswith(("Arn", "Arns"))
            own_name = kind.replace_on_change and path == (kind.name_property,)
            found.append(Guard(rule, kind.naming.spec_path(path), many, items, by_arn, own_name))
    return tuple(found)


# -- CEL ------------------------------------------------------------------------------------------------

_VARIABLES: Final = (
    ("updating", "request.operation == 'UPDATE'"),
    ("allowedDomainIds", "params.spec.?allowedDomainIds.orValue([])"),
    ("allowedExecutionRoles", "params.spec.?allowedExecutionRoles.orValue([])"),
    ("instanceTypesLimited", "params.spec.?allowedInstanceTypes.hasValue()"),
    ("allowedInstanceTypes", "params.spec.?allowedInstanceTypes.orValue([])"),
    ("lifecycleConfigsLimited", "params.spec.?allowedLifecycleConfigs.hasValue()"),
    ("allowedLifecycleConfigs", "params.spec.?allowedLifecycleConfigs.orValue([])"),
    ("imagesLimited", "params.spec.?allowedImages.hasValue()"),
    ("allowedImages", "params.spec.?allowedImages.orValue([])"),
    ("allowAdoption", "params.spec.?allowAdoption.orValue(false)"),
    ("allowDataDeletion", "params.spec.?allowDataDeletion.orValue(false)"),
)


def _values(root: str, path: tuple[str, ...], many: bool, items: int | None = None) -> str:
    """A CEL list of the values of the field at `path` in `root` (`object.spec`), empty where it is not set;
    `many`: the field is a list of values; `items`: the path goes through a list there (each item's value)."""
    if items is not None:
        field = ".".join(path[items:])
        return f"{_values(root, path[:items], True)}.filter(i, has(i.{field})).map(i, i.{field})"
    chain = root + "".join(f".?{name}" for name in path)
    return f"{chain}.orValue([])" if many else f"[?{chain}]"


def _guarded_values(root: str, guard: Guard) -> str:
    """The CEL list of the values `guard` checks in `root` (`object` or `oldObject`)."""
    if guard.or_object_name:
        chain = "".join(f".?{name}" for name in guard.path)
        return f"[{root}.spec{chain}.orValue({root}.metadata.name)]"
    return _values(f"{root}.spec", guard.path, guard.many, guard.items)


def _name_of(value: str, by_arn: bool) -> str:
    """What a rule that allows by name matches: the name, or the part of an ARN after its resource type
    (`studio-lifecycle-config/NAME`, `image/NAME`, `image-version/NAME/3`); `None` names nothing."""
    return f"({value}.contains('/') ? {value}.split('/')[1] : {value})" if by_arn else value


def _allowed(rule: Rule, value: str, by_arn: bool = False) -> str:
    if rule in _NAMED:
        limited = {"allowedLifecycleConfigs": "lifecycleConfigsLimited", "allowedImages": "imagesLimited"}[rule]
        matches = f"variables.{rule}.exists(p, {_name_of(value, by_arn)}.matches('^(?:' + p + ')$'))"
        # the LifecycleConfigArn a schema allows to be `None` (no config) names nothing
        nothing = f" || {value} == 'None'" if by_arn else ""
        return f"!variables.{limited}{nothing} || {matches}"
    if rule == "allowedDomainIds":
        return f"{value} in variables.allowedDomainIds"
    if rule == "allowedExecutionRoles":
        # RE2, anchored: a pattern must match the whole ARN, not a part of it.
        return f"variables.allowedExecutionRoles.exists(p, {value}.matches('^(?:' + p + ')$'))"
    return f"!variables.instanceTypesLimited || {value} in variables.allowedInstanceTypes"


_WHAT: Final[dict[Rule, str]] = {
    "allowedDomainIds": "a domain",
    "allowedExecutionRoles": "an IAM role",
    "allowedInstanceTypes": "an instance type",
    "allowedLifecycleConfigs": "a lifecycle configuration",
    "allowedImages": "an image",
}


def _namespace_policy() -> str:
    return f"'namespace ' + request.namespace + ' (its {TENANT_POLICY_KIND} {TENANT_POLICY_NAME}"


def _refused_variable(guard: Guard) -> str:
    """The name of the variable that holds the values of `guard`'s field the policy refuses."""
    return "refused_" + "_".join(guard.path)


def _refused(guard: Guard) -> JsonObject:
    """The variable: the field's values that are neither allowed nor already there before this update (a
    tightened guardrail never blocks the edits of other fields)."""
    new, old = (_guarded_values(root, guard) for root in ("object", "oldObject"))
    ok = f"{_allowed(guard.rule, 'v', guard.by_arn)} || (variables.updating && v in {old})"
    return {"name": _refused_variable(guard), "expression": f"{new}.filter(v, !({ok}))"}


def _guard_validation(guard: Guard) -> JsonObject:
    refused = f"variables.{_refused_variable(guard)}"
    return {
        "expression": f"size({refused}) == 0",
        "messageExpression": (
            f"'{guard.rule}: {guard.dotted} names ' + {refused}.join(', ') + "
            f"', {_WHAT[guard.rule]} not allowed in ' + {_namespace_policy()} "
            f"allows [' + variables.{guard.rule}.join(', ') + '])'"
        ),
        "message": f"{guard.rule}: {guard.dotted} names {_WHAT[guard.rule]} the namespace's "
        f"{TENANT_POLICY_KIND} does not allow",
        "reason": "Forbidden",
    }


def _policy_validation(
    field: str,
    value: str,
    default: str,
    why: str,
    flag: Literal["allowAdoption", "allowDataDeletion"] = "allowAdoption",
) -> JsonObject:
    """`spec.<field>: <value>` (a dotted path) only where the namespace's policy sets `flag` (or the object
    had it already)."""
    chain = "".join(f".?{name}" for name in field.split("."))
    now = f"object.spec{chain}.orValue('{default}') == '{value}'"
    before = f"oldObject.spec{chain}.orValue('{default}') == '{value}'"
    message = f"{flag}: spec.{field}: {value} {why}; it is not allowed in "
    return {
        "expression": f"!({now}) || variables.{flag} || (variables.updating && {before})",
        "messageExpression": f"'{message}' + {_namespace_policy()} sets no {flag}: true)'",
        "message": f"{message}this namespace (its {TENANT_POLICY_KIND} sets no {flag}: true)",
        "reason": "Forbidden",
    }


def _data_deletion_validations(kind: Kind) -> list[JsonObject]:
    """What a delete may remove that holds people's files (a profile's own spaces, a domain's home volume):
    asked for only where the platform team allows it. Apps (compute) are deleted by default everywhere."""
    options = kind.cleanup.options if kind.cleanup is not None else ()
    out = []
    if "ownedSpaces" in options:
        out.append(
            _policy_validation(
                "cleanupOnDelete.ownedSpaces",
                CleanupPolicy.DELETE.value,
                CleanupPolicy.BLOCK.value,
                "deletes the private spaces of the profile, and the files in them, with it",
                "allowDataDeletion",
            )
        )
    if "homeEfs" in options:
        out.append(
            _policy_validation(
                "cleanupOnDelete.homeEfs",
                HomeEfsPolicy.DELETE.value,
                HomeEfsPolicy.RETAIN.value,
                "deletes the home directories of all the users of the domain with it",
                "allowDataDeletion",
            )
        )
    return out


def _adoption_validations(kind: Kind) -> list[JsonObject]:
    out = [
        _policy_validation(
            "adoptionPolicy",
            AdoptionPolicy.ADOPT.value,
            AdoptionPolicy.NEVER.value,
            f"takes over an existing AWS {kind.noun}",
        )
    ]
    if kind.generated_identifier:
        # An observed resource whose id AWS made is found by its name, and references take its id: as
        # good as adopting it, for whoever points a profile at it.
        out.append(
            _policy_validation(
                "managementPolicy",
                ManagementPolicy.OBSERVE_ONLY.value,
                ManagementPolicy.MANAGE.value,
                f"finds an existing AWS {kind.noun} by its name and gives its id to references",
            )
        )
    return out


def policy_name(kind: Kind) -> str:
    """The policy's name in its file; the chart prefixes the release's full name."""
    return f"tenant-{kind.plural}"


def policy_file_name(kind: Kind) -> str:
    return f"{kind.plural}.yaml"


def render_policy(kind: Kind) -> JsonObject:
    """The kind's ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1), without bindings."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name(kind)},
        "spec": {
            "failurePolicy": "Fail",
            "paramKind": {"apiVersion": f"{GROUP}/{VERSION}", "kind": TENANT_POLICY_KIND},
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [kind.group],
                        "apiVersions": [kind.version],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [kind.plural],
                    }
                ]
            },
            "variables": [
                *({"name": name, "expression": expression} for name, expression in _VARIABLES),
                *(_refused(g) for g in guards(kind)),
            ],
            "validations": [
                *(_guard_validation(g) for g in guards(kind)),
                *_adoption_validations(kind),
                *_data_deletion_validations(kind),
            ],
        },
    }


def _header(what: str) -> str:
    return (
        f"# Generated by `userprofile-operator crd` from the vendored CloudFormation schemas: {what}.\n"
        "# Do not edit by hand: change the generator (operator/userprofile_operator/admission.py) and regenerate.\n"
    )


def render_policy_yaml(kind: Kind) -> str:
    return _header(f"the tenant guardrails of {kind.kind}") + "---\n" + dump_yaml(render_policy(kind))


# -- warnings: values of open enums that no schema lists ----------------------------------------------


@dataclass(frozen=True)
class _Known:
    """A field that holds values of an open enum, and the values the schemas list for that enum."""

    enum: OpenEnum
    path: tuple[str, ...]
    """camelCase names below `.spec`."""
    many: bool
    """A list of values (HiddenInstanceTypes) rather than one."""
    known: tuple[str, ...]


def _known(enum: OpenEnum, kinds: Sequence[Kind]) -> tuple[str, ...]:
    """What every kind's schema lists for the enum: a value one schema lists is known, even where an older
    schema of another kind lacks it."""
    return tuple(enum.known(kind.schema for kind in kinds if enum in kind.open_enums))


def _known_fields(kind: Kind, kinds: Sequence[Kind]) -> list[_Known]:
    """Every field of `kind` that holds an open enum."""
    out: list[_Known] = []
    for enum in kind.open_enums:
        known = _known(enum, kinds)
        for path in enum.paths(kind.schema):
            if _through_array(kind, path):
                raise ValueError(f"{kind.kind}: {'/'.join(path)} lies inside a list, which the policy cannot read")
            many = kind.schema.node_at(path).get("type") == "array"
            out.append(_Known(enum, kind.naming.spec_path(path), many, known))
    return out


def _warning_policy(plural: str, fields: Sequence[_Known]) -> JsonObject:
    """A policy without parameters whose failed validations the chart's binding turns into warnings."""

    def known_variable(enum: OpenEnum) -> str:  # `known_instance_types`
        return "known_" + enum.noun.replace(" ", "_") + "s"

    variables: list[JsonObject] = [{"name": "updating", "expression": "request.operation == 'UPDATE'"}]
    lists = {known_variable(field.enum): field.known for field in fields}  # each enum's values once
    variables += [{"name": n, "expression": "[" + ", ".join(f"'{v}'" for v in vs) + "]"} for n, vs in lists.items()]
    validations: list[JsonObject] = []
    for field in fields:
        name = "unknown_" + "_".join(field.path)
        new, old = (_values(root, field.path, field.many) for root in ("object.spec", "oldObject.spec"))
        # A value the object already had is not news on an update.
        unknown = f"!(v in variables.{known_variable(field.enum)}) && !(variables.updating && v in {old})"
        variables.append({"name": name, "expression": f"{new}.filter(v, {unknown})"})
        dotted = "spec." + ".".join(field.path)
        message = (
            f"{field.enum.noun} that no schema of this operator lists: new since, or a typo (accepted; AWS "
            f"refuses {field.enum.noun}s it does not have)"
        )
        validations.append(
            {
                "expression": f"size(variables.{name}) == 0",
                "messageExpression": f"'{dotted} names ' + variables.{name}.join(', ') + ', an {message}'",
                "message": f"{dotted} names an {message}",
            }
        )
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": f"warn-{plural}"},
        "spec": {
            # Advice never blocks: an expression that fails lets the request through.
            "failurePolicy": "Ignore",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": [VERSION],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [plural],
                    }
                ]
            },
            "variables": variables,
            "validations": validations,
        },
    }


def render_warning_policy(kind: Kind, kinds: Sequence[Kind] | None = None) -> JsonObject | None:
    """The kind's advisory ValidatingAdmissionPolicy: a warning for each value of an open enum that no
    schema of `kinds` (default: all) lists. None when the kind holds no open enum."""
    fields = _known_fields(kind, all_kinds() if kinds is None else kinds)
    return _warning_policy(kind.plural, fields) if fields else None


def render_tenant_policy_warning_policy(kinds: Sequence[Kind] | None = None) -> JsonObject:
    """The advisory policy of the SageMakerTenantPolicy: an allowedInstanceTypes entry no schema lists."""
    kinds = all_kinds() if kinds is None else kinds
    enum = _instance_type_enum(kinds)
    return _warning_policy(TENANT_POLICY_PLURAL, [_Known(enum, ("allowedInstanceTypes",), True, _known(enum, kinds))])


def warning_policy_file_name(plural: str) -> str:
    return f"warn-{plural}.yaml"


def policy_files(kinds: Sequence[Kind] | None = None) -> dict[str, str]:
    """Every policy file of the chart's files/admission/, by file name: the tenant guardrails of each kind,
    then the advisory policies of each kind and of the SageMakerTenantPolicy (`kinds` given: only theirs)."""
    chosen = all_kinds() if kinds is None else kinds
    files = {policy_file_name(kind): render_policy_yaml(kind) for kind in chosen}
    for kind in chosen:
        warning = render_warning_policy(kind)
        if warning is not None:
            what = f"the warnings of {kind.kind} (values no schema lists)"
            files[warning_policy_file_name(kind.plural)] = _header(what) + "---\n" + dump_yaml(warning)
    if kinds is None:
        what = f"the warnings of {TENANT_POLICY_KIND} (values no schema lists)"
        text = _header(what) + "---\n" + dump_yaml(render_tenant_policy_warning_policy())
        files[warning_policy_file_name(TENANT_POLICY_PLURAL)] = text
    return files


# -- the parameters: SageMakerTenantPolicy --------------------------------------------------------------


def _instance_type_enum(kinds: Sequence[Kind]) -> OpenEnum:
    """The open enum of the instance types the guarded fields hold (`DefaultResourceSpec.InstanceType`)."""
    for kind in kinds:
        for enum in kind.open_enums:
            if enum.holds(_INSTANCE_TYPE[-1]):
                return enum
    raise ValueError("no kind has an open enum of instance types")


def _domain_id_node(kinds: Sequence[Kind]) -> JsonObject:
    """A domain id as the profile's schema constrains it (pattern, length)."""
    for kind in kinds:
        for ref in kind.references:
            if ref.target == _DOMAIN_KIND:
                node = kind.schema.node_at(ref.path)
                out: JsonObject = {"type": "string", "maxLength": int(node.get("maxLength", 63))}
                if node.get("pattern"):
                    out["pattern"] = re2_pattern(str(node["pattern"]), out["maxLength"])
                return out
    raise ValueError("no kind refers to a SageMakerDomain")


def _name_patterns(what: str) -> JsonObject:
    """A list of RE2 patterns matched against whole names: `what` they allow."""
    return {
        "type": "array",
        "description": (
            f"RE2 regular expressions, each matched against a whole name: the {what}. A reference names an "
            "object of this namespace, whose own name is checked. Unset: any; empty: none."
        ),
        "maxItems": _MAX_NAME_PATTERNS,
        "x-kubernetes-list-type": "set",
        "items": {
            "type": "string",
            "minLength": 1,
            "maxLength": _MAX_PATTERN_LENGTH,
            "x-kubernetes-validations": [
                {
                    "rule": "'name'.matches(self) ? true : true",
                    "message": "must be an RE2 regular expression (it is matched against the whole name)",
                }
            ],
        },
    }


def tenant_policy_crd_file_name() -> str:
    return f"{GROUP}_{TENANT_POLICY_PLURAL}.yaml"


def render_tenant_policy_crd(kinds: Sequence[Kind] | None = None) -> JsonObject:
    """The SageMakerTenantPolicy CRD: namespaced, the parameters of every kind's policy."""
    kinds = all_kinds() if kinds is None else kinds
    pattern_rule = {
        # A pattern RE2 cannot compile makes matches() fail, which fails the rule, with RE2's own words
        # in the message; `? true : true` keeps CEL from absorbing the error (as `|| true` would).
        "rule": "'arn'.matches(self) ? true : true",
        "message": "must be an RE2 regular expression (it is matched against the whole role ARN)",
    }
    name = {
        "type": "string",
        "x-kubernetes-validations": [
            {
                "rule": f"self == '{TENANT_POLICY_NAME}'",
                "message": f"the guardrails read only the {TENANT_POLICY_KIND} named {TENANT_POLICY_NAME} of each "
                "namespace",
            }
        ],
    }
    spec = {
        "type": "object",
        "description": (
            "What the objects of this namespace may name, checked at apply by the chart's "
            "ValidatingAdmissionPolicies. Only cluster administrators should be able to write it."
        ),
        "properties": {
            "allowedDomainIds": {
                "type": "array",
                "description": (
                    "SageMaker domain ids (d-...) that domainId may name. A domainIdRef names a SageMakerDomain "
                    "object of this namespace instead, which is checked itself. Empty or unset: none."
                ),
                "maxItems": _MAX_DOMAINS,
                "x-kubernetes-list-type": "set",
                "items": _domain_id_node(kinds),
            },
            "allowedExecutionRoles": {
                "type": "array",
                "description": (
                    "RE2 regular expressions; every IAM role a spec names (executionRole, "
                    "domainExecutionRoleArn, EMR role lists, ...) must match one of them as a whole, "
                    "e.g. arn:aws:iam::123456789012:role/team-a/.*. Empty or unset: none."
                ),
                "maxItems": _MAX_ROLE_PATTERNS,
                "x-kubernetes-list-type": "set",
                "items": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": _MAX_PATTERN_LENGTH,
                    "x-kubernetes-validations": [pattern_rule],
                },
            },
            "allowedInstanceTypes": {
                "type": "array",
                "description": (
                    "Instance types the apps' default resource specs may name: any of the form "
                    f"{_instance_type_enum(kinds).form} (one no schema of the operator lists gets a warning). "
                    "Unset: any; empty: none."
                ),
                "maxItems": _MAX_INSTANCE_TYPES,
                "x-kubernetes-list-type": "set",
                "items": _instance_type_enum(kinds).open_node({"type": "string"}),
            },
            "allowedLifecycleConfigs": _name_patterns(
                "Studio lifecycle configurations the objects may name (lifecycleConfigArns, "
                "defaultResourceSpec.lifecycleConfigArn: the name in the ARN) or create "
                "(SageMakerStudioLifecycleConfig's studioLifecycleConfigName), e.g. team-a-.*"
            ),
            "allowedImages": _name_patterns(
                "SageMaker images the objects may name (sageMakerImageArn, sageMakerImageVersionArn: the image's "
                "name in the ARN; customImages[].imageName) or create (SageMakerImage's and "
                "SageMakerImageVersion's imageName), e.g. team-a-.*"
            ),
            "allowAdoption": {
                "type": "boolean",
                "description": (
                    "Whether objects may take over existing AWS resources (adoptionPolicy: Adopt; for "
                    "domains also managementPolicy: ObserveOnly). Default false."
                ),
                "default": False,
            },
            "allowDataDeletion": {
                "type": "boolean",
                "description": (
                    "Whether a delete may remove what holds people's files: cleanupOnDelete.ownedSpaces: Delete "
                    "(a profile's private spaces) and cleanupOnDelete.homeEfs: Delete (a domain's home EFS "
                    "volume). Default false. Apps are compute and are deleted by default whatever this says."
                ),
                "default": False,
            },
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{TENANT_POLICY_PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "sagemaker-userprofile-operator"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": TENANT_POLICY_KIND,
                "listKind": f"{TENANT_POLICY_KIND}List",
                "plural": TENANT_POLICY_PLURAL,
                "singular": TENANT_POLICY_KIND.lower(),
                "shortNames": [TENANT_POLICY_SHORT_NAME],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": [
                        {"name": "Domains", "type": "string", "jsonPath": ".spec.allowedDomainIds"},
                        {"name": "Roles", "type": "string", "jsonPath": ".spec.allowedExecutionRoles"},
                        {"name": "Adoption", "type": "boolean", "jsonPath": ".spec.allowAdoption"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (
                                "The tenant guardrails of one namespace: which domains, IAM roles and "
                                "instance types its SageMaker objects may name. One per namespace, named "
                                f"{TENANT_POLICY_NAME}."
                            ),
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object", "properties": {"name": name}},
                                "spec": spec,
                            },
                        }
                    },
                }
            ],
        },
    }


def render_tenant_policy_crd_yaml() -> str:
    return (
        _header(f"the {TENANT_POLICY_KIND} CRD, the parameters of the tenant guardrails")
        + "---\n"
        + dump_yaml(render_tenant_policy_crd())
    )
