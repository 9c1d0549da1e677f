"""Pods run on the test node: containers start and finish, their logs come back through the API server
and the kubelet, the namespace controller finishes a deletion, and a pod finds the API server by its
cluster DNS name and talks to it with its ServiceAccount token."""

from __future__ import annotations

import json
import textwrap
import uuid
from typing import Any

import pytest

from tests.support.kube import Kube, wait_for
from tests.support.node import API_IP, PAUSE_IMAGE, _versions

pytestmark = pytest.mark.node


def run_pod(kube: Kube, namespace: str, image: str, command: list[str], timeout: float = 120) -> str:
    """Runs one container to completion (restartPolicy Never, the image as imported, never pulled);
    fails unless it Succeeded; returns its log, read with `kubectl logs`."""
    name = f"p-{uuid.uuid4().hex[:8]}"
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, "imagePullPolicy": "Never", "command": command}],
        },
    }
    kube.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def finished() -> str | None:
        phase = kube.get_json("pod", name, "-n", namespace).get("status", {}).get("phase")
        return phase if phase in {"Succeeded", "Failed"} else None

    try:
        phase = wait_for(f"pod {namespace}/{name} to finish", finished, timeout=timeout, interval=0.5)
    except AssertionError:
        describe = kube.kubectl("describe", "pod", name, "-n", namespace, check=False).stdout
        raise AssertionError(f"pod {name} did not finish:\n{describe}") from None
    log = kube.kubectl("logs", name, "-n", namespace).stdout
    assert phase == "Succeeded", f"pod {name} {phase}; log:\n{log}"
    return log


def test_pause_pod_runs_to_completion_and_logs(node_kube: Kube, pod_namespace: str) -> None:
    """The smallest pod: the pause image (built from kubernetes' pause.c) prints its version and exits."""
    log = run_pod(node_kube, pod_namespace, PAUSE_IMAGE, ["/pause", "-v"])
    assert log.strip() == f"pause.c v{_versions()['PAUSE_VERSION']}"


def test_operator_image_runs_as_a_pod(node_kube: Kube, pod_namespace: str, operator_image: str) -> None:
    """The operator's own image starts in a pod, as its user (non-root, no passwd entry) runs it."""
    log = run_pod(node_kube, pod_namespace, operator_image, ["userprofile-operator", "--version"])
    version = operator_image.rsplit(":", 1)[1]
    assert log.strip().endswith(version), log


def test_namespace_deletion_finishes(node_kube: Kube, node: Any) -> None:
    """kube-controller-manager's namespace controller empties and removes a deleted namespace (without it
    the namespace stays Terminating for ever, as on the control plane alone)."""
    name = f"gone-{uuid.uuid4().hex[:8]}"
    node_kube.create_namespace(name)
    wait_for(f"ServiceAccount {name}/default", lambda: node.service_account_exists(name), timeout=60)
    node_kube.kubectl("delete", "namespace", name, "--timeout=90s", timeout=120)
    gone = node_kube.kubectl("get", "namespace", name, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr, gone.stdout


DNS_AND_API = textwrap.dedent(
    """
    import json, socket, ssl, urllib.error, urllib.request
    print("resolved", socket.gethostbyname("kubernetes.default.svc"))
    try:
        socket.gethostbyname("nothing-here.default.svc")
        print("other names: resolved")
    except socket.gaierror:
        print("other names: not found")
    sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
    context = ssl.create_default_context(cafile=sa + "ca.crt")
    request = urllib.request.Request(
        "https://kubernetes.default.svc/api/v1/namespaces/default/serviceaccounts/default",
        headers={"Authorization": "Bearer " + open(sa + "token").read()},
    )
    try:
        urllib.request.urlopen(request, context=context, timeout=10)
    except urllib.error.HTTPError as err:
        print("api answered", err.code, json.load(err)["reason"])
    """
)


def test_pod_resolves_and_reaches_kubernetes_default_svc(
    node_kube: Kube, pod_namespace: str, operator_image: str
) -> None:
    """Cluster DNS answers kubernetes.default.svc with the API server's Service address; a pod reaches
    the API server there with the CA and token it was given (TLS verified), and is who it should be: its
    ServiceAccount, which RBAC does not allow to read ServiceAccounts (403 Forbidden)."""
    log = run_pod(node_kube, pod_namespace, operator_image, ["python3", "-c", DNS_AND_API])
    assert log.splitlines() == [f"resolved {API_IP}", "other names: not found", "api answered 403 Forbidden"], log
