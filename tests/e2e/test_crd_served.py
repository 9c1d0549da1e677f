"""The operator and its CRD, against a control plane of this test's own (issue 12): it waits for the CRD
before watching, says so on /readyz, and when the API server stops serving the resource it fails
/healthz with the reason and exits non-zero, rather than sit quiet while saying it is fine."""

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


@pytest.mark.own_control_plane
def test_waits_for_its_crd_then_works_and_exits_when_the_resource_stops_being_served(
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
            args=["--liveness", f"http://127.0.0.1:{port}/healthz"],
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
            # before its CRDs, only for good): the operator must say so, then exit for a restart.
            patch = [{"op": "replace", "path": "/spec/versions/0/served", "value": False}]
            kube.kubectl("patch", "crd", CRD, "--type", "json", "-p", json.dumps(patch))
            failing = wait_for("/healthz failing", lambda: (s := health(port, "/healthz"))[0] == 500 and s, 45)
            body = failing[1]
            # Said either way: kopf's watch of the resource may fail first (404), which stops kopf.
            assert f"{CRD} is not served by the API server" in body["reason"] or "kopf has stopped" in body["reason"]
            code = wait_for("the operator exits", lambda: op.proc.poll() if op.proc else None, timeout=60)
            assert code != 0
            last = op.log().strip().splitlines()[-1]
            assert "exiting for a restart" in last and ("not served" in last or "kopf" in last), last
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
        assert "Unresolved resources cannot be served" in log, "the fault did not apply"
        assert any(CRD in line and "is served again: watching it" in line for line in log.splitlines()), log
