"""The kustomize base is the chart rendered with default values, and never goes stale.

deploy/render-kustomize.sh writes it; these tests re-render into a temporary folder and compare, and
check that `kubectl kustomize` (the kustomize built into kubectl) produces helm's objects.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.helm import helm_binary

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE = REPO_ROOT / "deploy" / "kustomize"
CRDS = BASE / "crds"
SCRIPT = REPO_ROOT / "deploy" / "render-kustomize.sh"
CHART = REPO_ROOT / "deploy" / "helm" / "sagemaker-userprofile-operator"
KUBECTL = str(Path(sys.executable).parent / "kubectl")


def run(*args: str) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout


def identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


# Cluster-scoped kinds that kubectl's kustomize does not know (its built-in OpenAPI is Kubernetes 1.21's), so
# its namespace transformer sets a metadata.namespace on them, which the API server ignores on a
# cluster-scoped object. Compared without it.
CLUSTER_SCOPED_UNKNOWN_TO_KUSTOMIZE = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def objects(text: str) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    for doc in docs:
        if doc["kind"] in CLUSTER_SCOPED_UNKNOWN_TO_KUSTOMIZE:
            doc["metadata"].pop("namespace", None)
    found = {identity(doc): doc for doc in docs}
    assert len(found) == len(docs), "two objects with the same identity"
    return found


def test_base_is_up_to_date(tmp_path: Path) -> None:
    run(str(SCRIPT), str(tmp_path))
    fresh = {str(p.relative_to(tmp_path)): p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {str(p.relative_to(BASE)): p.read_text() for p in BASE.rglob("*") if p.is_file()}
    assert sorted(committed) == sorted(fresh), "deploy/kustomize is stale: run deploy/render-kustomize.sh"
    for name, text in fresh.items():
        assert committed[name] == text, f"deploy/kustomize/{name} is stale: run deploy/render-kustomize.sh"


def test_the_two_bases_build_the_same_objects_as_helm_template() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    namespace = kustomization["namespace"]
    from_kustomize = objects(run(KUBECTL, "kustomize", str(BASE)) + "\n---\n" + run(KUBECTL, "kustomize", str(CRDS)))
    from_helm = objects(
        run(helm_binary(), "template", "sagemaker-userprofile-operator", str(CHART), "--namespace", namespace)
    )
    assert sorted(from_kustomize) == sorted(from_helm)
    for key, obj in from_helm.items():
        assert from_kustomize[key] == obj, f"{key} differs"


def test_deleting_the_operators_base_never_deletes_a_crd() -> None:
    """`kubectl delete -k deploy/kustomize` removes what the base holds: the CRDs must not be in it, or the
    API server would delete every object of them."""
    assert [kind for (_, kind, _, _) in objects(run(KUBECTL, "kustomize", str(BASE)))].count(
        "CustomResourceDefinition"
    ) == 0
    crds = objects(run(KUBECTL, "kustomize", str(CRDS)))
    assert {kind for (_, kind, _, _) in crds} == {"CustomResourceDefinition"}
    assert len(crds) == len(list((REPO_ROOT / "crds").glob("*.yaml")))


def test_base_installs_into_one_namespace() -> None:
    built = objects(run(KUBECTL, "kustomize", str(BASE)))
    namespaces = {ns for (_, _, ns, _) in built if ns}
    assert namespaces == {"sagemaker-userprofile-operator"}
    kinds = sorted(kind for (_, kind, _, _) in built)
    crds = len(list((REPO_ROOT / "crds").glob("*.yaml")))  # one per managed kind, and the tenant policy's
    assert crds >= 3
    managed = crds - 1  # a ValidatingAdmissionPolicy and two bindings per managed kind (the guardrails)
    # a policy and one binding per kind that holds instance types, and for the tenant policy (instance types no
    # schema lists)
    warnings = len(list((REPO_ROOT / "deploy/helm/sagemaker-userprofile-operator/files/admission").glob("warn-*")))
    assert kinds == [
        *["ClusterRole"] * 4,  # the operator's; editor, viewer and tenant-policy-admin for people
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
        *["ValidatingAdmissionPolicy"] * (managed + warnings),
        *["ValidatingAdmissionPolicyBinding"] * (2 * managed + warnings),
    ]


def test_the_bases_manage_every_kind() -> None:
    """The chart's default `kinds: all`: every CRD of crds/ in the CRDs' base, every kind's guardrails, and
    the operator without --kinds (every kind)."""
    crds = objects(run(KUBECTL, "kustomize", str(CRDS)))
    names = {obj["spec"]["names"]["plural"] for obj in crds.values()}
    files = {path.name.split("_", 1)[1].removesuffix(".yaml") for path in (REPO_ROOT / "crds").glob("*.yaml")}
    assert names == files
    built = objects(run(KUBECTL, "kustomize", str(BASE)))
    policies = {key[3] for key in built if key[1] == "ValidatingAdmissionPolicy"}
    managed = files - {"sagemakertenantpolicies"}  # the tenant policy is the guardrails' parameters
    assert policies == {f"sagemaker-userprofile-operator-tenant-{plural}" for plural in managed} | {
        f"sagemaker-userprofile-operator-warn-{plural}"
        for plural in files  # instance types: every kind's that holds one
        if (REPO_ROOT / f"deploy/helm/sagemaker-userprofile-operator/files/admission/warn-{plural}.yaml").exists()
    }
    deployment = next(obj for (_, kind, _, _), obj in built.items() if kind == "Deployment")
    assert "--kinds" not in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_an_overlay_namespace_moves_the_lease_and_its_rbac(tmp_path: Path) -> None:
    """The operator finds its Lease's namespace in POD_NAMESPACE, not in its args: an overlay that sets
    another namespace moves the Deployment, the Lease Role and its binding's subject together."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        # kustomize wants a relative path to a base.
        yaml.safe_dump({"resources": [os.path.relpath(BASE, overlay)], "namespace": "platform-ops"})
    )
    built = objects(run(KUBECTL, "kustomize", str(overlay)))
    deployment = next(obj for (_, kind, _, _), obj in built.items() if kind == "Deployment")
    assert deployment["metadata"]["namespace"] == "platform-ops"
    pod = deployment["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert "--leader-elect" in args
    assert not [a for a in args if a.startswith("--leader-election-namespace")]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    role = next(obj for (_, kind, _, _), obj in built.items() if kind == "Role")
    binding = next(obj for (_, kind, _, _), obj in built.items() if kind == "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "platform-ops"
    assert binding["subjects"][0]["namespace"] == "platform-ops"
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]
