"""The resync: which objects it hands back to kopf, and that a healthy cluster costs no writes; and the
runtime's memory of reference targets: what a view resolves from it, and whom a Ready target wakes."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.test_reconciler import SETTINGS as FAST
from tests.unit.test_reconciler import FakeCloudControl
from userprofile_operator.budget import DRIFT, LANE, USER
from userprofile_operator.drift import Ref
from userprofile_operator.handlers import Runtime
from userprofile_operator.kind import FINALIZER, Kind
from userprofile_operator.kinds import all_kinds
from userprofile_operator.kinds.domain import KIND as DOMAIN
from userprofile_operator.kinds.space import KIND as SPACE
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.plan import awaiting_operator, resync_plan
from userprofile_operator.reconciler import ObjectView, Outcome, Reconciler
from userprofile_operator.resync import Resync
from userprofile_operator.settings import Settings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def obj(
    name: str,
    *,
    generation: int = 1,
    observed: int | None = None,
    version: str = "10",
    status: dict[str, Any] | None = None,
    deleting: bool = False,
    finalizers: tuple[str, ...] = (FINALIZER,),
    namespace: str = "team-a",
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "generation": generation,
        "resourceVersion": version,
        "finalizers": list(finalizers),
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-27T11:59:00Z"
    body_status = dict(status or {})
    if observed is not None:
        body_status["observedGeneration"] = observed
    return {"metadata": meta, "status": body_status}


def delayed(seconds: float) -> dict[str, Any]:
    """kopf's progress record of a handler to be retried `seconds` from NOW (naive UTC, as kopf writes)."""
    when = (NOW + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat(timespec="microseconds")
    return {"kopf": {"progress": {"reconcile": {"retries": 1, "delayed": when}}}}


# -- the decision ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (obj("new"), True),  # never reconciled: no status at all
        (obj("behind", generation=2, observed=1), True),
        (obj("settled", generation=2, observed=2), False),
        (obj("pending", observed=1, status={"operation": {"type": "CREATE"}}), True),
        (obj("retry-planned", generation=2, observed=1, status=delayed(30)), False),
        (obj("retry-overdue", generation=2, observed=1, status=delayed(-30)), True),
        (obj("deleting", observed=1, deleting=True), True),
        (obj("deleted-by-kubernetes", observed=1, deleting=True, finalizers=()), False),
        (obj("someone-elses-finalizer", observed=1, deleting=True, finalizers=("x/y",)), False),
    ],
)
def test_which_objects_await_the_operator(body: dict[str, Any], expected: bool) -> None:
    assert awaiting_operator(body, NOW, FINALIZER) is expected


def test_an_object_is_nudged_only_after_a_whole_interval_without_change() -> None:
    stuck, moving, settled = obj("stuck"), obj("moving", version="20"), obj("settled", observed=1)
    nudge, suspects = resync_plan({}, [stuck, moving, settled], NOW, set(), FINALIZER)
    assert nudge == []  # first sight: maybe kopf is about to get to them
    assert suspects == {"uid-stuck": "10", "uid-moving": "20"}

    moved = obj("moving", version="21")  # kopf wrote to it in between: it is alive
    nudge, suspects = resync_plan(suspects, [stuck, moved, settled], NOW, set(), FINALIZER)
    assert nudge == [stuck]
    assert suspects == {"uid-stuck": "10", "uid-moving": "21"}


def test_an_object_a_handler_is_working_on_is_not_nudged() -> None:
    stuck = obj("stuck")
    nudge, suspects = resync_plan({"uid-stuck": "10"}, [stuck], NOW, {"uid-stuck"}, FINALIZER)
    assert nudge == [] and suspects == {}


# -- the loop -------------------------------------------------------------------------------------


class FakeObjects:
    """Pages of objects per namespace (of the user profile kind, unless told another), and the status
    patches written."""

    def __init__(
        self,
        by_namespace: dict[str | None, list[dict[str, Any]]],
        fail: set[str] = frozenset(),
        kind: Kind = PROFILE,
    ) -> None:
        self.by_kind: dict[Kind, dict[str | None, list[dict[str, Any]]]] = {kind: by_namespace}
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.patched_kinds: list[Kind] = []
        self.listed: list[str | None] = []
        self.listed_kinds: list[Kind] = []
        self.fail = fail

    async def pages(self, kind: Kind, namespace: str | None) -> AsyncIterator[list[dict[str, Any]]]:
        self.listed.append(namespace)
        self.listed_kinds.append(kind)
        items = self.by_kind.get(kind, {}).get(namespace, [])
        for start in range(0, max(len(items), 1), 2):  # pages of two
            yield items[start : start + 2]

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None:
        if name in self.fail:
            raise RuntimeError("the API server is away")
        self.patches.append((namespace, name, status))
        self.patched_kinds.append(kind)


async def test_two_passes_touch_kopfs_dummy_on_stalled_objects_only() -> None:
    objects = [obj("a", observed=1), obj("b"), obj("c", generation=3, observed=2, status=delayed(60)), obj("d")]
    fake = FakeObjects({"team-a": objects})
    resync = Resync(fake, lambda: [PROFILE], lambda: ["team-a"], interval=300, busy=set(), clock=lambda: NOW)

    assert await resync.run_pass() == 0
    assert fake.patches == []
    assert await resync.run_pass() == 2
    assert fake.patches == [
        ("team-a", "b", {"kopf": {"dummy": NOW.isoformat()}}),
        ("team-a", "d", {"kopf": {"dummy": NOW.isoformat()}}),
    ]
    assert fake.listed == ["team-a", "team-a"]


async def test_a_healthy_cluster_costs_no_writes() -> None:
    fake = FakeObjects({None: [obj(f"p{i}", observed=1) for i in range(7)]})
    resync = Resync(fake, lambda: [PROFILE], lambda: [None], interval=300, busy=set(), clock=lambda: NOW)
    for _ in range(3):
        assert await resync.run_pass() == 0
    assert fake.patches == []
    assert fake.listed == [None, None, None]


async def test_a_failed_nudge_is_tried_again_on_a_later_pass() -> None:
    fake = FakeObjects({"team-a": [obj("b")]}, fail={"b"})
    resync = Resync(fake, lambda: [PROFILE], lambda: ["team-a"], interval=300, busy=set(), clock=lambda: NOW)
    await resync.run_pass()
    assert await resync.run_pass() == 0
    fake.fail = set()
    assert await resync.run_pass() == 1
    assert [p[1] for p in fake.patches] == ["b"]


async def test_every_kind_is_listed_and_nudged_as_itself() -> None:
    fake = FakeObjects({"team-a": [obj("p", observed=1), obj("q")]})
    fake.by_kind[DOMAIN] = {"team-a": [obj("d"), obj("settled", observed=1)]}
    fake.by_kind[SPACE] = {"team-a": [obj("s")]}
    kinds = (PROFILE, DOMAIN, SPACE)
    resync = Resync(fake, lambda: kinds, lambda: ["team-a"], interval=300, busy=set(), clock=lambda: NOW)
    assert await resync.run_pass() == 0
    assert await resync.run_pass() == 3
    assert [(kind, p[1]) for kind, p in zip(fake.patched_kinds, fake.patches, strict=True)] == [
        (PROFILE, "q"),
        (DOMAIN, "d"),
        (SPACE, "s"),
    ]
    assert fake.listed_kinds == [*kinds, *kinds]


def test_the_listing_scope_follows_kopfs_namespace_patterns() -> None:
    cluster = Runtime(Settings(), all_kinds())
    assert list(cluster.scope()) == [None]

    runtime = Runtime(Settings(), all_kinds(), ["shared-*, !shared-skip", "team-a"])
    for ns in ("shared-1", "shared-skip", "team-a", "team-b", "shared-2"):
        runtime.namespaces[ns] = {"region": None, "role_arn": None}
    assert list(runtime.scope()) == ["shared-1", "shared-2", "team-a"]


# -- references: what the runtime knows of targets, and whom a Ready target wakes ---------------------


class FakeScheduler:
    """The drift scheduler's `schedule`, recorded."""

    def __init__(self) -> None:
        self.scheduled: list[tuple[Ref, float]] = []

    def schedule(self, ref: Ref, delay: float, tolerance: float | None = None) -> None:
        self.scheduled.append((ref, delay))


def runtime() -> Runtime:
    rt = Runtime(Settings(default_region=None), all_kinds())
    rt.scheduler = FakeScheduler()  # type: ignore[assignment]
    return rt


def domain_body(*, ready: bool, namespace: str = "team-a", identifier: str | None = "d-abcdef123456") -> dict[str, Any]:
    body = obj("studio", namespace=namespace, status={"identifier": identifier} if identifier else {})
    body["spec"] = {"domainName": "studio", "authMode": "IAM"}
    if ready:
        body["status"]["conditions"] = [{"type": "Ready", "status": "True", "observedGeneration": 1}]
    return body


def profile_body(status: dict[str, Any] | None = None, *, deleting: bool = False) -> dict[str, Any]:
    body = obj("alice", status=status, deleting=deleting)
    body["spec"] = {"domainIdRef": {"name": "studio"}, "userProfileName": "alice"}
    return body


ALICE = Ref(PROFILE, "team-a", "alice", "uid-alice")
STUDIO = ("SageMakerDomain", "team-a", "studio")


def test_a_profile_resolves_its_domain_from_what_the_watch_saw() -> None:
    rt = runtime()
    rt.saw(DOMAIN, "ADDED", domain_body(ready=True))
    view, cc = rt.view(PROFILE, profile_body(), 0)
    assert view.spec == {"domainId": "d-abcdef123456", "userProfileName": "alice"}
    assert view.waiting == ()
    assert rt.waiting == {}
    assert cc is None  # no region anywhere: the reconciler reports NoRegion, no client is made


def test_a_profile_whose_domain_is_not_ready_waits_for_it_and_says_why() -> None:
    rt = runtime()
    view, _ = rt.view(PROFILE, profile_body(), 0)
    assert view.waiting == ("SageMakerDomain studio (does not exist)",)
    assert "domainId" not in view.spec and "domainIdRef" not in view.spec
    assert rt.waiting == {STUDIO: {ALICE}}
    rt.saw(DOMAIN, "ADDED", domain_body(ready=False, identifier=None))
    view, _ = rt.view(PROFILE, profile_body(), 1)
    assert view.waiting == ("SageMakerDomain studio (is not Ready)",)
    assert rt.waiting == {STUDIO: {ALICE}}  # registered once


def test_a_ready_domain_wakes_the_objects_waiting_for_it_at_once() -> None:
    rt = runtime()
    rt.view(PROFILE, profile_body(), 0)
    scheduler = rt.scheduler
    assert isinstance(scheduler, FakeScheduler)
    rt.saw(DOMAIN, "ADDED", domain_body(ready=False, identifier=None))  # being created: nobody woken yet
    rt.saw(DOMAIN, "ADDED", domain_body(ready=True, namespace="team-b"))  # another namespace's studio
    assert scheduler.scheduled == []
    rt.saw(DOMAIN, "MODIFIED", domain_body(ready=True))
    assert scheduler.scheduled == [(ALICE, 0)]
    assert rt.waiting == {}
    rt.saw(DOMAIN, "MODIFIED", domain_body(ready=True))  # Ready again: woken once is enough
    assert scheduler.scheduled == [(ALICE, 0)]


def test_a_deleted_domain_is_forgotten() -> None:
    rt = runtime()
    rt.saw(DOMAIN, "ADDED", domain_body(ready=True))
    rt.saw(DOMAIN, "DELETED", domain_body(ready=True))
    assert STUDIO not in rt.seen
    view, _ = rt.view(PROFILE, profile_body(), 0)
    assert view.waiting == ("SageMakerDomain studio (does not exist)",)


def test_a_profile_aws_already_has_keeps_its_domain_from_its_identifier() -> None:
    """Its domain object is gone or not Ready (being updated): the profile stays managed, waits for nothing."""
    rt = runtime()
    rt.saw(DOMAIN, "ADDED", domain_body(ready=False))
    status = {"identifier": "alice|d-abcdef123456", "region": "us-east-1"}
    view, _ = rt.view(PROFILE, profile_body(status), 0)
    assert view.spec["domainId"] == "d-abcdef123456"
    assert view.waiting == ()
    assert rt.waiting == {}


def test_a_profile_being_deleted_that_aws_never_had_waits_for_nothing() -> None:
    rt = runtime()
    view, _ = rt.view(PROFILE, profile_body(deleting=True), 0)
    assert view.waiting == ()
    assert rt.waiting == {}


class OneObject:
    """The Kubernetes side of a check outside kopf: one object to read; status patches and Events written."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.patches: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        return self.body

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patches.append(status)

    async def post_event(self, body: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


class RecordingReconciler:
    def __init__(self) -> None:
        self.passes: list[tuple[ObjectView, str]] = []

    async def reconcile(self, view: ObjectView, cc: Any, trigger: str) -> Outcome:
        self.passes.append((view, trigger))
        return Outcome()


def waiting_since(generation: int = 1) -> dict[str, Any]:
    reason = "ReferenceNotReady"
    conditions = [
        {"type": t, "status": "False", "reason": reason, "observedGeneration": generation} for t in ("Ready", "Synced")
    ]
    return {"conditions": conditions}


async def test_a_woken_object_is_reconciled_with_its_resolved_spec() -> None:
    rt = runtime()
    recorder = RecordingReconciler()
    rt.reconcilers[PROFILE] = recorder  # type: ignore[assignment]
    rt.objects = OneObject(profile_body({**waiting_since(), "observedGeneration": 1}))  # type: ignore[assignment]
    rt.saw(DOMAIN, "MODIFIED", domain_body(ready=True))
    await rt.drift_check(ALICE)
    ((view, trigger),) = recorder.passes
    assert trigger == "reference"
    assert view.spec["domainId"] == "d-abcdef123456" and view.waiting == ()


async def test_a_check_leaves_alone_an_object_never_created_that_waits_for_nothing() -> None:
    """No identifier and not waiting for a reference: a handler is at work on it, not the check."""
    rt = runtime()
    recorder = RecordingReconciler()
    rt.reconcilers[PROFILE] = recorder  # type: ignore[assignment]
    rt.objects = OneObject(profile_body({"observedGeneration": 1}))  # type: ignore[assignment]
    await rt.drift_check(ALICE)
    assert recorder.passes == []


async def test_a_profile_deleted_while_its_create_is_in_flight_is_not_left_in_aws() -> None:
    """`kubectl delete -f studio.yaml` right after apply: the domain is being deleted too (not Ready)."""
    rt = runtime()
    rt.saw(DOMAIN, "ADDED", domain_body(ready=True))
    reconciler = Reconciler(FAST, PROFILE)
    cc = FakeCloudControl()
    cc.hold = True
    view, _ = rt.view(PROFILE, profile_body(), 0)
    pending = await reconciler.reconcile(dataclasses.replace(view, region="us-east-1"), cc, "create")
    assert pending.status["operation"]["type"] == "CREATE"
    cc.hold = False
    rt.saw(DOMAIN, "MODIFIED", domain_body(ready=False))
    view, _ = rt.view(PROFILE, profile_body(pending.status, deleting=True), 0)
    out = await reconciler.finalize(dataclasses.replace(view, region="us-east-1"), cc)
    assert not (out.release and cc.resources), f"released, and AWS keeps {list(cc.resources)}"


class LaneRecorder:
    """A reconciler whose passes are throttled `throttled` times, then done; records each pass's lane."""

    def __init__(self, throttled: int) -> None:
        self.throttled = throttled
        self.lanes: list[tuple[str, str]] = []

    async def reconcile(self, view: ObjectView, cc: Any, trigger: str) -> Outcome:
        self.lanes.append((trigger, LANE.get()))
        if len(self.lanes) <= self.throttled:
            return Outcome(retry_in=5.0, retry_reason="ThrottlingException: Rate exceeded")
        return Outcome()


async def test_a_throttled_drift_check_comes_back_in_drifts_lane_not_the_users() -> None:
    """Under steady throttling a drift read's retries must not draw on the user's share of the budget."""
    rt = runtime()
    recorder = LaneRecorder(throttled=2)
    rt.reconcilers[PROFILE] = recorder  # type: ignore[assignment]
    ready = [{"type": "Ready", "status": "True", "observedGeneration": 1}]
    rt.objects = OneObject(profile_body({"identifier": "alice|d-1", "observedGeneration": 1, "conditions": ready}))  # type: ignore[assignment]
    for _ in range(3):
        await rt.drift_check(ALICE)
    assert recorder.lanes == [("drift", DRIFT), ("resume", DRIFT), ("resume", DRIFT)]
    assert ALICE.uid not in rt.followups and ALICE.uid not in rt.drift_followups


async def test_a_woken_creates_retries_stay_in_the_users_lane() -> None:
    rt = runtime()
    recorder = LaneRecorder(throttled=1)
    rt.reconcilers[PROFILE] = recorder  # type: ignore[assignment]
    rt.objects = OneObject(profile_body({**waiting_since(), "observedGeneration": 1}))  # type: ignore[assignment]
    rt.saw(DOMAIN, "MODIFIED", domain_body(ready=True))
    await rt.drift_check(ALICE)
    rt.objects.body["status"] = {"observedGeneration": 1, "identifier": "alice|d-1"}  # type: ignore[union-attr]
    await rt.drift_check(ALICE)
    assert recorder.lanes == [("reference", USER), ("resume", USER)]
