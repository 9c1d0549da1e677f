"""Clearing the way for a delete: read what Studio left in AWS, and remove what `cleanup.py` says may go.

`survey()` reads what depends on one resource (its apps; the spaces a profile owns, with their apps; a
domain's profiles and spaces), each dependent marked with the object of ours that manages it, if any
(its ownership tag, when that object still exists). `clear()` sends the deletes a `CleanupPlan` asks
for: apps through SageMaker's own API (`studio.py` says why), spaces through Cloud Control.

Crash safety needs no bookkeeping: every pass reads AWS again, and only apps SageMaker shows InService
(and spaces not already Deleting) are asked to go. After a restart, what is already going is skipped,
so nothing is deleted twice beyond the one request that was in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from userprofile_operator.cleanup import App, CleanupPlan, Member, Survey
from userprofile_operator.cloudcontrol import CloudControlApi
from userprofile_operator.kind import Kind
from userprofile_operator.plan import ownership
from userprofile_operator.settings import OWNER_TAG_KEY
from userprofile_operator.studio import StudioApi

__all__ = ["PROFILE_KIND", "SPACE_KIND", "Surroundings", "clear", "describe", "parts", "survey"]

# The kinds whose resources depend on others in Studio. Named here, not in the core: only the clean-up
# of Studio deals with them.
SPACE_KIND = "SageMakerSpace"
PROFILE_KIND = "SageMakerUserProfile"


@dataclass(frozen=True)
class Surroundings:
    """What clearing the way needs besides the kind's own Cloud Control client, at the same target."""

    studio: StudioApi
    cloudcontrol: Callable[[Kind], CloudControlApi]
    """Cloud Control for another kind's type (spaces, profiles)."""
    kind_named: Callable[[str], Kind]
    manages: Callable[[Kind, str], bool]
    """Whether an ownership tag of ours names an object that still manages the resource (its own delete
    will remove it), rather than one that is gone (a resource left behind with deletionPolicy Retain)."""


def parts(kind: Kind, identifier: str) -> tuple[str, str]:
    """(DomainId, the resource's name) from a Studio identifier; a domain is named by its id."""
    values = {path[-1]: value for path, value in (kind.schema.identifier_parts(identifier) or {}).items()}
    domain_id = values.get("DomainId", "")
    return domain_id, values.get(kind.name_property, domain_id)


async def _managed_by(kind: Kind, identifier: str, around: Surroundings) -> tuple[bool, str | None]:
    """(whether it still exists, who of ours manages it)."""
    observed = await around.cloudcontrol(kind).get(identifier)
    if observed is None:
        return False, None
    tag_property = kind.schema.tag_property
    tags = tag_property[0] if tag_property else None
    _, owner = ownership(observed, OWNER_TAG_KEY, "", tags=tags)
    if owner is not None and around.manages(kind, owner):
        return True, f"{kind.kind} {owner}"
    return True, None


async def _member(kind: Kind, domain_id: str, name: str, status: str, around: Surroundings) -> Member | None:
    identifier = kind.schema.identifier_of({"DomainId": domain_id, kind.name_property: name})
    exists, managed_by = await _managed_by(kind, identifier, around)
    if not exists:
        return None
    return Member(noun=kind.noun, name=name, status=status, managed_by=managed_by)


async def survey(kind: Kind, identifier: str, around: Surroundings) -> Survey:
    """What stands in the way of deleting `identifier` of `kind` (whose `cleanup` says what to look for)."""
    cleanup = kind.cleanup
    assert cleanup is not None
    domain_id, name = parts(kind, identifier)
    studio = around.studio
    apps: tuple[App, ...] = ()
    if cleanup.apps is not None:
        apps = tuple(await studio.list_apps(domain_id, cleanup.apps, name))
    spaces: list[Member] = []
    profiles: list[Member] = []
    if cleanup.owned_spaces or cleanup.members:
        space_kind = around.kind_named(SPACE_KIND)
        for found in await studio.list_spaces(domain_id):
            if cleanup.owned_spaces and found.owner != name:
                continue
            member = await _member(space_kind, domain_id, found.name, found.status, around)
            if member is None:
                continue
            if cleanup.owned_spaces and member.managed_by is None:
                space_apps = await studio.list_apps(domain_id, "SpaceNameEquals", found.name)
                member = Member(member.noun, member.name, member.status, None, tuple(space_apps))
            spaces.append(member)
    if cleanup.members:
        profile_kind = around.kind_named(PROFILE_KIND)
        for found in await studio.list_user_profiles(domain_id):
            member = await _member(profile_kind, domain_id, found.name, found.status, around)
            if member is not None:
                profiles.append(member)
    return Survey(apps=apps, spaces=tuple(spaces), profiles=tuple(profiles))


async def clear(
    kind: Kind, identifier: str, plan: CleanupPlan, around: Surroundings, token: Callable[[str], str]
) -> None:
    """Sends the deletes `plan` asks for: its apps, then the spaces whose apps are gone. `token(name)` is
    the ClientToken of a space's DeleteResource."""
    domain_id, _ = parts(kind, identifier)
    for app in plan.delete_apps:
        await around.studio.delete_app(domain_id, app)
    if plan.delete_spaces:
        space_kind = around.kind_named(SPACE_KIND)
        spaces = around.cloudcontrol(space_kind)
        for space in plan.delete_spaces:
            space_id = space_kind.schema.identifier_of({"DomainId": domain_id, "SpaceName": space.name})
            await spaces.delete(space_id, token(space.name))


def describe(plan: CleanupPlan) -> str:
    """What a pass that clears the way is doing, for status and Events: "Deleting 2 apps of alice: ..."."""
    by_owner: dict[str, list[App]] = {}
    for app in plan.delete_apps:
        owner = f"space {app.space}" if app.space else str(app.user_profile)
        by_owner.setdefault(owner, []).append(app)
    said = [
        f"Deleting {len(apps)} app{'s' if len(apps) != 1 else ''} of {owner}: {', '.join(a.label for a in apps)}"
        for owner, apps in by_owner.items()
    ]
    said += [f"Deleting space {space.name}" for space in plan.delete_spaces]
    said += [f"Waiting: {what}" for what in plan.deleting]
    if plan.waiting:
        whose = "its own object" if len(plan.waiting) == 1 else "their own objects"
        said.append(f"Waiting for {', '.join(plan.waiting)} to be deleted by {whose}")
    return "; ".join(said)
