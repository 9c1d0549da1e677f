"""kopf alone, for the restart's figure: a process that imports kopf, logs in with the kubeconfig, watches
the profiles of one namespace with a single empty `@kopf.on.event` handler, and prints how long after
its start that handler had seen `N` objects; then it exits.

This is the least any kopf operator does at a start over N objects: the listing, and kopf's handling of
each object's event (its per-object worker, body wrapping, cause detection, the handler's invocation).
`bench.run` runs it on the objects the operator restarts over, so that the restart's figure can be read
against what kopf alone takes on the same machine.

    python -m bench.kopf_floor NAMESPACE N
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

STARTED = time.monotonic()

import kopf  # noqa: E402  (after the clock starts: the import is part of a start)

from userprofile_operator.kind import GROUP, VERSION  # noqa: E402


def main(namespace: str, expected: int) -> int:
    registry = kopf.OperatorRegistry()
    seen: set[str] = set()
    stop = asyncio.Event()
    first: list[float] = []

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        settings.batching.idle_timeout = 0.02  # as the operator: workers do not hold their slots
        settings.batching.worker_limit = 200

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.event(GROUP, VERSION, "sagemakeruserprofiles", registry=registry)
    async def seen_one(uid: str, **_: Any) -> None:
        if not first:
            first.append(time.monotonic() - STARTED)
        seen.add(uid)
        if len(seen) >= expected:
            stop.set()

    async def run() -> None:
        await kopf.operator(
            registry=registry, standalone=True, clusterwide=False, namespaces=[namespace], stop_flag=stop
        )

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run())
    print(f"seen {len(seen)} first {first[0] if first else -1:.3f} all {time.monotonic() - STARTED:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
