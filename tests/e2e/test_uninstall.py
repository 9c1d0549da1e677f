"""Removing the operator never destroys what it managed: deleting its CRDs (an uninstall, a `kubectl delete
-k` of a base that holds them) makes the API server delete every object of them, and the operator
releases each one without a call that changes AWS. Against a control plane of this test's own, since
the CRDs go."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.support import manifests
from tests.support.emulator import EmulatorProcess
from tests.support.kube import REPO_ROOT, Kube, wait_for
from tests.support.localcluster import LocalControlPlane, find_assets
from tests.support.manifests import REGION
from tests.support.operator import OperatorProcess

MUTATING = ("CreateResource", "UpdateResource", "DeleteResource", "DeleteApp", "DeleteDomain")


def _mutations(emulator: EmulatorProcess) -> dict[str, int]:
    calls = emulator.stats()["calls"]
    return {op: int(calls.get(op, 0)) for op in MUTATING}


def _ready(kube: Kube, namespace: str, resource: str, name: str) -> bool:
    obj = kube.get_json(resource, name, "-n", namespace)
    return (kube.condition(obj, "Ready") or {}).get("status") == "True"


@pytest.mark.own_control_plane
def test_deleting_the_crds_with_the_operator_running_leaves_every_aws_resource(emulator: EmulatorProcess) -> None:
    with LocalControlPlane(find_assets(REPO_ROOT)) as plane:
        kube = Kube(kubeconfig=plane.kubeconfig, server=plane.server)
        kube.apply_crd()
        namespace = f"uninstall-{uuid.uuid4().hex[:6]}"
        kube.create_namespace(namespace)
        domain_name = f"kept-{uuid.uuid4().hex[:6]}"
        objects: list[dict[str, Any]] = [
            manifests.domain("studio", namespace, domain_name=domain_name),
            manifests.profile("erin", namespace, user_profile_name=f"erin-{uuid.uuid4().hex[:6]}"),
        ]
        with OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[namespace]) as op:
            kube.apply_list(objects)
            wait_for(
                "both Ready",
                lambda: all(_ready(kube, namespace, o["kind"], o["metadata"]["name"]) for o in objects),
                90,
            )
            domain_id = kube.get_json("smdomain", "studio", "-n", namespace)["status"]["identifier"]
            profile_id = kube.get_json("smup", "erin", "-n", namespace)["status"]["identifier"]
            before = _mutations(emulator)

            crds = [line.split("/", 1)[1] for line in kube.kubectl("get", "crd", "-o", "name").stdout.split()]
            ours = [c for c in crds if c.endswith(".sagemaker.awscc.dev") and "tenantpolicies" not in c]
            kube.kubectl("delete", "crd", *ours, "--timeout=60s", timeout=70)

            assert _mutations(emulator) == before, "an uninstall changed AWS"
            client = emulator.boto3_client(REGION)
            assert client.get_resource(TypeName="AWS::SageMaker::Domain", Identifier=domain_id)
            assert client.get_resource(TypeName="AWS::SageMaker::UserProfile", Identifier=profile_id)
            events = kube.get_json("events", "-n", namespace)["items"]
            retained = [e["message"] for e in events if e["reason"] == "Retained"]
            assert len(retained) == 2, retained
            assert all("CRD is being deleted" in m for m in retained), retained
            assert op.running or "exiting for a restart" in op.log()  # it may restart to wait for its CRDs
