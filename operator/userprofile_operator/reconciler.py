"""Drives one SageMakerUserProfile toward its spec: the sequence of Cloud Control calls and waits.

One function serves create, update, resume and the periodic drift check (`reconcile`), one serves
deletion (`finalize`). Both take a plain description of the object and a `CloudControlApi`, and return
an `Outcome`: the status fields to write, the Events to post, whether to try again later, and (on
deletion) whether to release the finalizer. They import no kopf: `handlers.py` turns an Outcome into
kopf's terms. Choices (what patch, which token, whose profile) come from `plan.py`.

Crash safety comes from deterministic ClientTokens: after a restart, the same object at the same
generation re-sends the same request, and Cloud Control answers with the request it already has.
An operation that outlives the in-line wait is written to `status.operation` and picked up from there.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pydantic

from userprofile_operator import metrics
from userprofile_operator.cloudcontrol import CloudControlApi
from userprofile_operator.models import (
    AdoptionPolicy,
    DeletionPolicy,
    ManagementPolicy,
    SageMakerUserProfileSpec,
)
from userprofile_operator.plan import (
    NOT_FOUND_CODES,
    AwsError,
    ProgressEvent,
    backoff,
    client_token,
    condition_status,
    condition_true_at,
    is_transient,
    ownership,
    patch_digest,
    plan_patch,
    poll_delay,
    set_condition,
    with_owner_tag,
)
from userprofile_operator.schema import create_only_paths
from userprofile_operator.settings import OWNER_TAG_KEY, Settings

Trigger = Literal["create", "update", "resume", "drift"]
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


@dataclass
class Outcome:
    """What to write and say after one pass."""

    status: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    retry_in: float | None = None
    retry_reason: str = ""
    release: bool = False

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _create_only() -> list[str]:
    return ["/" + "/".join(path) for path in create_only_paths()]


class Reconciler:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

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
        reason = {"CREATE": "Creating", "UPDATE": "Updating", "DELETE": "Deleting"}[kind]
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
            {
                "observedGeneration": view.generation,
                "operation": {
                    "type": kind,
                    "requestToken": event.request_token,
                    "clientToken": token,
                    "generation": view.generation,
                    "startedAt": _stamp(_now()),
                },
                "conditions": conditions,
            }
        )
        out.retry_in = poll_delay(0, event.retry_after, time.time(), self.settings.poll_min, self.settings.poll_max)
        out.retry_reason = f"waiting for {reason.lower()} request {event.request_token}"
        return out

    @staticmethod
    def _conditions(view: ObjectView) -> list[dict[str, Any]]:
        return list(view.status.get("conditions") or [])

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
    ) -> Outcome:
        now = _now()
        conditions = set_condition(self._conditions(view), "Ready", ready, ready_reason, message, view.generation, now)
        conditions = set_condition(
            conditions, "Synced", synced, synced_reason, "" if synced else message, view.generation, now
        )
        out.status.update({"observedGeneration": view.generation, "conditions": conditions, **(extra or {})})
        if view.status.get("operation") is not None:
            out.status["operation"] = None
        return out

    def _terminal(self, out: Outcome, view: ObjectView, code: str, message: str) -> Outcome:
        out.event("Warning", code, message)
        return self._report(
            out,
            view,
            ready=False,
            ready_reason=code,
            message=message,
            synced=False,
            synced_reason=code,
            extra={"failedGeneration": view.generation},
        )

    def _transient(self, out: Outcome, view: ObjectView, code: str, message: str) -> Outcome:
        delay = backoff(view.retry, self.settings.retry_min, self.settings.retry_max)
        if condition_status(self._conditions(view), "Synced") != "False" or view.retry == 0:
            out.event("Warning", code, f"{message} (will retry)")
        # Still Ready only if AWS already matched this very generation (a failed drift correction);
        # a change that is being retried is not applied yet, so Ready is False until it is.
        ready = condition_true_at(self._conditions(view), "Ready", view.generation)
        self._report(
            out,
            view,
            ready=ready,
            ready_reason="Available" if ready else "Retrying",
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
        message: str = "The user profile exists and matches the spec",
    ) -> Outcome:
        extra = {
            "arn": observed.get("UserProfileArn") or view.status.get("arn"),
            "identifier": identifier,
            "region": region,
            "lastSyncTime": _stamp(_now()),
            "driftDetected": False,
        }
        if view.status.get("failedGeneration") is not None:
            extra["failedGeneration"] = None
        settled = all(condition_true_at(self._conditions(view), kind, view.generation) for kind in ("Ready", "Synced"))
        if settled and view.status.get("lastSyncTime"):
            # Confirmed again, nothing new to say: no status write (10,000 profiles would otherwise cost
            # a PATCH each per drift interval). lastSyncTime is when the operator last changed something.
            del extra["lastSyncTime"]
        return self._report(
            out,
            view,
            ready=True,
            ready_reason="Available",
            message=message,
            synced=True,
            synced_reason="ReconcileSuccess",
            extra=extra,
        )

    # -- reconcile -----------------------------------------------------------------------------

    async def reconcile(self, view: ObjectView, cc: CloudControlApi | None, trigger: Trigger) -> Outcome:
        out = Outcome()
        try:
            spec = SageMakerUserProfileSpec.from_spec(view.spec)
        except pydantic.ValidationError as err:
            return self._terminal(out, view, "InvalidSpec", str(err).replace("\n", " ")[:1000])
        if cc is None or view.region is None:
            return self._terminal(
                out,
                view,
                "NoRegion",
                "No region: set spec.region, the namespace annotation "
                "sagemaker.awscc.dev/default-region, or the operator's --region",
            )
        identifier = spec.identifier
        try:
            result = await self._reconcile(out, view, spec, identifier, cc, trigger)
        except AwsError as err:
            result = self._failed(out, view, err)
        metrics.RECONCILES.labels(trigger=trigger, result="retry" if result.retry_in else "done").inc()
        return result

    async def _reconcile(
        self,
        out: Outcome,
        view: ObjectView,
        spec: SageMakerUserProfileSpec,
        identifier: str,
        cc: CloudControlApi,
        trigger: Trigger,
    ) -> Outcome:
        assert view.region is not None
        status = view.status
        observed: dict[str, Any] | None = None
        budget = self.settings.inline_wait

        operation = status.get("operation") or {}
        if operation.get("requestToken"):
            event = await self._wait(cc, await cc.request_status(operation["requestToken"]), budget)
            if not event.done:
                return self._pending(
                    out, view, event, operation.get("type", "UPDATE"), operation.get("clientToken", "")
                )
            if event.status == "FAILED" and event.error_code not in NOT_FOUND_CODES | {"AlreadyExists"}:
                return self._failed(out, view, AwsError(event.error_code or "GeneralServiceException", event.message))
            if event.status == "SUCCESS" and event.resource_model:
                observed = event.resource_model

        if trigger in ("resume", "drift") and status.get("failedGeneration") == view.generation:
            return out  # a terminal error at this generation: wait for the spec to change

        desired = spec.to_desired_state()
        if spec.management_policy is ManagementPolicy.OBSERVE_ONLY:
            return await self._observe(out, view, desired, identifier, cc, trigger)

        desired = with_owner_tag(desired, OWNER_TAG_KEY, view.owner_value)
        # Ours once a managed pass recorded it; an ObserveOnly pass records the identifier too, but
        # switching to Manage must not take over a profile nobody handed us (that needs Adopt).
        observed_only = any(c.get("type") == "Synced" and c.get("reason") == "Observed" for c in self._conditions(view))
        owned = status.get("identifier") == identifier and not observed_only

        if observed is None and not owned:
            # Adopt: look first, so that taking over an existing profile never sends a CreateResource.
            if spec.adoption_policy is AdoptionPolicy.ADOPT:
                observed = await cc.get(identifier)
            if observed is None:
                created = await self._create(out, view, desired, identifier, cc)
                if created is not None:
                    return created
                observed = await cc.get(identifier)
            if observed is None:  # gone again between the two calls: try later
                return self._transient(out, view, "NotFound", "The profile vanished during creation")
            whose, owner = ownership(observed, OWNER_TAG_KEY, view.owner_value)
            if whose == "other":
                return self._terminal(
                    out,
                    view,
                    "Conflict",
                    f"User profile {identifier} is managed by {owner}; two objects must not declare the same profile",
                )
            if whose == "unowned" and spec.adoption_policy is not AdoptionPolicy.ADOPT:
                return self._terminal(
                    out,
                    view,
                    "AlreadyExists",
                    f"User profile {identifier} already exists in {view.region} and is not "
                    "managed by this operator. Set spec.adoptionPolicy: Adopt to take it over.",
                )
            if whose == "unowned":
                out.event("Normal", "Adopting", f"Taking over the existing user profile {identifier}")

        if observed is None:
            observed = await cc.get(identifier)
        if observed is None:
            message = f"User profile {identifier} was deleted outside Kubernetes; re-creating it"
            out.event("Warning", "DeletedOutOfBand", message)
            metrics.DRIFT.labels(action="recreate").inc()
            created = await self._create(out, view, desired, identifier, cc)
            if created is not None:
                return created
            return self._transient(out, view, "AlreadyExists", "The profile re-appeared during re-creation")

        whose, owner = ownership(observed, OWNER_TAG_KEY, view.owner_value)
        if whose == "other":
            return self._terminal(out, view, "Conflict", f"User profile {identifier} is now managed by {owner}")
        previous = None
        if view.previous_spec:
            try:
                previous = SageMakerUserProfileSpec.from_spec(view.previous_spec).to_desired_state()
            except pydantic.ValidationError:
                previous = None
        patch = plan_patch(desired, observed, _create_only(), previous)
        if not patch:
            return self._available(out, view, observed, identifier, view.region)
        if trigger == "drift":
            metrics.DRIFT.labels(action="correct").inc()
            out.event(
                "Warning",
                "DriftDetected",
                f"AWS differs from the spec at {', '.join(op['path'] for op in patch)}; correcting it",
            )
        token = client_token(
            "UPDATE", view.uid, view.generation, view.retry, patch_digest(patch), status.get("lastSyncTime")
        )
        event = await self._wait(cc, await cc.update(identifier, patch, token), budget)
        if not event.done:
            return self._pending(out, view, event, "UPDATE", token)
        if event.status != "SUCCESS":
            return self._failed(out, view, AwsError(event.error_code or "GeneralServiceException", event.message))
        out.event("Normal", "Updated", f"Updated user profile {identifier}: {', '.join(op['path'] for op in patch)}")
        return self._available(out, view, event.resource_model or observed, identifier, view.region)

    async def _create(
        self, out: Outcome, view: ObjectView, desired: dict[str, Any], identifier: str, cc: CloudControlApi
    ) -> Outcome | None:
        """Creates the profile. Returns the outcome, or None when it already exists (the caller decides)."""
        assert view.region is not None
        token = client_token("CREATE", view.uid, view.generation, view.retry, view.status.get("lastSyncTime"))
        event = await self._wait(cc, await cc.create(desired, token), self.settings.inline_wait)
        if not event.done:
            return self._pending(out, view, event, "CREATE", token)
        if event.status == "FAILED" and event.error_code == "AlreadyExists":
            return None
        if event.status != "SUCCESS":
            return self._failed(out, view, AwsError(event.error_code or "GeneralServiceException", event.message))
        observed = event.resource_model or await cc.get(identifier) or {}
        out.event("Normal", "Created", f"Created user profile {identifier} in {view.region}")
        return self._available(out, view, observed, identifier, view.region)

    async def _observe(
        self,
        out: Outcome,
        view: ObjectView,
        desired: dict[str, Any],
        identifier: str,
        cc: CloudControlApi,
        trigger: Trigger,
    ) -> Outcome:
        """ObserveOnly: read and report, never write to AWS."""
        assert view.region is not None
        observed = await cc.get(identifier)
        if observed is None:
            if condition_status(self._conditions(view), "Ready") != "False" or trigger != "drift":
                out.event("Warning", "NotFound", f"User profile {identifier} does not exist in {view.region}")
            return self._report(
                out,
                view,
                ready=False,
                ready_reason="NotFound",
                message=f"User profile {identifier} does not exist in {view.region} (ObserveOnly)",
                synced=True,
                synced_reason="Observed",
                extra={"identifier": identifier, "region": view.region},
            )
        patch = plan_patch(desired, observed, _create_only())
        extra = {
            "arn": observed.get("UserProfileArn"),
            "identifier": identifier,
            "region": view.region,
            "lastSyncTime": _stamp(_now()),
            "driftDetected": bool(patch),
        }
        if patch:
            paths = ", ".join(op["path"] for op in patch)
            if not view.status.get("driftDetected"):
                metrics.DRIFT.labels(action="report").inc()
                out.event(
                    "Warning", "DriftDetected", f"AWS differs from the spec at {paths} (ObserveOnly: not corrected)"
                )
            return self._report(
                out,
                view,
                ready=False,
                ready_reason="Drifted",
                message=f"AWS differs from the spec at {paths}",
                synced=True,
                synced_reason="Observed",
                extra=extra,
            )
        return self._report(
            out,
            view,
            ready=True,
            ready_reason="Available",
            message="The user profile exists and matches the spec (ObserveOnly)",
            synced=True,
            synced_reason="Observed",
            extra=extra,
        )

    # -- delete --------------------------------------------------------------------------------

    async def finalize(self, view: ObjectView, cc: CloudControlApi | None) -> Outcome:
        out = Outcome()
        try:
            spec = SageMakerUserProfileSpec.from_spec(view.spec)
        except pydantic.ValidationError:
            out.release = True
            return out
        identifier = spec.identifier
        if spec.deletion_policy is DeletionPolicy.RETAIN or spec.management_policy is ManagementPolicy.OBSERVE_ONLY:
            out.event(
                "Normal",
                "Retained",
                f"Left user profile {identifier} in AWS "
                f"({'deletionPolicy: Retain' if spec.deletion_policy is DeletionPolicy.RETAIN else 'ObserveOnly'})",
            )
            out.release = True
            return out
        if cc is None:
            out.release = True
            return out
        try:
            return await self._finalize(out, view, identifier, cc)
        except AwsError as err:
            if err.code.removesuffix("Exception") in NOT_FOUND_CODES:
                out.release = True
                return out
            out.event("Warning", err.code, f"Deleting user profile {identifier} failed: {err.message} (will retry)")
            out.retry_in = backoff(view.retry, self.settings.retry_min, self.settings.retry_max)
            out.retry_reason = f"{err.code}: {err.message}"
            return out

    async def _finalize(self, out: Outcome, view: ObjectView, identifier: str, cc: CloudControlApi) -> Outcome:
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
            if view.status.get("identifier") != identifier:
                observed = await cc.get(identifier)
                if observed is None:
                    out.release = True
                    return out
                whose, _ = ownership(observed, OWNER_TAG_KEY, view.owner_value)
                if whose != "ours":
                    out.event(
                        "Normal", "NotDeleted", f"User profile {identifier} is not managed by this object; left in AWS"
                    )
                    out.release = True
                    return out
            token = client_token("DELETE", view.uid, 0, view.retry)
            event = await self._wait(cc, await cc.delete(identifier, token), budget)
            if not event.done:
                return self._pending(out, view, event, "DELETE", token)
        if event.status == "SUCCESS" or event.error_code in NOT_FOUND_CODES:
            out.event("Normal", "Deleted", f"Deleted user profile {identifier}")
            out.release = True
            return out
        code = event.error_code or "GeneralServiceException"
        if is_transient(code):
            out.event("Warning", code, f"Deleting user profile {identifier}: {event.message} (will retry)")
        else:
            out.event(
                "Warning",
                "DeleteFailed",
                f"Deleting user profile {identifier} failed: {code}: {event.message}. "
                "Fix the cause, or set spec.deletionPolicy: Retain to release the object.",
            )
        self._report(
            out,
            view,
            ready=False,
            ready_reason="DeleteFailed",
            message=f"{code}: {event.message}",
            synced=False,
            synced_reason=code,
        )
        out.retry_in = backoff(view.retry, self.settings.retry_min, self.settings.retry_max)
        out.retry_reason = f"{code}: {event.message}"
        return out
