"""The drift scheduler: one heap for all objects, rescheduling replaces, forgetting cancels."""

from __future__ import annotations

import asyncio

from userprofile_operator.drift import DriftScheduler, Ref
from userprofile_operator.kinds.space import KIND as SPACE
from userprofile_operator.kinds.userprofile import KIND as PROFILE


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _never(ref: Ref) -> None:  # pragma: no cover - due() is driven by hand here
    raise AssertionError(ref)


def refs(*names: str) -> list[Ref]:
    return [Ref(PROFILE, "ns", n, f"uid-{n}") for n in names]


def test_due_in_time_order_and_only_when_due() -> None:
    clock = Clock()
    scheduler = DriftScheduler(_never, clock=clock)
    a, b, c = refs("a", "b", "c")
    scheduler.schedule(b, 20)
    scheduler.schedule(a, 10)
    scheduler.schedule(c, 30)
    assert scheduler.due() == []
    assert scheduler.next_in() == 10
    clock.now = 25
    assert scheduler.due() == [a, b]
    assert len(scheduler) == 1


def test_rescheduling_replaces_and_forgetting_cancels() -> None:
    clock = Clock()
    scheduler = DriftScheduler(_never, clock=clock)
    a, b = refs("a", "b")
    scheduler.schedule(a, 10)
    scheduler.schedule(a, 50)  # reconciled again: the earlier check is void
    scheduler.schedule(b, 5)
    scheduler.forget(b.uid)
    clock.now = 20
    assert scheduler.due() == []
    assert scheduler.next_in() == 30
    clock.now = 50
    assert scheduler.due() == [a]


def test_objects_of_every_kind_share_the_scheduler_and_keep_their_kind() -> None:
    clock = Clock()
    scheduler = DriftScheduler(_never, clock=clock)
    (profile,) = refs("a")
    space = Ref(SPACE, "ns", "a", "uid-space-a")  # the same name, another kind: another object
    scheduler.schedule(space, 10)
    scheduler.schedule(profile, 5)
    clock.now = 10
    assert [(ref.kind, ref.uid) for ref in scheduler.due()] == [(PROFILE, "uid-a"), (SPACE, "uid-space-a")]


async def test_run_calls_each_due_check_once_and_survives_a_failing_one() -> None:
    seen: list[str] = []
    done = asyncio.Event()

    async def check(ref: Ref) -> None:
        seen.append(ref.name)
        if ref.name == "bad":
            raise RuntimeError("AWS is down")
        if len(seen) == 3:
            done.set()

    scheduler = DriftScheduler(check)
    for ref, delay in zip(refs("bad", "a", "b"), (0.0, 0.01, 0.02), strict=True):
        scheduler.schedule(ref, delay)
    task = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(done.wait(), timeout=5)
    task.cancel()
    assert sorted(seen) == ["a", "b", "bad"]
    assert len(scheduler) == 0


async def test_due_checks_start_oldest_due_first_as_slots_free_up() -> None:
    """A backlog of due checks (drift behind its budget) is served in due order, even for a check
    planned after others were already waiting."""
    clock = Clock()
    clock.now = 100.0
    started: list[str] = []
    gate, first, all_three = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def check(ref: Ref) -> None:
        started.append(ref.name)
        first.set()
        if len(started) == 3:
            all_three.set()
        await gate.wait()

    scheduler = DriftScheduler(check, concurrency=1, clock=clock)
    a, b, c = refs("a", "b", "c")
    scheduler.schedule(c, -3)
    scheduler.schedule(a, -30)
    task = asyncio.create_task(scheduler.run())
    await asyncio.wait_for(first.wait(), timeout=5)
    scheduler.schedule(b, -10)  # due before c, planned after it
    gate.set()
    await asyncio.wait_for(all_three.wait(), timeout=5)
    task.cancel()
    assert started == ["a", "b", "c"]


def test_overdue_counts_drift_checks_late_by_more_than_their_jitter_per_kind() -> None:
    clock = Clock()
    scheduler = DriftScheduler(_never, clock=clock)
    a, b = refs("a", "b")
    space = Ref(SPACE, "ns", "s", "uid-s")
    scheduler.schedule(a, 100, tolerance=10)
    scheduler.schedule(b, 100)  # a retry, not a drift check: never overdue
    scheduler.schedule(space, 50, tolerance=5)
    clock.now = 105
    assert scheduler.overdue(PROFILE.kind) == 0  # late, but within the jitter
    assert scheduler.overdue(SPACE.kind) == 1
    clock.now = 111
    assert scheduler.overdue(PROFILE.kind) == 1
