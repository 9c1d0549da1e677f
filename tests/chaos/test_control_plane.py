"""Chaos of the control plane (issue 12): the operator must never go deaf when the API server restarts.

* the operator started while the API server restarts (what left it deaf for good: kopf's discovery ran
  against a server that did not serve the CRD yet, and kopf never looked again);
* two restarts during one batch;
* a 60 s outage with objects applied just before it and just after it.

In each case every object ends Ready at its generation, AWS holds exactly one profile per object (one
successful CREATE each), and the operator is still the same process: it recovered by itself, with no
supervisor to restart it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from tests.chaos.harness import OPERATOR_ENV, PROFILES, ROUNDS, Scene
from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube, wait_for
from tests.support.localcluster import LocalControlPlane
from tests.support.operator import OperatorProcess, health
from tests.support.processes import free_port

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.e2e,
    pytest.mark.own_control_plane,  # restarts the local API server: left out against an existing cluster
    pytest.mark.timeout(240 + 300 * ROUNDS),
]


@pytest.fixture
def slow_emulator(emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    with emulator.slowed(1.0) as slow:
        yield slow


def restart(control_plane: LocalControlPlane, kube: Kube, down_for: float = 1.0) -> None:
    control_plane.restart_apiserver(down_for=down_for)
    wait_for("the API server answers kubectl", lambda: kube.kubectl("get", "ns", check=False).returncode == 0)


def operator_with_health(kube: Kube, emulator: EmulatorProcess, scene: Scene) -> tuple[OperatorProcess, int]:
    """An operator for the scene's namespace, serving /healthz on a port of its own (not started)."""
    port = free_port()
    op = OperatorProcess(
        kube.kubeconfig,
        emulator.env(),
        namespaces=[scene.namespace],
        env=OPERATOR_ENV,
        args=["--liveness", f"http://127.0.0.1:{port}/healthz"],
    )
    return op, port


def settle(scene: Scene, names: list[str], version: str | None) -> None:
    """Waits for the phase to finish (all Ready at `version`, or all gone), then checks agreement."""
    if version is not None:
        scene.wait_ready(names, int(version))
        scene.assert_agreement(names, version)
    else:
        scene.wait_gone()
        scene.assert_agreement([])


def test_operator_started_while_the_api_server_restarts(
    crd: Kube, slow_emulator: EmulatorProcess, control_plane: LocalControlPlane | None
) -> None:
    assert control_plane is not None
    kube = crd
    scene = Scene.new(kube, slow_emulator, "startrestart")
    rng = random.Random(12)
    op, port = operator_with_health(kube, slow_emulator, scene)
    count = max(10, PROFILES // 2)
    try:
        for round_ in range(ROUNDS * 3):
            # The restart lands somewhere in the operator's start-up: discovery, the first LIST, the watch.
            op.start()
            time.sleep(rng.uniform(0.2, 2.5))
            restart(control_plane, kube)
            names = scene.names(round_, count)
            scene.apply(names, "1")
            settle(scene, names, "1")
            assert op.running, "the operator exited"
            status, body = wait_for("healthz", lambda: health(port))
            assert status == 200, body
            op.stop()
            scene.delete_all()  # with no operator running, the finalizers wait for the next start
            op.start()
            settle(scene, names, None)
            op.stop()
            print(f"start-up round {round_}: agreement holds")
    finally:
        op.stop()


def test_two_api_server_restarts_during_one_batch(
    crd: Kube, slow_emulator: EmulatorProcess, control_plane: LocalControlPlane | None
) -> None:
    assert control_plane is not None
    kube = crd
    scene = Scene.new(kube, slow_emulator, "tworestarts")
    op = OperatorProcess(kube.kubeconfig, slow_emulator.env(), namespaces=[scene.namespace], env=OPERATOR_ENV).start()
    count = max(10, PROFILES // 2)
    try:
        for round_ in range(ROUNDS):
            names = scene.names(round_, count)
            for phase, version in (("create", "1"), ("update", "2"), ("delete", None)):
                if version is not None:
                    scene.apply(names, version)
                else:
                    scene.delete_all()
                restart(control_plane, kube)
                time.sleep(0.5)
                restart(control_plane, kube)
                settle(scene, names, version)
                print(f"round {round_} {phase} (two restarts): agreement holds")
            assert op.running, "the operator exited"
    finally:
        op.stop()


def test_a_60s_outage_with_objects_applied_before_and_after_it(
    crd: Kube, slow_emulator: EmulatorProcess, control_plane: LocalControlPlane | None
) -> None:
    assert control_plane is not None
    kube = crd
    scene = Scene.new(kube, slow_emulator, "outage")
    op, port = operator_with_health(kube, slow_emulator, scene)
    op.start()
    count = max(10, PROFILES // 2)
    before, after = scene.names(0, count), scene.names(1, count)
    statuses: list[int] = []
    try:
        # Serving first: the outage is to hit an operator at work, not one still starting.
        wait_for("the operator's /readyz", lambda: health(port, "/readyz")[0] == 200)
        scene.apply(before, "1")
        outage = threading.Thread(target=control_plane.restart_apiserver, kwargs={"down_for": 60.0})
        outage.start()
        while outage.is_alive():  # the API server being away is not the operator's fault: still live
            statuses.append(health(port)[0])
            time.sleep(2)
        outage.join()
        restart_done = time.monotonic()
        wait_for("the API server answers kubectl", lambda: kube.kubectl("get", "ns", check=False).returncode == 0)
        scene.apply(after, "1")
        scene.wait_ready(before + after, 1)
        print(f"all {2 * count} objects Ready {time.monotonic() - restart_done:.1f} s after the API server came back")
        scene.assert_agreement(before + after, "1")
        assert op.running, "the operator exited"
        assert set(statuses) == {200}, f"/healthz during the outage: {statuses}"
        scene.delete_all()
        settle(scene, [], None)
    finally:
        op.stop()
