"""The AWS budget of one account and region, shared by two lanes: work a person asked for, and drift.

What it owns: the token arithmetic (`Lanes`, pure, driven by a clock), the asyncio front that hands
tokens out in that order (`LaneBudget`), and which lane a call belongs to (`LANE`, a context variable
the drift check sets in handlers.py, so no parameter is threaded through the reconciler). What it does not do:
decide when an object is re-read (drift.py) or make the calls (cloudcontrol.py).

The rules, in numbers (defaults: rate 10 calls/s, burst 20, drift share 0.5):

- One bucket holds the whole budget: `rate` tokens a second, at most `burst` banked. Every call takes
  one token from it.
- The user lane (create, update, delete, their retries and status reads, clean-up, first observation,
  the write that corrects drift: everything but a drift check's reads) is served first: while a user
  call waits, drift gets no token.
- The drift lane (the periodic re-reads) also needs a token from a bucket of its own, filled at
  `share x rate` (5/s), holding at most `max(1, share x burst)` (10): drift never goes past its share,
  even when the user lane is idle, so the share is a ceiling over any minute.
- A reserve for bursts: drift never takes the last `(1 - share) x burst` tokens (10) of the bucket, so
  a person's batch of work finds at least that many at once, even right after another batch.
- Never starved: when drift, with a call waiting, has had no token for `1 / floor` seconds, that call
  goes before the user lane (and before the reserve). The floor is `DRIFT_FLOOR` (10 %) of the share:
  0.5 calls/s, one call in twenty of the budget, however busy the user lane is.
- AWS throttling (any lane's call answered ThrottlingException) halves the drift lane's rate first,
  down to its floor; only once drift is at its floor does it slow the whole budget (halving, at
  the lowest a quarter of `rate`). Without throttling the budget comes back linearly over
  `RECOVERY_SECONDS`, the whole budget first, drift last.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Literal

Lane = Literal["user", "drift"]
USER: Lane = "user"
DRIFT: Lane = "drift"
LANES: tuple[Lane, ...] = (USER, DRIFT)

# Which lane the AWS calls of the running task belong to. Only a drift check sets it (drift.py).
LANE: ContextVar[Lane] = ContextVar("smup_aws_lane", default=USER)

DRIFT_FLOOR = 0.1  # fraction of the drift share drift always gets, however busy the user lane is
THROTTLE_SLOWDOWN = 0.5  # each throttled call multiplies a lane's rate by this
MIN_TOTAL_FACTOR = 0.25  # throttling never slows the whole budget below a quarter of its rate
RECOVERY_SECONDS = 60.0  # a slowed rate climbs back to full over this long without throttling

# The error codes by which AWS says "slow down" (Cloud Control, SageMaker, and the generic ones).
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "ThrottledException"}
)


@contextlib.contextmanager
def lane(which: Lane) -> Iterator[None]:
    """The AWS calls made inside the block (and in tasks it starts) belong to `which`."""
    token = LANE.set(which)
    try:
        yield
    finally:
        LANE.reset(token)


def drift_capacity(share: float, rate: float) -> float:
    """Drift reads a second the budget allows: what the drift lane may use."""
    return share * rate


def drift_stretch(demand: float, capacity: float) -> float:
    """How much longer than asked every drift interval must be so that the reads fit the drift lane:
    `demand` is the reads a second the configured intervals ask for (the sum of 1 / interval over the
    objects), `capacity` what the lane allows. 1.0: the configured intervals are kept."""
    if capacity <= 0:
        return 1.0
    return max(1.0, demand / capacity)


def kept_interval(configured: float, objects: int, share: float, rate: float) -> float:
    """The drift interval kept for `objects` objects that all ask for `configured` seconds:
    `max(configured, objects / (share x rate))` (one read per check); 0 stays 0 (drift off)."""
    if configured <= 0:
        return 0.0
    return configured * drift_stretch(objects / configured, drift_capacity(share, rate))


class Lanes:
    """The token arithmetic of one budget, without any waiting: asked which lane may take a token now
    (`next`), told when one is taken (`take`) and when AWS throttles (`throttled`). Time comes from
    the `now` arguments only, so tests drive it with a fake clock."""

    def __init__(self, rate: float, burst: int, share: float, now: float) -> None:
        self.rate = rate
        self.share = share
        self.capacity = float(burst)
        self.drift_cap = max(1.0, share * burst)
        self.tokens = self.capacity
        # Tokens drift leaves in the bucket for the user lane's bursts (never all of it: drift needs one).
        self.reserve = min((1 - share) * burst, self.capacity - 1)
        self.drift_tokens = self.drift_cap
        self.total_factor = 1.0  # the whole budget's slowdown after throttling
        self.drift_factor = 1.0  # the drift lane's slowdown after throttling (DRIFT_FLOOR at the lowest)
        self.updated = now
        self.last_drift = now - 1 / self.floor_rate  # drift has not been starved yet

    @property
    def floor_rate(self) -> float:
        """Drift calls a second guaranteed while drift has work, however busy the user lane is."""
        return DRIFT_FLOOR * self.share * self.rate

    @property
    def total_rate(self) -> float:
        return self.rate * self.total_factor

    @property
    def drift_rate(self) -> float:
        """The drift lane's ceiling now: its share, less what throttling took, never below the floor,
        never above the whole budget."""
        return min(self.total_rate, max(self.floor_rate, self.share * self.rate * self.drift_factor))

    def _advance(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.updated = max(self.updated, now)
        # Refill at the rates in force over the interval, then let the slowdowns wear off.
        self.tokens = min(self.capacity, self.tokens + elapsed * self.total_rate)
        self.drift_tokens = min(self.drift_cap, self.drift_tokens + elapsed * self.drift_rate)
        recovered = elapsed / RECOVERY_SECONDS
        spare = max(0.0, self.total_factor + recovered - 1.0)
        self.total_factor = min(1.0, self.total_factor + recovered)
        if self.total_factor >= 1.0:
            self.drift_factor = min(1.0, self.drift_factor + spare)

    def next(self, now: float, user_waiting: bool, drift_waiting: bool) -> tuple[Lane | None, float]:
        """The lane that takes the next token now, or (None, seconds until asking again makes sense)."""
        self._advance(now)
        starved = drift_waiting and now - self.last_drift >= 1 / self.floor_rate
        if starved and self.tokens >= 1 and self.drift_tokens >= 1:
            return DRIFT, 0.0
        drift_ready = drift_waiting and self.tokens >= 1 + self.reserve and self.drift_tokens >= 1
        if user_waiting:
            if self.tokens >= 1:
                return USER, 0.0
            return None, (1 - self.tokens) / self.total_rate
        if drift_ready:
            return DRIFT, 0.0
        if drift_waiting:
            drift_token = (1 - self.drift_tokens) / self.drift_rate
            if starved:  # it goes as soon as there is any token
                return None, max((1 - self.tokens) / self.total_rate, drift_token)
            return None, max((1 + self.reserve - self.tokens) / self.total_rate, drift_token)
        return None, 0.0

    def take(self, which: Lane, now: float) -> None:
        self._advance(now)
        self.tokens -= 1
        if which == DRIFT:
            self.drift_tokens -= 1
            self.last_drift = now

    def throttled(self, now: float) -> None:
        """AWS said slow down: the drift lane first, the whole budget once drift is at its floor."""
        self._advance(now)
        floor_factor = DRIFT_FLOOR
        if self.drift_factor > floor_factor:
            self.drift_factor = max(floor_factor, self.drift_factor * THROTTLE_SLOWDOWN)
        else:
            self.total_factor = max(MIN_TOTAL_FACTOR, self.total_factor * THROTTLE_SLOWDOWN)
        # Tokens banked at the old rate would let a burst through right after the signal to slow down.
        self.drift_tokens = min(self.drift_tokens, 1.0)


class LaneBudget:
    """The asyncio front of `Lanes`: `acquire(lane)` waits until that lane may make one call and says
    how long it waited. Callers are served in arrival order within a lane."""

    def __init__(self, rate: float, burst: int, share: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lanes = Lanes(rate, burst, share, clock())
        self._queues: dict[Lane, deque[asyncio.Future[None]]] = {USER: deque(), DRIFT: deque()}
        self._arrived = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._throttled: deque[float] = deque()  # filled from botocore's threads, drained on the loop

    def waiting(self, which: Lane) -> int:
        return sum(1 for future in self._queues[which] if not future.done())

    async def acquire(self, which: Lane) -> float:
        started = self.clock()
        self._apply_throttling()
        lanes = self.lanes
        if not self.waiting(USER) and not self.waiting(DRIFT):
            granted, _ = lanes.next(started, which == USER, which == DRIFT)
            if granted == which:  # nobody queued and a token is there: no task switch needed
                lanes.take(which, started)
                return 0.0
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues[which].append(future)
        self._arrived.set()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="aws-budget")
        await future
        return self.clock() - started

    def throttled(self) -> None:
        """AWS throttled a call. Safe from any thread (botocore's retry hook runs in the worker thread):
        the signal is queued, and applied before the next token is handed out."""
        self._throttled.append(self.clock())

    def _apply_throttling(self) -> None:
        while self._throttled:
            self.lanes.throttled(self._throttled.popleft())

    def _front(self, which: Lane) -> asyncio.Future[None] | None:
        queue = self._queues[which]
        while queue and queue[0].done():  # cancelled while waiting: takes no token
            queue.popleft()
        return queue[0] if queue else None

    async def _dispatch(self) -> None:
        while True:
            user, drift = self._front(USER), self._front(DRIFT)
            if user is None and drift is None:
                return
            self._apply_throttling()
            now = self.clock()
            granted, wait = self.lanes.next(now, user is not None, drift is not None)
            if granted is not None:
                self.lanes.take(granted, now)
                self._queues[granted].popleft().set_result(None)
                continue
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                # A new arrival may change the answer (a user call overtakes waiting drift).
                await asyncio.wait_for(self._arrived.wait(), timeout=max(wait, 0.001))
