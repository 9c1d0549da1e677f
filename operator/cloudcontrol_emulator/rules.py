"""What SageMaker does beyond its registry schemas, one table entry per resource type.

The schema (``cfn_registry``) says what a model may hold: types, createOnly, readOnly, writeOnly, the
primary identifier. It does not say what the service adds or refuses at run time. That is here, as
data, so the backend stays generic:

* ``computed``: the readOnly values the service sets (ARNs, URLs), as templates over the model;
* ``generated``: primary-identifier properties the service invents (a Domain's ``DomainId``);
* ``references``: other resources a model names that must exist when it is created (SageMaker's
  ``ResourceNotFound``, which Cloud Control reports as ErrorCode ``NotFound``, worded by the target's
  ``missing``, unless the handler words it itself), and which cannot be deleted while it exists
  (``ResourceInUse``, reported as ``ResourceConflict``), or, for a ``cascade`` reference, whose
  delete takes it along (deleting an image deletes its versions);
* ``uses``: resources a model names in its settings, by name or ARN, wherever a property of that
  name occurs (a lifecycle config's ARN in any ``LifecycleConfigArns``, a custom image's
  ``ImageName``): they must exist when the model is created or updated (``ResourceNotFound``,
  reported as ``NotFound``), and cannot be deleted while the model names them. Unlike
  ``references`` these may change with an update, and the index of who uses whom follows;
* ``numbered``: a readOnly number the service gives each new resource within its parent, 1, 2, ...
  (an image's versions), available to ``generated`` templates as ``{number}``;
* ``requirements``: a value that makes another property mandatory (SageMaker's
  ``ValidationException``, reported as ``InvalidRequest``); ``refusals``: values SageMaker no longer
  accepts (a new ``KernelGateway`` app), the same errors;
* ``formats``: shapes SageMaker checks that the schema leaves open (a ``VpcId`` is ``vpc-`` and 8 or 17
  hex digits), also ``ValidationException`` / ``InvalidRequest``;
* ``listed``: what the list handler shows of each resource besides its primary identifier;
* ``defaults``: settings SageMaker reports although nobody set them;
* ``kept_deleted``: a deleted resource stays listed with Status ``Deleted`` (apps), until reset;
* ``volume``: the property naming the home EFS file system the service makes with each resource
  (a domain's ``HomeEfsFileSystemId``).

Besides the Cloud Control types, one internal type, :data:`SPACE_APP`, holds the apps of spaces: SageMaker
serves them, Cloud Control cannot name them (``AWS::SageMaker::App``'s identifier has no space). Its
name cannot pass Cloud Control's TypeName pattern, and its schema is derived from the App schema by
:func:`internal_schemas`.

A type with a schema but no entry here is served with :data:`GENERIC` rules: the schema alone.

Templates are ``str.format`` strings. Their fields: every top-level property of the model
(``{DomainId}``), ``{region}``, ``{account}``, ``{number}`` (see ``numbered``), ``{digest:N}`` (N
hex digits derived from the type and identifier, so a computed value stays the same across updates,
which recompute it) and ``{random:N}`` (N lowercase alphanumerics: for ``generated`` values, made
once). The conversion
``!l`` lowercases (``{AppType!l}``).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cfn_registry import ResourceSchema
from cfn_registry.schema import PropertyPath, get_path

__all__ = [
    "APP",
    "APP_IMAGE_CONFIG",
    "APP_TYPES",
    "DOMAIN",
    "GENERIC",
    "IMAGE",
    "IMAGE_VERSION",
    "RULES",
    "SPACE",
    "SPACE_APP",
    "STUDIO_LIFECYCLE_CONFIG",
    "USER_PROFILE",
    "VOLUME_TAG",
    "Format",
    "Numbered",
    "Reference",
    "Refusal",
    "Requirement",
    "TypeRules",
    "Use",
    "check",
    "format_failure",
    "internal_schemas",
    "render",
    "rules_for",
    "seeded_domain",
    "values_at",
]

USER_PROFILE: Final = "AWS::SageMaker::UserProfile"
SPACE: Final = "AWS::SageMaker::Space"
DOMAIN: Final = "AWS::SageMaker::Domain"
APP: Final = "AWS::SageMaker::App"
STUDIO_LIFECYCLE_CONFIG: Final = "AWS::SageMaker::StudioLifecycleConfig"
IMAGE: Final = "AWS::SageMaker::Image"
IMAGE_VERSION: Final = "AWS::SageMaker::ImageVersion"
APP_IMAGE_CONFIG: Final = "AWS::SageMaker::AppImageConfig"
SPACE_APP: Final = "SageMaker::SpaceApp"
"""Apps of spaces: served by SageMaker's API only (not a Cloud Control type; see the module docstring)."""

VOLUME_TAG: Final = "ManagedByAmazonSageMakerResource"
"""The tag SageMaker puts on a domain's home EFS file system; its value is the domain's ARN."""

#: SageMaker's AppType values (botocore's ``AppType`` enum); the App registry schema lists fewer.
APP_TYPES: Final = (
    "JupyterServer",
    "KernelGateway",
    "DetailedProfiler",
    "TensorBoard",
    "CodeEditor",
    "JupyterLab",
    "RStudioServerPro",
    "RSessionGateway",
    "Canvas",
)


@dataclass(frozen=True)
class Reference:
    """A model names a resource of type ``target`` that must exist.

    ``keys`` maps each primary-identifier path of the target to the path in this model that holds its
    value. The reference applies when the model has a value at every one of those paths (a space
    without ``OwnershipSettings`` names no owner). When the target does not exist (or is being
    deleted) the create fails with the target's ``missing`` message. While this model exists the
    target cannot be deleted.
    """

    target: str
    keys: Mapping[PropertyPath, PropertyPath]
    cascade: bool = False
    """Deleting the target deletes this model too, instead of being refused (an image's versions)."""
    code: str = "NotFound"
    """The HandlerErrorCode a create fails with when the target is missing."""
    missing: str = ""
    """How the handler words a missing target, a template over this model's top-level values and the
    target's identifier properties; empty for the target's own ``missing``."""


@dataclass(frozen=True)
class Use:
    """Settings that name resources of type ``target``: every string found at a path ending in
    ``key`` (array items walked through), anywhere in the model.

    ``prefix`` (a template over ``{region}`` and ``{account}``) is what a value must start with, and
    is cut off (an ARN naming a resource of this account and region); ``identifier`` turns the rest,
    ``{value}``, into the target's Cloud Control identifier. A value naming no existing target fails
    the create or update with ``NotFound`` and ``missing`` (over ``{value}`` and ``{region}``, the
    value as given). While the model names a target, the target cannot be deleted. A value in
    ``nothing`` names no target.
    """

    target: str
    key: PropertyPath
    missing: str
    identifier: str = "{value}"
    prefix: str = ""
    nothing: frozenset[str] = frozenset()
    """Values that name nothing (SageMaker's ``None`` in a lifecycle config ARN's place)."""


@dataclass(frozen=True)
class Numbered:
    """The service numbers the resources of a type within their parent (``within``), 1, 2, ...

    The number is given when the create is accepted, stored at ``path`` (readOnly) and offered to
    ``generated`` templates as ``{number}``. Numbers are not reused while the parent exists, except
    the last one when its create fails; a new parent of the same name counts from 1 again.
    """

    path: PropertyPath
    within: Reference


@dataclass(frozen=True)
class Requirement:
    """When the value at ``path`` equals ``value``, ``requires`` must be set; else ``message``."""

    path: PropertyPath
    value: Any
    requires: PropertyPath
    message: str


@dataclass(frozen=True)
class Refusal:
    """A value at ``path`` that SageMaker refuses in a new resource, with its ``message``."""

    path: PropertyPath
    values: frozenset[Any]
    message: str


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(frozen=True)
class Format:
    """The value at ``path`` (each item, for a list of strings) must match ``pattern`` in full.

    Checked only where the model has a value. A mismatch is worded as SageMaker words its own
    validation errors, naming the API member (the property name in lowerCamelCase, a list item as
    ``subnetIds.1.member``): see :func:`format_failure`.
    """

    path: PropertyPath
    pattern: str

    @property
    def compiled(self) -> re.Pattern[str]:
        return _compiled(self.pattern)


@dataclass(frozen=True)
class TypeRules:
    label: str
    """SageMaker's name of the type in its messages (``UserProfile``)."""
    name: str
    """How messages name one resource: a template over the model (``{AppName} ({AppType})``);
    empty for the identifier."""
    missing: str = ""
    """SageMaker's message when a resource of this type is not there, a template over its identifier
    properties and ``{region}``; empty for Cloud Control's generic not-found message."""
    arn: PropertyPath | None = None
    """The readOnly property holding the ARN (one of ``computed``)."""
    computed: Mapping[PropertyPath, str] = field(default_factory=dict)
    generated: Mapping[PropertyPath, str] = field(default_factory=dict)
    references: tuple[Reference, ...] = ()
    uses: tuple[Use, ...] = ()
    numbered: Numbered | None = None
    requirements: tuple[Requirement, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    formats: tuple[Format, ...] = ()
    listed: tuple[PropertyPath, ...] = ()
    """What ListResources shows besides the primary identifier (the rest needs a GetResource)."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """JSON pointers (``/UserSettings/StudioWebPortal``) to the values SageMaker fills in."""
    kept_deleted: bool = False
    """A deleted resource stays listed (SageMaker's ListApps shows Deleted apps for about a day)."""
    volume: PropertyPath | None = None
    """The (computed) property naming the home EFS file system made with each resource of the type."""


_DOMAIN_REF = Reference(target=DOMAIN, keys={("DomainId",): ("DomainId",)})


def _profile_ref(name: PropertyPath) -> Reference:
    """A reference to the user profile whose name is at ``name``, in the model's own domain."""
    return Reference(target=USER_PROFILE, keys={("UserProfileName",): name, ("DomainId",): ("DomainId",)})


_SPACE_REF = Reference(target=SPACE, keys={("SpaceName",): ("SpaceName",), ("DomainId",): ("DomainId",)})


_LIFECYCLE_CONFIG_ARN = "arn:aws:sagemaker:{region}:{account}:studio-lifecycle-config/"
_IMAGE_ARN = "arn:aws:sagemaker:{region}:{account}:image/"
_LIFECYCLE_CONFIG_MISSING = "StudioLifecycleConfig {value} does not exist (region {region})."
# SageMaker's API patterns for these ARNs end in `|None`: "None" is how a setting says "no config".
_NONE = frozenset({"None"})

#: What a domain's, a profile's or a space's settings name (SageMaker checks them on create and
#: update, and refuses to delete what is named: DeleteStudioLifecycleConfig's documentation says
#: the config must first be removed "from UserSettings in all Domains and UserProfiles").
_SETTINGS_USES = (
    Use(
        STUDIO_LIFECYCLE_CONFIG,
        ("LifecycleConfigArns",),
        _LIFECYCLE_CONFIG_MISSING,
        prefix=_LIFECYCLE_CONFIG_ARN,
        nothing=_NONE,
    ),
    Use(
        STUDIO_LIFECYCLE_CONFIG,
        ("DefaultResourceSpec", "LifecycleConfigArn"),
        _LIFECYCLE_CONFIG_MISSING,
        prefix=_LIFECYCLE_CONFIG_ARN,
        nothing=_NONE,
    ),
    Use(
        IMAGE,
        ("CustomImages", "ImageName"),
        "Image {value} does not exist (region {region}).",
        identifier=_IMAGE_ARN + "{value}",
    ),
    Use(
        APP_IMAGE_CONFIG,
        ("CustomImages", "AppImageConfigName"),
        "AppImageConfig {value} does not exist (region {region}).",
    ),
)

_IMAGE_REF = Reference(
    target=IMAGE,
    keys={("ImageArn",): ("ImageArn",)},
    # DeleteImage "Deletes a SageMaker AI image and all versions of the image" (API reference).
    cascade=True,
    # The ImageVersion handler turns SageMaker's ResourceNotFound into InvalidRequest, in these words.
    code="InvalidRequest",
    missing="Invalid request provided: Image: [{ImageName}] not found. Failed to create Image Version",
)

# An ECR image URI: <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag | @sha256:digest].
_ECR_IMAGE = (
    r"[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/"
    r"([a-z0-9]+([._-][a-z0-9]+)*/)*[a-z0-9]+([._-][a-z0-9]+)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})?"
)
_BASE64 = r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"

# App templates; <owner> becomes the property naming the app's owner, <kind> what the owner is.
_APP_ARN = "arn:aws:sagemaker:{region}:{account}:app/{DomainId}/<owner>/{AppType!l}/{AppName}"
_APP_MISSING = (
    "App {AppName} of type {AppType} does not exist for <kind> <owner> in Domain {DomainId} (region {region})."
)


def _app_rules(kind: str, owner: str, reference: Reference) -> TypeRules:
    """An app of a profile or of a space: ``owner`` is the property naming it, ``kind`` its label."""
    field = "{" + owner + "}"
    return TypeRules(
        label="App",
        name="{AppName} ({AppType})",
        missing=_APP_MISSING.replace("<kind>", kind).replace("<owner>", field),
        arn=("AppArn",),
        computed={("AppArn",): _APP_ARN.replace("<owner>", field)},
        references=(_DOMAIN_REF, reference),
        # KernelGateway apps belong to Studio Classic; SageMaker refuses new ones.
        refusals=(Refusal(("AppType",), frozenset({"KernelGateway"}), "This AppType has been deprecated."),),
        kept_deleted=True,
    )


RULES: Final[Mapping[str, TypeRules]] = {
    USER_PROFILE: TypeRules(
        label="UserProfile",
        name="{UserProfileName}",
        missing="UserProfile {UserProfileName} does not exist in Domain {DomainId} (region {region}).",
        arn=("UserProfileArn",),
        computed={
            ("UserProfileArn",): "arn:aws:sagemaker:{region}:{account}:user-profile/{DomainId}/{UserProfileName}",
        },
        references=(_DOMAIN_REF,),
        uses=_SETTINGS_USES,
        defaults={
            "/UserSettings/StudioWebPortal": "ENABLED",
            "/UserSettings/AutoMountHomeEFS": "DefaultAsDomain",
        },
    ),
    SPACE: TypeRules(
        label="Space",
        name="{SpaceName}",
        missing="Space {SpaceName} does not exist in Domain {DomainId} (region {region}).",
        arn=("SpaceArn",),
        computed={
            ("SpaceArn",): "arn:aws:sagemaker:{region}:{account}:space/{DomainId}/{SpaceName}",
            # Not AWS's documented shape (it documents none), but a URL of the domain's Studio.
            ("Url",): "https://{DomainId}.studio.{region}.sagemaker.aws/spaces/{SpaceName}",
        },
        references=(_DOMAIN_REF, _profile_ref(("OwnershipSettings", "OwnerUserProfileName"))),
        uses=_SETTINGS_USES,
        requirements=(
            Requirement(
                path=("SpaceSharingSettings", "SharingType"),
                value="Private",
                requires=("OwnershipSettings",),
                message="OwnershipSettings is required for a space whose SharingType is Private.",
            ),
        ),
    ),
    DOMAIN: TypeRules(
        label="Domain",
        name="{DomainId}",
        missing="Domain {DomainId} does not exist (region {region}).",
        arn=("DomainArn",),
        generated={("DomainId",): "d-{random:12}"},
        uses=_SETTINGS_USES,
        computed={
            ("DomainArn",): "arn:aws:sagemaker:{region}:{account}:domain/{DomainId}",
            ("Url",): "https://{DomainId}.studio.{region}.sagemaker.aws",
            ("HomeEfsFileSystemId",): "fs-{digest:17}",
        },
        # The schema allows any `[-0-9a-zA-Z]+`; SageMaker refuses what is not an EC2 id.
        formats=(
            Format(("VpcId",), r"vpc-([0-9a-f]{8}|[0-9a-f]{17})"),
            Format(("SubnetIds",), r"subnet-([0-9a-f]{8}|[0-9a-f]{17})"),
        ),
        # What SageMaker's ListDomains reports of each domain.
        listed=(("DomainArn",), ("DomainName",), ("Url",)),
        volume=("HomeEfsFileSystemId",),
    ),
    APP: _app_rules("UserProfile", "UserProfileName", _profile_ref(("UserProfileName",))),
    SPACE_APP: _app_rules("Space", "SpaceName", _SPACE_REF),
    # No update handler in the schema: every property is createOnly, and UpdateResource is refused.
    STUDIO_LIFECYCLE_CONFIG: TypeRules(
        label="StudioLifecycleConfig",
        name="{StudioLifecycleConfigName}",
        missing="StudioLifecycleConfig {StudioLifecycleConfigName} does not exist (region {region}).",
        arn=("StudioLifecycleConfigArn",),
        computed={("StudioLifecycleConfigArn",): _LIFECYCLE_CONFIG_ARN + "{StudioLifecycleConfigName}"},
        # The schema allows any text; SageMaker takes base64 only ("This content must be base64 encoded").
        formats=(Format(("StudioLifecycleConfigContent",), _BASE64),),
    ),
    IMAGE: TypeRules(
        label="Image",
        name="{ImageName}",
        missing="Image {ImageArn} does not exist (region {region}).",
        arn=("ImageArn",),
        # The identifier is the ARN, which AWS makes from the name (so a second image of that name
        # is AlreadyExists).
        generated={("ImageArn",): _IMAGE_ARN + "{ImageName}"},
        listed=(("ImageName",),),
    ),
    IMAGE_VERSION: TypeRules(
        label="ImageVersion",
        name="{Version}",
        arn=("ImageVersionArn",),
        generated={("ImageVersionArn",): "arn:aws:sagemaker:{region}:{account}:image-version/{ImageName}/{number}"},
        computed={("ImageArn",): _IMAGE_ARN + "{ImageName}", ("ContainerImage",): "{BaseImage}"},
        references=(_IMAGE_REF,),
        numbered=Numbered(("Version",), _IMAGE_REF),
        formats=(Format(("BaseImage",), _ECR_IMAGE),),
    ),
    APP_IMAGE_CONFIG: TypeRules(
        label="AppImageConfig",
        name="{AppImageConfigName}",
        missing="AppImageConfig {AppImageConfigName} does not exist (region {region}).",
        arn=("AppImageConfigArn",),
        computed={("AppImageConfigArn",): "arn:aws:sagemaker:{region}:{account}:app-image-config/{AppImageConfigName}"},
    ),
}

GENERIC: Final = TypeRules(label="Resource", name="")


def rules_for(type_name: str) -> TypeRules:
    return RULES.get(type_name, GENERIC)


def _under(path: PropertyPath, prefixes: tuple[PropertyPath, ...]) -> bool:
    return any(path[: len(prefix)] == prefix for prefix in prefixes)


def _fixed(path: PropertyPath, schema: ResourceSchema, rules: TypeRules) -> bool:
    """Whether the value at ``path`` can never change: createOnly, or computed from createOnly values."""
    if _under(path, schema.create_only):
        return True
    template = rules.computed.get(path)
    if template is None:
        return False
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return all((name,) in schema.create_only for name in fields - {"region", "account"})


def values_at(model: Any, key: PropertyPath) -> list[str]:
    """Every string in ``model`` at a path ending in ``key`` (array items walked through), in order."""
    found: list[str] = []

    def walk(node: Any, path: PropertyPath) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, path)
        elif isinstance(node, Mapping):
            for name, child in node.items():
                walk(child, (*path, name))
        elif isinstance(node, str) and path[-len(key) :] == key:
            found.append(node)

    walk(model, ())
    return found


def check(schemas: Mapping[str, ResourceSchema]) -> None:
    """Raise ValueError where a type's rules contradict its schema (run when the backend starts).

    Computed and generated values must be readOnly, generated ones part of the primary identifier;
    what a reference reads must be createOnly, or computed from createOnly values only (so the index
    of who refers to whom never goes stale) and its target must be served; what a type uses must be
    served and named by the schema.
    """
    for type_name, schema in schemas.items():
        rules = rules_for(type_name)
        for path in (*rules.computed, *rules.generated):
            if path not in schema.read_only:
                raise ValueError(f"{type_name}: {'/'.join(path)} is set by the service but not readOnly")
        for path in rules.generated:
            if path not in schema.primary_identifier:
                raise ValueError(f"{type_name}: generated {'/'.join(path)} is not in the primary identifier")
        for reference in rules.references:
            target = schemas.get(reference.target)
            if target is None or set(reference.keys) != set(target.primary_identifier):
                raise ValueError(f"{type_name}: a reference to {reference.target} must give its whole identifier")
            for source in reference.keys.values():
                schema.node_at(source)  # KeyError when the schema has no such property
                if not _fixed(source, schema, rules):
                    raise ValueError(f"{type_name}: reference property {'/'.join(source)} is not createOnly")
        for use in rules.uses:
            if use.target not in schemas:
                raise ValueError(f"{type_name}: uses {use.target}, which is not served")
            if not any(path[-len(use.key) :] == use.key for path in schema.iter_property_paths()):
                raise ValueError(f"{type_name}: no property path ends in {'/'.join(use.key)}")
        if rules.numbered is not None:
            if rules.numbered.path not in schema.read_only:
                raise ValueError(f"{type_name}: the number {'/'.join(rules.numbered.path)} is not readOnly")
            if rules.numbered.within not in rules.references:
                raise ValueError(f"{type_name}: numbered within a resource it does not refer to")
        for requirement in rules.requirements:
            schema.node_at(requirement.path)
            schema.node_at(requirement.requires)
        for refusal in rules.refusals:
            schema.node_at(refusal.path)
        if rules.volume is not None and rules.volume not in rules.computed:
            raise ValueError(f"{type_name}: volume {'/'.join(rules.volume)} is not computed by the service")
        for rule in rules.formats:
            node = schema.node_at(rule.path)
            if node.get("type") == "array":
                node = schema.resolve(node["items"])
            if node.get("type") != "string":
                raise ValueError(f"{type_name}: format of {'/'.join(rule.path)}, which holds no strings")
        for path in rules.listed:
            schema.node_at(path)
            if _under(path, schema.write_only):
                raise ValueError(f"{type_name}: listed {'/'.join(path)} is writeOnly")


def internal_schemas(schemas: Mapping[str, ResourceSchema]) -> dict[str, ResourceSchema]:
    """The schemas of the internal types, derived from the registry schemas they mirror.

    :data:`SPACE_APP` is the App schema with ``SpaceName`` in place of ``UserProfileName`` (in the
    properties, the primary identifier, createOnly and required) and SageMaker's whole AppType enum.
    """
    app = copy.deepcopy(dict(schemas[APP].document))

    def swap(pointers: list[str]) -> list[str]:
        return [p.replace("/UserProfileName", "/SpaceName") for p in pointers]

    properties = app["properties"]
    properties["SpaceName"] = properties.pop("UserProfileName")
    properties["AppType"] = {**properties["AppType"], "enum": list(APP_TYPES)}
    for key in ("primaryIdentifier", "createOnlyProperties"):
        app[key] = swap(app[key])
    app["required"] = ["SpaceName" if name == "UserProfileName" else name for name in app["required"]]
    app["typeName"] = SPACE_APP
    app["description"] = "An app of a space (internal to the emulator: no Cloud Control type)."
    return {SPACE_APP: ResourceSchema.from_document(app)}


def format_failure(rules: TypeRules, model: Mapping[str, Any]) -> str | None:
    """SageMaker's ValidationException text for the values of ``model`` that break ``rules.formats``.

    "1 validation error detected: Value 'vpc-1' at 'vpcId' failed to satisfy constraint: Member must
    satisfy regular expression pattern: vpc-([0-9a-f]{8}|[0-9a-f]{17})"; None when every value fits.
    """
    problems: list[str] = []
    for rule in rules.formats:
        value = get_path(model, rule.path)
        member = ".".join(part[:1].lower() + part[1:] for part in rule.path)
        if isinstance(value, str):
            checked = [(member, value)]
        elif isinstance(value, list):
            checked = [(f"{member}.{index}.member", item) for index, item in enumerate(value, 1)]
        else:
            continue  # not given (the schema has checked the type)
        problems.extend(
            f"Value '{item}' at '{where}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {rule.pattern}"
            for where, item in checked
            if not (isinstance(item, str) and rule.compiled.fullmatch(item))
        )
    if not problems:
        return None
    count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected: "
    return count + "; ".join(problems)


def seeded_domain(domain_id: str, account: str) -> dict[str, Any]:
    """The model of a domain made through ``POST /_emulator/domains`` (as if in the console)."""
    return {
        "DomainId": domain_id,
        "DomainName": domain_id,
        "AuthMode": "IAM",
        "DefaultUserSettings": {"ExecutionRole": f"arn:aws:iam::{account}:role/SageMakerExecutionRole"},
    }


# --------------------------------------------------------------------------------------- templates

_ALPHANUMERIC = string.ascii_lowercase + string.digits


class _Random:
    def __format__(self, spec: str) -> str:
        return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(int(spec)))


class _Digest:
    def __init__(self, seed: str) -> None:
        self.seed = seed

    def __format__(self, spec: str) -> str:
        return hashlib.sha256(self.seed.encode()).hexdigest()[: int(spec)]


class _Formatter(string.Formatter):
    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "l":
            return str(value).lower()
        return super().convert_field(value, conversion)


_FORMATTER: Final = _Formatter()


def render(
    template: str,
    model: Mapping[str, Any],
    region: str,
    account: str,
    seed: str = "",
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A template filled from the model's top-level values (strings and numbers), the region, the
    account, ``seed`` and ``extra`` fields (``number``, ``value``)."""
    fields: dict[str, Any] = {
        key: value for key, value in model.items() if isinstance(value, str | int) and not isinstance(value, bool)
    }
    fields.update(region=region, account=account, digest=_Digest(seed), random=_Random())
    fields.update(extra or {})
    return _FORMATTER.vformat(template, (), fields)
