"""Chaos: the operator killed at random, AWS throttling and failing, the API server restarted.

Each test takes a batch of profiles through create, update and delete while something breaks, and
after every phase checks that the cluster and AWS agree exactly (`Scene.assert_agreement`).
`CHAOS_ROUNDS` repeats the whole cycle with fresh names, `CHAOS_PROFILES` sizes the batch
(`make test-chaos-short`: 1 round; `make chaos`: more rounds, more profiles).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator

import pytest

from tests.chaos.harness import OPERATOR_ENV, PROFILES, ROUNDS, Scene
from tests.e2e.test_resilience import ALL_OPERATIONS
from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube, wait_for
from tests.support.localcluster import LocalControlPlane
from tests.support.operator import OperatorProcess

# pytest-timeout's 600 s default is too short for `make chaos`: allow 4 minutes a round, plus start-up.
pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(120 + 240 * ROUNDS)]

MUTATIONS = ("CreateResource", "UpdateResource", "DeleteResource")


@pytest.fixture
def slow_emulator(emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    """Requests take 1 s, so that kills and restarts land while requests are in flight."""
    with emulator.slowed(1.0) as slow:
        yield slow


def cycle(scene: Scene, round_: int, count: int, during: str, chaos: ChaosAgent | None = None) -> None:
    """Create, update, delete `count` profiles; `chaos` (if any) runs during each phase; agreement after each."""
    names = scene.names(round_, count)
    for phase, version in (("create", "1"), ("update", "2"), ("delete", None)):
        if chaos is not None:
            chaos.begin()
        try:
            if version is not None:
                scene.apply(names, version)
                scene.wait_ready(names, int(version))
            else:
                scene.delete_all()
                scene.wait_gone()
        finally:
            if chaos is not None:
                chaos.end()
        scene.assert_agreement(names if version is not None else [], version)
        print(f"round {round_} {phase} ({during}): agreement holds")


class ChaosAgent:
    """A thread that breaks something at random moments while a phase runs (at most `limit` times a phase)."""

    def __init__(self, act: Callable[[], None], gap: tuple[float, float], limit: int, seed: int) -> None:
        self.act = act
        self.gap = gap
        self.limit = limit
        self.rng = random.Random(seed)
        self.count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def begin(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for _ in range(self.limit):
                if self._stop.wait(self.rng.uniform(*self.gap)):
                    return
                self.act()
                self.count += 1
        except BaseException as err:  # surfaced by end()
            self.error = err

    def end(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)
        if self.error is not None:
            raise self.error


def test_repeated_sigkill_while_profiles_are_created_updated_and_deleted(
    crd: Kube, slow_emulator: EmulatorProcess
) -> None:
    kube = crd
    emulator = slow_emulator
    scene = Scene.new(kube, emulator, "kill")
    # A slower client-side rate stretches each phase over several seconds, so the kills land mid-phase.
    env = {**OPERATOR_ENV, "SMUP_AWS_RATE": "20"}
    op = OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[scene.namespace], env=env).start()

    def kill_and_restart() -> None:
        op.kill()
        op.start()

    chaos = ChaosAgent(kill_and_restart, gap=(0.3, 2.0), limit=3, seed=11)
    try:
        for round_ in range(ROUNDS):
            cycle(scene, round_, PROFILES, "SIGKILL", chaos)
        assert chaos.count >= 3 * ROUNDS, f"only {chaos.count} kills happened"
    finally:
        op.stop()


def test_throttling_and_internal_errors_on_every_operation(crd: Kube, slow_emulator: EmulatorProcess) -> None:
    kube = crd
    emulator = slow_emulator
    scene = Scene.new(kube, emulator, "faults")
    faults: dict[str, dict[str, object]] = {}
    for operation in ALL_OPERATIONS:
        faults[operation] = {"ThrottleRate": 0.3, "ErrorRate": 0.05}
        if operation in MUTATIONS:
            faults[operation]["ErrorCode"] = "ServiceInternalError"  # accepted, then FAILED
        else:
            faults[operation]["Error"] = "ServiceInternalErrorException"
    emulator.set_faults(operations=faults, seed=5)
    before = emulator.stats()
    op = OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[scene.namespace], env=OPERATOR_ENV).start()
    try:
        for round_ in range(ROUNDS):
            cycle(scene, round_, max(10, PROFILES // 2), "30% throttled, 5% ServiceInternalError")
    finally:
        op.stop()
        emulator.clear_faults()
    after = emulator.stats()
    throttled = sum(after["throttled"].values()) - sum(before["throttled"].values())
    errors = sum(after["errors"].values()) - sum(before["errors"].values())
    assert throttled > 0, "no call was throttled: the faults did not apply"
    failed = [r for r in emulator.requests() if r.get("ErrorCode") == "ServiceInternalError"]
    assert errors > 0 or failed, "no call failed: the faults did not apply"


@pytest.mark.own_control_plane  # restarts the local API server: left out against an existing cluster
def test_api_server_restarted_mid_run(
    crd: Kube, slow_emulator: EmulatorProcess, control_plane: LocalControlPlane | None
) -> None:
    kube = crd
    assert control_plane is not None
    emulator = slow_emulator
    scene = Scene.new(kube, emulator, "apiserver")
    op = OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[scene.namespace], env=OPERATOR_ENV).start()

    def restart() -> None:
        control_plane.restart_apiserver(down_for=1.0)
        wait_for("the API server answers kubectl", lambda: kube.kubectl("get", "ns", check=False).returncode == 0)

    chaos = ChaosAgent(restart, gap=(0.5, 2.0), limit=1, seed=3)
    try:
        for round_ in range(ROUNDS):
            cycle(scene, round_, max(10, PROFILES // 2), "API server restart", chaos)
        assert chaos.count >= 1, "the API server was never restarted"
        assert op.running, "the operator exited when the API server went away"
    finally:
        op.stop()
    # How often the resync had to hand an object back to kopf (docs/operations.md: "Resync after an API server outage").
    nudges = op.log_path.read_text(errors="replace").count("nudging kopf")
    print(f"API server restarts: {chaos.count}; objects the resync handed back to kopf: {nudges}")
