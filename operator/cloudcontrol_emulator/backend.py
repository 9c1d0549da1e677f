"""The behaviour of Cloud Control: resources, resource requests, idempotency, asynchrony.

Plain objects and one :class:`Backend`; errors are raised as :mod:`.errors` types; nothing here knows
HTTP or JSON wire shapes (see :mod:`.protocol`). Each (account, region) is its own :class:`World`.
The code is the same for every resource type: what a type's model may hold comes from its registry
schema (``cfn_registry``), what SageMaker adds or refuses comes from its entry in :mod:`.rules`.

Asynchrony is lazy: a mutation becomes a :class:`ResourceRequest` with a due time, and SageMaker's
state changes (an app going from Pending to InService, a space from Deleting to gone, see
:mod:`.studio`) are timers too. Nothing runs in the background; whenever a world is touched,
:meth:`World.settle` runs every timer whose time has passed, in time order (one heap for both, so an
idle check costs O(1) even with 10,000 resources, and a request sees the state changes due before it).

Resources carry SageMaker's lifecycle ``status`` besides their model. A deleted resource of a type
whose rules keep it listed (apps) moves to :attr:`World.gone` with Status ``Deleted`` (or ``Failed``):
it no longer exists for Cloud Control nor blocks anything, but SageMaker still lists it. Creating
it again replaces that record. Each resource of a type with a ``volume`` rule (a domain) has a home
EFS :class:`FileSystem` in its world, made with it and kept when it is deleted unless the delete
asked for the volume to go (``Resource.delete_volume``).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import heapq
import itertools
import json
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonpatch
import jsonpointer

from cfn_registry import ResourceSchema
from cfn_registry.schema import MISSING, JsonObject, PropertyPath, delete_path, get_path, path_to_pointer, set_path

from . import errors, validation
from .rules import (
    APP,
    DOMAIN,
    RULES,
    USER_PROFILE,
    VOLUME_TAG,
    Reference,
    format_failure,
    internal_schemas,
    render,
    rules_for,
    seeded_domain,
    values_at,
)
from .rules import check as check_rules

Operation = Literal["CREATE", "UPDATE", "DELETE"]
Status = Literal["PENDING", "IN_PROGRESS", "SUCCESS", "FAILED", "CANCEL_IN_PROGRESS", "CANCEL_COMPLETE"]
NON_TERMINAL: frozenset[str] = frozenset({"PENDING", "IN_PROGRESS", "CANCEL_IN_PROGRESS"})

PATCH_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})


@dataclass
class Settings:
    """Runtime knobs of the backend (``POST /_emulator/config``)."""

    latency: float = 0.5
    """Seconds a Create/Update/Delete stays IN_PROGRESS before it completes."""
    fill_defaults: bool = True
    """Fill :attr:`defaults` into models where the user left them out."""
    defaults: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {name: dict(rules.defaults) for name, rules in RULES.items() if rules.defaults}
    )
    """Per type name: JSON pointers into the model (``/UserSettings/StudioWebPortal``) and their values."""
    list_full_properties: bool = False
    """ListResources returns every property (else only the primary identifier, like the real handler)."""
    create_event_identifier: bool = False
    """Whether IN_PROGRESS CREATE events carry the Identifier (AWS often leaves it out)."""
    app_delete_latency: float = 2.0
    """Seconds an app deleted through SageMaker's DeleteApp stays ``Deleting`` (AWS takes minutes)."""

    def copy(self) -> Settings:
        return copy.deepcopy(self)


@dataclass
class Resource:
    identifier: str
    model: JsonObject
    """What is stored, writeOnly properties included."""
    write_only: tuple[PropertyPath, ...] = ()
    readable: JsonObject = field(default_factory=dict)
    """The model as every read shows it: without the writeOnly properties."""
    properties_json: str = ""
    wire_cache: bytes | None = None
    """The GetResource response body, built by the protocol layer on first read."""
    status: str = "InService"
    """SageMaker's lifecycle state: Pending, InService, Deleting, Delete_Failed; Deleted or Failed once gone."""
    created: float = 0.0
    modified: float = 0.0
    seq: int = 0
    """Order of creation in its world: ties between equal creation times are broken by it."""
    failure_reason: str | None = None
    delete_volume: bool = False
    """Its home volume goes with it (SageMaker's DeleteDomain with ``RetentionPolicy: Delete``)."""

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Re-serialize after a change: reads return this string as is."""
        readable = self.model
        if self.write_only:
            readable = copy.deepcopy(readable)
            for path in self.write_only:
                delete_path(readable, path)
        self.readable = readable
        self.properties_json = json.dumps(readable, separators=(",", ":"))
        self.wire_cache = None


@dataclass
class FileSystem:
    """An EFS file system: the home volume SageMaker makes with a domain."""

    file_system_id: str
    creation_token: str
    created: float
    tags: list[dict[str, str]]
    mount_targets: int = 0
    life_cycle_state: str = "available"


@dataclass
class ResourceRequest:
    """One Create/Update/Delete request and its progress."""

    token: str
    seq: int
    type_name: str
    operation: Operation
    identifier: str
    fingerprint: tuple[str, ...]
    client_token: str | None
    due: float
    event_time: float
    status: Status = "IN_PROGRESS"
    desired: JsonObject | None = None
    patch: list[JsonObject] | None = None
    assigned: JsonObject | None = None
    """What the service set when it accepted a create (an image version's ``Version``)."""
    counter: ResourceKey | None = None
    """The parent whose count gave ``assigned`` its number."""
    forced_error_code: str | None = None
    resource_model: str | None = None
    status_message: str | None = None
    error_code: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status not in NON_TERMINAL


@dataclass
class Accepted:
    """A create as the service takes it: its identifier and what the service assigned (a number)."""

    identifier: str
    assigned: JsonObject | None = None
    counter: ResourceKey | None = None


@dataclass(frozen=True)
class Link:
    """A resource a model refers to: the key, how a create words its absence, and whether deleting it
    takes the referring resource along."""

    key: ResourceKey
    code: str
    missing: str
    cascade: bool = False


@dataclass
class Page:
    items: list[Any]
    next_token: str | None


def _not_found_message(type_name: str, identifier: str) -> str:
    return f"Resource of type '{type_name}' with identifier '{identifier}' was not found."


class World:
    """The state of one (account, region)."""

    def __init__(self, backend: Backend, region: str) -> None:
        self.backend = backend
        self.region = region
        self.resources: dict[ResourceKey, Resource] = {}
        self.dependents: dict[ResourceKey, dict[ResourceKey, bool]] = {}
        """Per resource, the resources that refer to it (an ordered set): they block its deletion,
        unless the value is true (they cascade: they go with it)."""
        self.counters: dict[ResourceKey, int] = {}
        """Per parent, the last number given to a resource numbered within it (an image's versions)."""
        self.gone: dict[ResourceKey, Resource] = {}
        """Deleted resources of the types that stay listed (apps), with Status Deleted or Failed."""
        self.file_systems: dict[str, FileSystem] = {}
        """EFS file systems by id: the home volumes of domains (and of deleted ones that kept theirs)."""
        self.requests: dict[str, ResourceRequest] = {}
        self.request_log: list[ResourceRequest] = []
        self.client_tokens: dict[str, ResourceRequest] = {}
        self.in_flight: dict[ResourceKey, ResourceRequest] = {}
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self._tickets = itertools.count()
        self._sorted_ids: dict[str, list[str]] = {}

    # -- lazy completion

    def settle(self, now: float | None = None) -> None:
        """Run every timer that is due by ``now``, in time order; each gets the time it was due."""
        now = self.backend.clock() if now is None else now
        timers = self._timers
        while timers and timers[0][0] <= now:
            when, _, action = heapq.heappop(timers)
            action(when)

    def schedule(self, when: float, action: Callable[[float], None]) -> None:
        """Run ``action(when)`` the first time the world is touched at or after ``when``."""
        heapq.heappush(self._timers, (when, next(self._tickets), action))

    def _complete_due(self, request: ResourceRequest, when: float) -> None:
        if request.status == "IN_PROGRESS":  # not cancelled meanwhile
            self._complete(request, when)

    def _complete(self, request: ResourceRequest, when: float) -> None:
        key = (request.type_name, request.identifier)
        if self.in_flight.get(key) is request:
            del self.in_flight[key]
        request.event_time = when
        schema = self.backend.schema(request.type_name)
        try:
            if request.forced_error_code is not None:
                raise Failed(request.forced_error_code, f"Injected fault: {request.forced_error_code}")
            if request.operation == "CREATE":
                assert request.desired is not None
                resource = self.do_create(schema, request.desired, request.identifier, assigned=request.assigned)
            elif request.operation == "UPDATE":
                assert request.patch is not None
                resource = self._do_update(schema, request.identifier, request.patch)
            else:
                self.do_delete(schema, request.identifier)
                resource = None
        except Failed as failure:
            request.status, request.error_code, request.status_message = "FAILED", failure.code, failure.text
            self.release_number(request.type_name, request.assigned, request.counter)
            resource = self.resources.get(key)
            if request.operation == "DELETE" and resource is not None and resource.status == "Deleting":
                resource.status = "InService"  # something appeared meanwhile: the delete did not happen
            return
        request.status = "SUCCESS"
        request.resource_model = resource.properties_json if resource is not None else None

    # -- the handlers' effects (shared with out-of-band changes)

    def do_create(
        self,
        schema: ResourceSchema,
        desired: JsonObject,
        identifier: str,
        status: str = "InService",
        assigned: JsonObject | None = None,
    ) -> Resource:
        model = copy.deepcopy(desired)
        model.update(copy.deepcopy(assigned or {}))
        self.backend.complete_model(schema, model, self.region, identifier)
        parents = self._parents(schema, model)
        key = (schema.type_name, identifier)
        if key in self.resources:
            raise Failed(
                "AlreadyExists",
                f"Resource of type '{schema.type_name}' with identifier '{identifier}' already exists.",
            )
        return self._store(schema, key, model, parents, status)

    def _store(
        self,
        schema: ResourceSchema,
        key: ResourceKey,
        model: JsonObject,
        parents: Iterable[Link] = (),
        status: str = "InService",
    ) -> Resource:
        now = self.backend.clock()
        resource = Resource(
            key[1], model, schema.write_only, status=status, created=now, modified=now, seq=next(self._tickets)
        )
        self._adopt(key, resource)
        for parent in parents:
            self.dependents.setdefault(parent.key, {})[key] = parent.cascade
        return resource

    def _adopt(self, key: ResourceKey, resource: Resource) -> None:
        """Make ``resource`` the live one of ``key`` (replacing a Deleted record), with its volume."""
        self.resources[key] = resource
        self.gone.pop(key, None)
        self._sorted_ids.pop(key[0], None)
        rules = rules_for(key[0])
        if rules.volume is not None:
            file_system_id = str(get_path(resource.model, rules.volume))
            arn = get_path(resource.model, rules.arn) if rules.arn is not None else MISSING
            subnets = resource.model.get("SubnetIds")
            self.file_systems[file_system_id] = FileSystem(
                file_system_id=file_system_id,
                creation_token=resource.identifier,
                created=resource.created,
                tags=[{"Key": VOLUME_TAG, "Value": resource.identifier if arn is MISSING else str(arn)}],
                mount_targets=len(subnets) if isinstance(subnets, list) else 0,
            )

    def exists(self, type_name: str, identifier: str) -> bool:
        return (type_name, identifier) in self.resources

    def reference_key(self, reference: Reference, model: JsonObject) -> ResourceKey | None:
        """The resource ``reference`` names in ``model``; None where the model does not name one."""
        values = {target: get_path(model, source) for target, source in reference.keys.items()}
        if any(value is MISSING for value in values.values()):
            return None
        target_model: JsonObject = {}
        for path, value in values.items():
            set_path(target_model, path, value)
        return (reference.target, self.backend.schema(reference.target).identifier_of(target_model))

    def _references(self, schema: ResourceSchema, model: JsonObject) -> list[Link]:
        """The resources ``model`` refers to by its identity (its domain, its owner, its image)."""
        found: list[Link] = []
        for reference in rules_for(schema.type_name).references:
            key = self.reference_key(reference, model)
            if key is None:
                continue
            missing = reference.missing or rules_for(reference.target).missing
            fields = {path[-1]: str(get_path(model, source)) for path, source in reference.keys.items()}
            text = render(missing, model, self.region, self.backend.account_id, extra=fields)
            found.append(Link(key, reference.code, text, reference.cascade))
        return found

    def _uses(self, schema: ResourceSchema, model: JsonObject) -> list[Link]:
        """The resources ``model``'s settings name (lifecycle configs, images, app image configs)."""
        found: list[Link] = []
        for use in rules_for(schema.type_name).uses:
            prefix = render(use.prefix, {}, self.region, self.backend.account_id)
            for value in values_at(model, use.key):
                if value in use.nothing:
                    continue
                missing = render(use.missing, {}, self.region, self.backend.account_id, extra={"value": value})
                if not value.startswith(prefix):
                    # Names nothing of this account and region: no key can match it.
                    found.append(Link((use.target, ""), "NotFound", missing))
                    continue
                rest = {"value": value[len(prefix) :]}
                identifier = render(use.identifier, {}, self.region, self.backend.account_id, extra=rest)
                found.append(Link((use.target, identifier), "NotFound", missing))
        return found

    @staticmethod
    def _check_rules(schema: ResourceSchema, model: JsonObject) -> None:
        """``Failed`` (InvalidRequest) when ``model`` holds a refused value or breaks a requirement or a
        format of its type."""
        rules = rules_for(schema.type_name)
        for refusal in rules.refusals:
            if get_path(model, refusal.path) in refusal.values:
                raise Failed("InvalidRequest", refusal.message)
        for requirement in rules.requirements:
            applies = get_path(model, requirement.path) == requirement.value
            if applies and get_path(model, requirement.requires) is MISSING:
                raise Failed("InvalidRequest", requirement.message)
        message = format_failure(rules, model)
        if message is not None:
            raise Failed("InvalidRequest", message)

    def _parents(self, schema: ResourceSchema, model: JsonObject) -> list[Link]:
        """The resources ``model`` refers to or uses; ``Failed`` when one is missing (or being deleted)
        or a rule is broken."""
        self._check_rules(schema, model)
        return self._present([*self._references(schema, model), *self._uses(schema, model)])

    def _present(self, links: list[Link]) -> list[Link]:
        """``links``, once each has been found live; else ``Failed`` for the first missing one."""
        for link in links:
            parent = self.resources.get(link.key)
            if parent is None or parent.status == "Deleting":
                raise Failed(link.code, link.missing)
        return links

    def relink(self, schema: ResourceSchema, key: ResourceKey, old: JsonObject, new: JsonObject) -> None:
        """After an update from ``old`` to ``new``: what the settings use must exist (else ``Failed``),
        and the index follows them. References by identity cannot change (they are createOnly)."""
        uses = self._present(self._uses(schema, new))
        kept = {link.key for link in (*uses, *self._references(schema, new))}
        for link in self._uses(schema, old):
            if link.key not in kept:
                self.dependents.get(link.key, {}).pop(key, None)
        for link in uses:
            self.dependents.setdefault(link.key, {})[key] = False

    def release_number(self, type_name: str, assigned: JsonObject | None, counter: ResourceKey | None) -> None:
        """Give back the number of a create that failed, if no later create has taken the next one."""
        numbered = rules_for(type_name).numbered
        if numbered is None or counter is None or assigned is None:
            return
        if self.counters.get(counter) == get_path(assigned, numbered.path):
            self.counters[counter] -= 1

    def _do_update(self, schema: ResourceSchema, identifier: str, patch: list[JsonObject]) -> Resource:
        resource = self.resources.get((schema.type_name, identifier))
        if resource is None:
            raise Failed("NotFound", _not_found_message(schema.type_name, identifier))
        try:
            model = self.backend.patched_model(schema, resource.model, patch)
        except errors.ServiceError as failure:
            code = "NotUpdatable" if failure.name == "NotUpdatableException" else "InvalidRequest"
            raise Failed(code, failure.message) from None
        self.backend.keep_assigned(schema, resource.model, model)
        self.backend.complete_model(schema, model, self.region, identifier)
        self._check_rules(schema, model)
        self.relink(schema, (schema.type_name, identifier), resource.model, model)
        resource.model = model
        resource.modified = self.backend.clock()
        resource.refresh()
        return resource

    def do_delete(self, schema: ResourceSchema, identifier: str) -> None:
        key = (schema.type_name, identifier)
        if key not in self.resources:
            raise Failed("NotFound", _not_found_message(schema.type_name, identifier))
        message = self.in_use_message(key)
        if message is not None:
            raise Failed("ResourceConflict", message)
        cascaded = [child for child, cascade in self.dependents.get(key, {}).items() if cascade]
        for child in cascaded:
            message = self.in_use_message(child)
            if message is not None:
                raise Failed("ResourceConflict", message)
        for child in cascaded:
            if child in self.resources:
                self.remove(child)
        self.remove(key)

    def remove(self, key: ResourceKey, status: str = "Deleted") -> Resource:
        """Take a live resource out (nothing may refer to it); a type that stays listed keeps it in
        :attr:`gone` with ``status``. Its home volume goes only if the delete asked for that."""
        schema = self.backend.schema(key[0])
        resource = self.resources.pop(key)
        self.dependents.pop(key, None)
        self.counters.pop(key, None)
        for link in (*self._references(schema, resource.model), *self._uses(schema, resource.model)):
            self.dependents.get(link.key, {}).pop(key, None)
        self._sorted_ids.pop(key[0], None)
        rules = rules_for(key[0])
        resource.status, resource.modified = status, self.backend.clock()
        if rules.kept_deleted:
            self.gone[key] = resource
        if rules.volume is not None and resource.delete_volume:
            self.file_systems.pop(str(get_path(resource.model, rules.volume)), None)
        return resource

    def in_use_message(self, key: ResourceKey) -> str | None:
        """SageMaker's ResourceInUse text naming what still refers to the resource, or None when nothing
        does (a Deleted or Failed app refers to nothing)."""
        children = [
            child for child, cascade in self.dependents.get(key, {}).items() if not cascade and child in self.resources
        ]
        if not children:
            return None
        by_label: dict[str, list[str]] = {}
        for child in children:
            by_label.setdefault(rules_for(child[0]).label, []).append(self.display_name(child, self.resources[child]))
        kinds = ", ".join(f"{label}(s)" for label in by_label)
        named = "; ".join(f"{label} [{', '.join(names)}]" for label, names in by_label.items())
        return (
            f"Unable to delete {rules_for(key[0]).label} [{self.arn(key, self.resources[key])}] "
            f"because {kinds} are associated with it: {named}."
        )

    def arn(self, key: ResourceKey, resource: Resource) -> str:
        """The resource's ARN (its identifier for a type without one)."""
        rules = rules_for(key[0])
        arn = get_path(resource.model, rules.arn) if rules.arn is not None else MISSING
        return resource.identifier if arn is MISSING else str(arn)

    def display_name(self, key: ResourceKey, resource: Resource) -> str:
        """How SageMaker's messages name the resource (``default (JupyterServer)`` for an app)."""
        template = rules_for(key[0]).name
        if not template:
            return resource.identifier
        return render(template, resource.model, self.region, self.backend.account_id)

    def sorted_identifiers(self, type_name: str) -> list[str]:
        ids = self._sorted_ids.get(type_name)
        if ids is None:
            ids = sorted(i for (t, i) in self.resources if t == type_name)
            self._sorted_ids[type_name] = ids
        return ids

    # -- requests

    def _new_request(
        self,
        schema: ResourceSchema,
        operation: Operation,
        identifier: str,
        fingerprint: tuple[str, ...],
        client_token: str | None,
        forced_error_code: str | None,
    ) -> ResourceRequest:
        now = self.backend.clock()
        key = (schema.type_name, identifier)
        if key in self.in_flight:
            raise errors.ConcurrentOperationException(
                f"Another resource operation is currently being performed on this resource "
                f"(request token {self.in_flight[key].token})."
            )
        request = ResourceRequest(
            token=str(uuid.uuid4()),
            seq=len(self.request_log),
            type_name=schema.type_name,
            operation=operation,
            identifier=identifier,
            fingerprint=fingerprint,
            client_token=client_token,
            due=now + self.backend.settings.latency,
            event_time=now,
            forced_error_code=forced_error_code,
        )
        self.requests[request.token] = request
        self.request_log.append(request)
        self.in_flight[key] = request
        resource = self.resources.get(key)
        if operation == "DELETE" and resource is not None and self.in_use_message(key) is None:
            # The handler's Delete* call is accepted at once: SageMaker shows the resource Deleting until
            # it is gone (a delete it refuses fails at once and leaves the status alone).
            resource.status = "Deleting"
        if client_token is not None:
            self.client_tokens[client_token] = request
        self.schedule(request.due, functools.partial(self._complete_due, request))
        return request

    def replay(self, client_token: str | None, fingerprint: tuple[str, ...]) -> ResourceRequest | None:
        """The request already made with ``client_token``, if it is the same request."""
        if client_token is None:
            return None
        previous = self.client_tokens.get(client_token)
        if previous is None:
            return None
        if previous.fingerprint != fingerprint:
            raise errors.ClientTokenConflictException(
                f"The client token {client_token} was already used for a different request."
            )
        return previous


class Failed(Exception):
    """A handler's failure with Cloud Control's HandlerErrorCode (``NotFound``, ``InvalidRequest``,
    ``ResourceConflict``, ``AlreadyExists``): a resource request ends FAILED with it; out-of-band
    changes and SageMaker's API turn it into their own synchronous errors."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


ResourceKey = tuple[str, str]
"""(type name, identifier)."""


class Backend:
    """Every world of one account, the known schemas and the settings."""

    def __init__(
        self,
        account_id: str,
        schemas: Mapping[str, ResourceSchema],
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account_id = account_id
        self.schemas = dict(schemas)
        if APP in self.schemas:
            self.schemas.update(internal_schemas(self.schemas))
        check_rules(self.schemas)
        self.settings = settings or Settings()
        self.clock = clock
        self.worlds: dict[str, World] = {}

    def world(self, region: str) -> World:
        world = self.worlds.get(region)
        if world is None:
            world = self.worlds[region] = World(self, region)
        return world

    def schema(self, type_name: str) -> ResourceSchema:
        schema = self.schemas.get(type_name)
        if schema is None:
            raise errors.TypeNotFoundException(f"The type '{type_name}' cannot be found.")
        return schema

    def reset(self, keep_domains: bool = True) -> None:
        """Forget everything; domains (seeded or created) stay unless ``keep_domains`` is false."""
        kept = {
            region: [(key, resource) for key, resource in world.resources.items() if key[0] == DOMAIN]
            for region, world in self.worlds.items()
        }
        self.worlds.clear()
        if keep_domains:
            for region, domains in kept.items():
                for key, resource in domains:
                    # A domain that was being deleted is kept as it was before (its timer is gone).
                    resource.status, resource.delete_volume, resource.failure_reason = "InService", False, None
                    self.world(region)._adopt(key, resource)

    # -- model helpers

    def complete_model(self, schema: ResourceSchema, model: JsonObject, region: str, identifier: str) -> None:
        """Add what the service adds: the identifier's generated parts, computed readOnly values, defaults."""
        parts = schema.identifier_parts(identifier) or {}
        for path, value in parts.items():
            if get_path(model, path) is MISSING:
                set_path(model, path, value)
        rules = rules_for(schema.type_name)
        seed = f"{self.account_id}/{region}/{schema.type_name}/{identifier}"
        for path, template in rules.computed.items():
            set_path(model, path, render(template, model, region, self.account_id, seed))
        if self.settings.fill_defaults:
            for pointer, value in self.settings.defaults.get(schema.type_name, {}).items():
                path = tuple(jsonpointer.JsonPointer(pointer).parts)
                if path and get_path(model, path) is MISSING:
                    set_path(model, path, copy.deepcopy(value))

    def accept(self, world: World, schema: ResourceSchema, desired: JsonObject) -> Accepted:
        """What the service decides when it takes a create: the identifier, with the parts ``generated``
        names invented (random ones until unused; a name-derived one as it is, so a taken name is
        AlreadyExists), and the number of a ``numbered`` type, counted within its parent."""
        rules = rules_for(schema.type_name)
        accepted = Accepted("")
        extra: dict[str, Any] = {}
        if rules.numbered is not None:
            model = copy.deepcopy(desired)
            for source in rules.numbered.within.keys.values():
                if source in rules.computed:
                    set_path(model, source, render(rules.computed[source], model, world.region, self.account_id))
            parent = world.reference_key(rules.numbered.within, model)
            if parent is not None:
                number = world.counters.get(parent, 0) + 1
                world.counters[parent] = number
                extra["number"] = number
                accepted.counter, accepted.assigned = parent, {}
                set_path(accepted.assigned, rules.numbered.path, number)
        if not rules.generated:
            accepted.identifier = schema.identifier_of(desired)
            return accepted
        random = any("{random:" in template for template in rules.generated.values())
        while True:
            model = copy.deepcopy(desired)
            for path, template in rules.generated.items():
                set_path(model, path, render(template, model, world.region, self.account_id, extra=extra))
            accepted.identifier = schema.identifier_of(model)
            if not random or not world.exists(schema.type_name, accepted.identifier):
                return accepted

    def keep_assigned(self, schema: ResourceSchema, current: JsonObject, model: JsonObject) -> None:
        """Carry what the service assigned at create (a version's number) into an updated model."""
        numbered = rules_for(schema.type_name).numbered
        if numbered is not None:
            value = get_path(current, numbered.path)
            if value is not MISSING:
                set_path(model, numbered.path, value)

    def validate_desired(self, schema: ResourceSchema, desired: JsonObject) -> None:
        message = validation.failure_message(schema, desired)
        if message is not None:
            raise errors.ValidationException(message)

    @staticmethod
    def parse_patch(text: str) -> list[JsonObject]:
        try:
            patch = json.loads(text)
        except ValueError:
            raise errors.ValidationException("Invalid patch document: not valid JSON") from None
        if not isinstance(patch, list):
            raise errors.ValidationException("Invalid patch document: expected a JSON array of operations")
        for index, op in enumerate(patch):
            if not isinstance(op, dict) or op.get("op") not in PATCH_OPS or not isinstance(op.get("path"), str):
                raise errors.ValidationException(f"Invalid patch document: operation {index} is not valid")
            if op["op"] in ("add", "replace", "test") and "value" not in op:
                raise errors.ValidationException(f"Invalid patch document: operation {index} needs a value")
            if op["op"] in ("move", "copy") and not isinstance(op.get("from"), str):
                raise errors.ValidationException(f"Invalid patch document: operation {index} needs from")
            for key in ("path", "from"):
                if key in op and op[key] and not op[key].startswith("/"):
                    raise errors.ValidationException(f"Invalid patch document: bad {key} in operation {index}")
        return patch

    @staticmethod
    def _touched(op: JsonObject) -> list[PropertyPath]:
        if op["op"] == "test":
            return []
        paths = [op["path"]] + ([op["from"]] if op["op"] == "move" else [])
        return [tuple(jsonpointer.JsonPointer(p).parts) for p in paths]

    def check_patch_paths(self, schema: ResourceSchema, patch: list[JsonObject]) -> None:
        """Refuse patches that write a createOnly or readOnly property directly."""
        for kind, paths in (
            ("readOnlyProperties", schema.read_only),
            ("createOnlyProperties", schema.create_only),
        ):
            hit: list[str] = []
            for op in patch:
                for touched in self._touched(op):
                    for path in paths:
                        if touched[: len(path)] == path and path_to_pointer(path) not in hit:
                            hit.append(path_to_pointer(path))
            if hit:
                raise errors.NotUpdatableException(f"Invalid patch update: {kind} [{', '.join(hit)}] cannot be updated")

    def patched_model(self, schema: ResourceSchema, current: JsonObject, patch: list[JsonObject]) -> JsonObject:
        """Apply ``patch`` to ``current``; the result, without readOnly properties, must be valid."""
        try:
            model: JsonObject = jsonpatch.apply_patch(current, patch)
        except jsonpatch.JsonPatchTestFailed as failure:
            raise errors.InvalidRequestException(f"Patch test operation failed: {failure}") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as failure:
            raise errors.InvalidRequestException(f"Invalid patch update: {failure}") from None
        if not isinstance(model, dict):
            raise errors.InvalidRequestException("Invalid patch update: the result is not an object")
        changed = [
            path_to_pointer(path) for path in schema.create_only if get_path(model, path) != get_path(current, path)
        ]
        if changed:
            raise errors.NotUpdatableException(
                f"Invalid patch update: createOnlyProperties [{', '.join(changed)}] cannot be updated"
            )
        for path in schema.read_only:
            delete_path(model, path)
        message = validation.failure_message(schema, model)
        if message is not None:
            raise errors.ValidationException(message)
        return model

    # -- Cloud Control operations

    def create_resource(
        self,
        region: str,
        type_name: str,
        desired_state: str,
        client_token: str | None,
        forced_error_code: str | None = None,
    ) -> ResourceRequest:
        schema = self.schema(type_name)
        world = self.world(region)
        world.settle()
        try:
            desired = json.loads(desired_state)
        except ValueError:
            raise errors.ValidationException("DesiredState is not valid JSON") from None
        if not isinstance(desired, dict):
            raise errors.ValidationException("Model validation failed (#: expected type: JSONObject)")
        fingerprint = ("CREATE", type_name, _canonical(desired))
        previous = world.replay(client_token, fingerprint)
        if previous is not None:
            return previous
        self.validate_desired(schema, desired)
        accepted = self.accept(world, schema, desired)
        try:
            request = world._new_request(
                schema, "CREATE", accepted.identifier, fingerprint, client_token, forced_error_code
            )
        except errors.ServiceError:
            world.release_number(type_name, accepted.assigned, accepted.counter)
            raise
        request.desired, request.assigned, request.counter = desired, accepted.assigned, accepted.counter
        return request

    def update_resource(
        self,
        region: str,
        type_name: str,
        identifier: str,
        patch_document: str,
        client_token: str | None,
        forced_error_code: str | None = None,
    ) -> ResourceRequest:
        schema = self.schema(type_name)
        if "update" not in schema.document.get("handlers", {}):
            raise errors.UnsupportedActionException(f"Resource type {type_name} does not support UPDATE action")
        world = self.world(region)
        world.settle()
        patch = self.parse_patch(patch_document)
        fingerprint = ("UPDATE", type_name, identifier, _canonical(patch))
        previous = world.replay(client_token, fingerprint)
        if previous is not None:
            return previous
        self.check_patch_paths(schema, patch)
        resource = world.resources.get((type_name, identifier))
        if resource is not None:
            # Checked now against the current model so that bad input is refused at once; the patch
            # is applied again, to the model as it is then, when the request completes.
            # A failed `test` or a missing path is not refused here: the request ends FAILED.
            with contextlib.suppress(errors.InvalidRequestException):
                self.patched_model(schema, resource.model, patch)
        request = world._new_request(schema, "UPDATE", identifier, fingerprint, client_token, forced_error_code)
        request.patch = patch
        return request

    def delete_resource(
        self,
        region: str,
        type_name: str,
        identifier: str,
        client_token: str | None,
        forced_error_code: str | None = None,
    ) -> ResourceRequest:
        schema = self.schema(type_name)
        world = self.world(region)
        world.settle()
        fingerprint = ("DELETE", type_name, identifier)
        previous = world.replay(client_token, fingerprint)
        if previous is not None:
            return previous
        return world._new_request(schema, "DELETE", identifier, fingerprint, client_token, forced_error_code)

    def get_resource(self, region: str, type_name: str, identifier: str) -> Resource:
        schema = self.schema(type_name)
        world = self.world(region)
        world.settle()
        resource = world.resources.get((type_name, identifier))
        if resource is None:
            raise errors.ResourceNotFoundException(_not_found_message(schema.type_name, identifier))
        return resource

    def get_request(self, region: str, token: str) -> ResourceRequest:
        world = self.world(region)
        world.settle()
        request = world.requests.get(token)
        if request is None:
            raise errors.RequestTokenNotFoundException(f"Request token {token} was not found.")
        return request

    def cancel_request(self, region: str, token: str) -> ResourceRequest:
        request = self.get_request(region, token)
        if request.status not in ("PENDING", "IN_PROGRESS"):
            raise errors.ConcurrentModificationException(
                f"Resource request {token} is {request.status} and can no longer be cancelled."
            )
        world = self.world(region)
        key = (request.type_name, request.identifier)
        if world.in_flight.get(key) is request:
            del world.in_flight[key]
        request.status = "CANCEL_COMPLETE"
        request.event_time = self.clock()
        return request

    def list_resources(
        self, region: str, type_name: str, after: str | None, page_size: int, model_filter: JsonObject | None
    ) -> Page:
        schema = self.schema(type_name)
        required = schema.document.get("handlers", {}).get("list", {}).get("handlerSchema", {}).get("required", [])
        absent = [name for name in required if not (model_filter or {}).get(name)]
        if absent:
            raise errors.InvalidRequestException(
                f"Missing Or Invalid ResourceModel property in {type_name} list handler request input. "
                f"Required property: [{', '.join(absent)}]"
            )
        world = self.world(region)
        world.settle()
        ids = world.sorted_identifiers(type_name)
        start = bisect_right(ids, after) if after is not None else 0
        items: list[Resource] = []
        index = start
        while index < len(ids) and len(items) < page_size:
            resource = world.resources[(type_name, ids[index])]
            index += 1
            if model_filter and any(resource.readable.get(k) != v for k, v in model_filter.items()):
                continue
            items.append(resource)
        return Page(items, ids[index - 1] if index < len(ids) else None)

    def listed_properties(self, type_name: str, resource: Resource) -> str:
        """What ListResources shows of a resource: its primary identifier and what its type lists
        (every readable property with ``list_full_properties``)."""
        if self.settings.list_full_properties:
            return resource.properties_json
        shown: JsonObject = {}
        for path in (*self.schema(type_name).primary_identifier, *rules_for(type_name).listed):
            value = get_path(resource.readable, path)
            if value is not MISSING:
                set_path(shown, path, value)
        return json.dumps(shown, separators=(",", ":"))

    def list_requests(
        self,
        region: str,
        before_seq: int | None,
        page_size: int,
        operations: Iterable[str] | None,
        statuses: Iterable[str] | None,
    ) -> Page:
        """Newest first; the page token is the sequence number of the last request returned."""
        world = self.world(region)
        world.settle()
        ops = set(operations) if operations else None
        sts = set(statuses) if statuses else None
        index = (before_seq if before_seq is not None else len(world.request_log)) - 1
        items: list[ResourceRequest] = []
        while index >= 0 and len(items) < page_size:
            request = world.request_log[index]
            index -= 1
            if (ops is None or request.operation in ops) and (sts is None or request.status in sts):
                items.append(request)
        more = index >= 0 and bool(items)
        return Page(items, str(items[-1].seq) if more else None)

    # -- out-of-band changes (as if made in the console)

    def add_domain(self, region: str, domain_id: str) -> None:
        """A domain as if made in the console: an ``AWS::SageMaker::Domain`` resource with this id."""
        world = self.world(region)
        world.settle()
        if not world.exists(DOMAIN, domain_id):
            schema = self.schema(DOMAIN)
            model = seeded_domain(domain_id, self.account_id)
            self.complete_model(schema, model, region, domain_id)
            world._store(schema, (DOMAIN, domain_id), model)

    def oob_create(self, region: str, desired: JsonObject, type_name: str = USER_PROFILE) -> Resource:
        schema = self.schema(type_name)
        world = self.world(region)
        world.settle()
        self.validate_desired(schema, desired)
        accepted = self.accept(world, schema, desired)
        try:
            return world.do_create(schema, desired, accepted.identifier, assigned=accepted.assigned)
        except Failed as failure:
            world.release_number(type_name, accepted.assigned, accepted.counter)
            raise errors.InvalidRequestException(failure.text) from None

    def oob_patch(
        self, region: str, identifier: str, patch: list[JsonObject], type_name: str = USER_PROFILE
    ) -> Resource:
        schema = self.schema(type_name)
        world = self.world(region)
        world.settle()
        resource = world.resources.get((type_name, identifier))
        if resource is None:
            raise errors.ResourceNotFoundException(_not_found_message(type_name, identifier))
        model = self.patched_model(schema, resource.model, patch)
        self.keep_assigned(schema, resource.model, model)
        self.complete_model(schema, model, region, identifier)
        try:
            world._check_rules(schema, model)
            world.relink(schema, (type_name, identifier), resource.model, model)
        except Failed as failure:
            raise errors.InvalidRequestException(failure.text) from None
        resource.model = model
        resource.modified = self.clock()
        resource.refresh()
        return resource

    def oob_delete(self, region: str, identifier: str, type_name: str = USER_PROFILE) -> None:
        schema = self.schema(type_name)
        world = self.world(region)
        world.settle()
        try:
            world.do_delete(schema, identifier)
        except Failed as failure:
            if failure.code == "NotFound":
                raise errors.ResourceNotFoundException(failure.text) from None
            raise errors.ResourceConflictException(failure.text) from None
