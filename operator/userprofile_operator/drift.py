"""When to re-read each managed object from AWS: one scheduler for all objects, not a timer per object.

kopf timers cost an asyncio task, daemon state and a live copy of the body per object, and wake up
on every tick whether or not anything is due: at 10,000 objects that is most of the operator's memory
and a steady share of a core while nothing happens (bench/README.md). Here handlers say when an object
was last reconciled (`schedule`), deletion forgets it, and one task sleeps until the earliest check
is due and hands that object to `check`. What a check does is not decided here (see handlers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from userprofile_operator.kind import Kind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ref:
    kind: Kind
    namespace: str
    name: str
    uid: str


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
        self._entries: dict[str, tuple[float, Ref]] = {}
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def schedule(self, ref: Ref, delay: float) -> None:
        """Check `ref` in `delay` seconds (replacing any check already planned for it)."""
        due = self._clock() + delay
        self._entries[ref.uid] = (due, ref)
        heapq.heappush(self._heap, (due, ref.uid))
        if self._heap[0][1] == ref.uid:
            self._wake.set()

    def forget(self, uid: str) -> None:
        self._entries.pop(uid, None)

    def due(self) -> list[Ref]:
        """Pops the checks whose time has come (stale heap entries are skipped)."""
        now = self._clock()
        found: list[Ref] = []
        while self._heap and self._heap[0][0] <= now:
            due, uid = heapq.heappop(self._heap)
            entry = self._entries.get(uid)
            if entry is not None and entry[0] == due:
                del self._entries[uid]
                found.append(entry[1])
        return found

    def next_in(self) -> float | None:
        while self._heap and self._entries.get(self._heap[0][1], (None,))[0] != self._heap[0][0]:
            heapq.heappop(self._heap)  # drop stale entries
        return max(0.0, self._heap[0][0] - self._clock()) if self._heap else None

    async def _run_one(self, ref: Ref) -> None:
        async with self._limit:
            try:
                await self._check(ref)
            except Exception:  # one object's failure must not stop the others' checks
                logger.exception("drift check of %s/%s failed", ref.namespace, ref.name)

    async def run(self) -> None:
        while True:
            for ref in self.due():
                task = asyncio.create_task(self._run_one(ref))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            self._wake.clear()
            wait = self.next_in()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait if wait is not None else 3600)
