"""What the SageMaker Studio kinds share: CEL rules and descriptions of the definitions their schemas have
in common (a profile's UserSettings are a domain's DefaultUserSettings), and the instance types their apps
run on. Not a kind (no KIND)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import cfn_registry
from cfn_registry.open_enums import OpenEnum
from userprofile_operator.kind import Kind, Rule
from userprofile_operator.references import Reference

INSTANCE_TYPES: Final = OpenEnum(
    noun="instance type",
    property_name=r"InstanceTypes?$",
    # `system` is what a KernelGateway app's default runs on; every other type is ml.<family>.<size>
    # (ml.p6-b200.48xlarge has a dash in its family).
    pattern=r"^(system|ml\.[a-z0-9-]+\.[a-z0-9]+)$",
    max_length=64,
    form="system, or ml.<family>.<size>",
)
"""The instance types of Studio apps: AWS launches new ones between schema releases."""


def definition_rules(kind: Kind) -> Mapping[str, Sequence[Rule]]:
    """Constraints the schema states only in its descriptions."""
    definitions = kind.schema.definitions

    def names(definition: str, *pascal: str) -> list[str]:
        props = definitions[definition]["properties"]
        for name in pascal:
            if name not in props:
                raise KeyError(f"{definition} has no property {name}; update the CEL rules")
        return [kind.naming.spec_name(name) for name in pascal]

    default, maximum = names("DefaultEbsStorageSettings", "DefaultEbsVolumeSizeInGb", "MaximumEbsVolumeSizeInGb")
    idle, low, high = names(
        "IdleSettings", "IdleTimeoutInMinutes", "MinIdleTimeoutInMinutes", "MaxIdleTimeoutInMinutes"
    )

    def exactly_one(pascal: list[str]) -> Rule:
        members = [kind.naming.spec_name(name) for name in pascal]
        count = " + ".join(f"(has(self.{m}) ? 1 : 0)" for m in members)
        return Rule(f"{count} == 1", f"exactly one of {', '.join(members)} must be set")

    def ordered(smaller: str, larger: str) -> Rule:
        return Rule(
            f"!has(self.{smaller}) || !has(self.{larger}) || self.{smaller} <= self.{larger}",
            f"{smaller} must be less than or equal to {larger}",
        )

    return {
        "DefaultEbsStorageSettings": [
            Rule(f"self.{maximum} >= self.{default}", f"{maximum} must be greater than or equal to {default}")
        ],
        "IdleSettings": [ordered(low, idle), ordered(idle, high), ordered(low, high)],
        # a union in the SageMaker API: each item names exactly one kind of file system
        "CustomFileSystemConfig": [exactly_one(list(definitions["CustomFileSystemConfig"]["properties"]))],
    }


FILE_SYSTEM_DESCRIPTIONS: Final[Mapping[str | tuple[str, str], str]] = {
    "CustomFileSystemConfig": "A file system to mount: one of EFS, FSx for Lustre or S3.",
    "EFSFileSystemConfig": "An Amazon EFS file system to mount.",
    ("EFSFileSystemConfig", "FileSystemId"): "The id of the Amazon EFS file system (fs-...).",
    ("EFSFileSystemConfig", "FileSystemPath"): "The path inside the file system to mount (default /).",
    "FSxLustreFileSystemConfig": "An Amazon FSx for Lustre file system to mount.",
    ("FSxLustreFileSystemConfig", "FileSystemId"): "The id of the FSx for Lustre file system (fs-...).",
    ("FSxLustreFileSystemConfig", "FileSystemPath"): "The path inside the file system to mount (default /).",
    "S3FileSystemConfig": "An Amazon S3 location to mount as a file system.",
    ("S3FileSystemConfig", "MountPath"): "Where the S3 location is mounted in the space.",
    ("S3FileSystemConfig", "S3Uri"): "The S3 location to mount (s3://bucket/prefix).",
    "HiddenSageMakerImage": "A SageMaker image whose version aliases are hidden from the Studio UI.",
    ("HiddenSageMakerImage", "VersionAliases"): "The version aliases (major.minor) to hide.",
}
"""Descriptions of the file system and hidden-image definitions, which the schemas leave undescribed."""


# What a Studio setting names by ARN or name, and the kind of the object that can supply it: by the
# property's name, wherever the schema has it (every app's settings of a domain's defaults, a profile's,
# a space's; every item of `customImages`).
_SUPPLIERS: Final = {
    "LifecycleConfigArns": ("SageMakerStudioLifecycleConfig", "arn"),
    "LifecycleConfigArn": ("SageMakerStudioLifecycleConfig", "arn"),
    "SageMakerImageArn": ("SageMakerImage", "arn"),
    "SageMakerImageVersionArn": ("SageMakerImageVersion", "arn"),
}
_CUSTOM_IMAGE_SUPPLIERS: Final = {
    "ImageName": ("SageMakerImage", "imageName"),
    "AppImageConfigName": ("SageMakerAppImageConfig", "appImageConfigName"),
}


def platform_references(type_name: str) -> tuple[Reference, ...]:
    """The references into a Studio type's settings: `lifecycleConfigArnsRefs`, `lifecycleConfigArnRef`,
    `sageMakerImageArnRef`, `sageMakerImageVersionArnRef`, and per `customImages` item `imageNameRef` and
    `appImageConfigNameRef`, found in the schema (so a setting AWS adds is covered once vendored)."""
    schema = cfn_registry.load(type_name)
    found: list[Reference] = []
    for path in schema.iter_property_paths():
        if path in schema.read_only:
            continue
        supplier = _SUPPLIERS.get(path[-1])
        if supplier is None and len(path) > 1 and path[-2] == "CustomImages":
            supplier = _CUSTOM_IMAGE_SUPPLIERS.get(path[-1])
        if supplier is not None:
            target, value = supplier
            found.append(Reference(path, target, value, plural=schema.node_at(path).get("type") == "array"))
    return tuple(found)


def tag_descriptions(noun: str) -> dict[str | tuple[str, str], str]:
    """Descriptions of the `Tag` definition, which the schemas leave undescribed."""
    return {"Tag": f"A tag on the {noun}.", ("Tag", "Key"): "The tag key.", ("Tag", "Value"): "The tag value."}
