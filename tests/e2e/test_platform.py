"""The local control plane is a real Kubernetes API server: CRDs, validation, RBAC, clean shutdown."""

from __future__ import annotations

import json
import os

import pytest

from tests.support.kube import REPO_ROOT, Kube
from userprofile_operator.localcluster import LocalControlPlane, find_assets

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.platform.test"},
    "spec": {
        "group": "platform.test",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer", "minimum": 1, "maximum": 10}},
                            }
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def widgets(kube: Kube) -> Kube:
    kube.kubectl("apply", "-f", "-", input=json.dumps(WIDGET_CRD))
    kube.wait_established("widgets.platform.test")
    return kube


def test_crd_applied_with_kubectl_becomes_established(widgets: Kube) -> None:
    crd = widgets.get_json("crd", "widgets.platform.test")
    established = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert established["Established"] == "True"


def test_custom_resource_round_trips(widgets: Kube, namespace: str) -> None:
    manifest = {"apiVersion": "platform.test/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}
    widgets.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    got = widgets.get_json("widget", "w", "-n", namespace)
    assert got["spec"] == {"size": 3}
    assert got["metadata"]["namespace"] == namespace


def test_invalid_custom_resource_is_refused_with_the_validation_message(widgets: Kube, namespace: str) -> None:
    manifest = {"apiVersion": "platform.test/v1", "kind": "Widget", "metadata": {"name": "big"}, "spec": {"size": 11}}
    proc = widgets.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False)
    assert proc.returncode != 0
    assert "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10" in proc.stderr


def test_rbac_is_enforced_for_a_service_account_without_a_role(kube: Kube, namespace: str) -> None:
    kube.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    token = kube.kubectl("create", "token", "nobody", "-n", namespace).stdout.strip()
    proc = kube.kubectl("get", "configmaps", "-n", namespace, "--token", token, check=False)
    assert proc.returncode != 0
    assert "Forbidden" in proc.stderr
    assert f"system:serviceaccount:{namespace}:nobody" in proc.stderr


@pytest.mark.own_control_plane
def test_control_plane_stops_with_nothing_left_running() -> None:
    plane = LocalControlPlane(find_assets(REPO_ROOT))
    plane.start()
    pids = plane.pids
    workdir = plane.workdir
    assert len(pids) == 2
    plane.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not workdir.exists()
