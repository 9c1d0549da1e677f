"""The local control plane is a real Kubernetes API server: CRDs, validation, RBAC, clean shutdown."""

from __future__ import annotations

import json
import os

import pytest

from tests.support.kube import REPO_ROOT, Kube
from tests.support.localcluster import LocalControlPlane, find_assets

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


def pinned_versions() -> dict[str, str]:
    lines = (REPO_ROOT / "hack" / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.mark.own_control_plane  # the pinned, stamped build: another cluster reports its own version
def test_kubectl_version_reads_the_pinned_version_stamped_into_the_server(kube: Kube) -> None:
    pinned = pinned_versions()
    version = json.loads(kube.kubectl("version", "-o", "json").stdout)
    server = version["serverVersion"]
    assert server["gitVersion"] == pinned["KUBERNETES_VERSION"]
    assert (server["major"], server["minor"]) == ("1", pinned["KUBERNETES_VERSION"].split(".")[1])
    assert server["gitTreeState"] == "clean"


@pytest.mark.own_control_plane
def test_helm_reports_its_pinned_version() -> None:
    import subprocess

    pinned = pinned_versions()
    folder = subprocess.run(
        [str(REPO_ROOT / "hack" / "control-plane.sh"), "dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    helm = os.path.join(folder, "helm")
    out = subprocess.run([helm, "version", "--short"], capture_output=True, text=True, check=True).stdout
    assert out.startswith(pinned["HELM_VERSION"]), out
