"""The operator and its CRD, against a control plane of this test's own (issue 12): it waits for the CRD
before watching and says so on /readyz; when the API server stops serving the resource it says so
(/readyz, the log), rather than sit quiet while saying it is fine, and it picks the resource up again once
it is served (issue 23: a CRD is no reason to restart, so /healthz stays fine)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.e2e.test_reconciler import apply, manifest, wait_ready
from tests.support.emulator import EmulatorProcess
from tests.support.kube import REPO_ROOT, Kube, wait_for
from tests.support.localcluster import LocalControlPlane, find_assets
from tests.support.operator import OperatorProcess, health
from tests.support.processes import free_port

CRD = "sagemakeruserprofiles.sagemaker.awscc.dev"
READY = {"ok": True, "phase": "Leading", "reason": ""}


@pytest.mark.own_control_plane
def test_waits_for_its_crd_then_works_says_when_the_resource_is_no_longer_served_and_picks_it_up_again(
    emulator: EmulatorProcess,
) -> None:
    with LocalControlPlane(find_assets(REPO_ROOT)) as plane:
        kube = Kube(kubeconfig=plane.kubeconfig, server=plane.server)
        namespace = f"crd-{uuid.uuid4().hex[:6]}"
        kube.create_namespace(namespace)
        port = free_port()
        op = OperatorProcess(
            kube.kubeconfig,
            emulator.env(),
            namespaces=[namespace],
            args=["--liveness", f"http://127.0.0.1:{port}/healthz", "--kinds", "smup"],
        ).start()
        try:
            waiting = wait_for("the operator's /readyz", lambda: health(port, "/readyz"))
            assert waiting == (503, {"ok": False, "phase": "WaitingForCRD", "reason": "not serving yet: WaitingForCRD"})
            assert health(port, "/healthz")[0] == 200, "waiting for the CRD is not a reason to be restarted"
            wait_for("the log line that says why", lambda: "waiting for the API server to serve" in op.log())

            kube.apply_crd()
            wait_for("/readyz once the CRD is served", lambda: health(port, "/readyz")[0] == 200, timeout=30)
            apply(kube, namespace, manifest("before"))
            wait_ready(kube, namespace, "before")

            # The resource stops being served (as after an API server restart that serves discovery
            # before its CRDs, here for long): the operator says so, and is not ready while it was the
            # only kind it manages (--kinds smup); no restart would bring the CRD back.
            served = "/spec/versions/0/served"
            patch = [{"op": "replace", "path": served, "value": False}]
            kube.kubectl("patch", "crd", CRD, "--type", "json", "-p", json.dumps(patch))
            unready = wait_for("/readyz failing", lambda: (s := health(port, "/readyz"))[0] == 503 and s, 30)
            reason = unready[1]["reason"]
            assert reason == f"no enabled kind is watched: not served by the API server (is the CRD installed?): {CRD}"
            assert health(port, "/healthz")[0] == 200 and op.running
            assert sum("not served by the API server, so not watched" in line for line in op.log().splitlines()) == 1

            # Served again: picked up, and what changed meanwhile is handled.
            patch = [{"op": "replace", "path": served, "value": True}]
            kube.kubectl("patch", "crd", CRD, "--type", "json", "-p", json.dumps(patch))
            wait_for("/readyz again", lambda: health(port, "/readyz") == (200, READY), timeout=30)
            apply(kube, namespace, manifest("after"))
            wait_ready(kube, namespace, "after")
            assert f"{CRD} is served now: watching it" in op.log()
        finally:
            op.stop()


def test_a_resource_kopf_missed_at_start_is_discovered_again_and_served(
    crd: Kube, emulator: EmulatorProcess, namespace: str
) -> None:
    """kopf's first discovery scan misses the CRD (forced by tests/faults); kopf would never look again,
    since no CRD changes. The watch self-check has it read discovery again, and the object is handled."""
    env = {"SMUP_FAULT": "first-scan-misses-crds", "PYTHONPATH": str(REPO_ROOT / "tests" / "faults")}
    with OperatorProcess(crd.kubeconfig, emulator.env(), namespaces=[namespace], env=env) as op:
        apply(crd, namespace, manifest("missed"))
        wait_ready(crd, namespace, "missed")
        log = op.log()
        assert any(CRD in line and "is not in kopf's discovery" in line for line in log.splitlines()), log
        assert any(CRD in line and "is served again: watching it" in line for line in log.splitlines()), log
