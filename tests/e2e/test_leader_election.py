"""Two replicas and a Lease, against the real API server (issue 12).

Each replica signs its AWS calls with an access key of its own, and the emulator counts calls per
access key (as CloudTrail would), so "the follower made no AWS call" is counted at the server, not
taken from the replica's word.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube, wait_for
from tests.support.manifests import profile
from tests.support.operator import OperatorProcess, health
from tests.support.processes import free_port

MUTATING = ("CreateResource", "UpdateResource", "DeleteResource", "CancelResourceRequest")
LEASE = "smup-test-leader"


@dataclass
class Replica:
    name: str
    key: str
    port: int
    proc: OperatorProcess

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        return health(self.port, path)


@pytest.fixture
def election(crd: Kube, emulator: EmulatorProcess) -> Iterator[tuple[str, str, list[Replica]]]:
    """A namespace for the Lease, one for the objects, and two replicas (not started)."""
    lease_ns, work_ns = f"le-{uuid.uuid4().hex[:8]}", f"lw-{uuid.uuid4().hex[:8]}"
    crd.create_namespace(lease_ns)
    crd.create_namespace(work_ns)
    replicas = []
    for index in range(2):
        name, key, port = (
            f"replica-{index}-{uuid.uuid4().hex[:4]}",
            f"AKIAREPLICA{index}{uuid.uuid4().hex[:6]}",
            free_port(),
        )
        args = [
            "--leader-elect",
            "--leader-election-namespace",
            lease_ns,
            "--leader-election-id",
            LEASE,
            "--liveness",
            f"http://127.0.0.1:{port}/healthz",
        ]
        env = {"POD_NAME": name, "AWS_ACCESS_KEY_ID": key}
        proc = OperatorProcess(crd.kubeconfig, {**emulator.env(), **env}, args=args, namespaces=[work_ns])
        replicas.append(Replica(name, key, port, proc))
    try:
        yield lease_ns, work_ns, replicas
    finally:
        for replica in replicas:
            if replica.proc.proc is not None and replica.proc.proc.poll() is None:
                with_cont(replica)
            replica.proc.stop()


def with_cont(replica: Replica) -> None:
    assert replica.proc.proc is not None
    os.killpg(replica.proc.proc.pid, signal.SIGCONT)


def holder(kube: Kube, lease_ns: str) -> str | None:
    proc = kube.kubectl("get", "lease", LEASE, "-n", lease_ns, "-o", "json", check=False)
    if proc.returncode != 0:
        return None
    spec = json.loads(proc.stdout).get("spec") or {}
    return spec.get("holderIdentity") or None


def calls(emulator: EmulatorProcess, replica: Replica, operations: tuple[str, ...] | None = None) -> int:
    by_op: dict[str, int] = emulator.stats().get("callsByAccessKey", {}).get(replica.key, {})
    return sum(n for op, n in by_op.items() if operations is None or op in operations)


def wait_ready(kube: Kube, namespace: str, names: list[str], generation: int, timeout: float = 90) -> None:
    def done() -> bool:
        items = kube.get_json("smup", "-n", namespace)["items"]
        ready = {
            o["metadata"]["name"]
            for o in items
            if o.get("status", {}).get("observedGeneration") == generation
            and (kube.condition(o, "Ready") or {}).get("status") == "True"
            and (kube.condition(o, "Synced") or {}).get("status") == "True"
        }
        return ready >= set(names)

    wait_for(f"{len(names)} profiles Ready at generation {generation}", done, timeout, interval=0.5)


def successful_creates(emulator: EmulatorProcess, names: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(names, 0)
    for request in emulator.requests():
        identifier = request.get("Identifier") or ""
        name = identifier.split("|", 1)[0]
        if request.get("Operation") == "CREATE" and request.get("OperationStatus") == "SUCCESS" and name in counts:
            counts[name] += 1
    return counts


def start_pair(kube: Kube, lease_ns: str, first: Replica, second: Replica) -> None:
    """The first replica takes the Lease; the second then stands by."""
    first.proc.start()
    wait_for("the first replica holds the Lease", lambda: holder(kube, lease_ns) == first.name)
    second.proc.start()
    wait_for("the follower answers /readyz", lambda: second.get("/readyz")[0] == 200)


def test_one_lease_holder_works_the_follower_stands_by_and_a_killed_leader_fails_over(
    crd: Kube, emulator: EmulatorProcess, election: tuple[str, str, list[Replica]]
) -> None:
    kube = crd
    lease_ns, work_ns, (first, second) = election
    start_pair(kube, lease_ns, first, second)
    assert second.get("/healthz") == (200, {"ok": True, "phase": "Follower", "reason": ""})

    names = [f"le-{i}-{uuid.uuid4().hex[:4]}" for i in range(5)]
    kube.apply_list([profile(n, work_ns, "1") for n in names])
    wait_ready(kube, work_ns, names, 1)
    assert calls(emulator, first, MUTATING) >= len(names)
    assert calls(emulator, second) == 0, "the follower called AWS"
    assert first.get("/readyz") == (200, {"ok": True, "phase": "Leading", "reason": ""})

    first.proc.kill()
    killed = time.monotonic()
    wait_for("the follower holds the Lease", lambda: holder(kube, lease_ns) == second.name, timeout=30)
    took_over = time.monotonic() - killed
    more = [f"le-after-{i}-{uuid.uuid4().hex[:4]}" for i in range(3)]
    kube.apply_list([profile(n, work_ns, "1") for n in more])
    wait_ready(kube, work_ns, more, 1)
    ready = time.monotonic() - killed
    print(
        f"SIGKILL of the leader: the follower held the Lease after {took_over:.1f} s, new objects Ready at {ready:.1f}s"
    )
    assert took_over < 20, f"failover took {took_over:.1f} s"
    assert calls(emulator, second, MUTATING) >= len(more)
    assert set(successful_creates(emulator, names + more).values()) == {1}


def test_a_graceful_stop_hands_the_lease_over_at_once(
    crd: Kube, emulator: EmulatorProcess, election: tuple[str, str, list[Replica]]
) -> None:
    kube = crd
    lease_ns, _, (first, second) = election
    start_pair(kube, lease_ns, first, second)
    first.proc.stop()  # SIGTERM: kopf stops, then the Lease is released
    stopped = time.monotonic()
    wait_for("the follower holds the Lease", lambda: holder(kube, lease_ns) == second.name, timeout=30)
    took_over = time.monotonic() - stopped
    assert took_over < 4, f"a released Lease was taken over only after {took_over:.1f} s (retry period 2 s)"


def test_a_frozen_leader_that_wakes_after_losing_the_lease_makes_no_mutating_call(
    crd: Kube, slow_emulator_for_election: EmulatorProcess, election: tuple[str, str, list[Replica]]
) -> None:
    kube, emulator = crd, slow_emulator_for_election
    lease_ns, work_ns, (first, second) = election
    start_pair(kube, lease_ns, first, second)
    names = [f"fz-{i}-{uuid.uuid4().hex[:4]}" for i in range(6)]
    kube.apply_list([profile(n, work_ns, "1") for n in names])
    wait_ready(kube, work_ns, names, 1)

    assert first.proc.proc is not None
    os.killpg(first.proc.proc.pid, signal.SIGSTOP)
    time.sleep(1.0)  # let anything already on the wire arrive before counting
    frozen_mutations = calls(emulator, first, MUTATING)
    # Changes made while it is frozen: its watch connection buffers them, to be handled on waking.
    kube.apply_list([profile(n, work_ns, "2") for n in names])
    wait_for("the follower holds the Lease", lambda: holder(kube, lease_ns) == second.name, timeout=30)
    wait_ready(kube, work_ns, names, 2)
    os.killpg(first.proc.proc.pid, signal.SIGCONT)
    code = wait_for("the woken leader exits", lambda: first.proc.proc.poll() if first.proc.proc else None, 30)
    assert code != 0, "a leader that lost its Lease must exit non-zero"
    assert calls(emulator, first, MUTATING) == frozen_mutations, "the woken leader made a mutating call"
    log = first.proc.log_path.read_text(errors="replace")
    assert "Lease" in log.splitlines()[-1] or "fenced" in log or "leader election lost" in log, log[-2000:]
    assert holder(kube, lease_ns) == second.name
    assert set(successful_creates(emulator, names).values()) == {1}


@pytest.fixture
def slow_emulator_for_election(emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    """Requests take 1 s, so the frozen leader has requests in flight when it stops."""
    with emulator.slowed(1.0) as slow:
        yield slow
