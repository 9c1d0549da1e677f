"""Kinds are chosen, not all-or-nothing (issue 23): on a cluster with only the user profile's CRD the
operator reconciles profiles, reports the other kinds as not served (/readyz, one log line, a metric),
and starts managing spaces once their CRD is applied. A control plane of this test's own, since the
session's has every CRD; the operator reads it through an insecure kubeconfig, whose warning it says once.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import manifests
from tests.support.emulator import EmulatorProcess
from tests.support.kube import CRD_DIR, REPO_ROOT, Kube, wait_for
from tests.support.localcluster import LocalControlPlane, find_assets
from tests.support.operator import OperatorProcess, health
from tests.support.processes import free_port
from userprofile_operator.kinds import all_kinds

PROFILES = "sagemakeruserprofiles.sagemaker.awscc.dev"
SPACES = "sagemakerspaces.sagemaker.awscc.dev"
DOMAINS = "sagemakerdomains.sagemaker.awscc.dev"
NOT_SERVED = "not served by the API server (is the CRD installed?): "


def unserved(*served: str) -> list[str]:
    """The CRD names of every kind (the operator manages all by default) but those `served`, sorted."""
    return sorted(kind.crd_name for kind in all_kinds() if kind.crd_name not in served)


def apply_crd(kube: Kube, name: str) -> None:
    group = name.split(".", 1)[1]
    kube.kubectl("apply", "--server-side", "-f", str(CRD_DIR / f"{group}_{name.split('.')[0]}.yaml"))
    kube.wait_established(name)


def insecure_copy(kubeconfig: Path, folder: Path) -> Path:
    """The kubeconfig without its CA: insecure-skip-tls-verify, as on many laptops' test clusters."""
    config = yaml.safe_load(kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"].pop("certificate-authority", None)
        cluster["cluster"]["insecure-skip-tls-verify"] = True
    path = folder / "kubeconfig-insecure"
    path.write_text(yaml.safe_dump(config))
    return path


def ready(kube: Kube, namespace: str, resource: str, name: str) -> bool:
    obj = kube.get_json(resource, name, "-n", namespace)
    cond = kube.condition(obj, "Ready") or {}
    return cond.get("status") == "True" and cond.get("observedGeneration") == obj["metadata"]["generation"]


def served_metric(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {m[1]: float(m[2]) for m in re.finditer(r'^smup_kind_served\{kind="(\w+)"\} (\S+)$', text, re.M)}


@pytest.mark.own_control_plane
def test_with_only_the_profile_crd_profiles_work_the_rest_is_reported_and_spaces_are_picked_up_later(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    with LocalControlPlane(find_assets(REPO_ROOT)) as plane:
        kube = Kube(kubeconfig=plane.kubeconfig, server=plane.server)
        apply_crd(kube, PROFILES)
        namespace = f"kinds-{uuid.uuid4().hex[:6]}"
        kube.create_namespace(namespace)
        health_port, metrics_port = free_port(), free_port()
        op = OperatorProcess(
            insecure_copy(kube.kubeconfig, tmp_path),
            emulator.env(),
            namespaces=[namespace],
            args=["--liveness", f"http://127.0.0.1:{health_port}/healthz", "--metrics-port", str(metrics_port)],
        ).start()
        try:
            profile = manifests.profile(f"alice-{uuid.uuid4().hex[:6]}", namespace)
            kube.apply_list([profile])
            wait_for("the profile Ready", lambda: ready(kube, namespace, "smup", profile["metadata"]["name"]))

            status, answer = health(health_port, "/readyz")
            missing = NOT_SERVED + ", ".join(unserved(PROFILES))
            assert (status, answer) == (200, {"ok": True, "phase": "Leading", "reason": "", "message": missing})
            assert health(health_port, "/healthz")[0] == 200
            said = [line for line in op.log(500).splitlines() if "not served by the API server" in line]
            assert len(said) == 1 and DOMAINS in said[0] and SPACES in said[0], said
            metric: dict[str, Any] = served_metric(metrics_port)
            assert metric == {kind.kind: int(kind.crd_name == PROFILES) for kind in all_kinds()}

            apply_crd(kube, SPACES)
            space = manifests.space(f"lab-{uuid.uuid4().hex[:6]}", namespace)
            kube.apply_list([space])
            wait_for("the space Ready", lambda: ready(kube, namespace, "smspace", space["metadata"]["name"]), 60)

            wait_for("spaces served", lambda: served_metric(metrics_port)["SageMakerSpace"] == 1, 10)
            assert health(health_port, "/readyz")[1]["message"] == NOT_SERVED + ", ".join(unserved(PROFILES, SPACES))
            log = op.log(1000)
            assert f"{SPACES} is served now: watching it" in log
            assert "Unresolved resources cannot be served" not in log, "said once, by the self-check"
            assert log.count("InsecureRequestWarning") == 1, "urllib3's per-request warning, said once"
            assert "Traceback" not in log
            assert health(health_port, "/healthz")[0] == 200
            assert json.loads(kube.kubectl("get", "smup", "-n", namespace, "-o", "json").stdout)["items"]
        finally:
            op.stop()
