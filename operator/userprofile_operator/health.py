"""The process's own health: `/healthz` (liveness) and `/readyz` (readiness), and the way out.

Served by us rather than by kopf's liveness endpoint, because kopf's answers "alive" as long as its
event loop turns, deaf or not, and a follower runs no kopf at all. The answers:

| phase | /healthz | /readyz |
| --- | --- | --- |
| follower, standing by for the Lease | 200 while the election runs | 200 |
| leader (or no election), waiting for its CRD to be served | 200 | 503 |
| leader, kopf watching at least one enabled kind, the watch self-check passing | 200 | 200 |
| leader, no enabled kind's CRD served (yet) | 200 | 503 |
| leader whose Lease renewal is overdue, or a deaf watch | 500, with the reason | 503 |

Both answer JSON `{"ok", "phase", "reason"}`, and `"message"` when there is something to note while the
answer stands, e.g. the enabled kinds whose CRD is not served (the others are reconciled meanwhile).

`Watchdog` ends the process once liveness has failed for a while, for the kubelet (or any supervisor) to
start it afresh, and `die()` ends it at once with a one-line reason: nothing runs after it, no handler,
no AWS call.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from aiohttp import web

logger = logging.getLogger(__name__)


def die(reason: str, code: int = 1) -> NoReturn:
    logger.critical(reason)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(code)


class Watchdog:
    """Ends the process (`die`) once `health.liveness()` has reported a problem for `exit_after` seconds."""

    def __init__(
        self,
        health: Health,
        exit_after: float,
        die: Callable[[str], None] = die,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.health = health
        self.exit_after = exit_after
        self._die = die
        self._clock = clock
        self.since: float | None = None

    def check(self) -> None:
        problem = self.health.liveness()
        if problem is None:
            self.since = None
            return
        now = self._clock()
        if self.since is None:
            self.since = now
        if now - self.since >= self.exit_after:
            self._die(f"unhealthy for {now - self.since:.0f} s: {problem}; exiting for a restart")


class Phase(enum.StrEnum):
    STARTING = "Starting"
    FOLLOWER = "Follower"
    WAITING_FOR_CRD = "WaitingForCRD"
    LEADING = "Leading"


@dataclass
class Health:
    """Checks report `None` when fine, else a reason; each is asked at every probe."""

    phase: Phase = Phase.STARTING
    live_checks: list[Callable[[], str | None]] = field(default_factory=list)
    ready_checks: list[Callable[[], str | None]] = field(default_factory=list)
    notes: list[Callable[[], str | None]] = field(default_factory=list)
    """Said beside either answer, never failing it: what is missing while the rest works."""

    def liveness(self) -> str | None:
        return next((r for r in (check() for check in self.live_checks) if r), None)

    def readiness(self) -> str | None:
        problem = self.liveness()
        if problem:
            return problem
        if self.phase in (Phase.STARTING, Phase.WAITING_FOR_CRD):
            return f"not serving yet: {self.phase.value}"
        return next((r for r in (check() for check in self.ready_checks) if r), None)

    def note(self) -> str:
        return "; ".join(n for n in (note() for note in self.notes) if n)

    def _answer(self, problem: str | None, failing_status: int) -> web.Response:
        reason = problem or ""
        body: dict[str, object] = {"ok": problem is None, "phase": self.phase.value, "reason": reason}
        message = self.note()
        if message and message not in reason:
            body["message"] = message
        return web.json_response(body, status=200 if problem is None else failing_status)

    def app(self, liveness_path: str = "/healthz") -> web.Application:
        async def healthz(_: web.Request) -> web.Response:
            return self._answer(self.liveness(), 500)

        async def readyz(_: web.Request) -> web.Response:
            return self._answer(self.readiness(), 503)

        app = web.Application()
        app.add_routes([web.get(liveness_path, healthz), web.get("/readyz", readyz)])
        return app

    async def serve(self, url: str) -> web.AppRunner:
        """Serves `url`'s path as liveness and `/readyz` beside it, e.g. http://0.0.0.0:8081/healthz."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or parts.port is None:
            raise ValueError(f"--liveness needs an http URL with a port, e.g. http://0.0.0.0:8081/healthz: {url}")
        runner = web.AppRunner(self.app(parts.path or "/healthz"), handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, parts.hostname or "127.0.0.1", parts.port).start()
        return runner
