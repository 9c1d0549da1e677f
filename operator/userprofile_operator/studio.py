"""SageMaker's own API, only for what Cloud Control cannot do when a delete must clear the way.

Two jobs, and why each is not Cloud Control's:
- **Apps.** Cloud Control's `AWS::SageMaker::App` is identified by `AppName|AppType|DomainId|UserProfileName`:
  it cannot name an app of a space (JupyterLab, Code Editor), and listing it by profile needs SageMaker's
  ListApps filters anyway. ListApps and DeleteApp serve profiles and spaces alike.
- **A domain's home EFS volume.** Cloud Control's Domain delete handler sends only the DomainId, so AWS
  keeps the volume (RetentionPolicy Retain). Only SageMaker's DeleteDomain with
  `RetentionPolicy.HomeEfsFileSystem: Delete` takes it along.
Besides, ListSpaces and ListUserProfiles find what depends on a profile or a domain in one call each
(Cloud Control's list handlers return identifiers only, without the space's owner).

The calls share the target's credentials, token bucket, limits and leader fence with Cloud Control
(`CloudControlPool.call`). Nothing is decided here: `cleanup.py` decides, the reconciler drives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from userprofile_operator.cleanup import App
from userprofile_operator.wire import NOT_FOUND_CODES, AwsError

if TYPE_CHECKING:
    from userprofile_operator.budget import LaneBudget
    from userprofile_operator.cloudcontrol import CloudControlPool

__all__ = ["CLEANUP_ACTIONS", "Found", "Studio", "StudioApi", "already_deleted"]

# Every SageMaker (and EFS) action the clean-up needs, per call: deploy/iam/render.py grants exactly these.
# DeleteDomain removes the home volume with the caller's permissions when asked to.
CLEANUP_ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "ListApps": ("sagemaker:ListApps",),
    "DeleteApp": ("sagemaker:DeleteApp",),
    "ListSpaces": ("sagemaker:ListSpaces",),
    "ListUserProfiles": ("sagemaker:ListUserProfiles",),
    "DescribeDomain": ("sagemaker:DescribeDomain",),
    "DeleteDomain": (
        "sagemaker:DeleteDomain",
        "elasticfilesystem:DescribeMountTargets",
        "elasticfilesystem:DeleteMountTarget",
        "elasticfilesystem:DeleteFileSystem",
    ),
}

# The ValidationExceptions DeleteApp answers for an app that is gone already: done, not failed.
_ALREADY_DELETED: Final = ("has already been deleted", "previously failed and was automatically deleted")
_MUTATING: Final = frozenset({"DeleteApp", "DeleteDomain"})
_LABEL: Final = "studio"  # the `kind` label of these calls in smup_aws_calls_total


def already_deleted(err: AwsError) -> bool:
    """Whether a DeleteApp error means the app is gone already (or never was)."""
    if err.code.removesuffix("Exception") in NOT_FOUND_CODES:
        return True
    return err.code.startswith("Validation") and any(text in err.message for text in _ALREADY_DELETED)


@dataclass(frozen=True)
class Found:
    """A user profile or space as SageMaker lists it."""

    name: str
    status: str
    owner: str | None = None
    """A space's owner profile (OwnershipSettingsSummary), when it has one."""


class StudioApi(Protocol):
    """What the reconciler needs of SageMaker's own API (tests may give a fake of this)."""

    async def list_apps(self, domain_id: str, owner_filter: str, owner: str) -> list[App]: ...
    async def delete_app(self, domain_id: str, app: App) -> None: ...
    async def list_spaces(self, domain_id: str) -> list[Found]: ...
    async def list_user_profiles(self, domain_id: str) -> list[Found]: ...
    async def describe_domain(self, domain_id: str) -> dict[str, Any] | None: ...
    async def delete_domain(self, domain_id: str, home_efs: str) -> None: ...


class Studio:
    """SageMaker's API for one target; built and cached by `CloudControlPool.studio_for`."""

    def __init__(self, client: Any, bucket: LaneBudget, pool: CloudControlPool) -> None:
        self._client = client
        self._bucket = bucket
        self._pool = pool

    async def _call(self, operation: str, fn: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        return await self._pool.call(self._bucket, _LABEL, operation, operation in _MUTATING, fn, **kwargs)

    async def _pages(self, operation: str, fn: Callable[..., dict[str, Any]], key: str, **kwargs: Any) -> list[Any]:
        items: list[Any] = []
        while True:
            page = await self._call(operation, fn, **kwargs)
            items.extend(page.get(key) or [])
            if not page.get("NextToken"):
                return items
            kwargs["NextToken"] = page["NextToken"]

    async def list_apps(self, domain_id: str, owner_filter: str, owner: str) -> list[App]:
        """Every app of one profile (`UserProfileNameEquals`) or space (`SpaceNameEquals`), Deleted ones too."""
        raw = await self._pages(
            "ListApps",
            self._client.list_apps,
            "Apps",
            DomainIdEquals=domain_id,
            **{owner_filter: owner},
            MaxResults=100,
        )
        return list(_apps(raw))

    async def delete_app(self, domain_id: str, app: App) -> None:
        """Asks SageMaker to delete the app; an app gone already counts as done."""
        owner = {"SpaceName": app.space} if app.space else {"UserProfileName": app.user_profile}
        try:
            await self._call(
                "DeleteApp",
                self._client.delete_app,
                DomainId=domain_id,
                AppType=app.app_type,
                AppName=app.app_name,
                **owner,
            )
        except AwsError as err:
            if not already_deleted(err):
                raise

    async def list_spaces(self, domain_id: str) -> list[Found]:
        raw = await self._pages(
            "ListSpaces", self._client.list_spaces, "Spaces", DomainIdEquals=domain_id, MaxResults=100
        )
        return [
            Found(
                name=str(item["SpaceName"]),
                status=str(item.get("Status", "")),
                owner=(item.get("OwnershipSettingsSummary") or {}).get("OwnerUserProfileName"),
            )
            for item in raw
        ]

    async def list_user_profiles(self, domain_id: str) -> list[Found]:
        raw = await self._pages(
            "ListUserProfiles",
            self._client.list_user_profiles,
            "UserProfiles",
            DomainIdEquals=domain_id,
            MaxResults=100,
        )
        return [Found(name=str(item["UserProfileName"]), status=str(item.get("Status", ""))) for item in raw]

    async def describe_domain(self, domain_id: str) -> dict[str, Any] | None:
        """The domain as SageMaker describes it (Status, HomeEfsFileSystemId), or None once it is gone."""
        try:
            return await self._call("DescribeDomain", self._client.describe_domain, DomainId=domain_id)
        except AwsError as err:
            if err.code.removesuffix("Exception") in NOT_FOUND_CODES:
                return None
            raise

    async def delete_domain(self, domain_id: str, home_efs: str) -> None:
        """SageMaker's DeleteDomain with the home volume's RetentionPolicy (`Retain` or `Delete`)."""
        await self._call(
            "DeleteDomain",
            self._client.delete_domain,
            DomainId=domain_id,
            RetentionPolicy={"HomeEfsFileSystem": home_efs},
        )


def _apps(raw: list[dict[str, Any]]) -> Iterator[App]:
    for item in raw:
        yield App(
            app_type=str(item["AppType"]),
            app_name=str(item["AppName"]),
            status=str(item.get("Status", "")),
            user_profile=item.get("UserProfileName"),
            space=item.get("SpaceName"),
        )
