"""The pieces that keep the operator from going quiet: the Lease fence, the watch self-check, the health
answers, and the identity that needs no passwd entry. Clocks are injected; nothing sleeps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from userprofile_operator.election import Fence, NotLeader, identity
from userprofile_operator.health import Health, Phase, Watchdog
from userprofile_operator.kind import Kind
from userprofile_operator.kinds import all_kinds
from userprofile_operator.kinds.space import KIND as SPACE
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.runner import lease_namespace
from userprofile_operator.settings import Settings
from userprofile_operator.watchguard import Probe, WatchGuard, WatchState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the fence ----------------------------------------------------------------------------------------


def test_a_fence_holds_until_the_renew_deadline_after_the_last_renewal_was_sent() -> None:
    clock = Clock()
    lost: list[str] = []
    fence = Fence(10.0, on_lost=lost.append, clock=clock)
    assert not fence.holds(), "before the first acquire, nothing may be done"
    fence.renewed(clock.now - 1)  # sent a second ago, answered now
    assert fence.holds()
    clock.now += 8.9
    fence.check()
    clock.now += 0.2  # 10.1 s after the renewal was sent
    with pytest.raises(NotLeader, match=r"10\.1 s ago"):
        fence.check()
    assert lost and "renew deadline 10 s" in lost[0]


def test_a_late_answer_to_an_older_renewal_does_not_move_the_fence_back() -> None:
    clock = Clock()
    fence = Fence(10.0, clock=clock)
    fence.renewed(clock.now)
    fence.renewed(clock.now - 5)
    assert fence.age() == 0


def test_a_revoked_fence_refuses_without_calling_it_lost() -> None:
    clock, lost = Clock(), []
    fence = Fence(10.0, on_lost=lost.append, clock=clock)
    fence.renewed(clock.now)
    fence.revoke()
    assert not fence.holds()
    with pytest.raises(NotLeader, match="released the Lease"):
        fence.check()
    assert not lost, "a graceful stop is not a lost election: no exit"


def test_without_election_the_fence_always_holds() -> None:
    fence = Fence(None)
    assert fence.holds()
    fence.check()


def test_identity_is_the_pod_name_else_host_and_pid_never_the_user_name() -> None:
    assert identity({"POD_NAME": "op-7d9f-abcde"}) == "op-7d9f-abcde"
    host_pid = identity({})
    assert host_pid.rsplit("-", 1)[1].isdigit()


def test_lease_namespace_is_the_flag_else_pod_namespace() -> None:
    assert lease_namespace("ops", {"POD_NAMESPACE": "other"}) == "ops"
    assert lease_namespace(None, {"POD_NAMESPACE": "other"}) == "other"


def test_election_timings_follow_client_go_rules() -> None:
    s = Settings()
    assert (s.lease_duration, s.renew_deadline, s.retry_period) == (15, 10, 2)
    with pytest.raises(ValidationError, match="lease_duration must be greater"):
        Settings(lease_duration=10, renew_deadline=10)
    with pytest.raises(ValidationError, match="renew_deadline must be greater"):
        Settings(renew_deadline=2, retry_period=2)


# -- the watch self-check -----------------------------------------------------------------------------


def test_a_quiet_watch_is_probed_after_the_interval_and_any_event_answers_it() -> None:
    clock = Clock()
    state = WatchState(probe_interval=60, probe_timeout=30, clock=clock)
    state.set_coverage(["smups"])
    clock.now += 59
    assert not state.probe_due()
    clock.now += 1
    assert state.probe_due()
    state.probe_sent(Probe("ns", "a", "t", clock.now))
    assert not state.probe_due()
    clock.now += 29
    assert not state.probe_overdue()
    state.event_seen()
    state.guard_ran()
    assert state.probe is None and state.problem() is None


def test_a_resource_the_api_server_serves_and_kopf_does_not_watch_is_a_problem_after_the_grace() -> None:
    clock = Clock()
    state = WatchState(probe_interval=60, probe_timeout=30, clock=clock)
    state.set_lagging("smups")
    clock.now += 29
    state.guard_ran()
    assert state.problem() is None
    state.set_lagging("smups")  # still: the grace counts from the first time
    clock.now += 1
    problem = state.problem()
    assert problem is not None and "smups is served by the API server but not watched (for 30 s)" in problem
    state.set_lagging(None)
    assert state.problem() is None


def test_a_guard_that_stopped_running_is_a_problem() -> None:
    """kopf stopped on its own (a failed watcher takes it down) and the guard with it."""
    clock = Clock()
    state = WatchState(probe_interval=60, probe_timeout=30, clock=clock)
    state.set_coverage(["smups"])
    clock.now += 30
    problem = state.problem()
    assert problem is not None and "has not run for 30 s: kopf has stopped" in problem


def test_the_watchdog_ends_the_process_once_liveness_has_failed_for_the_bound() -> None:
    clock, died = Clock(), []
    problem: list[str | None] = [None]
    watchdog = Watchdog(Health(live_checks=[lambda: problem[0]]), exit_after=60, die=died.append, clock=clock)
    watchdog.check()
    problem[0] = "deaf"
    watchdog.check()
    clock.now += 59
    watchdog.check()
    problem[0] = None  # it recovered: the count starts again
    watchdog.check()
    problem[0] = "deaf"
    watchdog.check()
    clock.now += 59
    watchdog.check()
    assert not died
    clock.now += 1
    watchdog.check()
    assert died == ["unhealthy for 60 s: deaf; exiting for a restart"]


class FakeObjects:
    """Objects of one kind (the user profile's unless told another), and the API server's discovery:
    `served`, the CRD names it serves (every kind's unless told otherwise)."""

    def __init__(self, objects: list[dict[str, Any]], kind: Kind = PROFILE) -> None:
        self.kind = kind
        self.objects = {o["metadata"]["name"]: o for o in objects}
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.down = False
        self.on_patch: Any = None  # called while the PATCH is "in flight" (a watch event racing it)
        self.served = {k.crd_name for k in all_kinds()}
        self.discovery_reads = 0

    async def first(self, kind: Kind, namespace: str | None) -> dict[str, Any] | None:
        if kind.crd_name not in self.served:
            raise LookupError(f"404: {kind.plural} is not served")
        return next(iter(self.objects.values()), None) if kind is self.kind else None

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        if self.down:
            raise ConnectionRefusedError("connection refused")
        return self.objects.get(name) if kind is self.kind else None

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None:
        assert kind is self.kind
        self.patches.append((name, status))
        self.objects[name].setdefault("status", {}).update(status)
        if self.on_patch is not None:
            self.on_patch()

    async def serving(self, kinds: Iterable[Kind]) -> list[Kind] | None:
        self.discovery_reads += 1
        return None if self.down else [k for k in kinds if k.crd_name in self.served]


def _guard(
    objects: FakeObjects,
    clock: Clock,
    kopf: set[str] | None = None,
    busy: set[str] | None = None,
    kinds: tuple[Kind, ...] = (PROFILE,),
    catches_up: bool = True,
) -> WatchGuard:
    """A guard over `kinds`. `kopf` is what kopf's discovery holds (CRD names; default: what the API
    server serves); asked to read discovery again, kopf finds what the API server serves (unless not
    `catches_up`)."""
    state = WatchState(probe_interval=60, probe_timeout=30, kinds=[k.crd_name for k in kinds], clock=clock)
    seen = set(objects.served) if kopf is None else kopf

    async def rediscover() -> None:
        if catches_up:
            seen.clear()
            seen.update(objects.served)

    return WatchGuard(
        state=state,
        objects=objects,
        kinds=kinds,
        scope=lambda: [None],
        busy=lambda uid: uid in (busy or set()),
        unwatched=lambda: [k.crd_name for k in kinds if k.crd_name not in seen],
        rediscover=rediscover,
    )


def obj(name: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "uid": f"uid-{name}"}}


def test_a_deaf_watch_is_a_problem_once_a_lost_probe_is_confirmed() -> None:
    clock = Clock()
    objects = FakeObjects([obj("a")])
    guard = _guard(objects, clock)
    run = asyncio.run
    run(guard.step())
    assert not objects.patches, "a watch that is not quiet is not probed"
    clock.now += 60
    run(guard.step())
    probe = guard.state.probe
    assert probe is not None and objects.patches == [("a", {"kopf": {"dummy": probe.token}})]
    assert probe.kind is PROFILE
    clock.now += 30
    run(guard.step())  # overdue; the API server holds the touch; no event came
    problem = guard.state.problem()
    assert problem is not None and "never came back as an event" in problem and "ns/a" in problem
    assert problem.startswith("no watch event for 90 s")
    clock.now += 100
    run(guard.step())
    assert guard.state.problem() == problem, "no new probe while deaf: the problem stays"


def test_a_deaf_watch_is_found_through_an_object_of_any_kind() -> None:
    """No user profiles at all, only a space: the probe touches the space and confirms it as a space."""
    clock = Clock()
    objects = FakeObjects([obj("lab")], kind=SPACE)
    guard = _guard(objects, clock, kinds=all_kinds())
    clock.now += 60
    asyncio.run(guard.step())
    probe = guard.state.probe
    assert probe is not None and probe.kind is SPACE and objects.patches == [("lab", {"kopf": {"dummy": probe.token}})]
    clock.now += 30
    asyncio.run(guard.step())
    problem = guard.state.problem()
    assert problem is not None and "ns/lab" in problem


def test_a_probe_the_api_server_cannot_confirm_is_inconclusive_not_deaf() -> None:
    clock = Clock()
    objects = FakeObjects([obj("a")])
    guard = _guard(objects, clock)
    clock.now += 60
    asyncio.run(guard.step())
    assert guard.state.probe is not None
    objects.down = True
    clock.now += 30
    asyncio.run(guard.step())
    assert guard.state.problem() is None and guard.state.probe is None


def test_the_touch_event_arriving_before_the_patch_returns_answers_the_probe() -> None:
    """A local API server can deliver the touch's watch event before the PATCH call has returned: that
    event is the answer, not a lost probe (an e2e run once saw a healthy operator exit for it)."""
    clock = Clock()
    objects = FakeObjects([obj("a")])
    guard = _guard(objects, clock)
    objects.on_patch = guard.state.event_seen
    clock.now += 60
    asyncio.run(guard.step())
    assert objects.patches and guard.state.probe is None
    clock.now += 30
    asyncio.run(guard.step())
    assert guard.state.problem() is None


def test_an_event_before_the_timeout_answers_the_probe() -> None:
    clock = Clock()
    guard = _guard(FakeObjects([obj("a")]), clock)
    clock.now += 60
    asyncio.run(guard.step())
    clock.now += 5
    guard.state.event_seen()
    clock.now += 30
    asyncio.run(guard.step())
    assert guard.state.problem() is None


def test_nothing_to_probe_is_no_problem_and_busy_objects_are_not_probed() -> None:
    clock = Clock()
    objects = FakeObjects([obj("a")])
    guard = _guard(objects, clock, busy={"uid-a"})
    clock.now += 60
    asyncio.run(guard.step())
    assert not objects.patches and guard.state.quiet() == 0


def test_a_resource_missing_from_kopfs_discovery_is_looked_up_again() -> None:
    clock = Clock()
    kopf: set[str] = set()  # kopf lost it; a fresh read of discovery finds it
    guard = _guard(FakeObjects([]), clock, kopf)
    asyncio.run(guard.step())
    assert kopf and guard.state.watched == {PROFILE.crd_name} and guard.state.lagging is None


def test_a_resource_kopf_does_not_pick_up_though_served_is_reported() -> None:
    clock = Clock()
    guard = _guard(FakeObjects([]), clock, set(), catches_up=False)
    for _ in range(4):
        asyncio.run(guard.step())
        clock.now += 10
    asyncio.run(guard.step())
    problem = guard.state.problem()
    assert problem is not None
    assert f"{PROFILE.crd_name} is served by the API server but not watched (for 40 s)" in problem


# -- the health answers -------------------------------------------------------------------------------


def test_health_answers_by_phase_and_checks() -> None:
    problem: list[str | None] = [None]
    health = Health(live_checks=[lambda: problem[0]])

    async def scenario() -> list[tuple[int, int, dict[str, Any]]]:
        seen = []
        async with TestClient(TestServer(health.app())) as client:
            for phase, prob in (
                (Phase.STARTING, None),
                (Phase.FOLLOWER, None),
                (Phase.WAITING_FOR_CRD, None),
                (Phase.LEADING, None),
                (Phase.LEADING, "deaf"),
            ):
                health.phase, problem[0] = phase, prob
                live = await client.get("/healthz")
                ready = await client.get("/readyz")
                seen.append((live.status, ready.status, json.loads(await live.text())))
        return seen

    seen = asyncio.run(scenario())
    assert [(a, b) for a, b, _ in seen] == [(200, 503), (200, 200), (200, 503), (200, 200), (500, 503)]
    assert seen[4][2] == {"ok": False, "phase": "Leading", "reason": "deaf"}


def test_the_memory_trim_runs_until_the_stop() -> None:
    # glibc's malloc_trim after every wait of `every` seconds, in a thread; the stop ends it at once.
    # The wait is a fake that returns when the test ticks it, the trim a fake that tells the test.
    from userprofile_operator.runner import _give_back_freed_memory, _malloc_trim

    real = _malloc_trim()  # None where the C library is not glibc; else it runs (1: memory given back)
    assert real is None or real(0) in (0, 1)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        ticks: asyncio.Queue[None] = asyncio.Queue()
        trims: asyncio.Queue[int] = asyncio.Queue()
        waits: list[float] = []

        async def pause(seconds: float) -> None:
            waits.append(seconds)
            await ticks.get()

        def trim(pad: int) -> None:  # called in a worker thread
            loop.call_soon_threadsafe(trims.put_nowait, pad)

        task = asyncio.create_task(_give_back_freed_memory(stop, every=30.0, trim=trim, pause=pause))
        for _ in range(3):
            ticks.put_nowait(None)
            assert await asyncio.wait_for(trims.get(), 10) == 0, "every wait that ends is followed by a trim"
        assert not task.done() and len(waits) >= 3 and set(waits) == {30.0}
        stop.set()  # no tick: the stop alone ends the wait and the loop
        await asyncio.wait_for(task, 10)

    asyncio.run(main())
