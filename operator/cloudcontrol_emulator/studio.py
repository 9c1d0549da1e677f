"""SageMaker's own behaviour on the shared store: lifecycles, synchronous refusals, apps of spaces.

Cloud Control and SageMaker's API see one store (:class:`.backend.World`): a space made with
CreateSpace is an ``AWS::SageMaker::Space`` resource, a profile made through Cloud Control is what
DescribeUserProfile shows. What SageMaker adds, and Cloud Control's handlers hide, is here:

* **lifecycles**: an app or a space made through SageMaker is ``Pending`` for the latency
  (``Settings.latency``), then ``InService``; SageMaker's deletes are ``Deleting`` for a while (an app
  for ``Settings.app_delete_latency``, anything else for the latency), then the resource is gone, an
  app into :attr:`.backend.World.gone` with Status ``Deleted`` (still listed, until reset);
* **synchronous refusals**: SageMaker answers ``ResourceInUse`` at once where Cloud Control's delete
  request ends FAILED with ``ResourceConflict`` (the same message, from :meth:`.World.in_use_message`);
* **apps**: a ``Failed`` or ``Deleted`` app blocks nothing; DeleteApp of one is a ValidationException
  in AWS's words; of a ``Pending`` one ``ResourceInUse`` (the emulator's choice: it can be deleted once
  InService); of a ``Deleting`` one it is accepted again and changes nothing (also a choice). Apps of
  spaces are the internal type :data:`.rules.SPACE_APP`;
* **home volumes**: DeleteDomain's ``RetentionPolicy.HomeEfsFileSystem: Delete`` takes the domain's
  EFS file system along when the domain is gone; ``Retain`` (the default) keeps it.

Every method raises SageMaker's errors (``ResourceNotFound``, ``ResourceInUse``,
``ValidationException``); nothing here knows HTTP or JSON shapes (see :mod:`.sagemaker_api`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from cfn_registry.schema import JsonObject

from . import errors
from .backend import Backend, Failed, FileSystem, Resource, ResourceKey, World
from .rules import APP, DOMAIN, SPACE_APP, render, rules_for

__all__ = ["APP_OWNERS", "Studio"]

#: The request member naming an app's owner, and the type its apps are stored under.
APP_OWNERS: Final = {"UserProfileName": APP, "SpaceName": SPACE_APP}

#: How a handler failure (Cloud Control's HandlerErrorCode) reads in SageMaker's API.
_ERRORS: Final[dict[str, type[errors.ServiceError]]] = {
    "NotFound": errors.ResourceNotFound,
    "ResourceConflict": errors.ResourceInUse,
    "AlreadyExists": errors.ResourceInUse,
    "InvalidRequest": errors.ValidationException,
}

Transition = Callable[[World, ResourceKey, Resource, float], None]


def _sagemaker_error(failure: Failed) -> errors.ServiceError:
    return _ERRORS.get(failure.code, errors.ValidationException)(failure.text)


class Studio:
    """SageMaker's operations over a :class:`.backend.Backend` (the same worlds Cloud Control serves)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def _world(self, region: str) -> World:
        world = self.backend.world(region)
        world.settle()
        return world

    def _key(self, type_name: str, model: JsonObject) -> ResourceKey:
        return (type_name, self.backend.schema(type_name).identifier_of(model))

    def _not_found(self, type_name: str, model: JsonObject, region: str) -> errors.ServiceError:
        return errors.ResourceNotFound(render(rules_for(type_name).missing, model, region, self.backend.account_id))

    def _live(self, region: str, type_name: str, model: JsonObject) -> tuple[World, ResourceKey, Resource]:
        world = self._world(region)
        key = self._key(type_name, model)
        resource = world.resources.get(key)
        if resource is None:
            raise self._not_found(type_name, model, region)
        return world, key, resource

    def _after(
        self, world: World, key: ResourceKey, resource: Resource, status: str, delay: float, then: Transition
    ) -> None:
        """In ``delay`` seconds, ``then`` — if ``resource`` is still the live one and still ``status``."""

        def fire(when: float) -> None:
            if world.resources.get(key) is resource and resource.status == status:
                then(world, key, resource, when)

        world.schedule(self.backend.clock() + delay, fire)

    @staticmethod
    def _in_service(world: World, key: ResourceKey, resource: Resource, when: float) -> None:
        resource.status, resource.modified = "InService", when

    def _gone(self, world: World, key: ResourceKey, resource: Resource, when: float) -> None:
        try:
            world.do_delete(self.backend.schema(key[0]), key[1])
        except Failed as failure:  # something came to refer to it meanwhile: fix it, delete again
            resource.status, resource.failure_reason, resource.modified = "Delete_Failed", failure.text, when

    # -- reads

    def describe(self, region: str, type_name: str, model: JsonObject) -> Resource:
        """The live resource, or (for a type that stays listed) the Deleted or Failed record."""
        world = self._world(region)
        key = self._key(type_name, model)
        resource = world.resources.get(key) or world.gone.get(key)
        if resource is None:
            raise self._not_found(type_name, model, region)
        return resource

    def listed(self, region: str, type_names: Iterable[str]) -> list[Resource]:
        """Every resource of these types in the region, live or (apps) Deleted and Failed."""
        world = self._world(region)
        found: list[Resource] = []
        for type_name in type_names:
            found.extend(world.resources[(type_name, i)] for i in world.sorted_identifiers(type_name))
            found.extend(resource for key, resource in world.gone.items() if key[0] == type_name)
        return found

    def file_systems(self, region: str) -> list[FileSystem]:
        """The region's EFS file systems, by id."""
        world = self._world(region)
        return [world.file_systems[name] for name in sorted(world.file_systems)]

    # -- creates: Pending, then InService

    def create(self, region: str, type_name: str, model: JsonObject) -> Resource:
        """CreateApp, CreateSpace: the owner must exist; the resource is Pending for the latency."""
        world = self._world(region)
        key = self._key(type_name, model)
        existing = world.resources.get(key)
        if existing is not None:
            raise errors.ResourceInUse(f"{rules_for(type_name).label} [{world.arn(key, existing)}] already exists.")
        try:
            resource = world.do_create(self.backend.schema(type_name), model, key[1], status="Pending")
        except Failed as failure:
            raise _sagemaker_error(failure) from None
        self._after(world, key, resource, "Pending", self.backend.settings.latency, self._in_service)
        return resource

    # -- deletes: Deleting, then gone

    def delete(self, region: str, type_name: str, model: JsonObject, delete_volume: bool = False) -> None:
        """DeleteSpace, DeleteUserProfile, DeleteDomain: refused while anything live refers to it.

        Asked again while it is Deleting, nothing changes (but a ``delete_volume`` sticks).
        """
        world, key, resource = self._live(region, type_name, model)
        self._begin_delete(world, key, resource, self.backend.settings.latency, delete_volume)

    def _begin_delete(
        self, world: World, key: ResourceKey, resource: Resource, delay: float, delete_volume: bool = False
    ) -> None:
        resource.delete_volume = resource.delete_volume or delete_volume
        if resource.status == "Deleting":
            return
        message = world.in_use_message(key)
        if message is not None:
            raise errors.ResourceInUse(message)
        resource.status, resource.modified, resource.failure_reason = "Deleting", self.backend.clock(), None
        self._after(world, key, resource, "Deleting", delay, self._gone)

    def delete_domain(self, region: str, domain_id: str, retention: str) -> None:
        """DeleteDomain with ``RetentionPolicy.HomeEfsFileSystem`` (``Retain`` or ``Delete``)."""
        self.delete(region, DOMAIN, {"DomainId": domain_id}, delete_volume=retention == "Delete")

    def delete_app(self, region: str, type_name: str, model: JsonObject) -> None:
        """DeleteApp: InService (or Deleting) becomes Deleting for ``app_delete_latency``, then Deleted."""
        world = self._world(region)
        key = self._key(type_name, model)
        resource = world.resources.get(key)
        if resource is None:
            gone = world.gone.get(key)
            if gone is None:
                raise self._not_found(type_name, model, region)
            if gone.status == "Failed":
                raise errors.ValidationException(
                    f"App [{world.arn(key, gone)}] previously failed and was automatically deleted."
                )
            raise errors.ValidationException(f"App [{world.arn(key, gone)}] has already been deleted.")
        if resource.status == "Pending":
            raise errors.ResourceInUse(
                f"App [{world.arn(key, resource)}] is in Pending status; it can be deleted once it is InService."
            )
        self._begin_delete(world, key, resource, self.backend.settings.app_delete_latency)

    # -- admin

    def set_app_status(self, region: str, type_name: str, model: JsonObject, status: str, reason: str | None) -> str:
        """Make a live app ``Failed`` (gone: it blocks nothing; FailureReason ``reason``) or ``InService``
        at once. Returns the app's ARN."""
        world, key, resource = self._live(region, type_name, model)
        if status == "Failed":
            world.remove(key, status="Failed")
            resource.failure_reason = reason or "The app failed (set through the emulator's admin API)."
        elif status == "InService":
            resource.status, resource.modified = status, self.backend.clock()
        else:
            raise ValueError(f"Status must be Failed or InService, not {status!r}")
        return world.arn(key, resource)
