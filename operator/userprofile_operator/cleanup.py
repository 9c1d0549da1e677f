"""What stands between a delete and AWS, and what to do about it: pure decisions, no I/O.

SageMaker refuses to delete a user profile while any of its apps is live or any space it owns exists, a
space while any of its apps is live, and a domain while it has profiles or spaces (studio-lifecycle
facts in docs/reference.md, "Offboarding"). The reconciler surveys AWS (`Survey`), and `plan_cleanup` says,
under the object's `spec.cleanupOnDelete`, what is in the way and may not be touched (`blockers`: then
nothing is touched at all), what to delete first (apps, then the spaces it owns), what AWS is still
deleting, and which dependents another object of ours deletes (the delete waits for them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from userprofile_operator.kind import Cleanup
from userprofile_operator.models import CleanupOnDelete, CleanupPolicy

__all__ = ["App", "CleanupPlan", "Member", "Survey", "plan_cleanup"]

# An app in either state no longer blocks a delete (a Failed app is deleted by SageMaker itself).
_GONE: Final = frozenset({"Deleted", "Failed"})
_DELETING: Final = "Deleting"


@dataclass(frozen=True)
class App:
    """A Studio app, as SageMaker's ListApps shows it. Its owner is a user profile or a space."""

    app_type: str
    app_name: str
    status: str
    user_profile: str | None = None
    space: str | None = None

    @property
    def label(self) -> str:
        return f"{self.app_type}/{self.app_name}"

    @property
    def live(self) -> bool:
        """Whether it keeps its owner from being deleted."""
        return self.status not in _GONE

    @property
    def deletable(self) -> bool:
        """Whether a DeleteApp is due: live and not already being deleted or still starting (SageMaker
        deletes an app once it is InService; a Pending app is waited for)."""
        return self.status == "InService"


@dataclass(frozen=True)
class Member:
    """A user profile or space found in AWS that depends on the resource being deleted."""

    noun: str
    """"space" or "user profile"."""
    name: str
    status: str
    managed_by: str | None = None
    """Who manages it: the ownership tag of the object of ours whose own delete removes it, else None."""
    apps: tuple[App, ...] = ()

    @property
    def deleting(self) -> bool:
        return self.status == _DELETING


@dataclass(frozen=True)
class Survey:
    """What is in the way of deleting one resource, as read from AWS just now."""

    apps: tuple[App, ...] = ()
    """The resource's own apps (a profile's or a space's), Deleted ones included as AWS lists them."""
    spaces: tuple[Member, ...] = ()
    """Spaces that depend on it: those a profile owns, or every space of a domain."""
    profiles: tuple[Member, ...] = ()
    """A domain's user profiles."""


@dataclass(frozen=True)
class CleanupPlan:
    blockers: tuple[str, ...] = ()
    """What is in the way and may not be touched, each with what would allow it. Any: touch nothing."""
    delete_apps: tuple[App, ...] = ()
    delete_spaces: tuple[Member, ...] = ()
    deleting: tuple[str, ...] = ()
    """What AWS is deleting (or starting, before it can be deleted) right now: wait for it."""
    waiting: tuple[str, ...] = ()
    """Dependents that objects of ours manage: their own deletes must come first."""

    @property
    def clear(self) -> bool:
        """Nothing in the way: the resource itself can be deleted."""
        return not (self.blockers or self.delete_apps or self.delete_spaces or self.deleting or self.waiting)


def _apps(apps: tuple[App, ...]) -> str:
    return ", ".join(app.label for app in apps)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def plan_cleanup(survey: Survey, policy: CleanupOnDelete, cleanup: Cleanup, noun: str, name: str) -> CleanupPlan:
    """What to do before deleting `noun` `name`, under `policy`, for what `survey` found."""
    blockers: list[str] = []
    delete_apps: list[App] = []
    delete_spaces: list[Member] = []
    deleting: list[str] = []
    waiting: list[str] = []

    def apps_of(owner: str, apps: tuple[App, ...]) -> None:
        live = tuple(app for app in apps if app.live)
        if not live:
            return
        if policy.apps is CleanupPolicy.BLOCK:
            blockers.append(
                f"{_plural(len(live), 'app')} of {owner} ({_apps(live)}): "
                "set spec.cleanupOnDelete.apps: Delete to delete them"
            )
            return
        delete_apps.extend(app for app in live if app.deletable)
        busy = tuple(app for app in live if not app.deletable)
        if busy:
            deleting.append(f"{_plural(len(busy), 'app')} of {owner} ({_apps(busy)}) {_states(busy)}")

    if cleanup.apps is not None:
        apps_of(name, survey.apps)
    for space in survey.spaces:
        if space.deleting:
            deleting.append(f"space {space.name} is being deleted")
        elif space.managed_by is not None:
            waiting.append(f"space {space.name} (managed by {space.managed_by})")
        elif cleanup.members:
            blockers.append(
                f"space {space.name}, which no object here manages: delete it in AWS, or adopt it with a "
                "SageMakerSpace and delete that"
            )
        elif policy.owned_spaces is CleanupPolicy.BLOCK:
            blockers.append(
                f"space {space.name}, owned by {name}: set spec.cleanupOnDelete.ownedSpaces: Delete to delete it "
                "(it holds the person's files)"
            )
        else:
            before = len(blockers), len(delete_apps), len(deleting)
            apps_of(f"space {space.name}", space.apps)
            if (len(blockers), len(delete_apps), len(deleting)) == before:
                delete_spaces.append(space)  # its apps are gone: the space is next
    for profile in survey.profiles:
        if profile.deleting:
            deleting.append(f"user profile {profile.name} is being deleted")
        elif profile.managed_by is not None:
            waiting.append(f"user profile {profile.name} (managed by {profile.managed_by})")
        else:
            blockers.append(
                f"user profile {profile.name}, which no object here manages: delete it in AWS, or adopt it with a "
                "SageMakerUserProfile and delete that"
            )
    if blockers:
        return CleanupPlan(blockers=tuple(blockers))
    return CleanupPlan(
        delete_apps=tuple(delete_apps),
        delete_spaces=tuple(delete_spaces),
        deleting=tuple(deleting),
        waiting=tuple(waiting),
    )


# How a pass says what an app it waits for is doing.
_DOING: Final = {"Deleting": "being deleted", "Pending": "starting (deleted once it runs)"}


def _states(apps: tuple[App, ...]) -> str:
    doing = " or ".join(_DOING.get(state, state.lower()) for state in sorted({app.status for app in apps}))
    return f"{'are' if len(apps) > 1 else 'is'} {doing}"
