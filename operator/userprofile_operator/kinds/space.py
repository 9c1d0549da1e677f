"""SageMakerSpace: a private or shared JupyterLab / Code Editor space in a Studio domain (AWS::SageMaker::Space).

`SpaceSettings` is writeOnly: Cloud Control never returns it, so drift checks and Ready compare only
the properties AWS shows (the core reads that from the schema; nothing here says it twice).
"""

from __future__ import annotations

from collections.abc import Sequence

from userprofile_operator.kind import Cleanup, Column, Kind, Rule
from userprofile_operator.kinds._studio import INSTANCE_TYPES, platform_references
from userprofile_operator.references import Reference


def _spec_rules(kind: Kind) -> Sequence[Rule]:
    # SageMaker's CreateSpace: an owner and a sharing type are given together (a private space is its
    # owner's; a shared one is still owned by the profile that made it).
    owner, sharing = (kind.naming.spec_name(n) for n in ("OwnershipSettings", "SpaceSharingSettings"))
    return [Rule(f"has(self.{owner}) == has(self.{sharing})", f"{owner} and {sharing} must be given together")]


KIND = Kind(
    type_name="AWS::SageMaker::Space",
    kind="SageMakerSpace",
    plural="sagemakerspaces",
    short_names=("smspace",),
    noun="space",
    short_noun="space",
    arn_property="SpaceArn",
    name_property="SpaceName",
    references=(
        Reference(("DomainId",), "SageMakerDomain"),
        Reference(("OwnershipSettings", "OwnerUserProfileName"), "SageMakerUserProfile", "userProfileName"),
        *platform_references("AWS::SageMaker::Space"),
    ),
    cleanup=Cleanup(apps="SpaceNameEquals"),  # its JupyterLab / Code Editor app keeps it from being deleted
    # Domain and owner in use (status): also where a reference names them.
    columns=(
        Column("Space", ".spec.spaceName"),
        Column("Domain", ".status.domainId"),
        Column("Sharing", ".spec.spaceSharingSettings.sharingType"),
        Column("Owner", ".status.ownerUserProfileName"),
    ),
    spec_rules=_spec_rules,
    open_enums=(INSTANCE_TYPES,),
    descriptions={
        ("", "SpaceSettings"): (
            "Settings of the space's apps. Write-only in AWS: Cloud Control never returns them, so the "
            "operator applies changes to them but cannot detect drift in them."
        ),
        "OwnershipSettings": "Who owns the space. Immutable.",
        ("OwnershipSettings", "OwnerUserProfileName"): "The user profile that owns the space.",
        "SpaceSharingSettings": "Whether the space is private to its owner or shared in the domain. Immutable.",
        ("SpaceSharingSettings", "SharingType"): "Private or Shared.",
        "Tag": "A tag on the space.",
        ("Tag", "Key"): "The tag key.",
        ("Tag", "Value"): "The tag value.",
        "CodeRepository": "A Git repository that the Jupyter Git extension offers.",
        "CustomFileSystem": "A file system to mount: one of EFS, FSx for Lustre or S3.",
        "ResourceSpec": "The instance type and the SageMaker image that apps of this kind run by default.",
        ("", "SpaceDisplayName"): "The name of the space that Studio shows.",
        ("SpaceSettings", "AppType"): "The app the space runs: JupyterLab, CodeEditor, ...",
        ("SpaceSettings", "CustomFileSystems"): "File systems to mount in the space (at most one).",
        "SpaceAppLifecycleManagement": "Settings that manage the lifecycle of the space's apps, such as idle shutdown.",
        "SpaceIdleSettings": "Idle shutdown of the space's apps.",
        "EFSFileSystem": "An Amazon EFS file system to mount.",
        ("EFSFileSystem", "FileSystemId"): "The id of the Amazon EFS file system (fs-...).",
        "FSxLustreFileSystem": "An Amazon FSx for Lustre file system to mount.",
        ("FSxLustreFileSystem", "FileSystemId"): "The id of the FSx for Lustre file system (fs-...).",
        "S3FileSystem": "An Amazon S3 location to mount as a file system.",
        ("S3FileSystem", "S3Uri"): "The S3 location to mount (s3://bucket/prefix).",
    },
)
