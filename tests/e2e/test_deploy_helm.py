"""The chart installs into a real API server, and the RBAC it ships is the RBAC the operator gets.

`helm install` runs against the local kube-apiserver (no kubelet: the Deployment's pod never runs,
which these tests do not need). The operator's identity is checked the way the API server sees it:
a token of the chart's ServiceAccount, and `kubectl auth can-i` impersonating it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support import manifests
from tests.support.helm import CHART, Helm
from tests.support.kube import REPO_ROOT, Kube
from tests.support.localcluster import LocalControlPlane, find_assets
from userprofile_operator.admission import TENANT_POLICY_PLURAL
from userprofile_operator.kind import GROUP
from userprofile_operator.kinds import all_kinds

SMUP = "sagemakeruserprofiles.sagemaker.awscc.dev"  # the resource, as kubectl names it
LEASES = "leases.coordination.k8s.io"
CRD_NAMES = [*(kind.crd_name for kind in all_kinds()), f"{TENANT_POLICY_PLURAL}.{GROUP}"]  # what the chart installs


@pytest.fixture(scope="module")
def helm(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(kube, tmp_path_factory.mktemp("helm"))


class Release:
    def __init__(self, helm: Helm, kube: Kube, namespace: str) -> None:
        self.helm, self.kube, self.namespace = helm, kube, namespace
        self.name = f"smup-{uuid.uuid4().hex[:6]}"
        self.installed = False
        self.notes = ""

    @property
    def fullname(self) -> str:
        """The release's full name: the Deployment, the ServiceAccount and the leader election Lease."""
        return f"{self.name}-sagemaker-userprofile-operator"

    @property
    def service_account(self) -> str:
        return self.fullname

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def install(self, *sets: str) -> None:
        args = ["install", self.name, str(CHART), "--namespace", self.namespace]
        # The chart's guardrails (ValidatingAdmissionPolicies, cluster-wide by default) would refuse the
        # other tests' objects in namespaces without a SageMakerTenantPolicy: keep them to this namespace.
        args += ["--set", f"guardrails.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name={self.namespace}"]
        for item in sets:
            args += ["--set", item]
        self.notes = self.helm(*args).stdout
        self.installed = True

    def uninstall(self) -> None:
        if self.installed:
            self.helm("uninstall", self.name, "--namespace", self.namespace)
            self.installed = False

    def can(self, verb: str, resource: str, namespace: str | None, subresource: str | None = None) -> bool:
        """`kubectl auth can-i` as the release's ServiceAccount; `resource` may be TYPE/NAME."""
        scope = ["--all-namespaces"] if namespace is None else ["--namespace", namespace]
        if subresource is not None:
            scope.append(f"--subresource={subresource}")
        proc = self.kube.kubectl("auth", "can-i", verb, resource, *scope, f"--as={self.user}", check=False)
        answer = proc.stdout.strip()
        assert answer in {"yes", "no"}, proc.stderr
        return answer == "yes"


@pytest.fixture
def release(helm: Helm, crd: Kube, namespace: str) -> Iterator[Release]:
    """A release in a fresh namespace; uninstalled afterwards so no ClusterRole is left behind."""
    rel = Release(helm, crd, namespace)
    try:
        yield rel
    finally:
        rel.uninstall()


def test_chart_installs_and_its_token_reads_profiles_but_not_secrets(release: Release) -> None:
    release.install("crds.install=false")
    kube, ns = release.kube, release.namespace
    deployment = kube.get_json("deployment", release.fullname, "-n", ns)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert kube.get_json("service", f"{release.fullname}-metrics", "-n", ns)
    assert kube.get_json("poddisruptionbudget", release.fullname, "-n", ns)["spec"]["maxUnavailable"] == 1
    assert kube.get_json("role", f"{release.fullname}-leader-election", "-n", ns)
    assert "deploy/iam/policy.json" in release.notes
    assert f"{ns}/{release.fullname}" in release.notes  # the Lease, in the high availability note
    assert f"{release.fullname}-tenant-policy-admin" in release.notes  # the guardrails, and who writes their params
    policies = kube.kubectl("get", "validatingadmissionpolicies", "-o", "name").stdout.split()
    ours = [name for name in policies if release.fullname in name]  # accepted by the API server:
    assert sum("-tenant-" in name for name in ours) == len(all_kinds())  # the guardrails
    # the instance-type warnings of the kinds that have instance types, and the tenant policy's
    assert sum("-warn-" in name for name in ours) == sum(1 for k in all_kinds() if k.open_enums) + 1
    assert "WARNING: config.clusterName is not set" in release.notes  # the ownership tags say "kubernetes"

    token = kube.kubectl("create", "token", release.service_account, "-n", ns).stdout.strip()
    listed = kube.kubectl("get", SMUP, "--all-namespaces", "--token", token, "-o", "name", check=False)
    assert listed.returncode == 0, listed.stderr
    refused = kube.kubectl("get", "secrets", "-n", ns, "--token", token, check=False)
    assert refused.returncode != 0
    assert "Forbidden" in refused.stderr
    assert release.user in refused.stderr


def test_cluster_scope_grants_exactly_what_the_operator_needs(release: Release) -> None:
    release.install("crds.install=false")
    elsewhere = "default"
    for verb in ("get", "list", "watch", "patch", "update"):
        assert release.can(verb, SMUP, None), verb
    for verb in ("get", "patch", "update"):
        assert release.can(verb, SMUP, elsewhere, subresource="status"), verb
    for verb in ("create", "patch"):
        assert release.can(verb, "events", elsewhere)
        assert release.can(verb, "events.events.k8s.io", elsewhere)
    for verb in ("get", "list", "watch"):
        assert release.can(verb, "namespaces", None)
        assert release.can(verb, "customresourcedefinitions.apiextensions.k8s.io", None)

    assert not release.can("create", SMUP, elsewhere)
    assert not release.can("delete", SMUP, elsewhere)
    assert not release.can("get", "secrets", release.namespace)
    assert not release.can("list", "secrets", None)
    assert not release.can("get", "configmaps", release.namespace)
    assert not release.can("update", "namespaces", None)
    assert not release.can("update", "customresourcedefinitions.apiextensions.k8s.io", None)
    assert not release.can("create", LEASES, elsewhere)


def test_leader_election_may_use_only_its_own_lease(release: Release) -> None:
    """get/update the release's Lease and create Leases, in the release namespace; nothing more."""
    release.install("crds.install=false")
    ns, lease = release.namespace, f"{LEASES}/{release.fullname}"
    for verb in ("get", "update"):
        assert release.can(verb, lease, ns), verb
    assert release.can("create", LEASES, ns)

    assert not release.can("get", f"{LEASES}/someone-elses", ns)
    assert not release.can("update", f"{LEASES}/someone-elses", ns)
    for verb in ("delete", "list", "watch"):
        assert not release.can(verb, lease, ns), verb
    assert not release.can("get", lease, "default")
    assert not release.can("create", LEASES, "default")
    assert not release.can("create", LEASES, None)


def test_without_leader_election_one_pod_and_no_lease_rights(release: Release) -> None:
    release.install("crds.install=false", "leaderElection.enabled=false", "replicaCount=1")
    kube, ns = release.kube, release.namespace
    deployment = kube.get_json("deployment", release.fullname, "-n", ns)
    assert (deployment["spec"]["replicas"], deployment["spec"]["strategy"]["type"]) == (1, "Recreate")
    assert "--leader-elect" not in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not release.can("create", LEASES, ns)
    assert not release.can("get", f"{LEASES}/{release.fullname}", ns)


def test_namespaced_scope_grants_only_in_the_watched_namespaces(release: Release) -> None:
    kube = release.kube
    watched = [f"{release.namespace}-a", f"{release.namespace}-b"]
    other = f"{release.namespace}-c"
    for ns in [*watched, other]:
        kube.create_namespace(ns)
    release.install("crds.install=false", "rbac.scope=namespaced", f"watchNamespaces={{{watched[0]},{watched[1]}}}")
    for ns in watched:
        assert release.can("list", SMUP, ns)
        assert release.can("patch", SMUP, ns, subresource="status")
        assert release.can("create", "events", ns)
    assert not release.can("list", SMUP, other)
    assert not release.can("list", SMUP, None)
    assert not release.can("get", "secrets", watched[0])
    # Cluster-scoped reads stay cluster-wide: namespace annotations and kopf's CRD scan.
    assert release.can("get", "namespaces", None)
    assert release.can("list", "customresourcedefinitions.apiextensions.k8s.io", None)

    # Leader election is the same in either scope: its Role is in the release namespace.
    assert release.can("update", f"{LEASES}/{release.fullname}", release.namespace)
    assert not release.can("create", LEASES, watched[0])

    args = kube.get_json("deployment", release.fullname, "-n", release.namespace)["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert args[:8] == [
        "run", "--leader-elect", "--leader-election-id", release.fullname,
        "--namespace", watched[0], "--namespace", watched[1],
    ]  # fmt: skip


def test_install_refuses_bad_values(release: Release) -> None:
    proc = release.helm(
        "install", release.name, str(CHART), "--namespace", release.namespace,
        "--set", "crds.install=false", "--set", "rbac.scope=namespaced",
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "/watchNamespaces" in proc.stderr
    proc = release.helm(
        "install", release.name, str(CHART), "--namespace", release.namespace,
        "--set", "crds.install=false", "--set", "leaderElection.enabled=false", "--set", "replicaCount=2",
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "needs leaderElection.enabled=true" in proc.stderr
    assert release.helm("list", "--namespace", release.namespace, "--short").stdout.strip() == ""


def test_rendered_crds_are_accepted_by_the_api_server(helm: Helm, crd: Kube) -> None:
    rendered = helm("template", "smup", str(CHART), "--show-only", "templates/crd.yaml").stdout
    names = sorted(doc["metadata"]["name"] for doc in yaml.safe_load_all(rendered) if doc)
    assert names == sorted(CRD_NAMES)  # every kind's CRD and the tenant policy's, nothing else
    proc = crd.kubectl(
        "apply", "--server-side", "--dry-run=server", "--force-conflicts", "--field-manager=chart-test",
        "-f", "-", input=rendered,
    )  # fmt: skip
    assert all(name in proc.stdout for name in names), proc.stdout


def test_helm_uninstall_keeps_the_crds(helm: Helm, crd: Kube, namespace: str) -> None:
    """Installs the chart with its CRDs, adopting the session's, and checks uninstall leaves them."""
    rel = Release(helm, crd, namespace)
    ownership = {
        "meta.helm.sh/release-name": rel.name,
        "meta.helm.sh/release-namespace": namespace,
    }
    names = CRD_NAMES
    # Helm adopts an existing object only when it is marked as the release's.
    for name in names:
        crd.kubectl("annotate", "crd", name, *(f"{k}={v}" for k, v in ownership.items()), "--overwrite")
        crd.kubectl("label", "crd", name, "app.kubernetes.io/managed-by=Helm", "--overwrite")
    try:
        rel.install()
        manifest = helm("get", "manifest", rel.name, "--namespace", namespace).stdout
        for name in names:
            assert f"name: {name}" in manifest
            live = crd.get_json("crd", name)
            assert live["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        rel.uninstall()
        for name in names:
            kept = crd.get_json("crd", name)
            assert kept["metadata"].get("deletionTimestamp") is None
            assert {c["type"]: c["status"] for c in kept["status"]["conditions"]}["Established"] == "True"
    finally:
        rel.uninstall()
        # Give the CRDs back to the session as the crd fixture left them.
        for name in names:
            crd.kubectl("annotate", "crd", name, *(f"{k}-" for k in [*ownership, "helm.sh/resource-policy"]))
            crd.kubectl("label", "crd", name, "app.kubernetes.io/managed-by-")
        crd.apply_crd()


@pytest.mark.own_control_plane  # a cluster that has never seen the CRDs: the first install brings them
def test_a_first_install_writes_the_first_tenant_policies_and_upgrades_rewrite_them(tmp_path: Path) -> None:
    """tenantPolicies: Helm maps every plain template before it creates anything, so a SageMakerTenantPolicy
    beside its own CRD would fail the first install; the chart writes them from a post-install hook."""
    with LocalControlPlane(find_assets(REPO_ROOT)) as plane:
        kube = Kube(kubeconfig=plane.kubeconfig, server=plane.server)
        kube.create_namespace("team-a")
        helm = Helm(kube, tmp_path / "helm")
        first = {"allowedDomainIds": ["d-abcdef123456"], "allowedInstanceTypes": ["ml.t3.medium"]}
        notes = helm.install({"config": {"clusterName": "prod-eu-1"}, "tenantPolicies": {"team-a": first}})
        policy = kube.get_json("smtp", "default", "-n", "team-a")
        assert policy["spec"] == {
            **first,
            "allowAdoption": False,
            "allowDataDeletion": False,
        }  # the CRD's default filled in
        assert "kubectl get smtp default -n team-a" in notes and "WARNING" not in notes

        # Guarded at once: a profile the policy allows passes, another domain is refused.
        allowed = manifests.profile("alice", "team-a")
        assert kube.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(allowed)).returncode == 0
        other = manifests.profile("bob", "team-a", domain_id="d-0000000000ff")
        refused = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(other), check=False)
        assert refused.returncode != 0 and "allowedDomainIds" in refused.stderr

        second = {**first, "allowedInstanceTypes": ["ml.t3.medium", "ml.m5.large"], "allowAdoption": True}
        helm.upgrade({"config": {"clusterName": "prod-eu-1"}, "tenantPolicies": {"team-a": second}})
        assert kube.get_json("smtp", "default", "-n", "team-a")["spec"] == {**second, "allowDataDeletion": False}
        helm.uninstall()
        assert kube.get_json("smtp", "default", "-n", "team-a")["spec"] == {
            **second,
            "allowDataDeletion": False,
        }  # hooks are not the release's
