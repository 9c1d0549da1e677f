"""Clearing the way for a delete: `cleanup.plan_cleanup` (pure, a table) and the reconciler's delete path
against fakes of our Cloud Control and SageMaker boundaries (`CloudControlApi`, `StudioApi`), no servers.

What a platform team offboarding people expects: a person's apps go with one delete (each asked for
once), their private spaces only when a field says so, nothing at all is touched while something is in
the way under Block, and a domain never deletes profiles or spaces nobody here manages.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.unit.test_reconciler import SETTINGS, FakeCloudControl, cond, domain_view, space_view, view
from userprofile_operator.cleanup import App, CleanupPlan, Member, Survey, plan_cleanup
from userprofile_operator.handlers import Runtime
from userprofile_operator.kind import Kind
from userprofile_operator.kinds import all_kinds, by_name
from userprofile_operator.kinds.domain import KIND as DOMAIN
from userprofile_operator.kinds.space import KIND as SPACE
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.models import CleanupOnDelete, CleanupPolicy
from userprofile_operator.offboard import Surroundings
from userprofile_operator.reconciler import Reconciler
from userprofile_operator.settings import OWNER_TAG_KEY, Settings
from userprofile_operator.studio import Found
from userprofile_operator.wire import AwsError

D = "d-abcdef123456"
DEFAULTS = CleanupOnDelete()
DELETE_ALL = CleanupOnDelete(owned_spaces=CleanupPolicy.DELETE)
BLOCK_APPS = CleanupOnDelete(apps=CleanupPolicy.BLOCK)


def app(name: str = "default", type_: str = "JupyterServer", status: str = "InService", **owner: str) -> App:
    return App(type_, name, status, **({"user_profile": "alice"} | owner))


# -- the decision --------------------------------------------------------------------------------------


def plan(survey: Survey, policy: CleanupOnDelete = DEFAULTS, kind: Kind = PROFILE, name: str = "alice") -> CleanupPlan:
    assert kind.cleanup is not None
    return plan_cleanup(survey, policy, kind.cleanup, kind.noun, name)


def test_nothing_in_the_way_is_clear() -> None:
    assert plan(Survey()).clear
    assert plan(Survey(apps=(app(status="Deleted"), app("x", status="Failed")))).clear


def test_live_apps_are_deleted_by_default_and_those_already_going_are_waited_for() -> None:
    result = plan(Survey(apps=(app(), app("c", "Canvas"), app("p", status="Pending"), app("d", status="Deleting"))))
    assert [a.label for a in result.delete_apps] == ["JupyterServer/default", "Canvas/c"]
    assert result.deleting == (
        "2 apps of alice (JupyterServer/p, JupyterServer/d) are being deleted or starting (deleted once it runs)",
    )
    assert not result.blockers and not result.clear


def test_apps_block_touches_nothing_and_names_the_field() -> None:
    result = plan(Survey(apps=(app(), app("c", "Canvas"))), BLOCK_APPS)
    assert result.blockers == (
        "2 apps of alice (JupyterServer/default, Canvas/c): set spec.cleanupOnDelete.apps: Delete to delete them",
    )
    assert result.delete_apps == () and result.delete_spaces == ()


def test_an_owned_space_blocks_by_default_and_nothing_else_is_touched() -> None:
    result = plan(Survey(apps=(app(),), spaces=(Member("space", "lab", "InService"),)))
    assert result.blockers == (
        "space lab, owned by alice: set spec.cleanupOnDelete.ownedSpaces: Delete to delete it (it holds the "
        "person's files)",
    )
    assert result.delete_apps == ()  # Block means nothing at all is touched, not even the apps


def test_owned_spaces_delete_goes_apps_first_then_the_space() -> None:
    lab = Member("space", "lab", "InService", apps=(app("a", "JupyterLab", user_profile="", space="lab"),))
    notes = Member("space", "notes", "InService", apps=(app("b", "CodeEditor", status="Deleted", space="notes"),))
    result = plan(Survey(spaces=(lab, notes)), DELETE_ALL)
    assert [a.label for a in result.delete_apps] == ["JupyterLab/a"]
    assert [s.name for s in result.delete_spaces] == ["notes"]  # lab waits for its app


def test_a_space_another_object_manages_is_waited_for_never_deleted() -> None:
    managed = Member("space", "lab", "InService", managed_by="SageMakerSpace kubernetes/ns/lab")
    result = plan(Survey(spaces=(managed,)), DELETE_ALL)
    assert result.delete_spaces == () and not result.blockers
    assert result.waiting == ("space lab (managed by SageMakerSpace kubernetes/ns/lab)",)


def test_a_domain_never_deletes_what_nobody_here_manages() -> None:
    survey = Survey(
        profiles=(Member("user profile", "bob", "InService"), Member("user profile", "carol", "InService", "x")),
        spaces=(Member("space", "shared", "InService"),),
    )
    result = plan(survey, DEFAULTS, DOMAIN, D)
    assert len(result.blockers) == 2
    assert "space shared, which no object here manages" in result.blockers[0]
    assert "user profile bob, which no object here manages" in result.blockers[1]
    managed_only = plan(Survey(profiles=(Member("user profile", "carol", "InService", "x"),)), DEFAULTS, DOMAIN, D)
    assert managed_only.waiting == ("user profile carol (managed by x)",) and not managed_only.blockers


# -- the delete path, against fakes --------------------------------------------------------------------


class FakeStudio:
    """SageMaker's apps (by owner), spaces' statuses and a domain, recording every call; apps asked to go
    are Deleting until `settle()`."""

    def __init__(self, spaces: FakeCloudControl, profiles: FakeCloudControl) -> None:
        self.spaces = spaces
        self.profiles = profiles
        self.apps: dict[tuple[str, str, str], str] = {}  # (owner, type, name) -> status; owner "space:x" or name
        self.domain: dict[str, Any] | None = None
        self.calls: list[str] = []
        self.deleted: list[str] = []

    def add_app(
        self, owner: str, type_: str = "JupyterServer", name: str = "default", status: str = "InService"
    ) -> None:
        self.apps[(owner, type_, name)] = status

    def settle(self) -> None:
        self.apps = {k: ("Deleted" if v == "Deleting" else v) for k, v in self.apps.items()}
        if self.domain is not None and self.domain["Status"] == "Deleting":
            self.domain = None

    async def list_apps(self, domain_id: str, owner_filter: str, owner: str) -> list[App]:
        self.calls.append("ListApps")
        key = f"space:{owner}" if owner_filter == "SpaceNameEquals" else owner
        return [
            App(t, n, s, **({"space": owner} if key.startswith("space:") else {"user_profile": owner}))
            for (o, t, n), s in self.apps.items()
            if o == key
        ]

    async def delete_app(self, domain_id: str, app: App) -> None:
        self.calls.append("DeleteApp")
        key = (f"space:{app.space}" if app.space else str(app.user_profile), app.app_type, app.app_name)
        if self.apps.get(key) == "Deleted":
            return  # "has already been deleted": done
        self.apps[key] = "Deleting"
        self.deleted.append(app.label)

    async def list_spaces(self, domain_id: str) -> list[Found]:
        self.calls.append("ListSpaces")
        return [
            Found(m["SpaceName"], "InService", (m.get("OwnershipSettings") or {}).get("OwnerUserProfileName"))
            for m in self.spaces.resources.values()
        ]

    async def list_user_profiles(self, domain_id: str) -> list[Found]:
        self.calls.append("ListUserProfiles")
        return [Found(m["UserProfileName"], "InService") for m in self.profiles.resources.values()]

    async def describe_domain(self, domain_id: str) -> dict[str, Any] | None:
        self.calls.append("DescribeDomain")
        return self.domain

    async def delete_domain(self, domain_id: str, home_efs: str) -> None:
        self.calls.append(f"DeleteDomain({home_efs})")
        if self.profiles.resources or self.spaces.resources:
            raise AwsError("ResourceInUse", "Unable to delete Domain because UserProfile(s) are associated with it.")
        assert self.domain is not None
        self.domain = {**self.domain, "Status": "Deleting"}


class World:
    """One target: a fake Cloud Control per kind, and SageMaker over the same resources."""

    def __init__(self) -> None:
        self.cc = {kind: FakeCloudControl(kind) for kind in (PROFILE, SPACE, DOMAIN)}
        self.studio = FakeStudio(self.cc[SPACE], self.cc[PROFILE])
        self.gone_owners: set[str] = set()
        self.around = Surroundings(
            studio=self.studio,
            cloudcontrol=lambda kind: self.cc[kind],
            kind_named=by_name,
            manages=lambda kind, owner: owner not in self.gone_owners,
        )

    def space(self, name: str, owner: str = "alice", managed_by: str | None = None) -> None:
        tags = [{"Key": OWNER_TAG_KEY, "Value": managed_by}] if managed_by else []
        self.cc[SPACE].resources[f"{D}|{name}"] = {
            "DomainId": D,
            "SpaceName": name,
            "OwnershipSettings": {"OwnerUserProfileName": owner},
            "Tags": tags,
        }

    def profile(self, name: str, domain_id: str = D, managed_by: str | None = None) -> None:
        tags = [{"Key": OWNER_TAG_KEY, "Value": managed_by}] if managed_by else []
        self.cc[PROFILE].resources[f"{name}|{domain_id}"] = {
            "DomainId": domain_id,
            "UserProfileName": name,
            "Tags": tags,
        }

    def calls(self) -> list[str]:
        return [*self.studio.calls, *(c for kind in (PROFILE, SPACE, DOMAIN) for c in self.cc[kind].calls)]

    def clear_calls(self) -> None:
        self.studio.calls.clear()
        for fake in self.cc.values():
            fake.calls.clear()


@pytest.fixture
def world() -> World:
    return World()


async def _created(world: World, kind: Kind, make_view: Any, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    created = await Reconciler(SETTINGS, kind).reconcile(make_view(spec), world.cc[kind], "create")
    world.clear_calls()
    return created.status


async def _delete_until_released(
    world: World, kind: Kind, make_view: Any, status: dict[str, Any], spec: dict[str, Any] | None = None
) -> list[Any]:
    """Runs the delete handler pass after pass (AWS finishing what it was asked between passes), until
    the object is released; returns the outcomes."""
    reconciler = Reconciler(SETTINGS, kind)
    outcomes = []
    for retry in range(10):
        outcome = await reconciler.finalize(make_view(spec, status, retry=retry), world.cc[kind], world.around)
        outcomes.append(outcome)
        if outcome.release:
            return outcomes
        status = {**status, **outcome.status}
        world.studio.settle()
    raise AssertionError(f"never released: {outcomes[-1]}")


async def test_a_profile_with_two_apps_goes_with_one_delete_each_app_asked_once(world: World) -> None:
    status = await _created(world, PROFILE, view)
    world.studio.add_app("alice")
    world.studio.add_app("alice", "Canvas", "default")
    outcomes = await _delete_until_released(world, PROFILE, view, status)
    assert world.studio.deleted == ["JupyterServer/default", "Canvas/default"]
    first = outcomes[0]
    ready = cond(first.status, "Ready")
    assert (ready["reason"], ready["message"]) == (
        "Deleting",
        "Deleting 2 apps of alice: JupyterServer/default, Canvas/default",
    )
    assert [e[1] for e in first.events] == ["CleaningUp"]
    assert first.retry_in is not None and not first.blocked
    assert world.cc[PROFILE].resources == {}
    assert [e[1] for e in outcomes[-1].events] == ["Deleted"]
    assert world.calls().count("DeleteApp") == 2 and world.calls().count("DeleteResource") == 1


async def test_a_profile_with_nothing_in_the_way_costs_two_reads_more(world: World) -> None:
    status = await _created(world, PROFILE, view)
    outcomes = await _delete_until_released(world, PROFILE, view, status)
    assert len(outcomes) == 1
    assert world.calls() == ["ListApps", "ListSpaces", "DeleteResource"]


async def test_a_private_space_blocks_by_default_and_nothing_is_touched(world: World) -> None:
    status = await _created(world, PROFILE, view)
    world.studio.add_app("alice")
    world.space("lab")
    world.space("theirs", owner="bob")
    reconciler = Reconciler(SETTINGS, PROFILE)
    blocked = await reconciler.finalize(view(status=status), world.cc[PROFILE], world.around)
    assert not blocked.release and blocked.blocked
    ready = cond(blocked.status, "Ready")
    assert ready["reason"] == "DeleteBlocked"
    assert "space lab, owned by alice: set spec.cleanupOnDelete.ownedSpaces: Delete" in ready["message"]
    assert "theirs" not in ready["message"]
    assert [(e[0], e[1]) for e in blocked.events] == [("Warning", "DeleteBlocked")]
    assert "DeleteApp" not in world.calls() and "DeleteResource" not in world.calls()
    # the next pass, the same: no second Event
    again = await reconciler.finalize(
        view(status={**status, **blocked.status}, retry=1), world.cc[PROFILE], world.around
    )
    assert again.events == [] and again.blocked
    # the person sets ownedSpaces: Delete: its app, the space, the profile go
    world.studio.add_app("space:lab", "JupyterLab", "default")
    spec = {"cleanupOnDelete": {"ownedSpaces": "Delete"}}
    status = {**status, **again.status}
    outcomes = await _delete_until_released(world, PROFILE, view, status, spec)
    assert world.studio.deleted == ["JupyterServer/default", "JupyterLab/default"]
    assert list(world.cc[SPACE].resources) == [f"{D}|theirs"]
    assert world.cc[PROFILE].resources == {}
    assert [e[1] for e in outcomes[-1].events] == ["Deleted"]


async def test_apps_block_touches_nothing(world: World) -> None:
    status = await _created(world, PROFILE, view)
    world.studio.add_app("alice")
    spec = {"cleanupOnDelete": {"apps": "Block"}}
    blocked = await Reconciler(SETTINGS, PROFILE).finalize(view(spec, status), world.cc[PROFILE], world.around)
    assert "set spec.cleanupOnDelete.apps: Delete" in cond(blocked.status, "Ready")["message"]
    assert world.calls() == ["ListApps", "ListSpaces"]


async def test_a_space_of_its_own_object_is_waited_for_and_a_left_behind_one_is_not(world: World) -> None:
    status = await _created(world, PROFILE, view)
    world.space("lab", managed_by="kubernetes/ns/lab")
    spec = {"cleanupOnDelete": {"ownedSpaces": "Delete"}}
    waiting = await Reconciler(SETTINGS, PROFILE).finalize(view(spec, status), world.cc[PROFILE], world.around)
    ready = cond(waiting.status, "Ready")
    assert ready["reason"] == "Deleting" and waiting.blocked
    assert "space lab (managed by SageMakerSpace kubernetes/ns/lab)" in ready["message"]
    assert f"{D}|lab" in world.cc[SPACE].resources
    # its object was deleted with deletionPolicy: Retain: the space is nobody's now, and goes
    world.gone_owners.add("kubernetes/ns/lab")
    await _delete_until_released(world, PROFILE, view, {**status, **waiting.status}, spec)
    assert world.cc[SPACE].resources == {}


async def test_retain_ignores_cleanup_and_touches_nothing(world: World) -> None:
    status = await _created(world, PROFILE, view)
    world.studio.add_app("alice")
    spec = {"deletionPolicy": "Retain", "cleanupOnDelete": {"apps": "Delete"}}
    done = await Reconciler(SETTINGS, PROFILE).finalize(view(spec, status), world.cc[PROFILE], world.around)
    assert done.release and world.calls() == []


async def test_an_app_opened_during_the_delete_is_handled_by_going_round_again(world: World) -> None:
    status = await _created(world, PROFILE, view)
    reconciler = Reconciler(SETTINGS, PROFILE)
    # nothing in the way when surveyed, but the person opens Studio before the DeleteResource lands
    world.cc[PROFILE].delete_fails = ("ResourceConflict", "Unable to delete UserProfile because App(s) are associated")
    first = await reconciler.finalize(view(status=status), world.cc[PROFILE], world.around)
    assert not first.release and first.blocked and first.retry_in is not None
    world.studio.add_app("alice")
    world.cc[PROFILE].delete_fails = None
    outcomes = await _delete_until_released(world, PROFILE, view, {**status, **first.status})
    assert world.studio.deleted == ["JupyterServer/default"] and outcomes[-1].release


async def test_a_space_deletes_its_apps_first(world: World) -> None:
    status = await _created(world, SPACE, space_view)
    world.studio.add_app("space:lab", "JupyterLab", "default")
    await _delete_until_released(world, SPACE, space_view, status)
    assert world.studio.deleted == ["JupyterLab/default"] and world.cc[SPACE].resources == {}


async def _domain(world: World) -> dict[str, Any]:
    status = await _created(world, DOMAIN, domain_view)
    domain_id = status["identifier"]
    world.studio.domain = {"DomainId": domain_id, "Status": "InService", "HomeEfsFileSystemId": "fs-0123456789abcdef0"}
    return status


async def test_a_domain_with_a_profile_nobody_manages_is_blocked_and_it_is_untouched(world: World) -> None:
    status = await _domain(world)
    domain_id = status["identifier"]
    world.profile("bob", domain_id)
    world.profile("carol", domain_id, managed_by="kubernetes/ns/carol")
    blocked = await Reconciler(SETTINGS, DOMAIN).finalize(domain_view(status=status), world.cc[DOMAIN], world.around)
    message = cond(blocked.status, "Ready")["message"]
    assert "user profile bob, which no object here manages" in message
    assert "carol" not in message  # what is ours waits for its own object: said once nothing else blocks
    assert "DeleteResource" not in world.calls() and f"bob|{domain_id}" in world.cc[PROFILE].resources
    # bob is deleted in AWS by hand; carol's object is being deleted: the domain waits for it, saying so
    del world.cc[PROFILE].resources[f"bob|{domain_id}"]
    waiting = await Reconciler(SETTINGS, DOMAIN).finalize(
        domain_view(status={**status, **blocked.status}, retry=1), world.cc[DOMAIN], world.around
    )
    assert (
        "user profile carol (managed by SageMakerUserProfile kubernetes/ns/carol)"
        in cond(waiting.status, "Ready")["message"]
    )
    assert waiting.blocked and [e[1] for e in waiting.events] == ["Deleting"]


async def test_a_domain_keeps_its_home_volume_by_default_and_says_where(world: World) -> None:
    status = await _domain(world)
    outcomes = await _delete_until_released(world, DOMAIN, domain_view, status)
    events = {e[1]: e[2] for e in outcomes[-1].events}
    assert "fs-0123456789abcdef0" in events["HomeVolumeRetained"]
    assert "Deleted" in events and "DeleteResource" in world.calls()
    assert not any(c.startswith("DeleteDomain") for c in world.calls())


async def test_a_domain_with_home_efs_delete_goes_through_sagemaker_with_the_retention_policy(world: World) -> None:
    status = await _domain(world)
    spec = {"cleanupOnDelete": {"homeEfs": "Delete"}}
    outcomes = await _delete_until_released(world, DOMAIN, domain_view, status, spec)
    assert "DeleteDomain(Delete)" in world.calls() and "DeleteResource" not in world.calls()
    assert cond(outcomes[0].status, "Ready")["message"] == (
        f"Deleting domain {status['identifier']} with its home EFS volume fs-0123456789abcdef0"
    )
    assert world.studio.domain is None and outcomes[-1].release


# -- the runtime: waking a blocked delete, and who manages what ------------------------------------


class RecordingObjects:
    def __init__(self) -> None:
        self.patches: list[tuple[str, str, str, dict[str, Any]]] = []

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patches.append((kind.kind, namespace, name, status))


def _body(kind: Kind, name: str, uid: str, generation: int = 1) -> dict[str, Any]:
    return {"kind": kind.kind, "metadata": {"namespace": "ns", "name": name, "uid": uid, "generation": generation}}


async def _sent(runtime: Runtime) -> None:
    """Waits for the wake-ups the runtime has started (each one status patch)."""
    await asyncio.gather(*list(runtime._wakes))


async def test_a_blocked_delete_is_woken_when_a_managed_object_goes_or_its_spec_changes() -> None:
    runtime = Runtime(Settings(), all_kinds())
    objects = RecordingObjects()
    runtime.objects = objects  # type: ignore[assignment]
    runtime.blocked["uid-domain"] = (DOMAIN, "ns", "studio", 1)
    runtime.saw(PROFILE, "MODIFIED", _body(PROFILE, "carol", "uid-carol"))
    assert not runtime._wakes
    await _sent(runtime)
    assert objects.patches == []  # nothing went: nothing to wake
    runtime.saw(PROFILE, "DELETED", _body(PROFILE, "carol", "uid-carol"))
    await _sent(runtime)
    ((kind, namespace, name, status),) = objects.patches
    assert (kind, namespace, name) == ("SageMakerDomain", "ns", "studio")
    # kopf's progress record of the delete handler: its next run is now
    assert set(status["kopf"]["progress"]["finalize"]) == {"delayed"}
    assert runtime.blocked == {}  # woken once; the handler says again if it still waits
    # a blocked object whose spec changes (a person edits cleanupOnDelete) is woken too
    runtime.blocked["uid-alice"] = (PROFILE, "ns", "alice", 1)
    runtime.saw(PROFILE, "MODIFIED", _body(PROFILE, "alice", "uid-alice", generation=1))
    await _sent(runtime)
    assert len(objects.patches) == 1
    runtime.saw(PROFILE, "MODIFIED", _body(PROFILE, "alice", "uid-alice", generation=2))
    await _sent(runtime)
    assert [p[2] for p in objects.patches] == ["studio", "alice"]


def test_an_ownership_tag_of_a_gone_object_of_this_cluster_means_nobody_manages_it() -> None:
    runtime = Runtime(Settings(cluster_name="prod"), all_kinds(), ["team-*"])
    runtime.saw(SPACE, "ADDED", _body(SPACE, "lab", "uid-lab"))
    runtime.seen[("SageMakerSpace", "team-a", "lab")] = runtime.seen.pop(("SageMakerSpace", "ns", "lab"))
    assert runtime.manages(SPACE, "prod/team-a/lab")
    assert not runtime.manages(SPACE, "prod/team-a/gone")  # left behind with deletionPolicy: Retain
    assert not runtime.manages(PROFILE, "prod/team-a/lab")  # the tag names a profile object, not this space
    assert runtime.manages(SPACE, "other-cluster/team-a/gone")  # another cluster's: not ours to judge
    assert runtime.manages(SPACE, "prod/elsewhere/gone")  # outside what this operator watches


async def test_an_uninstall_releases_every_object_and_touches_nothing_in_aws(world: World) -> None:
    """Deleting the CRDs deletes every object: never a person's wish to delete AWS, even under Delete."""
    status = await _created(world, PROFILE, view)
    world.studio.add_app("alice")
    spec = {"deletionPolicy": "Delete", "cleanupOnDelete": {"ownedSpaces": "Delete"}}
    done = await Reconciler(SETTINGS, PROFILE).finalize(
        view(spec, status, crd_deleted=True), world.cc[PROFILE], world.around
    )
    assert done.release and world.calls() == []
    assert [(e[1], "CRD is being deleted" in e[2]) for e in done.events] == [("Retained", True)]
    assert world.cc[PROFILE].resources  # still in AWS
