"""The operator runs on the chart's RBAC and nothing more: a full create, update and delete with only the
token of the chart's ServiceAccount, and that token is refused what the operator never needs.

The chart is rendered with `helm template` and its ServiceAccount and RBAC applied with kubectl (no
kubelet runs the Deployment's pod); the operator runs as a subprocess with a kubeconfig holding that
token alone, against the emulator, with leader election as the chart's Deployment configures it (its
args and, in place of the downward API, POD_NAME / POD_NAMESPACE), so its Lease goes through the chart's
Lease Role. The namespace is not `shared-*`, so the session's operator keeps out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from tests.e2e.conftest import DOMAIN
from tests.e2e.test_deploy_helm import CHART, Helm
from tests.e2e.test_reconciler import apply, manifest, profile, unique, wait_ready
from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube, wait_for
from tests.support.operator import OperatorProcess

RBAC_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
ROLE_A = "arn:aws:iam::123456789012:role/rbac-a"
ROLE_B = "arn:aws:iam::123456789012:role/rbac-b"


def token_kubeconfig(kube: Kube, token: str, path: Path) -> Path:
    """The server and CA of the current context of `kube.kubeconfig`, with `token` as the only credential."""
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    contexts = {c["name"]: c["context"] for c in admin["contexts"]}
    cluster_name = contexts[admin["current-context"]]["cluster"]
    cluster = next(c for c in admin["clusters"] if c["name"] == cluster_name)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": cluster_name, "user": "operator"}}],
        "current-context": "operator",
    }
    path.write_text(yaml.safe_dump(config))
    return path


class ChartRbac(NamedTuple):
    account: str  # the chart's ServiceAccount
    token: str  # a token of it
    lease: str  # the leader election Lease's name (--leader-election-id)
    election_args: list[str]  # the Deployment's leader election args


@pytest.fixture
def chart_rbac(crd: Kube, namespace: str, tmp_path: Path) -> Iterator[ChartRbac]:
    """The chart's ServiceAccount and RBAC in `namespace`, and how its Deployment runs leader election.
    The cluster-scoped objects are deleted afterwards (the namespace stays, see the `namespace` fixture)."""
    release = f"rbac-{uuid.uuid4().hex[:6]}"
    rendered = Helm(crd, tmp_path / "helm")(
        "template", release, str(CHART), "--namespace", namespace, "--set", "crds.install=false"
    ).stdout
    all_docs = [d for d in yaml.safe_load_all(rendered) if d]
    docs: list[dict[str, Any]] = [d for d in all_docs if d.get("kind") in RBAC_KINDS]
    assert {d["kind"] for d in docs} == RBAC_KINDS
    # Leader election's Role and RoleBinding are the only namespaced RBAC, in the release namespace.
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] in {"Role", "RoleBinding"}} == {namespace}
    deployment = next(d for d in all_docs if d["kind"] == "Deployment")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[1:3] == ["--leader-elect", "--leader-election-id"], args
    election_args = args[1:4]
    crd.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))
    account = next(d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount")
    try:
        token = crd.kubectl("create", "token", account, "-n", namespace).stdout.strip()
        yield ChartRbac(account, token, election_args[2], election_args)
    finally:
        for doc in docs:
            if doc["kind"].startswith("Cluster"):
                crd.kubectl("delete", doc["kind"], doc["metadata"]["name"], "--ignore-not-found")


def test_operator_with_the_chart_token_creates_updates_and_deletes(
    crd: Kube, emulator: EmulatorProcess, namespace: str, chart_rbac: ChartRbac, tmp_path: Path
) -> None:
    account, token = chart_rbac.account, chart_rbac.token
    kubeconfig = token_kubeconfig(crd, token, tmp_path / "operator.kubeconfig")
    name = unique("rbac")
    identifier = f"{name}|{DOMAIN}"
    pod = f"{account}-{uuid.uuid4().hex[:5]}"  # what the downward API gives the pod
    pod_env = {"POD_NAME": pod, "POD_NAMESPACE": namespace}
    with OperatorProcess(
        kubeconfig, emulator.env(), args=chart_rbac.election_args, env=pod_env, namespaces=[namespace]
    ) as op:
        # It leads: the chart's Lease Role let it create the Lease, in its own namespace.
        def leading() -> bool:
            got = crd.kubectl("get", "lease", chart_rbac.lease, "-n", namespace, "-o", "json", check=False)
            return got.returncode == 0 and yaml.safe_load(got.stdout)["spec"].get("holderIdentity") == pod

        wait_for("the operator to hold the chart's Lease", leading)

        # Create (the operator may not create objects; people do, with their own rights).
        apply(crd, namespace, manifest(name, userSettings={"executionRole": ROLE_A}))
        obj = wait_ready(crd, namespace, name)
        assert obj["status"]["identifier"] == identifier
        created = profile(emulator, name)
        assert created is not None and created["UserSettings"]["ExecutionRole"] == ROLE_A

        # Update.
        apply(crd, namespace, manifest(name, userSettings={"executionRole": ROLE_B}))

        def updated() -> bool:
            obj = crd.get_json("smup", name, "-n", namespace)
            ready = crd.condition(obj, "Ready") or {}
            return obj["status"].get("observedGeneration") == 2 and ready.get("status") == "True"

        wait_for("the update reconciled", updated)
        changed = profile(emulator, name)
        assert changed is not None and changed["UserSettings"]["ExecutionRole"] == ROLE_B

        # Delete: the finalizer is released only after the profile is gone in AWS.
        crd.kubectl("delete", "smup", name, "-n", namespace, "--timeout=60s", timeout=70)
        assert profile(emulator, name) is None

        # Not once was the operator refused anything.
        assert "Forbidden" not in op.log(10_000), op.log()
        assert op.running

    # What the operator never needs, its token may not do.
    user = f"system:serviceaccount:{namespace}:{account}"
    for args in (("get", "secrets", "-n", namespace), ("get", "configmaps", "-n", namespace)):
        refused = crd.kubectl(*args, "--kubeconfig", str(kubeconfig), check=False)
        assert refused.returncode != 0
        assert "Forbidden" in refused.stderr and user in refused.stderr, refused.stderr
    refused = crd.kubectl("get", "secrets", "-n", namespace, "--token", token, check=False)
    assert refused.returncode != 0 and "Forbidden" in refused.stderr
    denied = crd.kubectl("create", "-n", namespace, "-f", "-", "--kubeconfig", str(kubeconfig), check=False,
                         input=manifest(unique("rbac")))  # fmt: skip
    assert denied.returncode != 0 and "Forbidden" in denied.stderr
    # Its own Lease, yes; any other Lease, or deleting its own, no.
    crd.kubectl("get", "lease", chart_rbac.lease, "-n", namespace, "--kubeconfig", str(kubeconfig))
    for lease_args in (
        ("get", "lease", "someone-elses", "-n", namespace),
        ("get", "lease", chart_rbac.lease, "-n", "default"),
        ("delete", "lease", chart_rbac.lease, "-n", namespace),
    ):
        refused = crd.kubectl(*lease_args, "--kubeconfig", str(kubeconfig), check=False)
        assert refused.returncode != 0 and "Forbidden" in refused.stderr, (lease_args, refused.stderr)
