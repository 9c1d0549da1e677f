"""When to re-read each managed object from AWS: one scheduler for all objects, not a timer per object.

kopf timers cost an asyncio task, daemon state and a live copy of the body per object, and wake up
on every tick whether or not anything is due: at 10,000 objects that is most of the operator's memory
and a steady share of a core while nothing happens (bench/README.md). Here handlers say when an object
was last reconciled (`schedule`), deletion forgets it, and one task sleeps until the earliest check
is due and hands that object to `check`. What a check does is not decided here (see handlers.py).

Checks start oldest-due first, one as a slot frees up (`concurrency`); the check itself puts its AWS
calls in the drift lane of the budget (budget.py), so a check that waits for its lane holds its slot,
and the ones behind it stay in the heap in due order. Lateness is measured here
(`smup_drift_lag_seconds`, and overdue objects per kind at scrape time). `DriftPace` is the arithmetic
of the interval that can be kept: how many reads a second the objects of each budget (account and
region) ask for, against what the drift lane allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from userprofile_operator import metrics
from userprofile_operator.budget import drift_stretch
from userprofile_operator.kind import Kind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ref:
    kind: Kind
    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class Entry:
    due: float
    ref: Ref
    tolerance: float | None  # a drift check is overdue past due + tolerance; None: not a drift check


class DriftScheduler:
    def __init__(
        self,
        check: Callable[[Ref], Awaitable[None]],
        concurrency: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._clock = clock
        self._heap: list[tuple[float, str]] = []
        self._entries: dict[str, Entry] = {}
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def schedule(self, ref: Ref, delay: float, tolerance: float | None = None) -> None:
        """Check `ref` in `delay` seconds (replacing any check already planned for it). A drift check
        gives its `tolerance` (the jitter's width): later than that, it counts as overdue."""
        due = self._clock() + delay
        self._entries[ref.uid] = Entry(due, ref, tolerance)
        heapq.heappush(self._heap, (due, ref.uid))
        if self._heap[0][1] == ref.uid:
            self._wake.set()

    def forget(self, uid: str) -> None:
        self._entries.pop(uid, None)

    def _pop(self, now: float) -> Entry | None:
        """The oldest due check, or None (stale heap entries are skipped)."""
        while self._heap and self._heap[0][0] <= now:
            due, uid = heapq.heappop(self._heap)
            entry = self._entries.get(uid)
            if entry is not None and entry.due == due:
                del self._entries[uid]
                return entry
        return None

    def due(self) -> list[Ref]:
        """Pops the checks whose time has come, oldest first."""
        now = self._clock()
        found: list[Ref] = []
        while (entry := self._pop(now)) is not None:
            found.append(entry.ref)
        return found

    def next_in(self) -> float | None:
        while self._heap:
            due, uid = self._heap[0]
            entry = self._entries.get(uid)
            if entry is not None and entry.due == due:
                break
            heapq.heappop(self._heap)  # a stale entry: rescheduled or forgotten since
        return max(0.0, self._heap[0][0] - self._clock()) if self._heap else None

    def overdue(self, kind: str) -> int:
        """Drift checks of `kind` late by more than their tolerance now (counted at scrape time)."""
        now = self._clock()
        return sum(
            1
            for entry in list(self._entries.values())
            if entry.tolerance is not None and entry.ref.kind.kind == kind and now > entry.due + entry.tolerance
        )

    async def _run_one(self, entry: Entry) -> None:
        try:
            if entry.tolerance is not None:
                metrics.DRIFT_LAG.observe(max(0.0, self._clock() - entry.due))
            await self._check(entry.ref)
        except Exception:  # one object's failure must not stop the others' checks
            logger.exception("drift check of %s/%s failed", entry.ref.namespace, entry.ref.name)
        finally:
            self._limit.release()

    async def run(self) -> None:
        while True:
            await self._limit.acquire()  # a free slot first: what is due meanwhile stays in due order
            entry = self._pop(self._clock())
            while entry is None:
                self._wake.clear()
                wait = self.next_in()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait if wait is not None else 3600)
                entry = self._pop(self._clock())
            task = asyncio.create_task(self._run_one(entry))
            self._running.add(task)
            task.add_done_callback(self._running.discard)


T = TypeVar("T", bound=Hashable)  # what names a budget: cloudcontrol.Target


class DriftPace(Generic[T]):
    """Reads a second that each budget's objects ask of drift, and the stretch that makes them fit.

    Fed with every object the operator watches (`note`, `drop`): its kind, the budget it draws on (a
    `Target`: region and role) and the interval it asks for (the setting, or its annotation; 0: never
    checked). `stretch(target)` is `max(1, demand / (share x rate))`: every interval of that budget is
    that many times longer, which for objects that all ask the configured interval is
    `max(configured, objects / (share x rate))`. One drift check is one read (GetResource)."""

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity  # drift reads a second one budget allows: share x rate
        self._objects: dict[str, tuple[str, T, float]] = {}  # uid -> (kind, target, interval)
        self._demand: dict[T, float] = {}
        self._counts: dict[tuple[str, T], int] = {}

    def note(self, uid: str, kind: str, target: T, interval: float) -> None:
        if self._objects.get(uid) == (kind, target, interval):
            return
        self.drop(uid)
        if interval <= 0:
            return
        self._objects[uid] = (kind, target, interval)
        self._demand[target] = self._demand.get(target, 0.0) + 1 / interval
        self._counts[(kind, target)] = self._counts.get((kind, target), 0) + 1

    def drop(self, uid: str) -> None:
        known = self._objects.pop(uid, None)
        if known is None:
            return
        kind, target, interval = known
        left = self._demand[target] - 1 / interval
        self._counts[(kind, target)] -= 1
        if not self._counts[(kind, target)]:
            del self._counts[(kind, target)]
        if left <= 1e-9 and not any(t == target for _, t in self._counts):
            del self._demand[target]
        else:
            self._demand[target] = max(0.0, left)

    def demand(self, target: T) -> float:
        """Reads a second the configured intervals of the target's objects ask for."""
        return self._demand.get(target, 0.0)

    def stretch(self, target: T) -> float:
        return drift_stretch(self.demand(target), self.capacity)

    def targets(self) -> Iterator[T]:
        return iter(list(self._demand))

    def counts(self, target: T) -> dict[str, int]:
        """Objects with drift checks on, by kind, in the target."""
        return {kind: n for (kind, t), n in self._counts.items() if t == target}


def pace_settled_change(logged: float, previous: float, current: float, tolerance: float = 0.1) -> bool:
    """Whether to say the kept interval changed: it moved more than `tolerance` from what was last said
    (`logged`) and has settled (within `tolerance` of one reading ago, `previous`). Stretches, not
    seconds: 1.0 is the configured interval. Objects arriving in a burst give one line, not one each."""
    settled = abs(current - previous) <= tolerance * previous
    return settled and abs(current - logged) > tolerance * logged


def pace_message(
    where: str, counts: Mapping[str, int], demand: float, share: float, rate: float, configured: float
) -> tuple[int, str]:
    """The log line (level, text) for the drift interval a budget keeps: `demand` reads a second asked
    by the objects (`counts` by kind) of the budget `where`, against `share x rate`."""
    what = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "no objects left"
    stretch = drift_stretch(demand, share * rate)
    if stretch <= 1.0:
        return logging.INFO, f"Drift checks keep their configured intervals again in {where}: {what}."
    asked = f"{configured:g} s" if configured > 0 else "the annotated intervals"
    kept = f"{configured * stretch:.0f} s" if configured > 0 else f"{stretch:.1f} times the annotated ones"
    return logging.WARNING, (
        f"Drift checks cannot keep {asked} in {where}: {sum(counts.values())} objects ({what}) need "
        f"{demand:.1f} reads/s, and drift may use {share * rate:.1f} (SMUP_DRIFT_SHARE {share:g} x SMUP_AWS_RATE "
        f"{rate:g}). Keeping {kept} instead. To keep {asked}, raise SMUP_AWS_RATE (within the account's Cloud "
        "Control throttling) or SMUP_DRIFT_SHARE, or lengthen SMUP_DRIFT_INTERVAL."
    )
