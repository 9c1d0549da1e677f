"""SageMakerDomain: a SageMaker Studio domain (AWS::SageMaker::Domain), the parent of profiles and spaces.

AWS makes a domain's identifier (DomainId is readOnly): the core learns it from the create request and
finds an existing domain by its DomainName (adoption); nothing here says so twice.
"""

from __future__ import annotations

from userprofile_operator.kind import Cleanup, Column, Kind
from userprofile_operator.kinds._studio import (
    FILE_SYSTEM_DESCRIPTIONS,
    INSTANCE_TYPES,
    definition_rules,
    platform_references,
)

KIND = Kind(
    type_name="AWS::SageMaker::Domain",
    kind="SageMakerDomain",
    plural="sagemakerdomains",
    short_names=("smdomain",),
    noun="domain",
    short_noun="domain",
    arn_property="DomainArn",
    name_property="DomainName",
    # Lifecycle configs and custom images of the apps' default settings, by their objects.
    references=platform_references("AWS::SageMaker::Domain"),
    execution_role=("DefaultUserSettings", "ExecutionRole"),
    # Its profiles and spaces keep SageMaker from deleting it; its home EFS volume outlives it unless asked.
    cleanup=Cleanup(members=True, home_efs=True),
    columns=(
        Column("Domain", ".spec.domainName"),
        Column("Id", ".status.identifier"),
        Column("Auth", ".spec.authMode"),
    ),
    definition_rules=definition_rules,
    open_enums=(INSTANCE_TYPES,),
    descriptions={
        **FILE_SYSTEM_DESCRIPTIONS,
        # What the schema copies from the user profile's schema ("to apply to the user profile").
        ("", "Tags"): "A list of tags to apply to the domain.",
        ("UserSettings", "AutoMountHomeEFS"): (
            "Whether the domain's home EFS volume is mounted automatically in its users' apps, by default."
        ),
        # What the schema lacks, so `kubectl explain` documents every field.
        "Tag": "A tag on the domain.",
        ("Tag", "Key"): "The tag key.",
        ("Tag", "Value"): "The tag value.",
        "ResourceSpec": "The default instance type and SageMaker image of the apps of this kind in the domain.",
        "AppLifecycleManagement": "Settings that manage the lifecycle of the domain's apps, such as idle shutdown.",
        "IdleSettings": (
            "Idle shutdown of the domain's apps: whether it is on, and the default, minimum and maximum idle "
            "timeouts (minIdleTimeoutInMinutes <= idleTimeoutInMinutes <= maxIdleTimeoutInMinutes)."
        ),
        "CustomPosixUserConfig": "The default POSIX identity (user and group ids) used for file system operations.",
        ("CustomPosixUserConfig", "Uid"): "The default POSIX user id.",
        ("CustomPosixUserConfig", "Gid"): "The default POSIX group id.",
        ("UserSettings", "CustomFileSystemConfigs"): (
            "File systems mounted by default in the spaces of the domain's users; each item sets exactly one "
            "kind of file system."
        ),
        ("DefaultSpaceSettings", "CustomFileSystemConfigs"): (
            "File systems mounted by default in the domain's shared spaces; each item sets exactly one kind "
            "of file system."
        ),
    },
)
