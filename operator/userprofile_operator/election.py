"""Leader election on a `coordination.k8s.io/v1` Lease, and the fence that keeps a stale leader off AWS.

The election is the Kubernetes Python client's own `kubernetes.leaderelection` (client-go's algorithm:
acquire when the Lease is free or expired, renew every retry period, give up when a renewal has not
succeeded within the renew deadline). It runs in a daemon thread. What this module adds to it:

* `Fence`: when the last successful acquire or renewal was *sent*, on the monotonic clock. The Lease
  is ours for at most the lease duration after that moment, so a leader whose last renewal is older
  than the renew deadline must not act. `CloudControl` asks the fence before every mutating call, and a
  leader frozen past its Lease (SIGSTOP, a paused VM) that wakes up makes no mutating call: the fence
  ends the process instead. A fence without a deadline (no `--leader-elect`) always holds.
* A Lease lock whose requests have a timeout (the client's have none: a hung renewal would hang the
  election) and which feeds the fence.
* `release()`: on a graceful stop the leader empties `holderIdentity`, so a follower takes over at its
  next attempt instead of waiting out the Lease.

What it does not do: run anything as leader (`runner.py` starts kopf once `leading` is set), or exit
(`on_lost` is given by the caller).
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_LEASE_NAME = "sagemaker-userprofile-operator"


class NotLeader(Exception):
    """A mutating call was about to go out from a process that no longer surely holds the Lease."""


def identity(environ: dict[str, str] | None = None) -> str:
    """`POD_NAME` (the downward API), else host name and pid. Never the user name: a container's uid
    need not have a passwd entry (kopf's own default, `getpass.getuser()`, fails there)."""
    env = os.environ if environ is None else environ
    return env.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


class Fence:
    """Holds while the last renewal is younger than `renew_deadline` (monotonic clock); no deadline:
    always holds. `check()` calls `on_lost` and raises `NotLeader` when it does not hold."""

    def __init__(
        self,
        renew_deadline: float | None,
        on_lost: Callable[[str], None] = lambda reason: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.renew_deadline = renew_deadline
        self._on_lost = on_lost
        self._clock = clock
        self._renewed: float | None = None
        self.revoked = False  # given up on purpose (a graceful stop): no more mutating calls, no exit
        self._lock = threading.Lock()

    def renewed(self, sent_at: float) -> None:
        with self._lock:
            if self._renewed is None or sent_at > self._renewed:
                self._renewed = sent_at

    def age(self) -> float | None:
        """Seconds since the last renewal was sent; None before the first."""
        with self._lock:
            return None if self._renewed is None else self._clock() - self._renewed

    def revoke(self) -> None:
        self.revoked = True

    def holds(self) -> bool:
        if self.revoked:
            return False
        if self.renew_deadline is None:
            return True
        age = self.age()
        return age is not None and age < self.renew_deadline

    def reason(self) -> str:
        age = self.age()
        if age is None:
            return "this process has not acquired the Lease"
        return f"the last Lease renewal was sent {age:.1f} s ago (renew deadline {self.renew_deadline:g} s)"

    def check(self) -> None:
        if self.revoked:
            raise NotLeader("this process has released the Lease: it is stopping")
        if not self.holds():
            reason = self.reason()
            self._on_lost(f"fenced: {reason}")
            raise NotLeader(reason)


class _TimedLeases:
    """CoordinationV1Api with a timeout on every Lease request."""

    def __init__(self, api: Any, timeout: float) -> None:
        self._api = api
        self._timeout = timeout

    def read_namespaced_lease(self, name: str, namespace: str) -> Any:
        return self._api.read_namespaced_lease(name, namespace, _request_timeout=self._timeout)

    def create_namespaced_lease(self, namespace: str, body: Any) -> Any:
        return self._api.create_namespaced_lease(namespace, body, _request_timeout=self._timeout)

    def replace_namespaced_lease(self, name: str, namespace: str, body: Any) -> Any:
        return self._api.replace_namespaced_lease(
            name=name, namespace=namespace, body=body, _request_timeout=self._timeout
        )


def _lease_lock(name: str, namespace: str, holder: str, api_client: Any, fence: Fence, timeout: float) -> Any:
    from kubernetes import client

    # The client's leader election is untyped: used as Any.
    LeaseLock: Any = importlib.import_module("kubernetes.leaderelection.resourcelock.leaselock").LeaseLock

    class FencedLeaseLock(LeaseLock):  # type: ignore[misc]
        """Records in the fence when each successful create or update (acquire, renew) was sent."""

        def __init__(self) -> None:
            super().__init__(name, namespace, holder)
            self.api_instance = _TimedLeases(client.CoordinationV1Api(api_client), timeout)
            self.released = False

        def create(self, name: str, namespace: str, election_record: Any) -> bool:
            sent = time.monotonic()
            ok = not self.released and bool(super().create(name, namespace, election_record))
            if ok:
                fence.renewed(sent)
            return ok

        def update(self, name: str, namespace: str, updated_record: Any) -> bool:
            sent = time.monotonic()
            ok = not self.released and bool(super().update(name, namespace, updated_record))
            if ok:
                fence.renewed(sent)
            return ok

    return FencedLeaseLock()


class LeaseElector:
    """Runs the election in a daemon thread; `leading` is set once this process holds the Lease."""

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        holder: str,
        lease_duration: float,
        renew_deadline: float,
        retry_period: float,
        api_client: Any,
        fence: Fence,
        on_leading: Callable[[], None],
        on_lost: Callable[[str], None],
    ) -> None:
        electionconfig: Any = importlib.import_module("kubernetes.leaderelection.electionconfig")
        leaderelection: Any = importlib.import_module("kubernetes.leaderelection.leaderelection")

        self.name, self.namespace, self.holder = name, namespace, holder
        self.fence = fence
        # A request may take at most half the renew deadline, so a hung one leaves time for another.
        self._lock = _lease_lock(name, namespace, holder, api_client, fence, max(1.0, renew_deadline / 2))
        self._on_leading = on_leading
        config = electionconfig.Config(
            self._lock,
            # The client wants whole seconds for the Lease's leaseDurationSeconds.
            lease_duration=round(lease_duration),
            renew_deadline=renew_deadline,
            retry_period=retry_period,
            onstarted_leading=self._leading,
            onstopped_leading=lambda: on_lost(f"leader election lost: {fence.reason()}"),
        )
        self._election = leaderelection.LeaderElection(config)
        # The client logs every attempt of a follower at INFO ("yet to finish lease_duration"): ours says
        # the transitions once.
        logging.getLogger("leaderelection").setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._election.run, name="leader-election", daemon=True)

    def _leading(self) -> None:
        logger.info("%s holds the Lease %s/%s: leading", self.holder, self.namespace, self.name)
        self._on_leading()

    def start(self) -> None:
        logger.info(
            "%s is a candidate for the Lease %s/%s; standing by until it holds it",
            self.holder,
            self.namespace,
            self.name,
        )
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def release(self) -> None:
        """Give the Lease up (graceful stop): no renewal after this, and an empty holder for the next."""
        self._lock.released = True
        api = self._lock.api_instance
        try:
            lease = api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.holder:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            api.replace_namespaced_lease(self.name, self.namespace, lease)
            logger.info("released the Lease %s/%s", self.namespace, self.name)
        except Exception as err:  # the next leader waits the Lease out instead
            logger.warning("could not release the Lease %s/%s: %s", self.namespace, self.name, err)
