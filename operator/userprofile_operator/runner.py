"""`userprofile-operator run`: the process's life, from start to exit.

1. Serve `/healthz`, `/readyz` and the metrics at once, whatever the role; a port that cannot be had is
   one line naming its flag, and the exit.
2. With `--leader-elect`, stand by as a follower (no watch, no AWS call) until this process holds the
   Lease; a leader that loses it, or cannot renew within the renew deadline, exits at once.
3. Wait until the API server serves the CRD of at least one enabled kind (`--kinds`; a freshly restarted
   API server may serve discovery before its CRDs), then start kopf, standalone: the Lease, not kopf
   peering, decides who works. Kinds whose CRD is not served wait, reported, while the others work.
4. Run the watch self-check beside kopf (`watchguard.py`): it keeps kopf's view of the enabled kinds up
   to date, picks up a CRD that appears later, and probes a quiet watch.
5. On SIGTERM: kopf stops its handlers, then the leader releases the Lease for a fast hand-over.

What it does not do: reconcile (handlers.py and reconciler.py) or decide who leads (election.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import kopf
from kopf._cogs.structs.references import Insights  # handed to kopf.operator(), a public parameter
from kopf._core.engines.peering import Identity
from kopf._core.reactor.observation import process_discovered_resource_event  # kopf's own re-scan

from userprofile_operator import metrics
from userprofile_operator.election import DEFAULT_LEASE_NAME, Fence, LeaseElector, identity
from userprofile_operator.handlers import Runtime, build_registry
from userprofile_operator.health import Health, Phase, Watchdog, die
from userprofile_operator.kind import GROUP, Kind
from userprofile_operator.kinds import select
from userprofile_operator.kube import ObjectClient, api_client
from userprofile_operator.settings import Settings
from userprofile_operator.watchguard import WatchGuard

logger = logging.getLogger(__name__)
WATCH_HANDLER_SUCCEEDED = "Handler 'watch_self_check' succeeded."  # kopf's words, with our handler's id


def _names(kinds: Sequence[Kind]) -> str:
    """`sagemakeruserprofiles.sagemaker.awscc.dev, sagemakerspaces.sagemaker.awscc.dev`: for messages."""
    return ", ".join(kind.crd_name for kind in kinds)


@dataclass(frozen=True)
class Options:
    namespaces: Sequence[str] = ()
    liveness: str | None = None
    leader_elect: bool = False
    lease_namespace: str | None = None
    lease_name: str = DEFAULT_LEASE_NAME


def lease_namespace(given: str | None, environ: dict[str, str] | None = None) -> str:
    """`--leader-election-namespace`, else `POD_NAMESPACE`, else the in-cluster service account's."""
    env = os.environ if environ is None else environ
    if given:
        return given
    if env.get("POD_NAMESPACE"):
        return env["POD_NAMESPACE"]
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip()
    except OSError:
        raise SystemExit("--leader-elect needs --leader-election-namespace or POD_NAMESPACE (outside a pod)") from None


def run(settings: Settings, options: Options) -> int:
    return asyncio.run(_main(settings, options))


async def _main(settings: Settings, options: Options) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    health = Health()
    cannot = await _listen(settings, options, health)
    if cannot is not None:
        logger.critical(cannot)
        return 1
    me = identity()
    fence = Fence(settings.renew_deadline if options.leader_elect else None, on_lost=die)
    if not options.leader_elect:
        metrics.LEADER.set(1)
        return await _lead(settings, options, health, None, None, me, stop)
    elector = await _stand_by(settings, options, health, fence, me, stop)
    if elector is None:
        return 0  # stopped while standing by
    watchdog = asyncio.create_task(_fence_watchdog(fence, settings.retry_period / 2), name="fence watchdog")
    try:
        return await _lead(settings, options, health, fence, _releaser(fence, elector), me, stop)
    finally:  # a graceful stop at any point of leading; die() never comes here
        watchdog.cancel()
        fence.revoke()
        await asyncio.to_thread(elector.release)


async def _stand_by(
    settings: Settings, options: Options, health: Health, fence: Fence, me: str, stop: asyncio.Event
) -> LeaseElector | None:
    """A follower until this process holds the Lease (the elector), or None when stopped first."""
    loop = asyncio.get_running_loop()
    leading = asyncio.Event()
    elector = LeaseElector(
        name=options.lease_name,
        namespace=lease_namespace(options.lease_namespace),
        holder=me,
        lease_duration=settings.lease_duration,
        renew_deadline=settings.renew_deadline,
        retry_period=settings.retry_period,
        api_client=api_client(),
        fence=fence,
        on_leading=lambda: _call_soon(loop, leading.set),
        on_lost=die,
    )
    health.live_checks.append(lambda: None if elector.alive else "the leader election thread has stopped")
    health.live_checks.append(lambda: None if health.phase == Phase.FOLLOWER or fence.holds() else fence.reason())
    health.phase = Phase.FOLLOWER
    metrics.LEADER.set(0)
    elector.start()
    if not await _first(leading.wait(), stop.wait()):
        return None
    metrics.LEADER.set(1)
    return elector


async def _lead(
    settings: Settings,
    options: Options,
    health: Health,
    fence: Fence | None,
    release: Callable[[], Coroutine[Any, Any, None]] | None,
    me: str,
    stop: asyncio.Event,
) -> int:
    """Waits for the CRD, then runs kopf with the watch self-check until a stop. With leader election,
    `fence` guards every mutating AWS call and `release` runs at kopf's clean-up."""
    objects = ObjectClient()
    health.phase = Phase.WAITING_FOR_CRD
    kinds = select(settings.kinds)
    if not await _wait_served(objects, kinds, settings.crd_wait, stop):
        objects.close()
        return 0
    health.phase = Phase.LEADING
    runtime = Runtime(settings, kinds, options.namespaces, fence=fence)
    registry = build_registry(runtime)
    kopf_settings = kopf.OperatorSettings()
    insights = Insights()
    runtime.background.append(_guard(runtime, objects, registry, kopf_settings, insights).run)
    if release is not None:
        runtime.on_cleanup.append(release)
    health.live_checks.append(runtime.watch.problem)
    health.ready_checks.append(runtime.watch.not_ready)
    health.notes.append(runtime.watch.missing)
    logging.getLogger("kopf._core.reactor.observation").addFilter(_said_by_the_guard)
    logging.getLogger("kopf.objects").addFilter(_not_every_watch_event)
    metrics.WATCH_LAST_EVENT_AGE.set_function(runtime.watch.quiet)
    metrics.count_objects(runtime.object_states)
    watchdog = asyncio.create_task(_exit_when_dead(Watchdog(health, settings.deaf_exit_after), stop))
    trimmer = asyncio.create_task(_give_back_freed_memory(stop))
    started = asyncio.Event()
    signals = asyncio.create_task(_reclaim_signals(asyncio.get_running_loop(), started, stop))
    try:
        await kopf.operator(
            registry=registry,
            settings=kopf_settings,
            insights=insights,
            identity=Identity(me),  # never kopf's default, getpass.getuser(): no passwd entry needed
            standalone=True,
            clusterwide=not options.namespaces,
            namespaces=list(options.namespaces),
            stop_flag=stop,
            ready_flag=started,
        )
    except Exception as err:
        die(f"kopf failed: {err}")
    finally:
        objects.close()
    if not stop.is_set():
        die("kopf stopped on its own (see the lines above); exiting for a restart")
    watchdog.cancel()
    trimmer.cancel()
    signals.cancel()
    return 0


def _releaser(fence: Fence, elector: LeaseElector) -> Callable[[], Coroutine[Any, Any, None]]:
    """At kopf's clean-up (no new AWS call can start then): stop the fence, then release the Lease,
    so a follower takes over at once rather than after kopf's wait for its last tasks."""

    async def release() -> None:
        fence.revoke()
        await asyncio.to_thread(elector.release)

    return release


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    loop.call_soon_threadsafe(fn)


async def _first(*aws: Any) -> bool:
    """Waits for the first of `aws` (coroutines); True when it was the first one."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return tasks[0] in done


async def _fence_watchdog(fence: Fence, every: float) -> None:
    """A leader whose renewals stopped succeeding (a hung request, a frozen process) exits once the
    renew deadline passes, even if no AWS call asks the fence."""
    while not fence.revoked:
        await asyncio.sleep(every)
        if not fence.holds() and not fence.revoked:
            die(f"leader election lost: {fence.reason()}; exiting")


async def _reclaim_signals(loop: asyncio.AbstractEventLoop, started: asyncio.Event, stop: asyncio.Event) -> None:
    """kopf installs its own SIGINT/SIGTERM handlers when it starts; once it has, SIGTERM sets `stop`
    again (kopf's stop flag, so kopf still stops gracefully), and the runner can tell a requested stop
    from kopf stopping on its own."""
    await started.wait()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def _malloc_trim() -> Callable[[int], object] | None:
    """glibc's malloc_trim, or None where the C library is not glibc."""
    try:
        trim: Callable[[int], object] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


async def _give_back_freed_memory(
    stop: asyncio.Event,
    every: float = 30.0,
    trim: Callable[[int], object] | None = None,
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """Every `every` seconds, glibc's malloc_trim: it hands the pages freed inside the heap back to the
    system. A start over 10,000 objects (the LIST, and an event waiting per object for a worker) peaks
    at about 300 MB, then frees most of it; without a trim the process keeps the peak as its RSS
    (bench/README.md). A no-op where the C library is not glibc. `trim` and `pause` (the wait between
    two trims) are for tests."""
    trim = trim or _malloc_trim()
    if trim is None:
        return
    while not stop.is_set():
        await _first(stop.wait(), pause(every))
        await asyncio.to_thread(trim, 0)


async def _exit_when_dead(watchdog: Watchdog, stop: asyncio.Event) -> None:
    """Outside kopf, so that it outlives it: a process that stays unhealthy ends (not during a stop)."""
    while not stop.is_set():
        watchdog.check()
        await asyncio.sleep(1.0)


async def _wait_served(objects: ObjectClient, kinds: Sequence[Kind], limit: float, stop: asyncio.Event) -> bool:
    """Until the API server's discovery lists the resource of at least one of `kinds`; exits non-zero
    after `limit` seconds. The others are the watch self-check's to report and pick up."""
    started = time.monotonic()
    said = 0.0
    which = _names(kinds) if len(kinds) == 1 else f"any of {_names(kinds)}"
    while not stop.is_set():
        if await objects.serving(kinds):
            return True
        waited = time.monotonic() - started
        if waited >= limit:
            die(f"{which}: not served by the API server after {waited:.0f} s: are the CRDs installed?")
        if waited - said >= 10 or said == 0:
            logger.warning("waiting for the API server to serve %s (the CRDs) before watching", which)
            said = waited or 0.001
        await _first(stop.wait(), asyncio.sleep(1.0))
    return False


def _not_every_watch_event(record: logging.LogRecord) -> bool:
    """kopf logs a line for every handler that succeeds, and the watch self-check's handler runs at every
    watch event of every object: 10,000 lines at each start over 10,000 objects, and one a write to the
    log. Its failures are still logged."""
    return not (record.levelno == logging.INFO and record.getMessage() == WATCH_HANDLER_SUCCEEDED)


def _said_by_the_guard(record: logging.LogRecord) -> bool:
    """kopf warns of every resource it has handlers for and cannot find, at start and again at every CRD
    change in the cluster, whatever its group; the watch self-check says it once per kind, with the
    reason, so kopf's line is left out."""
    return not record.getMessage().startswith("Unresolved resources cannot be served")


async def _listen(settings: Settings, options: Options, health: Health) -> str | None:
    """Serves /healthz and /readyz (`--liveness`) and /metrics; the reason, one line that names the flag,
    when one cannot be served (a port already in use, a bad URL)."""
    if options.liveness:
        try:
            await health.serve(options.liveness)
        except ValueError as err:
            return str(err)
        except OSError as err:
            return _cannot_listen("/healthz and /readyz", options.liveness, err, "choose another port in --liveness")
    try:
        metrics.serve(settings.metrics_port)
    except OSError as err:
        hint = "choose another with --metrics-port (SMUP_METRICS_PORT), or 0 for no metrics"
        return _cannot_listen("/metrics", f"port {settings.metrics_port}", err, hint)
    return None


def _cannot_listen(what: str, where: str, err: OSError, hint: str) -> str:
    why = "already in use (another process listens there)" if err.errno == errno.EADDRINUSE else err.strerror or err
    return f"cannot serve {what} on {where}: {why}; {hint}"


def _guard(
    runtime: Runtime,
    objects: ObjectClient,
    registry: kopf.OperatorRegistry,
    kopf_settings: kopf.OperatorSettings,
    insights: Insights,
) -> WatchGuard:
    def unwatched() -> list[str]:
        # The enabled kinds, watched; and namespaces, indexed (the namespace settings, and in namespaced mode
        # kopf's own namespace observer): a scan against a half-started API server can miss any of them.
        watched = {(r.group, r.plural) for r in insights.watched_resources}
        missing = [kind.crd_name for kind in runtime.kinds if (kind.group, kind.plural) not in watched]
        if not any(r.group == "" and r.plural == "namespaces" for r in insights.indexed_resources):
            missing.append("namespaces")
        return missing

    async def rediscover() -> None:
        # What kopf does itself when a CRD of a group changes: read the group's discovery again and
        # start or stop the watches to match. The core group ("") holds namespaces.
        for group in (GROUP, ""):
            event: Any = {"type": "MODIFIED", "object": {"spec": {"group": group}}}
            await process_discovered_resource_event(
                raw_event=event, settings=kopf_settings, registry=registry, insights=insights
            )

    return WatchGuard(
        state=runtime.watch,
        objects=objects,
        kinds=runtime.kinds,
        scope=runtime.scope,
        busy=lambda uid: uid in runtime.busy,
        unwatched=unwatched,
        rediscover=rediscover,
        scanned=insights.ready_resources.is_set,
    )
