"""kopf registrations: each handler turns kopf's arguments into an `ObjectView`, calls the reconciler,
and turns its `Outcome` into a status patch, Events and a retry. Nothing is decided here.

Handlers are registered on a registry built at start-up from `Settings` (`build_registry`), so no
configuration is read at import time: the same handlers for every managed kind, each bound to its Kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import kopf
from kopf._cogs.structs.references import NamespaceName, match_namespace  # kopf's own pattern rules

from userprofile_operator import metrics
from userprofile_operator.budget import DRIFT, USER, drift_capacity, lane
from userprofile_operator.cloudcontrol import CloudControl, CloudControlPool, Target
from userprofile_operator.conditions import Reason, condition_reason, condition_status
from userprofile_operator.drift import DriftPace, DriftScheduler, Ref, pace_message, pace_settled_change
from userprofile_operator.election import Fence
from userprofile_operator.kind import FINALIZER, GROUP, Kind
from userprofile_operator.kinds import by_name
from userprofile_operator.kube import ObjectClient
from userprofile_operator.models import warm_validation
from userprofile_operator.offboard import Surroundings
from userprofile_operator.plan import (
    drift_delay,
    namespace_role_refusal,
    owner_tag_value,
    parse_duration,
    reconciled,
    resolve_region,
)
from userprofile_operator.reconciler import ObjectView, Outcome, Reconciler, Trigger
from userprofile_operator.references import (
    Resolution,
    TargetState,
    follows,
    named_targets,
    referenced,
    resolve,
    target_of,
)
from userprofile_operator.resync import Resync
from userprofile_operator.rollout import Holders, holders
from userprofile_operator.settings import (
    DRIFT_INTERVAL_ANNOTATION,
    ROLE_ARN_ANNOTATION,
    Settings,
)
from userprofile_operator.uninstall import UninstallGuard
from userprofile_operator.watchguard import WatchState

logger = logging.getLogger(__name__)

DEFAULT_REGION_ANNOTATION = f"{GROUP}/default-region"
PACE_PERIOD = 5.0  # seconds between two readings of the drift interval each budget can keep
FINALIZE_HANDLER = "finalize"  # the delete handler's id: kopf keys its progress record by it


class Runtime:
    """What the handlers share, built once at start-up."""

    def __init__(
        self,
        settings: Settings,
        kinds: Sequence[Kind],
        namespaces: Sequence[str] = (),
        fence: Fence | None = None,
        watch: WatchState | None = None,
    ) -> None:
        self.settings = settings
        self.fence = fence  # leader election: asked before every mutating AWS call
        # What the watch self-check knows of the event stream; every watch event is recorded in it.
        self.kinds = tuple(kinds)  # the enabled kinds (run --kinds): handlers are registered for these only
        self.watch = watch or WatchState(
            settings.watch_probe_interval, settings.watch_probe_timeout, [kind.crd_name for kind in self.kinds]
        )
        self.patterns = list(namespaces)  # kopf's namespace patterns; none: cluster-wide
        self.busy: set[str] = set()  # uids a handler is working on right now
        self.reconcilers = {kind: Reconciler(settings, kind) for kind in self.kinds}
        # References: what the watch events said of every object (kind name, namespace, name), and who
        # waits for which target. A target's event wakes its waiters: no polling.
        self.seen: dict[tuple[str, str, str], TargetState] = {}
        self.waiting: dict[tuple[str, str, str], set[Ref]] = {}
        # Objects asked to resolve their references again because a target's value changed (a replaced
        # lifecycle config's ARN), by uid: checked once each, as soon as no handler is at work on them.
        self.following: set[str] = set()
        self.uids: dict[tuple[str, str, str], Ref] = {}  # (kind name, namespace, name) -> its Ref
        # (kind name, namespace, name) -> (Ready's status, its reason): counted as `smup_objects`.
        self.states: dict[tuple[str, str, str], tuple[str, str]] = {}
        # Objects held in ReferenceChanged: any Ready sighting of a target they name may be it pointed back.
        self.reference_changed: set[tuple[str, str, str]] = set()
        self.followups: dict[str, int] = {}  # uid -> retries of a check that must come back (outside kopf)
        self.drift_followups: set[str] = set()  # of those, the ones a periodic re-read started: drift's lane
        # Deletes that wait for others (DeleteBlocked): uid -> (kind, namespace, name, generation). A managed
        # object going, or the waiting object's spec changing, wakes them at once.
        self.blocked: dict[str, tuple[Kind, str, str, int]] = {}
        self._wakes: set[asyncio.Task[None]] = set()
        self._crd_deleted: dict[Kind, tuple[float, bool]] = {}  # kind -> (when read, its CRD is being deleted)
        self.pool: CloudControlPool | None = None
        self.namespaces: dict[str, dict[str, str | None]] = {}
        self.scheduler: DriftScheduler | None = None
        # Every watched object's claim on its budget's drift lane (the kept interval: drift.py).
        self.pace: DriftPace[Target] = DriftPace(drift_capacity(settings.drift_share, settings.aws_rate))
        self._paces: dict[Target, tuple[float, float]] = {}  # target -> (stretch said in the log, last read)
        self.uninstall: UninstallGuard | None = None
        self.objects: ObjectClient | None = None
        self.tasks: list[asyncio.Task[None]] = []
        # More tasks to run beside kopf's (the watch self-check): started by kopf's start-up, inside
        # kopf's context, where kopf's own API calls find their credentials.
        self.background: list[Callable[[], Coroutine[Any, Any, None]]] = []
        # Run at kopf's clean-up, once no new AWS call can start (the Lease's release).
        self.on_cleanup: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def aws(self) -> CloudControlPool:
        if self.pool is None:
            self.pool = CloudControlPool(
                self.settings.max_concurrent_aws_calls,
                self.settings.aws_rate,
                self.settings.aws_burst,
                self.fence,
                self.settings.drift_share,
            )
        return self.pool

    @contextlib.contextmanager
    def working_on(self, uid: str) -> Iterator[None]:
        """Marks `uid` busy while a handler talks to AWS for it, so the resync leaves it alone."""
        self.busy.add(uid)
        try:
            yield
        finally:
            self.busy.discard(uid)

    def watched_kinds(self) -> tuple[Kind, ...]:
        """The enabled kinds kopf watches now (the watch self-check's view): those whose objects can be listed."""
        return tuple(kind for kind in self.kinds if kind.crd_name in self.watch.watched)

    def scope(self) -> Iterable[str | None]:
        """The namespaces the operator watches, for listing: None is the whole cluster."""
        if not self.patterns:
            return [None]
        return sorted(ns for ns in self.namespaces if any(match_namespace(NamespaceName(ns), p) for p in self.patterns))

    def role_refusal(self, namespace: str) -> str | None:
        """Why the namespace's role annotation must not be used (SMUP_ALLOWED_ROLE_ARNS), or None."""
        role = self.namespaces.get(namespace, {}).get("role_arn")
        return namespace_role_refusal(role, self.settings.allowed_role_arns, namespace)

    def settled(self, body: Mapping[str, Any]) -> bool:
        """Whether a resumed object needs nothing but its drift checks: Ready at its generation, nothing in
        flight, nothing being retired, and its namespace's role allowed."""
        status = body.get("status") or {}
        return (
            condition_status(status.get("conditions") or [], "Ready") == "True"
            and reconciled(body)
            and not status.get("retiring")
            and self.role_refusal(str((body.get("metadata") or {}).get("namespace") or "")) is None
        )

    def drift_interval(self, body: Mapping[str, Any]) -> float:
        annotations = body.get("metadata", {}).get("annotations") or {}
        override = parse_duration(annotations.get(DRIFT_INTERVAL_ANNOTATION))
        return override if override is not None else self.settings.drift_interval

    def target(self, body: Mapping[str, Any]) -> Target | None:
        """The budget an object draws on: its region (status first, as `view` does) and namespace role."""
        namespace = str((body.get("metadata") or {}).get("namespace") or "")
        ns = self.namespaces.get(namespace, {})
        region = (body.get("status") or {}).get("region") or resolve_region(
            (body.get("spec") or {}).get("region"), ns.get("region"), self.settings.default_region
        )
        return Target(str(region), ns.get("role_arn")) if region else None

    def kept_interval(self, body: Mapping[str, Any]) -> float:
        """The object's drift interval, lengthened where its budget's drift share cannot keep up."""
        interval = self.drift_interval(body)
        target = self.target(body)
        return interval * self.pace.stretch(target) if target is not None and interval > 0 else interval

    def schedule_drift(self, kind: Kind, body: Mapping[str, Any], spread: bool = False) -> None:
        """Plan the next drift check: a kept interval from now (jittered), or, with `spread`, at random
        within one (a resumed object whose last check is unknown)."""
        meta = body.get("metadata", {})
        if self.scheduler is not None and meta.get("uid") in self.following:
            # Asked to follow a target while a handler was at work on it: that check comes first.
            ref = Ref(kind, meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", ""))
            self.scheduler.schedule(ref, self.settings.poll_min)
            return
        interval = self.kept_interval(body)
        if self.scheduler is None or interval <= 0:
            return
        delay = random.uniform(0, interval) if spread else drift_delay(interval, self.settings.drift_jitter)
        ref = Ref(kind, meta.get("namespace", ""), meta.get("name", ""), meta.get("uid", ""))
        self.scheduler.schedule(ref, delay, tolerance=interval * self.settings.drift_jitter)

    def keep_pace(self) -> None:
        """One reading of the interval each budget keeps: the metric per kind, and one log line when the
        configured interval cannot be kept (and when it can again), once the number has settled."""
        configured = self.settings.drift_interval
        kept: dict[str, float] = {kind.kind: configured for kind in self.kinds}
        known = list(self.pace.targets())
        for target in known + [t for t in self._paces if t not in known]:  # and those whose objects all left
            stretch = self.pace.stretch(target)
            counts = self.pace.counts(target)
            if configured > 0:
                for kind in counts:
                    kept[kind] = max(kept.get(kind, configured), configured * stretch)
            logged, previous = self._paces.get(target, (1.0, 1.0))
            if pace_settled_change(logged, previous, stretch):
                self._say_pace(target, counts, stretch)
                logged = stretch
            if counts or logged > 1.0:
                self._paces[target] = (logged, stretch)
            else:  # its objects are gone and nothing more is to be said
                self._paces.pop(target, None)
        for kind, seconds in kept.items():
            metrics.DRIFT_INTERVAL.labels(kind=kind).set(seconds)
            metrics.DRIFT_INTERVAL_CONFIGURED.labels(kind=kind).set(configured)

    def _say_pace(self, target: Target, counts: Mapping[str, int], stretch: float) -> None:
        where = target.region + (f" (role {target.role_arn})" if target.role_arn else "")
        settings = self.settings
        level, message = pace_message(
            where, counts, self.pace.demand(target), settings.drift_share, settings.aws_rate, settings.drift_interval
        )
        logger.log(level, "%s", message)

    async def keep_pace_forever(self) -> None:
        while True:
            try:
                self.keep_pace()
            except Exception:  # a reading gone wrong must not end the readings (nor the metric's updates)
                logger.exception("could not read the drift pace")
            await asyncio.sleep(PACE_PERIOD)

    def saw(self, kind: Kind, event_type: str | None, body: Mapping[str, Any]) -> bool:
        """A watch event of an object: remember it as a possible reference target; wake its waiters.
        True when this process has not seen the object before (by uid)."""
        meta = body.get("metadata") or {}
        key = (kind.kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        uid = str(meta.get("uid") or "")
        known = self.uids.get(key)
        first = known is None or known.uid != uid
        target = self.target(body)
        if event_type == "DELETED" or meta.get("deletionTimestamp") or target is None:
            self.pace.drop(uid)
        else:
            self.pace.note(uid, kind.kind, target, self.drift_interval(body))
        if event_type == "DELETED":
            self.seen.pop(key, None)
            self.uids.pop(key, None)
            self.states.pop(key, None)
            self.reference_changed.discard(key)
            self.blocked.pop(str(meta.get("uid") or ""), None)
            # What a blocked delete waits for may have been this object: look again now.
            for uid in list(self.blocked):
                self.wake(uid)
            return False
        blocked = self.blocked.get(str(meta.get("uid") or ""))
        if blocked is not None and int(meta.get("generation") or 0) != blocked[3]:
            self.wake(str(meta.get("uid")))  # its spec changed (e.g. cleanupOnDelete): look again now
        ref_target = target_of(body, named_targets(body.get("spec") or {}, kind.references, kind.naming.spec_path))
        before = self.seen.get(key)
        self.seen[key] = ref_target
        self.uids[key] = Ref(kind, key[1], key[2], str(meta.get("uid") or ""))
        self._roll_out(key, before, ref_target)
        conditions = (body.get("status") or {}).get("conditions") or []
        self.states[key] = (
            condition_status(conditions, "Ready") or "Unknown",
            condition_reason(conditions, "Ready") or "",
        )
        if self.states[key][1] == Reason.REFERENCE_CHANGED:
            self.reference_changed.add(key)
        else:
            self.reference_changed.discard(key)
        if ref_target.ready and self.scheduler is not None:
            for ref in self.waiting.pop(key, set()):
                self.scheduler.schedule(ref, 0)
        return first

    def _roll_out(self, key: tuple[str, str, str], before: TargetState | None, now: TargetState) -> None:
        """A target whose value changed (a replaced resource's new ARN, a domain object made again): every
        object naming it follows now, and one held in ReferenceChanged at every Ready sighting (`follows`).
        An object naming a target that still has old resources to delete (`status.retiring`): that target
        looks again, since this object may have been the last to use one."""
        if now.ready:
            # Every object is looked through only when the value changed; else those in ReferenceChanged (few).
            moved = follows(before, now, changed=False)
            for other in list(self.seen) if moved else list(self.reference_changed):
                known = self.seen.get(other)
                if known is None or other[1] != key[1] or (key[0], key[2]) not in known.named:
                    continue
                if follows(before, now, other in self.reference_changed):
                    self.follow(other)
        for target_kind, target_name in now.named:
            target = (target_kind, key[1], target_name)
            named = self.seen.get(target)
            if named is not None and named.retiring:
                self.follow(target, delay=1.0)

    def follow(self, key: tuple[str, str, str], delay: float = 0.0) -> None:
        """Reconcile the object now (after `delay`), outside kopf, once: its references resolve anew. Many
        calls before it runs are one check."""
        ref = self.uids.get(key)
        if ref is None or self.scheduler is None or ref.uid in self.following:
            return
        self.following.add(ref.uid)
        self.scheduler.schedule(ref, delay)

    def holders_of(self, kind: Kind, namespace: str, name: str) -> Callable[[str | None, Sequence[str]], Holders]:
        """Who of ours still uses old values of this object (see `rollout.holders`)."""
        return lambda current, old: holders((kind.kind, namespace, name), current, old, self.seen)

    def object_states(self) -> Iterator[tuple[str, str, str]]:
        """(kind, Ready's status, its reason) of every object the watch has shown: `smup_objects`."""
        for (kind, _, _), (ready, reason) in list(self.states.items()):
            yield kind, ready, reason

    def wake(self, uid: str) -> None:
        """Runs a blocked delete's handler now rather than at the end of its back-off. kopf keeps a retried
        handler's next run in its progress record (`status.kopf.progress.<handler id>.delayed`; we chose
        that storage in `configure`): moving that time to now, kopf sees the change and runs the handler."""
        entry = self.blocked.pop(uid, None)
        if entry is None or self.objects is None:
            return
        kind, namespace, name, _ = entry
        now = datetime.now(UTC).isoformat()
        patch = {"kopf": {"progress": {FINALIZE_HANDLER: {"delayed": now}}}}
        objects = self.objects

        async def send() -> None:
            with contextlib.suppress(Exception):  # gone meanwhile: nothing to wake; else the back-off still runs
                await objects.patch_status(kind, namespace, name, patch)

        task = asyncio.get_running_loop().create_task(send(), name=f"wake-{uid}")
        self._wakes.add(task)
        task.add_done_callback(self._wakes.discard)

    async def crd_deleted(self, kind: Kind) -> bool | None:
        """Whether the kind's CRD is being deleted, or None when that cannot be read now: asked once per
        delete, answered from a reading at most a second old (an uninstall deletes thousands of objects
        at once)."""
        now = time.monotonic()
        known = self._crd_deleted.get(kind)
        if known is not None and now - known[0] < 1.0:
            return known[1]
        if self.objects is None:
            return None
        try:
            deleted = await self.objects.crd_state(kind) != "present"
        except Exception as err:
            logger.warning("Could not read the CRD of %s: %s", kind.kind, err)
            return None
        self._crd_deleted[kind] = (now, deleted)
        return deleted

    def manages(self, kind: Kind, owner: str) -> bool:
        """Whether the object an ownership tag names (`cluster/namespace/name`) still manages the resource:
        True for another cluster's or a watched object's tag, False for an object of this cluster's watched
        namespaces that is gone (its resource was left behind with deletionPolicy Retain). A kind this
        operator does not watch (not among --kinds, or its CRD not served) cannot be judged: True."""
        cluster, _, rest = owner.partition("/")
        namespace, _, name = rest.partition("/")
        if cluster != self.settings.cluster_name or not name or "~" in owner:
            return True  # another cluster's, or shortened beyond recognition: someone else's to delete
        if self.patterns and not any(match_namespace(NamespaceName(namespace), p) for p in self.patterns):
            return True  # outside what this operator watches: it cannot know
        if kind not in self.kinds or kind.crd_name in self.watch.unserved:
            return True  # a kind this operator does not see: it cannot know either
        return (kind.kind, namespace, name) in self.seen

    def surroundings(self, view: ObjectView) -> Surroundings | None:
        """What a delete needs to clear the way in AWS, at the object's target; None without a region."""
        if view.region is None or view.role_not_allowed is not None:
            return None
        target = Target(view.region, self.namespaces.get(view.namespace, {}).get("role_arn"))
        pool = self.aws()
        return Surroundings(
            studio=pool.studio_for(target),
            cloudcontrol=lambda kind: pool.for_target(target, kind),
            kind_named=by_name,
            manages=self.manages,
        )

    def _resolve(
        self, kind: Kind, namespace: str, spec: Mapping[str, Any], status: Mapping[str, Any], deleting: bool = False
    ) -> Resolution:
        """The spec with its references replaced by their targets' values. An object AWS already has
        keeps the values it settled (its identifier's parts) when a target is gone or not Ready; one being
        deleted waits for nothing."""
        identifier = status.get("identifier")
        fallback = (kind.schema.identifier_parts(str(identifier)) or {}) if identifier else ({} if deleting else None)
        settled = {
            (str(entry.get("kind")), str(entry.get("name"))): str(entry.get("value"))
            for entry in status.get("references") or []
            if isinstance(entry, Mapping) and entry.get("value")
        }
        return resolve(
            spec,
            kind.references,
            kind.naming.spec_path,
            lambda target, name: self.seen.get((target, namespace, name)),
            fallback,
            settled,
            ready_only=not deleting,
        )

    def view(
        self, kind: Kind, body: Mapping[str, Any], retry: int, previous_spec: dict[str, Any] | None = None
    ) -> tuple[ObjectView, CloudControl | None]:
        meta = body.get("metadata", {})
        namespace, name = meta.get("namespace") or "", meta.get("name") or ""
        status = dict(body.get("status") or {})
        resolution = self._resolve(kind, namespace, body.get("spec") or {}, status, bool(meta.get("deletionTimestamp")))
        spec = resolution.spec
        ref = Ref(kind, namespace, name, meta.get("uid") or "")
        for target, target_name, _ in resolution.waiting:
            self.waiting.setdefault((target, namespace, target_name), set()).add(ref)
        if previous_spec is not None:
            previous_spec = self._resolve(kind, namespace, previous_spec, status).spec
        recorded = {(str(e.get("kind")), str(e.get("name"))): e.get("value") for e in status.get("references") or []}
        references = tuple(resolution.values) + tuple(
            (target, target_name, str(recorded[(target, target_name)]))
            for target, target_name in resolution.kept
            if recorded.get((target, target_name))
        )
        referrers = self._referrers(kind, namespace, name) if meta.get("deletionTimestamp") else ()
        ns = self.namespaces.get(namespace, {})
        # Once created, a resource lives where status says: a namespace annotation changed later must not
        # make the operator look for (or create) it in another region.
        region = status.get("region") or resolve_region(
            spec.get("region"), ns.get("region"), self.settings.default_region
        )
        view = ObjectView(
            namespace=namespace,
            name=name,
            uid=meta.get("uid") or "",
            generation=int(meta.get("generation", 0)),
            spec=spec,
            status=status,
            owner_value=owner_tag_value(self.settings.cluster_name, namespace, name),
            region=region,
            retry=retry,
            previous_spec=previous_spec,
            waiting=tuple(
                f"{target} {name} ({self._unseen(target) or why})" for target, name, why in resolution.waiting
            ),
            role_not_allowed=self.role_refusal(namespace),
            references=references,
            holders=self.holders_of(kind, namespace, name) if kind.replace_on_change else None,
            referrers=referrers,
        )
        if view.role_not_allowed is not None or not region:
            return view, None  # no client: nothing can reach AWS
        return view, self.aws().for_target(Target(region, ns.get("role_arn")), kind)

    def _referrers(self, kind: Kind, namespace: str, name: str) -> tuple[tuple[str, bool], ...]:
        """The objects of the namespace whose references name this one, and whether each is being deleted."""
        found = []
        for (other, other_ns, other_name), state in list(self.seen.items()):
            if other_ns != namespace:
                continue
            other_kind = next((k for k in self.kinds if k.kind == other), None)
            if other_kind is not None and name in referenced(
                state.spec, other_kind.references, other_kind.naming.spec_path, kind.kind
            ):
                found.append((f"{other} {other_name}", state.deleting))
        return tuple(sorted(found))

    def _unseen(self, target: str) -> str | None:
        """Why no object of the kind named `target` can be seen, when the operator does not watch it."""
        kind = next((k for k in self.kinds if k.kind == target), None)
        if kind is None:
            return f"not watched: {target} is not among this operator's kinds, see run --kinds"
        if kind.crd_name in self.watch.unserved:
            return f"not watched: {kind.crd_name} is not served by the API server"
        return None

    async def drift_check(self, ref: Ref) -> None:
        """Runs outside kopf: reads the object, reconciles it, writes status and Events itself."""
        assert self.objects is not None
        body = await self.objects.get(ref.kind, ref.namespace, ref.name)
        if body is None or body["metadata"].get("uid") != ref.uid or body["metadata"].get("deletionTimestamp"):
            self.following.discard(ref.uid)
            return
        status = body.get("status") or {}
        waited = condition_reason(status.get("conditions") or [], "Ready") == Reason.REFERENCE_NOT_READY
        ours = ref.uid in self.followups  # a request this check started and came back for
        following = ref.uid in self.following  # a target it names changed its value
        if following and (ref.uid in self.busy or not (reconciled(body) or ours)):
            # A handler is at work on it (kopf's, not a request this check started), and may have resolved
            # the old value: look again once it is done.
            if self.scheduler is not None:
                self.scheduler.schedule(ref, self.settings.poll_min)
            return
        self.following.discard(ref.uid)
        if not ((reconciled(body) and (status.get("identifier") or waited)) or ours):
            return  # a handler is at work on it, or it waits for a new spec; it schedules the next check
        view, cc = self.view(ref.kind, body, self.followups.get(ref.uid, 0))
        trigger: Trigger = "reference" if waited or following else "resume" if ours else "drift"
        # Only the periodic re-read is drift's, and its retries (throttled, or its correction's status reads):
        # else, under steady throttling, drift's work would go on in the user's lane. A create woken by its
        # reference, a follow, or their retries are the user's.
        drifts = trigger == "drift" or (trigger == "resume" and ref.uid in self.drift_followups)
        with self.working_on(ref.uid), lane(DRIFT if drifts else USER):
            outcome = await self.reconcilers[ref.kind].reconcile(view, cc, trigger)
        for key in outcome.follow:
            self.follow(key)
        if ref.uid in self.following and self.scheduler is not None:
            self.scheduler.schedule(ref, self.settings.poll_min)  # asked again while this check ran
        elif outcome.retry_in is not None and self.scheduler is not None:
            # Outside kopf nobody retries for us: come back ourselves (a create woken by its reference
            # outlives the in-line wait; a drift correction meets throttling).
            self.followups[ref.uid] = self.followups.get(ref.uid, 0) + 1
            if drifts:
                self.drift_followups.add(ref.uid)
            else:
                self.drift_followups.discard(ref.uid)
            self.scheduler.schedule(ref, outcome.retry_in)
        else:
            self.followups.pop(ref.uid, None)
            self.drift_followups.discard(ref.uid)
            self.schedule_drift(ref.kind, body)
        changed = _changed(outcome, status)
        if changed:
            await self.objects.patch_status(ref.kind, ref.namespace, ref.name, changed)
        for type_, reason, message in outcome.events:
            await self.objects.post_event(body, type_, reason, message)


class SlimDiffBaseStorage(kopf.StatusDiffBaseStorage):
    """kopf's diff base in status ("the last handled configuration"), built from what it keeps only.

    kopf deep-copies the whole body, managedFields and status included, then drops metadata and status:
    the copy was a third of the operator's time at a start over 10,000 objects (bench/README.md). Here
    the body is cut to what kopf keeps first (everything but metadata and status, and metadata's labels
    and annotations); kopf then builds the same essence from it. Fields of metadata or status that a
    handler watches (`field=`) need the whole body: kopf's own way then."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> Any:  # kopf's BodyEssence
        fields = list(extra_fields or ())
        paths = [field.split(".") if isinstance(field, str) else list(field) for field in fields]
        if any(path and path[0] in ("metadata", "status") for path in paths):
            return super().build(body=body, extra_fields=fields)
        meta = body.get("metadata") or {}
        slim = {key: value for key, value in body.items() if key not in ("metadata", "status")}
        slim["metadata"] = {key: meta[key] for key in ("labels", "annotations") if key in meta}
        return super().build(body=slim, extra_fields=fields)  # type: ignore[arg-type]


def _changed(outcome: Outcome, status: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in outcome.status.items() if status.get(k) != v}


def _apply(outcome: Outcome, body: kopf.Body, patch: kopf.Patch) -> None:
    for key, value in _changed(outcome, body.status).items():
        patch.status[key] = value
    for type_, reason, message in outcome.events:
        kopf.event(body, type=type_, reason=reason, message=message)
    if outcome.retry_in is not None:
        raise kopf.TemporaryError(outcome.retry_reason, delay=outcome.retry_in)


def build_registry(runtime: Runtime) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        # Progress and the diff base live in status, so a create writes the status once and the
        # object itself only for the finalizer; GitOps tools never see kopf's bookkeeping.
        settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
        settings.persistence.diffbase_storage = SlimDiffBaseStorage(field="status.kopf.lastHandledConfiguration")
        settings.posting.level = logging.WARNING  # our own Events only (kopf.event), not kopf's log lines
        settings.watching.server_timeout = runtime.settings.watch_server_timeout
        settings.watching.client_timeout = runtime.settings.watch_client_timeout
        settings.watching.connect_timeout = 30
        # A watch stream that ends is opened again after this. When a CRD stops being served, the API
        # server ends its watches, and kopf's reopened watch answered 404 fails the whole operator unless
        # kopf's discovery (the CRD's event) has stopped that watcher first: kopf's 0.1 s lost that race
        # on a loaded machine (tests/e2e/test_crd_served.py). A second keeps every event (the watch goes
        # on from the last resourceVersion), only later by up to a second at each reconnect.
        settings.watching.reconnect_backoff = 1.0
        settings.networking.request_timeout = 60
        settings.execution.max_workers = runtime.settings.max_concurrent_aws_calls
        # Without a limit kopf runs a worker for every object with news at once: 10,000 new objects
        # are 10,000 handlers in memory, waiting for the AWS rate limit (bench/README.md).
        settings.batching.worker_limit = runtime.settings.max_object_workers
        # An idle worker keeps its slot until this runs out: the slots go round at most limit / timeout
        # times a second. kopf's default, 5 s, is 40 objects a second; 0.5 s was still 400, which made a
        # restart over 10,000 objects take 25 s (bench/README.md). A worker that waits for its own patch
        # to come back stays regardless (kopf's consistency wait), and a later event starts a new one.
        settings.batching.idle_timeout = 0.02

    @kopf.on.startup(registry=registry)
    async def warm_up(**_: Any) -> None:
        # What the first object would otherwise make on the event loop, holding every handler: each
        # kind's validator and the default region's Cloud Control client (about a second in all). In a
        # thread, not awaited: the watches start meanwhile, and a first object met before it ends waits
        # only for the rest of it.
        pool, region = runtime.aws(), runtime.settings.default_region

        def warm() -> None:
            for kind in runtime.kinds:
                warm_validation(kind)
                if region:
                    pool.for_target(Target(region), kind)

        threading.Thread(target=warm, name="warm-up", daemon=True).start()

    @kopf.on.startup(registry=registry)
    async def start_drift_checks(**_: Any) -> None:
        # Always: objects may ask for drift checks by annotation even when the default is off.
        runtime.objects = ObjectClient()
        runtime.uninstall = UninstallGuard(runtime.objects, runtime.kinds, runtime.scope)
        runtime.scheduler = DriftScheduler(runtime.drift_check, runtime.settings.max_concurrent_aws_calls)
        runtime.tasks.append(asyncio.create_task(runtime.scheduler.run(), name="drift-scheduler"))
        runtime.tasks.append(asyncio.create_task(runtime.keep_pace_forever(), name="drift-pace"))
        scheduler = runtime.scheduler
        for kind in runtime.kinds:
            metrics.DRIFT_OVERDUE.labels(kind=kind.kind).set_function(functools.partial(scheduler.overdue, kind.kind))
        if runtime.settings.resync_interval > 0:
            resync = Resync(
                runtime.objects, runtime.watched_kinds, runtime.scope, runtime.settings.resync_interval, runtime.busy
            )
            runtime.tasks.append(asyncio.create_task(resync.run(), name="resync"))
        for task in runtime.background:
            runtime.tasks.append(asyncio.create_task(task(), name=getattr(task, "__qualname__", "background")))

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
    async def cleanup(**_: Any) -> None:
        for task in runtime.tasks:
            task.cancel()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
        if runtime.uninstall is not None:
            await runtime.uninstall.stop()
        if runtime.objects is not None:
            runtime.objects.close()
        if runtime.pool is not None:
            runtime.pool.close()
        for fn in runtime.on_cleanup:
            await fn()

    @kopf.index("namespaces", registry=registry, id="namespace_settings")
    def namespace_settings(name: str, annotations: kopf.Annotations, **_: Any) -> dict[str, Any]:
        # kopf indexes namespaces before any handler runs; the runtime keeps the same facts for the
        # drift checks, which run outside handlers.
        entry: dict[str, str | None] = {
            "region": annotations.get(DEFAULT_REGION_ANNOTATION),
            "role_arn": annotations.get(ROLE_ARN_ANNOTATION),
        }
        runtime.namespaces[name] = entry
        return {name: entry}

    @kopf.on.event("apiextensions.k8s.io", "v1", "customresourcedefinitions", registry=registry, id="uninstall")
    async def crd_seen(name: str, meta: kopf.Meta, **_: Any) -> None:
        # An uninstall deletes our CRDs: their objects are released, AWS is left alone (uninstall.py).
        if runtime.uninstall is not None:
            runtime.uninstall.crd_seen(name, bool(meta.get("deletionTimestamp")))

    for kind in runtime.kinds:
        _register_kind(registry, runtime, kind)

    return registry


def _register_kind(registry: kopf.OperatorRegistry, runtime: Runtime, kind: Kind) -> None:
    """The handlers of one kind: the same for every kind, bound to it and to its reconciler."""
    reconciler = runtime.reconcilers[kind]

    @kopf.on.event(*kind.resource, registry=registry, id="watch_self_check")
    async def event_seen(type: str | None, body: kopf.Body, **_: Any) -> None:
        # Every watch event of our resources, the initial listing included: the watch self-check's input,
        # and what references resolve against. Async: on kopf's event loop, where a wake is scheduled.
        runtime.watch.event_seen()
        if runtime.saw(kind, type, body) and type is None and runtime.settled(body):
            # Met in the listing at start, with nothing to do: what resuming it means is its drift
            # checks, spread over one interval (its last check is unknown). Here rather than in a
            # resume handler: kopf's handling of one more handler per object was most of a restart's
            # time over 10,000 objects (bench/README.md).
            runtime.schedule_drift(kind, body, spread=True)

    async def reconcile(trigger: Trigger, body: kopf.Body, patch: kopf.Patch, retry: int, old: Any = None) -> None:
        previous = dict(old) if isinstance(old, dict) else None
        view, cc = runtime.view(kind, body, retry, previous)
        with runtime.working_on(view.uid):
            outcome = await reconciler.reconcile(view, cc, trigger)
        runtime.schedule_drift(kind, body)
        for key in outcome.follow:
            runtime.follow(key)
        _apply(outcome, body, patch)

    @kopf.on.create(*kind.resource, registry=registry, id="reconcile")
    async def on_create(body: kopf.Body, patch: kopf.Patch, retry: int, **kwargs: Any) -> None:
        await reconcile("create", body, patch, retry)

    @kopf.on.update(*kind.resource, registry=registry, id="reconcile", field="spec")
    async def on_update(body: kopf.Body, patch: kopf.Patch, retry: int, old: Any, **kwargs: Any) -> None:
        await reconcile("update", body, patch, retry, old)

    def unsettled(body: kopf.Body, **_: Any) -> bool:
        return not runtime.settled(body)

    # Only for objects with something to do: a settled one was taken back by `event_seen`.
    @kopf.on.resume(*kind.resource, registry=registry, id="resume", when=unsettled)
    async def on_resume(body: kopf.Body, patch: kopf.Patch, retry: int, **kwargs: Any) -> None:
        await reconcile("resume", body, patch, retry)

    @kopf.on.delete(*kind.resource, registry=registry, id=FINALIZE_HANDLER)
    async def on_delete(body: kopf.Body, patch: kopf.Patch, retry: int, **kwargs: Any) -> None:
        view, cc = runtime.view(kind, body, retry)
        crd_deleted = await runtime.crd_deleted(kind)
        if crd_deleted is None:
            # Unknown whether this delete is a person's or an uninstall's: delete nothing yet, ask again.
            raise kopf.TemporaryError(f"cannot read the CRD {kind.crd_name} yet", delay=5)
        if crd_deleted:
            view = dataclasses.replace(view, crd_deleted=True)
        with runtime.working_on(view.uid):
            outcome = await reconciler.finalize(view, cc, runtime.surroundings(view))
        if runtime.scheduler is not None:
            runtime.scheduler.forget(view.uid)
        if outcome.blocked:
            runtime.blocked[view.uid] = (kind, view.namespace, view.name, view.generation)
        else:
            runtime.blocked.pop(view.uid, None)
        _apply(outcome, body, patch)
