"""The operator installed on the test node as users install it: the Helm chart (or the kustomize base) with
the image `make image` built, `imagePullPolicy: Never`, and the Cloud Control emulator for AWS.

Shared by ``tests/node/test_chart.py`` and ``tests/support/demo_node.py``. The emulator listens on the
node's bridge address (10.244.0.1, ``cni0``), which pods reach by their default route; its admin API is
reached at the same address from the host. Every pod signs its Cloud Control calls with its own pod name
as the access key (``AWS_ACCESS_KEY_ID`` from the downward API), so the emulator's per-key counts say
which pod called AWS.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tests.support.emulator import EmulatorProcess
from tests.support.helm import NAMESPACE, RELEASE
from tests.support.kube import REPO_ROOT, Kube, wait_for
from tests.support.manifests import DOMAIN, REGION
from tests.support.node import BRIDGE_IP

KUSTOMIZE_BASE = REPO_ROOT / "deploy" / "kustomize"
LEASE = RELEASE
SELECTOR = f"app.kubernetes.io/name=sagemaker-userprofile-operator,app.kubernetes.io/instance={RELEASE}"


def start_emulator(latency: float = 0.2) -> EmulatorProcess:
    """The emulator on the bridge address, so pods reach it, with the examples' domain in us-east-1 and
    what their settings name.
    The bridge must exist (``LocalNode.prepare``)."""
    emulator = EmulatorProcess(latency=latency, host=BRIDGE_IP).start()
    try:
        emulator.add_domain(DOMAIN, REGION)
        # What the examples' settings name (lifecycle configs, images), as an account has them.
        examples = [REPO_ROOT / "examples" / name for name in ("minimal.yaml", "full.yaml")]
        emulator.add_platform_kit_named_in(REGION, [yaml.safe_load(path.read_text()) for path in examples])
    except BaseException:
        emulator.stop()
        raise
    return emulator


def operator_env(emulator: EmulatorProcess, region: str = REGION) -> list[dict[str, Any]]:
    """The container's extra environment: the emulator's endpoints (Cloud Control, SageMaker), dummy
    credentials (the access key is the pod's name, so the emulator counts calls per pod) and a region."""
    return [
        {"name": "AWS_ENDPOINT_URL_CLOUDCONTROL", "value": emulator.url},
        {"name": "AWS_ENDPOINT_URL_SAGEMAKER", "value": emulator.url},  # the clean-up before a delete
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "AWS_SECRET_ACCESS_KEY", "value": "testing"},
        {"name": "AWS_REGION", "value": region},
    ]


# The tenant guardrails stay installed, but a namespace without a SageMakerTenantPolicy may create objects:
# the node's tests are about pods, and the guardrails have tests of their own (tests/e2e/test_tenancy.py).
GUARDRAILS = {"withoutPolicy": "allow"}


def chart_values(image: str, emulator: EmulatorProcess, region: str = REGION) -> dict[str, Any]:
    """The chart's defaults (2 replicas, leader election) plus the image as imported into the node, never
    pulled, the emulator, the default region, and GUARDRAILS."""
    repository, tag = image.rsplit(":", 1)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "config": {"defaultRegion": region},
        "extraEnv": operator_env(emulator, region),
        "guardrails": dict(GUARDRAILS),
    }


def kustomize_overlay(folder: Path, image: str, emulator: EmulatorProcess, region: str = REGION) -> Path:
    """An overlay of deploy/kustomize in `folder`: the image name and tag, `imagePullPolicy: Never` and the
    emulator's environment by a strategic merge patch (env entries merge by name), and GUARDRAILS."""
    repository, tag = image.rsplit(":", 1)
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": RELEASE, "namespace": NAMESPACE},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "operator",
                            "imagePullPolicy": "Never",
                            "env": [{"name": "SMUP_DEFAULT_REGION", "value": region}, *operator_env(emulator, region)],
                        }
                    ]
                }
            }
        },
    }
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        # kustomize takes no absolute path here
        "resources": [os.path.relpath(KUSTOMIZE_BASE, folder)],
        "images": [
            {
                "name": "ghcr.io/sagemaker-userprofile-operator/sagemaker-userprofile-operator",
                "newName": repository,
                "newTag": tag,
            }
        ],
        "patches": [
            {"patch": yaml.safe_dump(patch)},
            # GUARDRAILS, as the chart's value guardrails.withoutPolicy=allow renders them
            {
                "target": {"kind": "ValidatingAdmissionPolicyBinding", "name": ".*-create"},
                "patch": yaml.safe_dump(
                    [{"op": "replace", "path": "/spec/paramRef/parameterNotFoundAction", "value": "Allow"}]
                ),
            },
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return folder


# ---- the operator's pods and Lease -----------------------------------------------------------------


def pods(kube: Kube, namespace: str = NAMESPACE, selector: str = SELECTOR) -> list[dict[str, Any]]:
    """The operator's pods that are not being deleted, oldest first."""
    items = kube.get_json("pods", "-n", namespace, "-l", selector)["items"]
    live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
    return sorted(live, key=lambda p: p["metadata"]["creationTimestamp"])


def all_pods(kube: Kube, namespace: str = NAMESPACE, selector: str = SELECTOR) -> list[dict[str, Any]]:
    """Every pod of the operator, terminating ones included."""
    items: list[dict[str, Any]] = kube.get_json("pods", "-n", namespace, "-l", selector)["items"]
    return items


def pod_ready(kube: Kube, pod: dict[str, Any]) -> bool:
    return (
        pod.get("status", {}).get("phase") == "Running" and (kube.condition(pod, "Ready") or {}).get("status") == "True"
    )


def restart_count(pod: dict[str, Any]) -> int:
    return sum(int(s.get("restartCount", 0)) for s in pod.get("status", {}).get("containerStatuses") or [])


def container_id(pod: dict[str, Any]) -> str:
    """The operator container's id as containerd knows it (without `containerd://`)."""
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == "operator" and status.get("containerID"):
            return str(status["containerID"]).split("://", 1)[-1]
    raise AssertionError(f"pod {pod['metadata']['name']} has no running operator container")


def wait_pods_ready(
    kube: Kube,
    count: int = 2,
    image: str | None = None,
    timeout: float = 180,
    namespace: str = NAMESPACE,
    selector: str = SELECTOR,
) -> list[dict[str, Any]]:
    """Until exactly `count` pods of the operator exist, none terminating, all Running and Ready (the
    readiness probe: /readyz), on `image` when given; returns them."""

    def done() -> list[dict[str, Any]] | None:
        items = all_pods(kube, namespace, selector)
        if len(items) != count or any(p["metadata"].get("deletionTimestamp") for p in items):
            return None
        if image is not None and any(p["spec"]["containers"][0]["image"] != image for p in items):
            return None
        return items if all(pod_ready(kube, p) for p in items) else None

    try:
        return wait_for(f"{count} operator pods Running and Ready", done, timeout=timeout, interval=0.5)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{describe(kube, namespace, selector)}") from None


def describe(kube: Kube, namespace: str = NAMESPACE, selector: str = SELECTOR) -> str:
    """What a failed wait shows: the pods, their description and their last log lines."""
    out = [kube.kubectl("get", "pods", "-n", namespace, "-o", "wide", check=False).stdout]
    out.append(kube.kubectl("describe", "pods", "-n", namespace, "-l", selector, check=False).stdout[-6000:])
    for pod in all_pods(kube, namespace, selector):
        name = pod["metadata"]["name"]
        log = kube.kubectl("logs", name, "-n", namespace, "--tail=30", check=False)
        out.append(f"---- log of {name} ----\n{log.stdout}{log.stderr}")
    return "\n".join(out)


def lease_holder(kube: Kube, namespace: str = NAMESPACE, lease: str = LEASE) -> str | None:
    proc = kube.kubectl("get", "lease", lease, "-n", namespace, "-o", "json", check=False)
    if proc.returncode != 0:
        return None
    return (json.loads(proc.stdout).get("spec") or {}).get("holderIdentity") or None


# ---- profiles ----------------------------------------------------------------------------------------


def ready_at_latest_generation(kube: Kube, obj: dict[str, Any]) -> bool:
    generation = obj["metadata"].get("generation")
    status = obj.get("status") or {}
    return (
        status.get("observedGeneration") == generation
        and (kube.condition(obj, "Ready") or {}).get("status") == "True"
        and (kube.condition(obj, "Synced") or {}).get("status") == "True"
    )


def wait_profiles_ready(kube: Kube, namespace: str, names: Iterable[str], timeout: float = 120) -> None:
    """Until every named profile is Ready and Synced at its current generation."""
    wanted = set(names)

    def done() -> bool:
        items = kube.get_json("smup", "-n", namespace)["items"]
        ready = {o["metadata"]["name"] for o in items if ready_at_latest_generation(kube, o)}
        return wanted <= ready

    try:
        wait_for(f"{len(wanted)} profiles in {namespace} Ready at their generation", done, timeout, interval=0.5)
    except AssertionError as err:
        listing = kube.kubectl("get", "smup", "-n", namespace, "-o", "wide", check=False).stdout
        raise AssertionError(f"{err}\n{listing}\n{describe(kube)}") from None


def successful_creates(emulator: EmulatorProcess, names: Iterable[str]) -> dict[str, int]:
    """Successful CREATE requests per profile name, from the emulator's request log."""
    counts = dict.fromkeys(names, 0)
    for request in emulator.requests():
        name = (request.get("Identifier") or "").split("|", 1)[0]
        if request.get("Operation") == "CREATE" and request.get("OperationStatus") == "SUCCESS" and name in counts:
            counts[name] += 1
    return counts


def aws_profiles(emulator: EmulatorProcess, region: str = REGION) -> dict[str, dict[str, Any]]:
    """The emulator's user profiles by UserProfileName: their properties."""
    return {r["Properties"].get("UserProfileName"): r["Properties"] for r in emulator.resources(region)}


def aws_tag(properties: dict[str, Any], key: str) -> str | None:
    for tag in properties.get("Tags") or []:
        if tag.get("Key") == key:
            return str(tag.get("Value"))
    return None


def calls_by(emulator: EmulatorProcess, access_key: str) -> dict[str, int]:
    """Cloud Control calls the emulator counted for one access key (a pod's name), by operation."""
    stats: dict[str, Any] = emulator.stats()  # callsByAccessKey is one level deeper than the type says
    return dict(stats.get("callsByAccessKey", {}).get(access_key, {}))


def temp_folder(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
