"""kopf registrations: each handler turns kopf's arguments into an `ObjectView`, calls the reconciler,
and turns its `Outcome` into a status patch, Events and a retry. Nothing is decided here.

Handlers are registered on a registry built at start-up from `Settings` (`build_registry`), so no
configuration is read at import time.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import aiohttp
import kopf

from userprofile_operator import FINALIZER, GROUP, PLURAL, VERSION, metrics
from userprofile_operator.cloudcontrol import CloudControl, CloudControlPool, Target
from userprofile_operator.plan import drift_delay, owner_tag_value, parse_duration, resolve_region
from userprofile_operator.reconciler import ObjectView, Outcome, Reconciler, Trigger
from userprofile_operator.settings import (
    DRIFT_INTERVAL_ANNOTATION,
    ROLE_ARN_ANNOTATION,
    Settings,
)

DEFAULT_REGION_ANNOTATION = f"{GROUP}/default-region"
RESOURCE = (GROUP, VERSION, PLURAL)


class Runtime:
    """What the handlers share, built once at start-up."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reconciler = Reconciler(settings)
        self.pool: CloudControlPool | None = None
        self.next_drift_check: dict[str, float] = {}

    def aws(self) -> CloudControlPool:
        if self.pool is None:
            self.pool = CloudControlPool(
                self.settings.max_concurrent_aws_calls, self.settings.aws_rate, self.settings.aws_burst
            )
        return self.pool


def _namespace_settings(index: kopf.Index[str, dict[str, str | None]], namespace: str) -> dict[str, str | None]:
    for entry in index.get(namespace, []):
        return entry
    return {}


def _view(
    runtime: Runtime,
    body: kopf.Body,
    index: kopf.Index[str, dict[str, str | None]],
    retry: int,
    previous_spec: dict[str, Any] | None = None,
) -> tuple[ObjectView, CloudControl | None]:
    meta = body.metadata
    spec = dict(body.spec)
    ns = _namespace_settings(index, meta.namespace or "")
    # Once created, a profile lives where status says: a namespace annotation changed later must not
    # make the operator look for (or create) it in another region.
    region = body.status.get("region") or resolve_region(
        spec.get("region"), ns.get("region"), runtime.settings.default_region
    )
    view = ObjectView(
        namespace=meta.namespace or "",
        name=meta.name or "",
        uid=meta.uid or "",
        generation=int(body.get("metadata", {}).get("generation", 0)),
        spec=spec,
        status=dict(body.status),
        owner_value=owner_tag_value(runtime.settings.cluster_name, meta.namespace or "", meta.name or ""),
        region=region,
        retry=retry,
        previous_spec=previous_spec,
    )
    cc = runtime.aws().for_target(Target(region, ns.get("role_arn"))) if region else None
    return view, cc


def _apply(outcome: Outcome, body: kopf.Body, patch: kopf.Patch) -> None:
    changed = {k: v for k, v in outcome.status.items() if body.status.get(k) != v}
    for key, value in changed.items():
        patch.status[key] = value
    for type_, reason, message in outcome.events:
        kopf.event(body, type=type_, reason=reason, message=message)
    if outcome.retry_in is not None:
        raise kopf.TemporaryError(outcome.retry_reason, delay=outcome.retry_in)


def build_registry(runtime: Runtime) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    settings = runtime.settings

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        # Progress and the diff base live in status, so a create writes the status once and the
        # object itself only for the finalizer; GitOps tools never see kopf's bookkeeping.
        settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
        settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.kopf.lastHandledConfiguration")
        settings.posting.level = logging.WARNING  # our own Events only (kopf.event), not kopf's log lines
        settings.watching.server_timeout = runtime.settings.watch_server_timeout
        settings.watching.client_timeout = runtime.settings.watch_client_timeout
        settings.watching.connect_timeout = 30
        settings.networking.request_timeout = 60
        settings.execution.max_workers = runtime.settings.max_concurrent_aws_calls
        metrics.serve(runtime.settings.metrics_port)

    @kopf.on.login(registry=registry)
    async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
        # In a pod: the service account; elsewhere: KUBECONFIG or ~/.kube/config. kopf's own session
        # has no connection limit: meeting thousands of objects at once, it opens a TLS connection per
        # request, and the process keeps that memory. A bounded pool costs no speed (bench/README.md).
        info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
        if info is None:
            return None
        connector = aiohttp.TCPConnector(limit=runtime.settings.max_kube_connections, ssl=info.as_ssl_context())
        return kopf.AiohttpSession(
            server=info.server,
            default_namespace=info.default_namespace,
            expiration=info.expiration,
            aiohttp_session=aiohttp.ClientSession(connector=connector, headers=info.as_http_headers()),
        )

    @kopf.on.cleanup(registry=registry)
    def cleanup(**_: Any) -> None:
        if runtime.pool is not None:
            runtime.pool.close()

    @kopf.index("namespaces", registry=registry, id="namespace_settings")
    def namespace_settings(name: str, annotations: kopf.Annotations, **_: Any) -> dict[str, Any]:
        return {
            name: {
                "region": annotations.get(DEFAULT_REGION_ANNOTATION),
                "role_arn": annotations.get(ROLE_ARN_ANNOTATION),
            }
        }

    async def reconcile(
        trigger: Trigger,
        body: kopf.Body,
        patch: kopf.Patch,
        retry: int,
        namespace_settings: kopf.Index[str, dict[str, str | None]],
        old: Any = None,
    ) -> None:
        previous = dict(old) if isinstance(old, dict) else None
        view, cc = _view(runtime, body, namespace_settings, retry, previous)
        outcome = await runtime.reconciler.reconcile(view, cc, trigger)
        runtime.next_drift_check[view.uid] = time.monotonic() + _drift_interval(body) * random.uniform(0.9, 1.1)
        _apply(outcome, body, patch)

    @kopf.on.create(*RESOURCE, registry=registry, id="reconcile")
    async def on_create(body: kopf.Body, patch: kopf.Patch, retry: int, **kwargs: Any) -> None:
        await reconcile("create", body, patch, retry, kwargs["namespace_settings"])

    @kopf.on.update(*RESOURCE, registry=registry, id="reconcile", field="spec")
    async def on_update(body: kopf.Body, patch: kopf.Patch, retry: int, old: Any, **kwargs: Any) -> None:
        await reconcile("update", body, patch, retry, kwargs["namespace_settings"], old)

    @kopf.on.resume(*RESOURCE, registry=registry, id="resume")
    async def on_resume(body: kopf.Body, patch: kopf.Patch, retry: int, **kwargs: Any) -> None:
        status = body.status
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        settled = status.get("observedGeneration") == body.metadata.get("generation") and not status.get("operation")
        if ready and settled:
            # Nothing in flight and nothing to do: the drift timer re-reads it in due course.
            runtime.next_drift_check[body.metadata.uid or ""] = time.monotonic() + drift_delay(
                _drift_interval(body), 1.0
            )
            return
        await reconcile("resume", body, patch, retry, kwargs["namespace_settings"])

    @kopf.on.delete(*RESOURCE, registry=registry, id="finalize")
    async def on_delete(body: kopf.Body, patch: kopf.Patch, retry: int, **kwargs: Any) -> None:
        view, cc = _view(runtime, body, kwargs["namespace_settings"], retry)
        outcome = await runtime.reconciler.finalize(view, cc)
        runtime.next_drift_check.pop(view.uid, None)
        _apply(outcome, body, patch)

    def _drift_interval(body: kopf.Body) -> float:
        override = parse_duration(body.metadata.annotations.get(DRIFT_INTERVAL_ANNOTATION))
        return override if override is not None else settings.drift_interval

    if settings.drift_interval > 0:

        @kopf.timer(
            *RESOURCE,
            registry=registry,
            id="drift",
            interval=settings.drift_tick,
            initial_delay=settings.drift_tick * random.uniform(0.5, 1.0),
        )
        async def drift(body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
            uid = body.metadata.uid or ""
            due = runtime.next_drift_check.get(uid)
            now = time.monotonic()
            if due is None:
                runtime.next_drift_check[uid] = now + drift_delay(_drift_interval(body), 1.0)
                return
            if now < due or body.metadata.get("deletionTimestamp"):
                return
            status = body.status
            settled = (
                status.get("observedGeneration") == body.metadata.get("generation")
                and not status.get("operation")
                and status.get("identifier")
            )
            runtime.next_drift_check[uid] = now + drift_delay(_drift_interval(body), settings.drift_jitter)
            if not settled:
                return
            view, cc = _view(runtime, body, kwargs["namespace_settings"], 0)
            outcome = await runtime.reconciler.reconcile(view, cc, "drift")
            outcome.retry_in = None  # the next tick comes anyway
            _apply(outcome, body, patch)

    return registry
