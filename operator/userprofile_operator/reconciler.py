"""Drives one managed object toward its spec: the sequence of Cloud Control calls and waits.

One function serves create, update, resume and the periodic drift check (`reconcile`), one serves
deletion (`finalize`). Both take a plain description of the object and a `CloudControlApi`, and return
an `Outcome`: the status fields to write, the Events to post, whether to try again later, and (on
deletion) whether to release the finalizer. They import no kopf: `handlers.py` turns an Outcome into
kopf's terms. Choices (what patch, which token, whose resource) come from `plan.py`. A Reconciler serves
one kind: the type name, the schema's createOnly / writeOnly paths, the tag and ARN properties and
the nouns of its messages all come from the kind.

Crash safety comes from deterministic ClientTokens: after a restart, the same object at the same
generation re-sends the same request, and Cloud Control answers with the request it already has.
An operation that outlives the in-line wait is written to `status.operation` and picked up from there.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pydantic
from pydantic.alias_generators import to_snake

from userprofile_operator import metrics, offboard
from userprofile_operator.cleanup import plan_cleanup
from userprofile_operator.cloudcontrol import CloudControlApi
from userprofile_operator.conditions import Reason, condition_status, condition_true_at, set_condition
from userprofile_operator.kind import Kind
from userprofile_operator.models import (
    AdoptionPolicy,
    CleanupOnDelete,
    DeletionPolicy,
    HomeEfsPolicy,
    ManagedSpec,
    ManagementPolicy,
    OperationInFlight,
    OperationType,
    ResourceStatus,
    reference_fields,
    spec_model,
    status_model,
)
from userprofile_operator.offboard import Surroundings
from userprofile_operator.plan import (
    Step,
    backoff,
    client_token,
    decide,
    failure_stands,
    ownership,
    patch_digest,
    plan_patch,
    poll_delay,
    with_owner_tag,
    write_only_patch,
)
from userprofile_operator.rollout import Holders, named_spec, roll
from userprofile_operator.settings import OWNER_TAG_KEY, Settings
from userprofile_operator.uninstall import released_message
from userprofile_operator.wire import NOT_FOUND_CODES, AwsError, ProgressEvent, is_transient

Trigger = Literal["create", "update", "resume", "drift", "reference"]
_OPERATION_VERB = {"CREATE": "create", "UPDATE": "update", "DELETE": "delete"}


@dataclass(frozen=True)
class ObjectView:
    """What the reconciler needs to know of the Kubernetes object."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: dict[str, Any]
    status: dict[str, Any]
    owner_value: str
    region: str | None
    retry: int = 0
    previous_spec: dict[str, Any] | None = None
    waiting: tuple[str, ...] = ()
    """References that cannot be resolved yet (`Kind name: why`); the spec is not usable until they are."""
    role_not_allowed: str | None = None
    """Why the namespace's role must not be used (a guardrail of the operator's settings): then nothing
    goes to AWS for this object, and it says so. None when the role, if any, is allowed."""
    referrers: tuple[tuple[str, bool], ...] = ()
    """Objects of ours whose references name this one (`Kind name`, whether it is being deleted): on a
    delete of a kind without `cleanup` they go first (a domain before the lifecycle config it uses, a
    version before its image), as AWS refuses this delete while they still name it."""
    crd_deleted: bool = False
    """The kind's CRD is being deleted (an uninstall): the API server deletes every object of it, and
    none of those deletes is a person's wish to delete the AWS resource."""
    references: tuple[tuple[str, str, str], ...] = ()
    """(kind, name, value) of what its references resolve to (or, when a target cannot be read now, what
    they last resolved to): recorded in `status.references` with what is sent to AWS."""
    holders: Callable[[str | None, Sequence[str]], Holders] | None = None
    """Who of ours may still use old values (ARNs) of this object, given its current one: from the runtime's
    view of every object. Asked before a replaced resource is deleted (`Kind.replace_on_change`)."""


@dataclass
class Outcome:
    """What to write and say after one pass."""

    status: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    retry_in: float | None = None
    retry_reason: str = ""
    follow: list[tuple[str, str, str]] = field(default_factory=list)
    """(kind, namespace, name) of objects that should resolve their references again now: they name this
    one, whose value changed, and have not moved to the new value yet."""
    release: bool = False
    blocked: bool = False
    """A delete waits for others (what is in the way, or objects of ours that depend on it): the handler
    wakes it when one of those goes or its spec changes, not only after the back-off."""

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pointers(paths: tuple[tuple[str, ...], ...]) -> list[str]:
    return ["/" + "/".join(path) for path in paths]


# What SageMaker answers when a resource cannot be deleted while others depend on it (a profile with
# spaces, a domain with profiles): Cloud Control reports it as ResourceConflict.
_BLOCKED_CODES = frozenset({"ResourceConflict", "ResourceInUse"})
_LISTED = 5  # users of a replaced resource named in its status; the rest are counted


class Reconciler:
    def __init__(self, settings: Settings, kind: Kind) -> None:
        self.settings = settings
        self.kind = kind
        self.spec_model: type[ManagedSpec] = spec_model(kind)
        self.status_model: type[ResourceStatus] = status_model(kind)
        self.reference_fields = reference_fields(kind)
        schema = kind.schema
        self.create_only = _pointers(schema.create_only)
        self.write_only = _pointers(schema.write_only)
        tag_property = schema.tag_property
        if tag_property is not None and len(tag_property) != 1:
            raise ValueError(f"{kind.type_name} keeps its tags below the top level; the ownership tag needs them there")
        # Without tags (an image version) a resource is ours by the identifier our create request returned.
        self.tags = tag_property[0] if tag_property else None
        self.noun = kind.noun
        self.Noun = kind.noun[:1].upper() + kind.noun[1:]
        self.name_field = kind.naming.spec_name(kind.name_property)

    def _named(self, view: ObjectView) -> ObjectView:
        """A content-addressed kind's view with its AWS name derived from the content (`rollout`)."""
        if not self.kind.replace_on_change:
            return view
        previous = named_spec(self.kind, view.name, view.previous_spec) if view.previous_spec else None
        return dataclasses.replace(view, spec=named_spec(self.kind, view.name, view.spec), previous_spec=previous)

    # -- waiting -------------------------------------------------------------------------------

    async def _wait(self, cc: CloudControlApi, event: ProgressEvent, budget: float) -> ProgressEvent:
        """Reads the request's status until it ends or `budget` seconds are spent; honours RetryAfter."""
        started = time.monotonic()
        attempt = 0
        metrics.IN_FLIGHT.inc()
        try:
            while not event.done:
                delay = poll_delay(
                    attempt, event.retry_after, time.time(), self.settings.poll_min, self.settings.poll_max
                )
                if time.monotonic() - started + delay > budget:
                    return event
                await asyncio.sleep(delay)
                attempt += 1
                try:
                    event = await cc.request_status(event.request_token)
                except AwsError as err:
                    if not err.transient:
                        raise
        finally:
            metrics.IN_FLIGHT.dec()
        return event

    def _pending(self, out: Outcome, view: ObjectView, event: ProgressEvent, kind: str, token: str) -> Outcome:
        """The request outlived the in-line wait: remember it in status and come back for it."""
        reason = {"CREATE": Reason.CREATING, "UPDATE": Reason.UPDATING, "DELETE": Reason.DELETING}[kind]
        conditions = set_condition(
            self._conditions(view),
            "Ready",
            False,
            reason,
            f"Cloud Control request {event.request_token} is {event.status}",
            view.generation,
            _now(),
        )
        out.status.update(
            self.status_model.patch(
                **self._in_use(view),
                observed_generation=view.generation,
                operation=OperationInFlight(
                    type=OperationType(kind),
                    request_token=event.request_token,
                    client_token=token,
                    generation=view.generation,
                    started_at=_now(),
                ),
                conditions=conditions,
            )
        )
        out.retry_in = poll_delay(0, event.retry_after, time.time(), self.settings.poll_min, self.settings.poll_max)
        out.retry_reason = f"waiting for {reason.lower()} request {event.request_token}"
        return out

    @staticmethod
    def _conditions(view: ObjectView) -> list[dict[str, Any]]:
        return list(view.status.get("conditions") or [])

    def _in_use(self, view: ObjectView) -> dict[str, Any]:
        """The values of the fields references can supply, as the resolved spec has them (a domainIdRef's
        domain id): status keeps them beside the identifier, for the printer columns; and what every
        reference resolved to (`references`), so that a replaced target knows who has moved on."""
        out: dict[str, Any] = {}
        if self.kind.references:
            out["references"] = [
                {"kind": kind, "name": name, "value": value} for kind, name, value in view.references
            ] or None
        for name, path in self.reference_fields.items():
            node: Any = view.spec
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, str) and node:
                out[name] = node
        return out

    # -- reporting -----------------------------------------------------------------------------

    def _report(
        self,
        out: Outcome,
        view: ObjectView,
        *,
        ready: bool,
        ready_reason: str,
        message: str,
        synced: bool,
        synced_reason: str,
        extra: dict[str, Any] | None = None,
        keep_operation: bool = False,
    ) -> Outcome:
        now = _now()
        conditions = set_condition(self._conditions(view), "Ready", ready, ready_reason, message, view.generation, now)
        conditions = set_condition(
            conditions, "Synced", synced, synced_reason, "" if synced else message, view.generation, now
        )
        if view.status.get("operation") is not None and not keep_operation:
            extra = {**(extra or {}), "operation": None}
        out.status.update(
            self.status_model.patch(observed_generation=view.generation, conditions=conditions, **(extra or {}))
        )
        return out

    def _terminal(self, out: Outcome, view: ObjectView, code: str, message: str) -> Outcome:
        out.event("Warning", code, message)
        metrics.RECONCILE_ERRORS.labels(kind=self.kind.kind, reason=code).inc()
        return self._report(
            out,
            view,
            ready=False,
            ready_reason=code,
            message=message,
            synced=False,
            synced_reason=code,
            extra={"failed_generation": view.generation},
        )

    def _transient(self, out: Outcome, view: ObjectView, code: str, message: str) -> Outcome:
        delay = backoff(view.retry, self.settings.retry_min, self.settings.retry_max)
        metrics.RECONCILE_ERRORS.labels(kind=self.kind.kind, reason=code).inc()
        if condition_status(self._conditions(view), "Synced") != "False" or view.retry == 0:
            out.event("Warning", code, f"{message} (will retry)")
        # Still Ready only if AWS already matched this very generation (a failed drift correction);
        # a change that is being retried is not applied yet, so Ready is False until it is.
        ready = condition_true_at(self._conditions(view), "Ready", view.generation)
        self._report(
            out,
            view,
            ready=ready,
            ready_reason=Reason.AVAILABLE if ready else Reason.RETRYING,
            message=message,
            synced=False,
            synced_reason=code,
        )
        out.retry_in = delay
        out.retry_reason = f"{code}: {message}"
        return out

    def _failed(self, out: Outcome, view: ObjectView, err: AwsError) -> Outcome:
        if err.transient:
            return self._transient(out, view, err.code, err.message)
        return self._terminal(out, view, err.code, err.message)

    def _available(
        self,
        out: Outcome,
        view: ObjectView,
        observed: dict[str, Any],
        identifier: str,
        region: str,
        message: str = "",
    ) -> Outcome:
        message = message or f"The {self.noun} exists and matches the spec"
        extra: dict[str, Any] = {
            **self._in_use(view),
            "arn": observed.get(self.kind.arn_property) or view.status.get("arn"),
            "identifier": identifier,
            "region": region,
            "last_sync_time": _now(),
            "drift_detected": False,
        }
        if self.kind.replace_on_change:
            # The name in use, and what it replaced (kept until deleted: a restart loses nothing).
            extra[to_snake(self.name_field)] = identifier
            before = {"identifier": view.status.get("identifier"), "arn": view.status.get("arn")}
            extra["retiring"] = roll(view.status.get("retiring") or [], before, identifier) or None
        if view.status.get("failedGeneration") is not None:
            extra["failed_generation"] = None
        settled = all(condition_true_at(self._conditions(view), kind, view.generation) for kind in ("Ready", "Synced"))
        if settled and view.status.get("lastSyncTime"):
            # Confirmed again, nothing new to say: no status write (10,000 profiles would otherwise cost
            # a PATCH each per drift interval). lastSyncTime is when the operator last changed something.
            del extra["last_sync_time"]
        return self._report(
            out,
            view,
            ready=True,
            ready_reason=Reason.AVAILABLE,
            message=message,
            synced=True,
            synced_reason=Reason.RECONCILE_SUCCESS,
            extra=extra,
        )

    # -- reconcile -----------------------------------------------------------------------------

    async def reconcile(self, view: ObjectView, cc: CloudControlApi | None, trigger: Trigger) -> Outcome:
        out = Outcome()
        view = self._named(view)
        if view.waiting:
            return self._waiting(out, view)
        if view.role_not_allowed is not None:
            return self._role_not_allowed(out, view, view.role_not_allowed)
        try:
            spec = self.spec_model.from_spec(view.spec)
        except pydantic.ValidationError as err:
            return self._terminal(out, view, Reason.INVALID_SPEC, str(err).replace("\n", " ")[:1000])
        if cc is None or view.region is None:
            return self._terminal(
                out,
                view,
                Reason.NO_REGION,
                "No region: set spec.region, the namespace annotation "
                "sagemaker.awscc.dev/default-region, or the operator's --region",
            )
        identifier = self._identifier(view, spec)
        known = view.status.get("identifier")
        if known and identifier and known != identifier and not self.kind.replace_on_change:
            return self._reference_changed(out, view, identifier, known)
        try:
            result = await self._reconcile(out, view, spec, identifier, cc, trigger)
            if self.kind.replace_on_change and result.retry_in is None:
                result = await self._retire(result, view, cc)
        except AwsError as err:
            result = self._failed(out, view, err)
        metrics.RECONCILES.labels(
            kind=self.kind.kind, trigger=trigger, result="retry" if result.retry_in else "done"
        ).inc()
        return result

    def _identifier(self, view: ObjectView, spec: ManagedSpec) -> str | None:
        """The Cloud Control identifier: from the spec, or, where AWS makes it (a domain's DomainId), from
        status once known (None before the create request has said it)."""
        if self.kind.generated_identifier:
            known = view.status.get("identifier")
            return str(known) if known else None
        return spec.identifier

    def _held(
        self,
        out: Outcome,
        view: ObjectView,
        reason: Reason,
        message: str,
        event_type: str,
        *,
        keep_operation: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> Outcome:
        """The object cannot go on yet, and nothing goes to AWS: say why (one Event, when the reason is
        new). A request already sent is still ours: kept in status, resumed once the object can go on
        (unless `keep_operation` is off: a request in status makes the object not reconciled, and then the
        runtime's drift checks and wakes pass it by)."""
        ready = next((c for c in self._conditions(view) if c.get("type") == "Ready"), {})
        if ready.get("reason") != reason:
            out.event(event_type, reason, message)
        return self._report(
            out,
            view,
            ready=False,
            ready_reason=reason,
            message=message,
            synced=False,
            synced_reason=reason,
            keep_operation=keep_operation,
            extra=extra,
        )

    def _reference_changed(self, out: Outcome, view: ObjectView, identifier: str, known: str) -> Outcome:
        """Only a reference can get here (the fields are immutable): it now names another parent. Nothing goes
        to AWS. Not a failed generation: what the reference resolves to can change back without a spec change
        (the target pointed back), and every pass looks again, before any AWS call."""
        message = (
            f"The spec now resolves to {self.noun} {identifier}, but this object manages {known}; the "
            "identifier is create-only. Point the reference back, or delete this object and create a new one."
        )
        metrics.RECONCILE_ERRORS.labels(kind=self.kind.kind, reason=Reason.REFERENCE_CHANGED).inc()
        # A failed generation an operator before this rule recorded for it goes.
        extra = {"failed_generation": None} if view.status.get("failedGeneration") is not None else None
        return self._held(out, view, Reason.REFERENCE_CHANGED, message, "Warning", keep_operation=False, extra=extra)

    def _waiting(self, out: Outcome, view: ObjectView) -> Outcome:
        """Its references are not resolved yet: say what it waits for; the target's change wakes it."""
        return self._held(out, view, Reason.REFERENCE_NOT_READY, "Waiting for " + "; ".join(view.waiting), "Normal")

    def _role_not_allowed(self, out: Outcome, view: ObjectView, message: str) -> Outcome:
        """A guardrail forbids the namespace's role: report it, touch nothing in AWS (a resource made
        before the guardrail was tightened stays as it is), and look again later, since the annotation
        or the setting may change. Not a failed generation: the spec is not at fault."""
        self._held(out, view, Reason.ROLE_NOT_ALLOWED, message, "Warning")
        out.retry_in = backoff(view.retry, self.settings.retry_min, self.settings.retry_max)
        out.retry_reason = Reason.ROLE_NOT_ALLOWED
        return out

    async def _reconcile(
        self,
        out: Outcome,
        view: ObjectView,
        spec: ManagedSpec,
        identifier: str | None,
        cc: CloudControlApi,
        trigger: Trigger,
    ) -> Outcome:
        """One pass, top to bottom: finish what is in flight, observe once, decide, take one branch."""
        assert view.region is not None
        status = view.status

        # 1. A request of ours that has not been seen to finish: wait for it first; its end is news.
        observed: dict[str, Any] | None = None
        operation = status.get("operation") or {}
        if operation.get("requestToken"):
            event = await self._wait(cc, await cc.request_status(operation["requestToken"]), self.settings.inline_wait)
            if not event.done:
                return self._pending(
                    out, view, event, operation.get("type", "UPDATE"), operation.get("clientToken", "")
                )
            if event.status == "FAILED" and event.error_code not in NOT_FOUND_CODES | {"AlreadyExists"}:
                return self._failed(out, view, AwsError(event.error_code or "GeneralServiceException", event.message))
            if event.status == "SUCCESS" and event.resource_model:
                observed = event.resource_model
            identifier = identifier or event.identifier

        if failure_stands(trigger, status, view.generation):
            return out  # a terminal error at this generation: wait for the spec to change

        observe_only = spec.management_policy is ManagementPolicy.OBSERVE_ONLY
        adopt = spec.adoption_policy is AdoptionPolicy.ADOPT
        desired = spec.to_desired_state()
        if not observe_only:
            desired = with_owner_tag(desired, OWNER_TAG_KEY, view.owner_value, tags=self.tags)
        # Ours once a managed pass recorded it (or our own request just returned it); an ObserveOnly pass
        # records the identifier too, but switching to Manage must not take over a resource nobody
        # handed us (that needs Adopt).
        observed_only = any(
            c.get("type") == "Synced" and c.get("reason") == Reason.OBSERVED for c in self._conditions(view)
        )
        owned = observed is not None or (
            identifier is not None and status.get("identifier") == identifier and not observed_only
        )

        # 2. Observe once: what AWS has, wherever it may hold something to see. A new object that adopts
        #    nothing is created straight away; AWS's AlreadyExists is then the observation.
        if observed is None and (owned or adopt or observe_only):
            if identifier is not None:
                observed = await cc.get(identifier)
            else:  # AWS makes the identifier: an existing one is found by its name
                name = desired.get(self.kind.name_property)
                found = await cc.find(self.kind.name_property, name) if name else None
                identifier, observed = found if found else (None, None)

        # 3. Decide, and take that one branch.
        return await self._act(
            out, view, desired, identifier, cc, trigger, observed, owned=owned, adopt=adopt, observe_only=observe_only
        )

    async def _act(
        self,
        out: Outcome,
        view: ObjectView,
        desired: dict[str, Any],
        identifier: str | None,
        cc: CloudControlApi,
        trigger: Trigger,
        observed: dict[str, Any] | None,
        *,
        owned: bool,
        adopt: bool,
        observe_only: bool = False,
    ) -> Outcome:
        assert view.region is not None
        whose, owner = (
            ownership(observed, OWNER_TAG_KEY, view.owner_value, tags=self.tags) if observed else ("unowned", None)
        )
        step = decide(observed is not None, owned=owned, observe_only=observe_only, adopt=adopt, whose=whose)
        if step is Step.OBSERVE:
            return self._observe(
                out, view, desired, identifier or desired.get(self.kind.name_property, ""), observed, trigger
            )
        if step is Step.CREATE:
            created = await self._create(out, view, desired, identifier, cc)
            if created is not None:
                return created
            # AlreadyExists: something has this identifier. Whose is it? Decide again on what it is.
            if identifier is None:  # AWS makes the identifier from the name (an image's ARN): find it by name
                name = desired.get(self.kind.name_property)
                found = await cc.find(self.kind.name_property, name) if name else None
                identifier, observed = found if found is not None else (None, None)
            else:
                observed = await cc.get(identifier)
            if observed is None:  # gone again between the two calls: try later
                return self._transient(out, view, Reason.NOT_FOUND, f"The {self.noun} vanished during creation")
            return await self._act(out, view, desired, identifier, cc, trigger, observed, owned=False, adopt=adopt)
        if step is Step.RECREATE:
            message = f"{self.Noun} {identifier} was deleted outside Kubernetes; re-creating it"
            out.event("Warning", "DeletedOutOfBand", message)
            metrics.DRIFT.labels(kind=self.kind.kind, action="recreate").inc()
            created = await self._create(out, view, desired, identifier, cc)
            if created is not None:
                return created
            return self._transient(out, view, Reason.ALREADY_EXISTS, f"The {self.noun} re-appeared during re-creation")
        if step is Step.CONFLICT:
            if owned:
                return self._terminal(out, view, Reason.CONFLICT, f"{self.Noun} {identifier} is now managed by {owner}")
            return self._terminal(
                out,
                view,
                Reason.CONFLICT,
                f"{self.Noun} {identifier} is managed by {owner}; two objects must not declare the same {self.noun}",
            )
        if step is Step.ALREADY_EXISTS:
            return self._terminal(
                out,
                view,
                Reason.ALREADY_EXISTS,
                f"{self.Noun} {identifier} already exists in {view.region} and is not "
                "managed by this operator. Set spec.adoptionPolicy: Adopt to take it over.",
            )
        if step is Step.ADOPT:
            out.event("Normal", "Adopting", f"Taking over the existing {self.noun} {identifier}")
        assert observed is not None and identifier is not None
        return await self._sync(out, view, desired, identifier, cc, trigger, observed)

    async def _sync(
        self,
        out: Outcome,
        view: ObjectView,
        desired: dict[str, Any],
        identifier: str,
        cc: CloudControlApi,
        trigger: Trigger,
        observed: dict[str, Any],
    ) -> Outcome:
        """Ours, and AWS has it: patch AWS to the spec over the fields the user set, or report it matches."""
        assert view.region is not None
        previous = None
        if view.previous_spec:
            try:
                previous = self.spec_model.from_spec(view.previous_spec).to_desired_state()
            except pydantic.ValidationError:
                previous = None
        patch = plan_patch(desired, observed, self.create_only, previous, tags=self.tags, write_only=self.write_only)
        # What AWS cannot show (writeOnly) is sent only when the spec changed it: never for drift.
        patch += write_only_patch(desired, previous, self.write_only)
        if not patch:
            return self._available(out, view, observed, identifier, view.region)
        if trigger == "drift":
            metrics.DRIFT.labels(kind=self.kind.kind, action="correct").inc()
            out.event(
                "Warning",
                "DriftDetected",
                f"AWS differs from the spec at {', '.join(op['path'] for op in patch)}; correcting it",
            )
        token = client_token(
            "UPDATE", view.uid, view.generation, view.retry, patch_digest(patch), view.status.get("lastSyncTime")
        )
        event = await self._wait(cc, await cc.update(identifier, patch, token), self.settings.inline_wait)
        if not event.done:
            return self._pending(out, view, event, "UPDATE", token)
        if event.status != "SUCCESS":
            return self._failed(out, view, AwsError(event.error_code or "GeneralServiceException", event.message))
        out.event("Normal", "Updated", f"Updated {self.noun} {identifier}: {', '.join(op['path'] for op in patch)}")
        return self._available(out, view, event.resource_model or observed, identifier, view.region)

    async def _create(
        self, out: Outcome, view: ObjectView, desired: dict[str, Any], identifier: str | None, cc: CloudControlApi
    ) -> Outcome | None:
        """Creates the resource. Returns the outcome, or None when it already exists (the caller decides)."""
        assert view.region is not None
        token = client_token("CREATE", view.uid, view.generation, view.retry, view.status.get("lastSyncTime"))
        event = await self._wait(cc, await cc.create(desired, token), self.settings.inline_wait)
        if not event.done:
            return self._pending(out, view, event, "CREATE", token)
        if event.status == "FAILED" and event.error_code == "AlreadyExists":
            return None
        if event.status != "SUCCESS":
            return self._failed(out, view, AwsError(event.error_code or "GeneralServiceException", event.message))
        # Where AWS makes the identifier, the request says it (also when this is a re-sent request: the same
        # ClientToken after a crash returns the first request, so nothing is created twice).
        identifier = identifier or event.identifier
        if identifier is None:
            return self._transient(
                out, view, "NotStabilized", f"Cloud Control did not say the new {self.noun}'s identifier"
            )
        observed = event.resource_model or await cc.get(identifier) or {}
        out.event("Normal", "Created", f"Created {self.noun} {identifier} in {view.region}")
        return self._available(out, view, observed, identifier, view.region)

    def _observe(
        self,
        out: Outcome,
        view: ObjectView,
        desired: dict[str, Any],
        identifier: str,
        observed: dict[str, Any] | None,
        trigger: Trigger,
    ) -> Outcome:
        """ObserveOnly: report what AWS has, never write to it."""
        assert view.region is not None
        if observed is None:
            if condition_status(self._conditions(view), "Ready") != "False" or trigger != "drift":
                out.event("Warning", Reason.NOT_FOUND, f"{self.Noun} {identifier} does not exist in {view.region}")
            return self._report(
                out,
                view,
                ready=False,
                ready_reason=Reason.NOT_FOUND,
                message=f"{self.Noun} {identifier} does not exist in {view.region} (ObserveOnly)",
                synced=True,
                synced_reason=Reason.OBSERVED,
                extra={**self._in_use(view), "identifier": identifier, "region": view.region},
            )
        patch = plan_patch(desired, observed, self.create_only, tags=self.tags, write_only=self.write_only)
        extra = {
            **self._in_use(view),
            "arn": observed.get(self.kind.arn_property),
            "identifier": identifier,
            "region": view.region,
            "last_sync_time": _now(),
            "drift_detected": bool(patch),
        }
        if patch:
            paths = ", ".join(op["path"] for op in patch)
            if not view.status.get("driftDetected"):
                metrics.DRIFT.labels(kind=self.kind.kind, action="report").inc()
                out.event(
                    "Warning", "DriftDetected", f"AWS differs from the spec at {paths} (ObserveOnly: not corrected)"
                )
            return self._report(
                out,
                view,
                ready=False,
                ready_reason=Reason.DRIFTED,
                message=f"AWS differs from the spec at {paths}",
                synced=True,
                synced_reason=Reason.OBSERVED,
                extra=extra,
            )
        return self._report(
            out,
            view,
            ready=True,
            ready_reason=Reason.AVAILABLE,
            message=f"The {self.noun} exists and matches the spec (ObserveOnly)",
            synced=True,
            synced_reason=Reason.OBSERVED,
            extra=extra,
        )

    # -- replaced resources (Kind.replace_on_change) -----------------------------------------------

    async def _retire(self, out: Outcome, view: ObjectView, cc: CloudControlApi) -> Outcome:
        """After a pass that left the object Ready: delete what it replaced, each once nothing of ours uses
        it. Who still does is said in `status.retiring[].waitingFor`, and the objects that name this one
        and have not moved yet are asked to follow (`Outcome.follow`). AWS refusing (ResourceConflict:
        something outside our view still uses it) or failing is never terminal: it is retried."""
        status = {**view.status, **out.status}
        retiring = [dict(entry) for entry in status.get("retiring") or []]
        conditions = status.get("conditions") or []
        if not retiring or not condition_true_at(conditions, "Ready", view.generation):
            return out
        current = status.get("arn")
        kept: list[dict[str, Any]] = []
        wait_for_aws = False
        for entry in retiring:
            if entry.get("identifier") == status.get("identifier"):
                continue  # in use again (an edit taken back): never deleted
            found = view.holders(current, [entry.get("arn") or ""]) if view.holders is not None else Holders()
            if found.reasons:
                more = len(found.reasons) - _LISTED
                listed = "; ".join(found.reasons[:_LISTED]) + (f"; and {more} more" if more > 0 else "")
                kept.append({**entry, "waitingFor": f"still used by {listed}"})
                if view.status.get("arn") == current:
                    # The new value was known before this pass (a restart, a missed event): the objects
                    # that have not moved are asked again. On the pass that makes it, its status event does.
                    out.follow.extend(found.laggards)
                continue
            why, failed = await self._delete_retired(out, view, cc, entry)
            if why is not None:
                attempts = int(entry.get("attempts") or 0) + (1 if failed else 0)
                kept.append({**entry, "waitingFor": why, "attempts": attempts})
                wait_for_aws = True
        out.status["retiring"] = kept or None
        if kept:
            # What AWS refused or still deletes is asked again after a back-off. Objects of ours that still
            # use an old one wake this object when they change (the runtime); the longest back-off is only
            # the safety net for them.
            maximum = self.settings.retry_max
            out.retry_in = backoff(view.retry, self.settings.retry_min, maximum) if wait_for_aws else maximum
            waiting = "; ".join(f"{entry['identifier']}: {entry['waitingFor']}" for entry in kept)
            out.retry_reason = f"replaced {self.noun}s not deleted yet ({waiting})"
        return out

    async def _delete_retired(
        self, out: Outcome, view: ObjectView, cc: CloudControlApi, entry: dict[str, Any]
    ) -> tuple[str | None, bool]:
        """Deletes one replaced resource: (None once it is gone, else why not; whether the request failed,
        so that the next attempt is a new request). Deterministic tokens: the same attempt re-sent after a
        restart is the same request to AWS."""
        identifier = str(entry["identifier"])
        token = client_token("DELETE", view.uid, 0, "retire", identifier, entry.get("attempts") or 0)
        try:
            event = await self._wait(cc, await cc.delete(identifier, token), self.settings.inline_wait)
        except AwsError as err:
            if err.code.removesuffix("Exception") in NOT_FOUND_CODES:
                return None, False
            return f"{err.code}: {err.message}", not err.transient
        if event.status == "SUCCESS" or event.error_code in NOT_FOUND_CODES:
            out.event("Normal", "Retired", f"Deleted {self.noun} {identifier}: replaced, and no longer used")
            return None, False
        if not event.done:
            return f"AWS is deleting it (request {event.request_token})", False
        code = event.error_code or "GeneralServiceException"
        if code in _BLOCKED_CODES:
            return f"AWS refuses to delete it while something uses it: {event.message}", True
        return f"{code}: {event.message}", True

    async def _retire_on_delete(
        self, out: Outcome, view: ObjectView, cc: CloudControlApi, retiring: list[dict[str, Any]]
    ) -> Outcome | None:
        """The object is deleted: every resource it replaced goes too, whoever still uses it (SageMaker
        refuses while something does: then the delete waits, DeleteBlocked, and tries again). None once
        all are gone."""
        kept: list[dict[str, Any]] = []
        for entry in retiring:
            why, failed = await self._delete_retired(out, view, cc, dict(entry))
            if why is not None:
                attempts = int(entry.get("attempts") or 0) + (1 if failed else 0)
                kept.append({**entry, "waitingFor": why, "attempts": attempts})
        if not kept:
            out.status["retiring"] = None
            return None
        message = f"Replaced {self.noun}s not deleted yet: " + "; ".join(
            f"{entry['identifier']}: {entry['waitingFor']}" for entry in kept
        )
        self._blocked(out, view, message)
        out.status["retiring"] = kept
        return out

    # -- delete --------------------------------------------------------------------------------

    async def finalize(
        self, view: ObjectView, cc: CloudControlApi | None, around: Surroundings | None = None
    ) -> Outcome:
        """The delete of the object: release it, or delete the resource in AWS first. `around` lets a kind
        whose delete Studio can block (`Kind.cleanup`) clear the way first; without it, AWS's refusal is
        reported and waited out."""
        out = Outcome()
        view = self._named(view)
        if view.crd_deleted:
            # Removing the operator (its CRDs) must never destroy what it managed: released as under
            # deletionPolicy: Retain, whatever the object says, and nothing is sent to AWS.
            identifier = view.status.get("identifier")
            if identifier or view.status.get("operation"):
                out.event("Normal", "Retained", released_message(self.kind, identifier))
            out.release = True
            return out
        try:
            spec = self.spec_model.from_spec(view.spec)
        except pydantic.ValidationError:
            # Unusable (a reference whose target is gone): a request in flight may still create it, so finish
            # that request and delete what it made; what AWS has (status.identifier) is deleted all the same.
            known = view.status.get("identifier")
            keep = view.spec.get("deletionPolicy") == "Retain" or view.spec.get("managementPolicy") == "ObserveOnly"
            if (view.status.get("operation") or known) and cc is not None and not keep:
                try:
                    return await self._finalize(out, view, str(known) if known else None, cc, None, None)
                except AwsError as err:
                    return self._delete_retry(out, view, str(known or ""), err)
            out.release = True
            return out
        # A delete acts on what the object manages (status.identifier), never on what its spec resolves to
        # now: a reference that came to name another parent (ReferenceChanged) must not orphan the resource.
        identifier = view.status.get("identifier") or self._identifier(view, spec)
        if spec.deletion_policy is DeletionPolicy.RETAIN or spec.management_policy is ManagementPolicy.OBSERVE_ONLY:
            out.event(
                "Normal",
                "Retained",
                f"Left {self.noun} {identifier} in AWS "
                f"({'deletionPolicy: Retain' if spec.deletion_policy is DeletionPolicy.RETAIN else 'ObserveOnly'})",
            )
            out.release = True
            return out
        if view.role_not_allowed is not None:
            if not view.status.get("identifier") and not view.status.get("operation"):
                out.release = True  # it never reached AWS: nothing there to delete
                return out
            return self._role_not_allowed(out, view, view.role_not_allowed)
        if cc is None:
            out.release = True
            return out
        if view.referrers and self.kind.cleanup is None and not view.status.get("operation"):
            # Not sent to AWS yet: it would refuse (ResourceConflict) while they name it. Woken when one goes.
            staying = [name for name, deleting in view.referrers if not deleting]
            if staying:
                message = (
                    f"{self.Noun} {identifier} is not deleted: {', '.join(staying)} still refer to it; delete "
                    "them or remove their references"
                )
                return self._blocked(out, view, message)
            names = ", ".join(name for name, _ in view.referrers)
            message = f"Waiting for {names} to be deleted first: they refer to this {self.noun}"
            return self._blocked(out, view, message, Reason.DELETING, "Normal")
        if self.kind.replace_on_change:
            # What the object made goes with it: the resource in use (status says which; the spec may name
            # an edit not made yet), and every one it replaced, first.
            identifier = view.status.get("identifier") or identifier
            retiring = list(view.status.get("retiring") or [])
            if (view.status.get("operation") or {}).get("type") == "CREATE" and view.status.get("identifier"):
                # a replacement's create in flight: it is what remains once the one in use is gone
                retiring.append({"identifier": view.status["identifier"], "arn": view.status.get("arn")})
                identifier = None
            if retiring:
                held = await self._retire_on_delete(out, view, cc, retiring)
                if held is not None:
                    return held
        try:
            return await self._finalize(out, view, identifier, cc, spec.cleanup_on_delete, around)
        except AwsError as err:
            return self._delete_retry(out, view, identifier or "", err)

    def _delete_retry(self, out: Outcome, view: ObjectView, identifier: str, err: AwsError) -> Outcome:
        if err.code.removesuffix("Exception") in NOT_FOUND_CODES:
            out.release = True
            return out
        out.event("Warning", err.code, f"Deleting {self.noun} {identifier} failed: {err.message} (will retry)")
        out.retry_in = backoff(view.retry, self.settings.retry_min, self.settings.retry_max)
        out.retry_reason = f"{err.code}: {err.message}"
        return out

    async def _finalize(
        self,
        out: Outcome,
        view: ObjectView,
        identifier: str | None,
        cc: CloudControlApi,
        policy: CleanupOnDelete | None,
        around: Surroundings | None,
    ) -> Outcome:
        budget = self.settings.inline_wait
        operation = view.status.get("operation") or {}
        event: ProgressEvent | None = None
        if operation.get("requestToken"):
            event = await self._wait(cc, await cc.request_status(operation["requestToken"]), budget)
            if not event.done:
                return self._pending(
                    out, view, event, operation.get("type", "DELETE"), operation.get("clientToken", "")
                )
        if not (event and operation.get("type") == "DELETE"):
            identifier = identifier or (event.identifier if event is not None else None)
            if identifier is None:  # AWS makes the identifier, and no request of ours ever learned one
                out.release = True
                return out
            if view.status.get("identifier") != identifier:
                observed = await cc.get(identifier)
                if observed is None:
                    out.release = True
                    return out
                whose, _ = ownership(observed, OWNER_TAG_KEY, view.owner_value, tags=self.tags)
                if whose != "ours":
                    out.event(
                        "Normal", "NotDeleted", f"{self.Noun} {identifier} is not managed by this object; left in AWS"
                    )
                    out.release = True
                    return out
            if self.kind.cleanup is not None and policy is not None and around is not None:
                held = await self._clear_the_way(out, view, identifier, policy, around)
                if held is not None:
                    return held
                if self.kind.cleanup.home_efs:
                    if policy.home_efs is HomeEfsPolicy.DELETE:
                        return await self._delete_with_home_volume(out, view, identifier, around)
                    await self._home_volume_stays(out, identifier, around)
            token = client_token("DELETE", view.uid, 0, view.retry)
            event = await self._wait(cc, await cc.delete(identifier, token), budget)
            if not event.done:
                return self._pending(out, view, event, "DELETE", token)
        identifier = identifier or event.identifier or ""
        if event.status == "SUCCESS" or event.error_code in NOT_FOUND_CODES:
            out.event("Normal", "Deleted", f"Deleted {self.noun} {identifier}")
            out.release = True
            return out
        code = event.error_code or "GeneralServiceException"
        reason = Reason.DELETE_FAILED
        if code in _BLOCKED_CODES:
            # Others depend on it in AWS (a profile's spaces, an app started a moment ago): wait for them,
            # with back-off, saying so once; the next pass looks at what is in the way again.
            reason = Reason.DELETE_BLOCKED
            out.blocked = True
            ready = next((c for c in self._conditions(view) if c.get("type") == "Ready"), {})
            if ready.get("reason") != reason:
                out.event(
                    "Warning",
                    reason,
                    f"AWS does not delete {self.noun} {identifier} yet: {event.message}. "
                    "Waiting for what depends on it to be deleted.",
                )
        elif is_transient(code):
            out.event("Warning", code, f"Deleting {self.noun} {identifier}: {event.message} (will retry)")
        else:
            out.event(
                "Warning",
                "DeleteFailed",
                f"Deleting {self.noun} {identifier} failed: {code}: {event.message}. "
                "Fix the cause, or set spec.deletionPolicy: Retain to release the object.",
            )
        self._report(
            out,
            view,
            ready=False,
            ready_reason=reason,
            message=f"{code}: {event.message}",
            synced=False,
            synced_reason=code,
        )
        out.retry_in = backoff(view.retry, self.settings.retry_min, self.settings.retry_max)
        out.retry_reason = f"{code}: {event.message}"
        return out

    # -- clearing the way (Kind.cleanup) -------------------------------------------------------------

    async def _clear_the_way(
        self, out: Outcome, view: ObjectView, identifier: str, policy: CleanupOnDelete, around: Surroundings
    ) -> Outcome | None:
        """Before the delete: what Studio left in the way. None when nothing is (go on and delete); else
        the outcome of this pass: blocked (nothing touched), or deleting what may go, or waiting for it."""
        assert self.kind.cleanup is not None
        _, name = offboard.parts(self.kind, identifier)
        survey = await offboard.survey(self.kind, identifier, around)
        plan = plan_cleanup(survey, policy, self.kind.cleanup, self.noun, name)
        if plan.clear:
            return None
        if plan.blockers:
            message = f"{self.Noun} {name} is not deleted, and nothing was touched: " + "; ".join(plan.blockers)
            return self._blocked(out, view, message)
        if not (plan.delete_apps or plan.delete_spaces or plan.deleting):
            # Only objects of ours are in the way, each on its way out by its own delete (or waiting for a
            # person to delete it): not blocked, but wait for them, and be woken when one goes.
            message = offboard.describe(plan)
            return self._blocked(out, view, message, Reason.DELETING, "Normal")
        await offboard.clear(
            self.kind,
            identifier,
            plan,
            around,
            lambda space: client_token("DELETE", view.uid, 0, "space", space, view.retry),
        )
        message = offboard.describe(plan)
        if plan.delete_apps or plan.delete_spaces:
            out.event("Normal", "CleaningUp", message)
        return self._deleting(out, view, message)

    def _deleting(self, out: Outcome, view: ObjectView, message: str) -> Outcome:
        """AWS is deleting what was asked (apps, a space, the domain): say what, and look again with growing
        pauses; it takes minutes, and is never given up on."""
        self._report(
            out,
            view,
            ready=False,
            ready_reason=Reason.DELETING,
            message=message,
            synced=True,
            synced_reason=Reason.DELETING,
        )
        out.retry_in = poll_delay(view.retry, None, time.time(), self.settings.poll_min, self.settings.poll_max)
        out.retry_reason = message
        return out

    def _blocked(
        self,
        out: Outcome,
        view: ObjectView,
        message: str,
        reason: Reason = Reason.DELETE_BLOCKED,
        event_type: str = "Warning",
    ) -> Outcome:
        """The delete waits for others: DeleteBlocked (a person must act), or Deleting (objects of ours that
        depend on it are going first). One Event while the message stays the same; back-off, and woken
        early when a managed object goes or the spec changes (`Outcome.blocked`)."""
        ready = next((c for c in self._conditions(view) if c.get("type") == "Ready"), {})
        if ready.get("reason") != reason or ready.get("message") != message:
            out.event(event_type, reason, message)
        blocked = reason is Reason.DELETE_BLOCKED
        self._report(
            out,
            view,
            ready=False,
            ready_reason=reason,
            message=message,
            synced=not blocked,
            synced_reason=reason,
        )
        out.blocked = True
        out.retry_in = backoff(view.retry, self.settings.retry_min, self.settings.retry_max)
        out.retry_reason = message
        return out

    async def _home_volume_stays(self, out: Outcome, identifier: str, around: Surroundings) -> None:
        domain_id, _ = offboard.parts(self.kind, identifier)
        described = await around.studio.describe_domain(domain_id) or {}
        volume = described.get("HomeEfsFileSystemId")
        if volume:
            out.event(
                "Normal",
                "HomeVolumeRetained",
                f"The home EFS volume {volume} of {self.noun} {domain_id} stays in AWS with every user's files "
                "(cleanupOnDelete.homeEfs: Retain); delete it with `aws efs delete-file-system --file-system-id "
                f"{volume}` once nobody needs them",
            )

    async def _delete_with_home_volume(
        self, out: Outcome, view: ObjectView, identifier: str, around: Surroundings
    ) -> Outcome:
        """homeEfs: Delete. Cloud Control's Domain handler sends no RetentionPolicy, so AWS would keep the
        volume: this one delete goes through SageMaker's DeleteDomain, and is followed by DescribeDomain."""
        domain_id, _ = offboard.parts(self.kind, identifier)
        described = await around.studio.describe_domain(domain_id)
        if described is None:
            out.event("Normal", "Deleted", f"Deleted {self.noun} {domain_id} and its home EFS volume")
            out.release = True
            return out
        volume = described.get("HomeEfsFileSystemId") or "?"
        if described.get("Status") != "Deleting":
            try:
                await around.studio.delete_domain(domain_id, HomeEfsPolicy.DELETE.value)
            except AwsError as err:
                if err.code.removesuffix("Exception") in NOT_FOUND_CODES:
                    out.release = True
                    return out
                if err.code in _BLOCKED_CODES:  # a profile or space appeared meanwhile: go round again
                    return self._blocked(out, view, f"AWS does not delete {self.noun} {domain_id} yet: {err.message}")
                raise
            out.event("Normal", "Deleting", f"Deleting {self.noun} {domain_id} with its home EFS volume {volume}")
        return self._deleting(out, view, f"Deleting {self.noun} {domain_id} with its home EFS volume {volume}")
