"""The watch self-check: does the operator still hear about its objects?

kopf only acts on watch events. If it stops receiving them (its resource dropped from discovery after an
API-server restart, a watch that never came back, a cause nobody has thought of yet) it goes quiet and
nothing tells. This module makes that visible and ends it:

* **Served.** kopf watches a resource only while its discovery says the API server serves it, and it
  re-reads discovery only when a CRD changes: it can read it a moment before a new CRD is served, and a
  restarted API server can serve discovery before its CRDs (issue 12: `Unresolved resources cannot be
  served`, then silence). Every tick the guard compares kopf's view with the enabled kinds (`run
  --kinds`); for what kopf lacks it asks the API server's discovery itself (at most every 5 s). A kind
  the API server does not serve is *unserved*, its CRD not installed: reported (`/readyz`, one log line,
  `smup_kind_served`), never a liveness problem, since the other kinds go on and a restart would not
  install a CRD. A kind it serves but kopf lacks is *lagging*: the guard has kopf read the group's
  discovery again, and one lagging for `watch_probe_timeout` is a liveness problem.
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
        self,
        probe_interval: float,
        probe_timeout: float,
        kinds: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self.clock = clock
        now = clock()
        self.last_event = now  # the start counts: nothing can have been missed before it
        self.kinds = tuple(kinds)  # the enabled kinds, by CRD name
        self.watched: frozenset[str] = frozenset()  # those kopf watches
        self.unserved: frozenset[str] = frozenset()  # those the API server does not serve
        self.lagging: str | None = None  # what the API server serves and kopf does not watch
        self.lagging_since: float | None = None
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

    def set_coverage(self, watched: Iterable[str], unserved: Iterable[str] = ()) -> None:
        """Which enabled kinds kopf watches, and which the API server does not serve."""
        self.watched, self.unserved = frozenset(watched), frozenset(unserved)

    def set_lagging(self, missing: str | None) -> None:
        """What the API server serves and kopf does not watch (names), or None when kopf is up to date."""
        if missing is None:
            self.lagging, self.lagging_since = None, None
            return
        if self.lagging_since is None:
            self.lagging_since = self.clock()
        self.lagging = missing

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
        """A quiet watch of at least one kind, kopf up to date (a lag is a problem of its own)."""
        quiet = self.quiet() >= self.probe_interval
        return bool(self.watched) and self.lagging is None and self.probe is None and self.deaf is None and quiet

    def probe_overdue(self) -> bool:
        return self.probe is not None and self.clock() - self.probe.sent >= self.probe_timeout

    def quiet(self) -> float:
        """Seconds since the last watch event."""
        return self.clock() - self.last_event

    def problem(self) -> str | None:
        """Why the operator cannot hear its objects now, or None (liveness)."""
        now = self.clock()
        if now - self.checked >= self.probe_timeout:
            return f"the watch self-check has not run for {now - self.checked:.0f} s: kopf has stopped"
        if self.lagging is not None and self.lagging_since is not None:
            lag = now - self.lagging_since
            if lag >= self.probe_timeout:
                return (
                    f"{self.lagging} is served by the API server but not watched (for {lag:.0f} s), though kopf "
                    "read its discovery again"
                )
        return self.deaf

    def not_ready(self) -> str | None:
        """Why the operator does not serve yet (readiness): no enabled kind is watched. None once one is."""
        if self.watched & set(self.kinds):
            return None
        return f"no enabled kind is watched: {self.missing() or 'kopf has not read discovery yet'}"

    def missing(self) -> str | None:
        """The enabled kinds not watched, and why, for /readyz; None when every one is."""
        unserved = [name for name in self.kinds if name in self.unserved]
        pending = [name for name in self.kinds if name not in self.watched and name not in self.unserved]
        said = []
        if unserved:
            said.append(f"not served by the API server (is the CRD installed?): {', '.join(unserved)}")
        if pending:
            said.append(f"not watched yet: {', '.join(pending)}")
        return "; ".join(said) or None


class Objects(Protocol):
    async def first(self, kind: Kind, namespace: str | None) -> dict[str, Any] | None: ...

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None: ...

    async def serving(self, kinds: Iterable[Kind]) -> list[Kind] | None: ...


# What the guard last said of a kind: watched, not served by the API server, served but not in kopf's
# discovery (lagging), or lagging just after it was unserved (its CRD appeared: no warning, kopf may be a
# moment behind).
WATCHED, UNSERVED, LAGGING, APPEARED = "watched", "unserved", "lagging", "appeared"


class WatchGuard:
    """One task inside kopf: keeps kopf's view of the enabled kinds up to date, says which are not served,
    and probes a quiet watch."""

    def __init__(
        self,
        state: WatchState,
        objects: Objects,
        kinds: Sequence[Kind],
        scope: Callable[[], Iterable[str | None]],
        busy: Callable[[str], bool],
        unwatched: Callable[[], Sequence[str]],
        rediscover: Callable[[], Awaitable[None]],
        scanned: Callable[[], bool] = lambda: True,
        tick: float = 1.0,
        discovery_every: float = 5.0,
    ) -> None:
        """`unwatched` names what kopf does not watch: the CRD names of enabled kinds, and `namespaces`
        when kopf lacks them; `rediscover` has kopf read discovery again; `scanned` tells whether kopf's
        first read of discovery is done (before it, kopf's view says nothing yet)."""
        self.state = state
        self._objects = objects
        self._kinds = tuple(kinds)
        self._scope = scope
        self._busy = busy
        self._unwatched = unwatched
        self._rediscover = rediscover
        self._scanned = scanned
        self._tick = tick
        self._discovery_every = discovery_every
        self._next_discovery = 0.0
        self._unserved: set[str] = set()
        self._status: dict[str, str] = {}  # what was last said of each kind (and namespaces)

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
        if not self._scanned():
            return  # kopf's view is empty until its first scan: nothing to compare yet
        missing = list(self._unwatched())
        if missing and state.clock() >= self._next_discovery:
            self._next_discovery = state.clock() + self._discovery_every
            missing = await self._look_again(missing)
        self._unserved &= set(missing)  # what kopf watches now is served
        lagging = [name for name in missing if name not in self._unserved]
        state.set_lagging(", ".join(lagging) or None)
        state.set_coverage((k.crd_name for k in self._kinds if k.crd_name not in missing), self._unserved)
        self._report(missing)
        if state.probe_overdue():
            await self._confirm()
        elif state.probe_due():
            await self._send_probe()
        metrics.WATCH_UP.set(0 if state.problem() else 1)

    async def _look_again(self, missing: list[str]) -> list[str]:
        """Asks the API server which of the kinds kopf lacks it serves. What it does not serve is unserved;
        for the rest (and namespaces) kopf's discovery lags, and kopf reads it again. Returns what kopf
        still lacks. When the API server cannot tell, what was known stays."""
        kinds = [kind for kind in self._kinds if kind.crd_name in missing]
        serving = await self._objects.serving(kinds) if kinds else []
        if serving is not None:
            served = {kind.crd_name for kind in serving}
            self._unserved = {kind.crd_name for kind in kinds if kind.crd_name not in served}
        lagging = [name for name in missing if name not in self._unserved]
        if not lagging:
            return missing
        newly = [name for name in lagging if self._status.get(name) not in (LAGGING, APPEARED)]
        for name in newly:
            self._status[name] = APPEARED if self._status.get(name) == UNSERVED else LAGGING
        unexpected = [name for name in newly if self._status[name] == LAGGING]
        if unexpected:
            said = ", ".join(unexpected)
            logger.warning("%s is not in kopf's discovery: reading the API group's discovery again", said)
        await self._rediscover()
        return list(self._unwatched())

    def _report(self, missing: list[str]) -> None:
        """Says each change once: the kinds that became unserved (one line), those watched again; and sets
        `smup_kind_served` per kind."""
        names = [kind.crd_name for kind in self._kinds]
        newly_unserved = [name for name in names if name in self._unserved and self._status.get(name) != UNSERVED]
        if newly_unserved:
            logger.warning(
                "not served by the API server, so not watched (is the CRD installed?): %s; picked up once served. "
                "Watching: %s",
                ", ".join(newly_unserved),
                ", ".join(name for name in names if name not in missing) or "none",
            )
        for name in [*names, "namespaces"]:
            now = UNSERVED if name in self._unserved else LAGGING if name in missing else WATCHED
            before = self._status.get(name)
            if now == WATCHED and before in (UNSERVED, APPEARED):
                logger.warning("%s is served now: watching it", name)
            elif now == WATCHED and before == LAGGING:
                logger.warning("%s is served again: watching it", name)
            if now != LAGGING:  # a lag is said (or not) when kopf is asked to look again
                self._status[name] = now
        for kind in self._kinds:
            metrics.KIND_SERVED.labels(kind=kind.kind).set(0 if kind.crd_name in missing else 1)

    async def _send_probe(self) -> None:
        for kind in (k for k in self._kinds if k.crd_name in self.state.watched):
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
