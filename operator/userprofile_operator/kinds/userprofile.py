"""SageMakerUserProfile: a person's profile in a SageMaker Studio domain (AWS::SageMaker::UserProfile)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from userprofile_operator.kind import Column, Kind, Rule


def _definition_rules(kind: Kind) -> Mapping[str, Sequence[Rule]]:
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
    columns=(Column("Profile", ".spec.userProfileName"), Column("Domain", ".spec.domainId")),
    definition_rules=_definition_rules,
    spec_rules=_spec_rules,
    # Strings that CEL rules compare need a maxLength so the API server can bound the rules' cost.
    # The schema leaves this one unbounded; its only valid value is "UserName".
    extra_max_lengths={("SingleSignOnUserIdentifier",): 256},
    # Descriptions the schema lacks, so `kubectl explain` documents every field.
    descriptions={
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
        ("UserSettings", "RStudioServerProAppSettings"): (
            "Settings of the RStudioServerPro app. accessStatus and userGroup are immutable."
        ),
        ("UserSettings", "SpaceStorageSettings"): "Default storage settings for the user's spaces.",
        "Tag": "A tag on the user profile.",
        ("Tag", "Key"): "The tag key.",
        ("Tag", "Value"): "The tag value.",
        "HiddenSageMakerImage": "A SageMaker image whose version aliases are hidden from the Studio UI.",
        ("HiddenSageMakerImage", "VersionAliases"): "The version aliases (major.minor) to hide.",
    },
)
