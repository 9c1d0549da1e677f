"""Removing the operator never destroys what it managed.

Deleting a CRD (an uninstall: `helm uninstall` keeps them, but `kubectl delete -k` of a base holding them
or a hand-made `kubectl delete crd` does not) makes the API server delete every object of it. None of
those deletes is a person's wish to delete the AWS resource, so the operator releases each object as
under `deletionPolicy: Retain`: its finalizer is removed, no AWS call is made, and an Event says so.

kopf cannot do it alone: while a CRD is terminating, discovery lists its resource without `patch`, and
kopf stops serving resources it cannot patch, so its own delete handlers never run for them. The
`UninstallGuard` therefore works beside kopf: told of a CRD of ours being deleted (kopf's event handler
on CRDs, the initial listing included), it releases the objects marked for deletion until the CRD is
gone. The delete handler asks the same question first, for the objects kopf still gets to see.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from userprofile_operator.kind import FINALIZER, Kind
from userprofile_operator.kube import ObjectClient

__all__ = ["UninstallGuard", "released_message"]

logger = logging.getLogger(__name__)


def released_message(kind: Kind, identifier: str | None) -> str:
    what = f"{kind.noun} {identifier}" if identifier else f"the {kind.noun} (if AWS has it)"
    return (
        f"The {kind.kind} CRD is being deleted: left {what} in AWS, untouched. Deleting the operator's "
        "CRDs never deletes AWS resources."
    )


class UninstallGuard:
    def __init__(
        self,
        objects: ObjectClient,
        kinds: Iterable[Kind],
        scope: Callable[[], Iterable[str | None]],
        interval: float = 1.0,
    ) -> None:
        self.objects = objects
        self.by_crd = {kind.crd_name: kind for kind in kinds}
        self.scope = scope
        self.interval = interval
        self.tasks: dict[Kind, asyncio.Task[None]] = {}

    def crd_seen(self, name: str, deleting: bool) -> None:
        """A CRD event: when one of ours is being deleted, start releasing its objects (once)."""
        kind = self.by_crd.get(name)
        if kind is None or not deleting:
            return
        task = self.tasks.get(kind)
        if task is None or task.done():
            logger.warning("The CRD %s is being deleted: releasing its objects, leaving AWS as it is", name)
            self.tasks[kind] = asyncio.get_running_loop().create_task(self._release(kind), name=f"release-{name}")

    async def _release(self, kind: Kind) -> None:
        released = 0
        while True:
            try:
                state = await self.objects.crd_state(kind)
                if state == "gone":  # and its objects with it
                    logger.warning("The CRD %s is gone; %d objects released, AWS untouched", kind.crd_name, released)
                    return
                if state == "present":  # not deleted after all (a CRD's delete cannot be undone, but be safe)
                    return
                released += await self._release_marked(kind)
            except Exception as err:  # the API server restarting: try again
                logger.warning("Releasing the objects of %s: %s (will retry)", kind.crd_name, err)
            await asyncio.sleep(self.interval)

    async def _release_marked(self, kind: Kind) -> int:
        count = 0
        for namespace in self.scope():
            async for page in self.objects.pages(kind, namespace):
                for body in page:
                    if await self._release_one(kind, body):
                        count += 1
        return count

    async def _release_one(self, kind: Kind, body: dict[str, Any]) -> bool:
        meta = body.get("metadata") or {}
        if not meta.get("deletionTimestamp") or FINALIZER not in (meta.get("finalizers") or []):
            return False
        if not await self.objects.remove_finalizer(kind, body, FINALIZER):
            return False
        identifier = (body.get("status") or {}).get("identifier")
        try:
            await self.objects.post_event(body, "Normal", "Retained", released_message(kind, identifier))
        except Exception as err:  # the object is released; the Event is only news
            logger.info("No Event for %s/%s: %s", meta.get("namespace"), meta.get("name"), err)
        return True

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
