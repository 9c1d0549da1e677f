"""Resync: a periodic LIST that finds objects the event stream left behind, and nudges kopf.

kopf only acts on watch events. If the API server goes away while kopf writes an object, kopf may keep
the unfinished write to retry "on the next event"; when that object never changes again, it waits
forever (found by the API-server restart chaos test, issue 8). controller-runtime covers the same gap
with its periodic resync. Here one task lists the watched objects every `interval` seconds, a page at a
time, and asks `plan.resync_plan` which ones need the operator, have no retry planned, and have not
changed since the previous pass. Those get kopf's own touch (`status.kopf.dummy`), which is the event
kopf waits for. A healthy operator writes nothing here: settled objects, objects a handler is working
on, and objects with a retry planned are left alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Container, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from userprofile_operator import metrics
from userprofile_operator.kind import FINALIZER, Kind
from userprofile_operator.plan import resync_plan

logger = logging.getLogger(__name__)


class Objects(Protocol):
    def pages(self, kind: Kind, namespace: str | None) -> AsyncIterator[list[dict[str, Any]]]: ...

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None: ...


class Resync:
    def __init__(
        self,
        objects: Objects,
        kinds: Callable[[], Iterable[Kind]],
        scope: Callable[[], Iterable[str | None]],
        interval: float,
        busy: Container[str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._objects = objects
        self._kinds = kinds  # the kinds kopf watches now: a kind whose CRD is not served has nothing to list
        self._scope = scope  # namespaces to list; None lists cluster-wide
        self._interval = interval
        self._busy = busy
        self._clock = clock
        self._suspects: dict[str, str] = {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_pass()
            except Exception as err:  # the cluster may be away for a while: try again next interval
                logger.warning("resync pass failed: %s", err)

    async def run_pass(self) -> int:
        """Lists every watched object and nudges the stalled ones; returns how many were nudged."""
        now = self._clock()
        suspects: dict[str, str] = {}
        nudged = 0
        for kind in self._kinds():
            for namespace in self._scope():
                async for page in self._objects.pages(kind, namespace):
                    nudge, found = resync_plan(self._suspects, page, now, self._busy, FINALIZER)
                    suspects.update(found)
                    for obj in nudge:
                        nudged += await self._nudge(kind, obj, now)
        self._suspects = suspects
        return nudged

    async def _nudge(self, kind: Kind, obj: Mapping[str, Any], now: datetime) -> int:
        meta = obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        logger.warning(
            "%s/%s has waited a whole resync interval with no progress and nothing planned; nudging kopf",
            namespace,
            name,
        )
        try:
            await self._objects.patch_status(kind, namespace, name, {"kopf": {"dummy": now.isoformat()}})
        except Exception as err:  # gone meanwhile, or the API server is away: the next pass sees
            logger.info("could not nudge %s/%s: %s", namespace, name, err)
            return 0
        metrics.RESYNC_NUDGES.inc()
        return 1
