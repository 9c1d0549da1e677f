"""The watch self-check: does the operator still hear about its objects?

kopf only acts on watch events. If it stops receiving them (its resource dropped from discovery after an
API-server restart, a watch that never came back, a cause nobody has thought of yet) it goes quiet and
nothing tells. This module makes that visible and ends it:

* **Served.** kopf watches a resource only while its discovery says the API server serves it, and it
  re-reads discovery only when a CRD changes. A restarted API server can serve discovery before its CRDs
  (issue 12: `Unresolved resources cannot be served`, then silence). The guard checks kopf's view every
  tick and asks kopf to read the group's discovery again while our resource is missing from it.
* **Hearing.** Every watch event reaches `WatchState.event_seen` (a kopf `on.event` handler). When none
  has come for `watch_probe_interval`, the guard touches one watched object (`status.kopf.dummy`, kopf's
  own touch) and expects its event back within `watch_probe_timeout`. A probe counts as failed only when
  the API server confirms the touch landed: an API server that is away makes the probe inconclusive,
  not the operator deaf, since restarting would not help then.

* **Running.** The guard runs inside kopf (started by kopf's start-up); if kopf stops on its own (a
  watcher that failed takes the whole of kopf down) the guard stops with it, and its silence is itself
  the problem: `checked` goes stale.

A problem shows on `/healthz` with its reason at once; `health.Watchdog`, outside kopf, ends the process
once it has lasted `deaf_exit_after`, for its supervisor (the kubelet) to start it afresh: crash safety
makes a restart cheap. `WatchState` decides (pure, clock injected); `WatchGuard` does the I/O.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from userprofile_operator import metrics
from userprofile_operator.kind import Kind

logger = logging.getLogger(__name__)

PROBE_PREFIX = "watch-probe "


@dataclass(frozen=True)
class Probe:
    namespace: str
    name: str
    token: str
    sent: float  # monotonic
    kind: Kind | None = None


class WatchState:
    """What the operator knows of its own event stream; every method takes `now` from one clock."""

    def __init__(
        self, probe_interval: float, probe_timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self.clock = clock
        now = clock()
        self.last_event = now  # the start counts: nothing can have been missed before it
        self.served = False
        self.unserved_since: float | None = now
        self.unserved: str | None = None  # what is missing, when the guard knows
        self.probe: Probe | None = None
        self.deaf: str | None = None  # set once a probe is confirmed lost
        self.checked = now  # the guard's last pass

    # -- inputs ---------------------------------------------------------------------------------------

    def guard_ran(self) -> None:
        self.checked = self.clock()

    def event_seen(self) -> None:
        self.last_event = self.clock()
        self.probe = None
        self.deaf = None

    def set_served(self, served: bool, missing: str | None = None) -> None:
        """Whether kopf watches everything it should; `missing` names what it does not."""
        self.unserved = None if served else missing
        if served:
            self.served, self.unserved_since = True, None
        elif self.served or self.unserved_since is None:
            self.served, self.unserved_since = False, self.clock()

    def probe_sent(self, probe: Probe) -> None:
        self.probe = probe

    def nothing_to_probe(self) -> None:
        """No object in scope: there is no event to miss, so the quiet so far proves nothing wrong."""
        self.last_event = self.clock()

    def probe_inconclusive(self) -> None:
        """The API server could not confirm the touch (away, or the object gone): try again later."""
        self.probe = None
        self.last_event = self.clock()

    def probe_lost(self) -> None:
        """The API server holds the touch, and no event has come for it."""
        assert self.probe is not None
        quiet = self.clock() - self.last_event
        self.deaf = (
            f"no watch event for {quiet:.0f} s: the probe touch of {self.probe.namespace}/{self.probe.name} "
            f"is in the API server but never came back as an event"
        )
        self.probe = None

    # -- decisions ------------------------------------------------------------------------------------

    def probe_due(self) -> bool:
        return self.served and self.probe is None and self.deaf is None and self.quiet() >= self.probe_interval

    def probe_overdue(self) -> bool:
        return self.probe is not None and self.clock() - self.probe.sent >= self.probe_timeout

    def quiet(self) -> float:
        """Seconds since the last watch event."""
        return self.clock() - self.last_event

    def problem(self, what: str) -> str | None:
        """Why the operator cannot hear its objects now, or None. `what` names the resource."""
        now = self.clock()
        if now - self.checked >= self.probe_timeout:
            return f"the watch self-check has not run for {now - self.checked:.0f} s: kopf has stopped"
        if not self.served and self.unserved_since is not None and now - self.unserved_since >= self.probe_timeout:
            unserved = f"{self.unserved or what} is not served by the API server"
            return f"{unserved} (for {now - self.unserved_since:.0f} s): nothing is watched"
        return self.deaf


class Objects(Protocol):
    async def first(self, kind: Kind, namespace: str | None) -> dict[str, Any] | None: ...

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None: ...


class WatchGuard:
    """One task inside kopf: keeps kopf's resource served and probes a quiet watch."""

    def __init__(
        self,
        state: WatchState,
        objects: Objects,
        kinds: Sequence[Kind],
        scope: Callable[[], Iterable[str | None]],
        busy: Callable[[str], bool],
        is_served: Callable[[], bool | list[str]],
        rediscover: Callable[[], Awaitable[None]],
        what: str,
        tick: float = 1.0,
    ) -> None:
        self.state = state
        self._objects = objects
        self._kinds = tuple(kinds)
        self._scope = scope
        self._busy = busy
        self._is_served = is_served
        self._rediscover = rediscover
        self._what = what
        self._tick = tick
        self._next_discovery = 0.0

    async def run(self) -> None:
        said = ""
        while True:
            try:
                await self.step()
                said = ""
            except Exception as err:  # the API server may be away: the next tick tries again
                if str(err) != said:  # once per cause, not every second of an outage
                    logger.info("watch self-check could not run: %s", err)
                said = str(err)
            await asyncio.sleep(self._tick)

    async def step(self) -> None:
        state = self.state
        state.guard_ran()
        missing = self._missing()
        if missing and state.clock() >= self._next_discovery:
            self._next_discovery = state.clock() + 5.0
            logger.warning("%s is not in kopf's discovery: reading the API group's discovery again", missing)
            await self._rediscover()
            if not self._missing():
                logger.warning("%s is served again: watching it", missing)
            missing = self._missing()
        state.set_served(not missing, missing or None)
        if state.probe_overdue():
            await self._confirm()
        elif state.probe_due():
            await self._send_probe()
        metrics.WATCH_UP.set(0 if state.problem(self._what) else 1)

    def _missing(self) -> str:
        """What kopf does not watch (resources, comma-separated), or "" when it watches everything.

        `is_served` answers with the missing names, or with a bare bool (then `what` names them)."""
        served = self._is_served()
        if isinstance(served, list):
            return ", ".join(served)
        return "" if served else self._what

    async def _send_probe(self) -> None:
        for kind in self._kinds:
            for namespace in self._scope():
                obj = await self._objects.first(kind, namespace)
                if obj is None or self._busy(obj["metadata"].get("uid", "")):
                    continue
                meta = obj["metadata"]
                token = f"{PROBE_PREFIX}{datetime.now(UTC).isoformat()}"
                # Recorded before it is sent: the touch's watch event can arrive before the PATCH returns,
                # and an event that came first must still count as the answer.
                self.state.probe_sent(Probe(meta["namespace"], meta["name"], token, self.state.clock(), kind))
                try:
                    await self._objects.patch_status(kind, meta["namespace"], meta["name"], {"kopf": {"dummy": token}})
                except Exception:
                    if self.state.probe is not None and self.state.probe.token == token:
                        self.state.probe_inconclusive()
                    raise
                metrics.WATCH_PROBES.inc()
                return
        self.state.nothing_to_probe()

    async def _confirm(self) -> None:
        probe = self.state.probe
        assert probe is not None and probe.kind is not None
        try:
            obj = await self._objects.get(probe.kind, probe.namespace, probe.name)
        except Exception as err:
            logger.info("watch probe inconclusive, the API server did not answer: %s", err)
            self.state.probe_inconclusive()
            return
        landed = obj is not None and ((obj.get("status") or {}).get("kopf") or {}).get("dummy") == probe.token
        if self.state.probe is None:  # an event came meanwhile
            return
        if not landed:
            self.state.probe_inconclusive()
            return
        self.state.probe_lost()
        logger.error("watch self-check: %s", self.state.deaf)
