"""SageMakerUserProfile: a person's profile in a SageMaker Studio domain (AWS::SageMaker::UserProfile)."""

from __future__ import annotations

from collections.abc import Sequence

from userprofile_operator.kind import Cleanup, Column, Kind, Rule
from userprofile_operator.kinds._studio import (
    FILE_SYSTEM_DESCRIPTIONS,
    INSTANCE_TYPES,
    definition_rules,
    platform_references,
)
from userprofile_operator.references import Reference


def _spec_rules(kind: Kind) -> Sequence[Rule]:
    sso_id, sso_value = (kind.naming.spec_name(n) for n in ("SingleSignOnUserIdentifier", "SingleSignOnUserValue"))
    return [
        Rule(
            f"has(self.{sso_id}) == has(self.{sso_value})",
            f"{sso_id} and {sso_value} must be given together or not at all",
        )
    ]


KIND = Kind(
    type_name="AWS::SageMaker::UserProfile",
    kind="SageMakerUserProfile",
    plural="sagemakeruserprofiles",
    short_names=("smup",),
    noun="user profile",
    short_noun="profile",
    arn_property="UserProfileArn",
    name_property="UserProfileName",
    execution_role=("UserSettings", "ExecutionRole"),
    references=(Reference(("DomainId",), "SageMakerDomain"), *platform_references("AWS::SageMaker::UserProfile")),
    # A person's apps and the private spaces they own keep SageMaker from deleting the profile.
    cleanup=Cleanup(apps="UserProfileNameEquals", owned_spaces=True),
    # The domain in use (status): also where domainIdRef names it.
    columns=(Column("Profile", ".spec.userProfileName"), Column("Domain", ".status.domainId")),
    definition_rules=definition_rules,
    open_enums=(INSTANCE_TYPES,),
    spec_rules=_spec_rules,
    # Strings that CEL rules compare need a maxLength so the API server can bound the rules' cost.
    # The schema leaves this one unbounded; its only valid value is "UserName".
    extra_max_lengths={("SingleSignOnUserIdentifier",): 256},
    # Descriptions the schema lacks, so `kubectl explain` documents every field, or gets wrong.
    descriptions={
        **FILE_SYSTEM_DESCRIPTIONS,
        ("UserSettings", "ExecutionRole"): "The ARN of the IAM role the user's apps run as (the execution role).",
        "ResourceSpec": "The instance type and the SageMaker image that apps of this kind run by default.",
        "AppLifecycleManagement": "Settings that manage the lifecycle of the user's apps, such as idle shutdown.",
        "IdleSettings": (
            "Idle shutdown of apps: whether it is on, and the default, minimum and maximum idle timeouts "
            "(minIdleTimeoutInMinutes <= idleTimeoutInMinutes <= maxIdleTimeoutInMinutes)."
        ),
        "CodeRepository": "A Git repository that the Jupyter Git extension offers.",
        "CustomPosixUserConfig": "The POSIX identity (user and group ids) used for file system operations.",
        ("CustomPosixUserConfig", "Uid"): "The POSIX user id.",
        ("CustomPosixUserConfig", "Gid"): "The POSIX group id.",
        ("UserSettings", "CustomFileSystemConfigs"): (
            "File systems to mount in the user's Studio spaces; each item sets exactly one kind of file system."
        ),
        ("UserSettings", "RStudioServerProAppSettings"): (
            "Settings of the RStudioServerPro app. accessStatus and userGroup are immutable."
        ),
        ("UserSettings", "SpaceStorageSettings"): "Default storage settings for the user's spaces.",
        "Tag": "A tag on the user profile.",
        ("Tag", "Key"): "The tag key.",
        ("Tag", "Value"): "The tag value.",
    },
)
