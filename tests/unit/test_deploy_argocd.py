"""The Argo CD health check of every kind (SageMakerDomain, SageMakerUserProfile, SageMakerSpace), run in Lua 5.1
as Argo CD does.

Argo CD (gopher-lua, Lua 5.1) hands the script the live object as the global `obj`, a Lua table
converted from the JSON object (maps become tables, lists 1-based tables), and reads `status` and
`message` from the table the script returns. lupa's Lua 5.1 runtime does the same here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

from tests.support.helm import helm_binary
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.reconciler import ObjectView, Reconciler
from userprofile_operator.settings import Settings
from userprofile_operator.wire import AwsError

REPO_ROOT = Path(__file__).resolve().parents[2]
ARGOCD = REPO_ROOT / "deploy" / "argocd"
KUBECTL = str(Path(sys.executable).parent / "kubectl")


def crd_kinds(managed_only: bool = True) -> list[tuple[str, str]]:
    """(group, kind) of every CRD in crds/ of a managed kind (category aws), or of every CRD."""
    out = []
    for path in sorted((REPO_ROOT / "crds").glob("*.yaml")):
        (crd,) = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        if managed_only and "aws" not in crd["spec"]["names"].get("categories", []):
            continue  # the tenant policy has no health: nothing reconciles it
        out.append((crd["spec"]["group"], crd["spec"]["names"]["kind"]))
    return out


KINDS = crd_kinds()
# Argo CD's key of a health check: resource.customizations.health.<group>_<kind>.
HEALTH_KEYS = {f"resource.customizations.health.{group}_{kind}" for group, kind in KINDS}


def health(obj: dict[str, Any], script: str | None = None) -> dict[str, str]:
    lua = lua51.LuaRuntime(register_eval=False)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script if script is not None else (ARGOCD / "health.lua").read_text())
    out = dict(result.items())
    assert set(out) == {"status", "message"}
    assert out["status"] in {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
    return out


def profile(
    generation: int = 1, status: dict[str, Any] | None = None, kind: str = "SageMakerUserProfile"
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "sagemaker.awscc.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "alice", "namespace": "ml-team", "generation": generation},
        "spec": {"domainId": "d-abcdef123456", "userProfileName": "alice"},
    }
    if status is not None:
        obj["status"] = status
    return obj


def cond(type_: str, status: str, reason: str, message: str = "", generation: int = 1) -> dict[str, Any]:
    c = {
        "type": type_,
        "status": status,
        "reason": reason,
        "observedGeneration": generation,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
    }
    if message:
        c["message"] = message
    return c


READY = cond("Ready", "True", "Available", "The user profile is InService")
SYNCED = cond("Synced", "True", "ReconcileSuccess")
ACCESS_DENIED = (
    "User: arn:aws:sts::123456789012:assumed-role/smup/x is not authorized to perform: "
    "sagemaker:CreateUserProfile because no identity-based policy allows the "
    "sagemaker:CreateUserProfile action"
)


def test_healthy_when_ready_at_the_current_generation() -> None:
    hs = health(profile(3, {"observedGeneration": 3, "conditions": [READY, SYNCED]}))
    assert hs == {"status": "Healthy", "message": "The user profile is InService"}


def test_progressing_without_status() -> None:
    assert health(profile())["status"] == "Progressing"


def test_progressing_without_conditions() -> None:
    assert health(profile(1, {"observedGeneration": 1, "conditions": []}))["status"] == "Progressing"


def test_progressing_while_creating() -> None:
    hs = health(
        profile(
            1,
            {
                "observedGeneration": 1,
                "operation": {"type": "CREATE", "requestToken": "r-1", "generation": 1},
                "conditions": [
                    cond("Ready", "False", "Creating", "Cloud Control CREATE IN_PROGRESS"),
                    cond("Synced", "True", "ReconcileSuccess"),
                ],
            },
        )
    )
    assert hs == {"status": "Progressing", "message": "CREATE in progress: Cloud Control CREATE IN_PROGRESS"}


def test_progressing_while_updating_even_if_still_ready() -> None:
    hs = health(
        profile(
            2,
            {
                "observedGeneration": 2,
                "operation": {"type": "UPDATE", "requestToken": "r-2", "generation": 2},
                "conditions": [READY, SYNCED],
            },
        )
    )
    assert hs["status"] == "Progressing"
    assert hs["message"].startswith("UPDATE in progress")


def test_progressing_when_observed_generation_is_behind() -> None:
    hs = health(profile(4, {"observedGeneration": 3, "conditions": [READY, SYNCED]}))
    assert hs == {"status": "Progressing", "message": "Waiting for the operator to observe generation 4"}


def test_progressing_when_observed_generation_is_missing() -> None:
    assert health(profile(1, {"conditions": [READY, SYNCED]}))["status"] == "Progressing"


@pytest.mark.parametrize("reason", ["Creating", "Updating", "Deleting", "Pending", "Throttled", "Retrying"])
def test_transient_failures_are_progressing(reason: str) -> None:
    hs = health(
        profile(
            1,
            {
                "observedGeneration": 1,
                "conditions": [
                    cond("Ready", "False", reason, "Rate exceeded"),
                    cond("Synced", "False", reason),
                ],
            },
        )
    )
    assert hs == {"status": "Progressing", "message": "Rate exceeded"}


def test_degraded_on_terminal_access_denied_with_the_ready_message() -> None:
    hs = health(
        profile(
            1,
            {
                "observedGeneration": 1,
                "conditions": [
                    cond("Ready", "False", "AccessDenied", ACCESS_DENIED),
                    cond("Synced", "False", "AccessDenied", "CreateResource failed"),
                ],
            },
        )
    )
    assert hs == {"status": "Degraded", "message": ACCESS_DENIED}


def test_degraded_when_the_current_generation_failed_terminally() -> None:
    # The new spec was refused; AWS still holds the old one (Ready=True for generation 1).
    hs = health(
        profile(
            2,
            {
                "observedGeneration": 1,
                "failedGeneration": 2,
                "conditions": [
                    READY,
                    cond("Synced", "False", "InvalidRequest", "UserSettings.ExecutionRole is invalid"),
                ],
            },
        )
    )
    assert hs == {"status": "Degraded", "message": "UserSettings.ExecutionRole is invalid"}


def test_not_degraded_when_only_synced_failed_transiently_while_ready() -> None:
    hs = health(
        profile(
            1,
            {
                "observedGeneration": 1,
                "conditions": [READY, cond("Synced", "False", "Throttled", "Rate exceeded")],
            },
        )
    )
    assert hs["status"] == "Healthy"


def test_ready_unknown_is_progressing() -> None:
    hs = health(profile(1, {"observedGeneration": 1, "conditions": [cond("Ready", "Unknown", "Pending")]}))
    assert hs["status"] == "Progressing"


# -- the status the reconciler really writes -------------------------------------------------------


def _view(**kw: Any) -> ObjectView:
    base: dict[str, Any] = {
        "namespace": "ml-team",
        "name": "alice",
        "uid": "uid-alice",
        "generation": 1,
        "spec": {"domainId": "d-abcdef123456", "userProfileName": "alice"},
        "status": {},
        "owner_value": "kubernetes/ml-team/alice",
        "region": "us-east-1",
    }
    return ObjectView(**{**base, **kw})


class _Throttled:
    """A Cloud Control that refuses every call with a transient error."""

    async def create(self, desired: dict[str, Any], token: str) -> Any:
        raise AwsError("ThrottlingException", "Rate exceeded")


async def test_progressing_while_a_reference_waits_for_its_target() -> None:
    """kubectl apply of a domain and its profiles at once: the profiles wait, they have not failed."""
    waiting = ("SageMakerDomain studio (is not Ready)",)
    out = await Reconciler(Settings(), PROFILE).reconcile(_view(waiting=waiting), None, "create")
    hs = health(profile(1, out.status))
    assert hs == {"status": "Progressing", "message": "Waiting for SageMakerDomain studio (is not Ready)"}


async def test_progressing_while_an_aws_error_is_retried() -> None:
    """A retried AWS error: AWS's code in Synced, Retrying in Ready."""
    out = await Reconciler(Settings(), PROFILE).reconcile(_view(), _Throttled(), "create")
    conditions = {c["type"]: c["reason"] for c in out.status["conditions"]}
    assert conditions == {"Ready": "Retrying", "Synced": "ThrottlingException"}
    assert health(profile(1, out.status)) == {"status": "Progressing", "message": "Rate exceeded"}


def test_a_blocked_delete_is_degraded_with_what_a_person_must_do() -> None:
    blocked = "User profile alice is not deleted, and nothing was touched: space lab, owned by alice: set ..."
    status = {
        "observedGeneration": 1,
        "conditions": [cond("Ready", "False", "DeleteBlocked", blocked), cond("Synced", "False", "DeleteBlocked")],
    }
    assert health(profile(1, status)) == {"status": "Degraded", "message": blocked}


def test_progressing_while_a_delete_clears_the_way_or_waits_for_our_own_objects() -> None:
    for message in (
        "Deleting 2 apps of alice: JupyterServer/default, Canvas/default",
        "Waiting for user profile carol (managed by SageMakerUserProfile c/ns/carol) to be deleted by its own object",
    ):
        status = {
            "observedGeneration": 1,
            "conditions": [cond("Ready", "False", "Deleting", message), cond("Synced", "True", "Deleting")],
        }
        assert health(profile(1, status)) == {"status": "Progressing", "message": message}


def test_degraded_when_a_reference_now_names_another_parent() -> None:
    changed = "The spec now resolves to user profile alice|d-new, but this object manages alice|d-old"
    status = {
        "observedGeneration": 1,
        "conditions": [
            cond("Ready", "False", "ReferenceChanged", changed),
            cond("Synced", "False", "ReferenceChanged"),
        ],
    }
    assert health(profile(1, status)) == {"status": "Degraded", "message": changed}


@pytest.mark.parametrize(("group", "kind"), KINDS)
def test_every_kind_gets_healthy_progressing_and_degraded(group: str, kind: str) -> None:
    assert group == "sagemaker.awscc.dev"
    ready = health(profile(2, {"observedGeneration": 2, "conditions": [READY, SYNCED]}, kind=kind))
    assert ready["status"] == "Healthy"
    assert health(profile(kind=kind))["status"] == "Progressing"
    failed = [cond("Ready", "False", "AccessDenied", ACCESS_DENIED), cond("Synced", "False", "AccessDenied")]
    assert health(profile(1, {"observedGeneration": 1, "conditions": failed}, kind=kind))["status"] == "Degraded"


def test_configmap_patch_covers_every_kind_with_the_same_script() -> None:
    patch = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert patch["kind"] == "ConfigMap"
    assert patch["metadata"]["name"] == "argocd-cm"
    assert {
        f"resource.customizations.health.sagemaker.awscc.dev_{kind}"
        for kind in ("SageMakerUserProfile", "SageMakerDomain", "SageMakerSpace")
    } <= HEALTH_KEYS
    assert set(patch["data"]) == HEALTH_KEYS, "one key per kind of crds/, and no other"
    for key in HEALTH_KEYS:
        assert patch["data"][key] == (ARGOCD / "health.lua").read_text(), key


def test_kubectl_applies_the_patch_with_every_key(tmp_path: Path) -> None:
    """The patch names the script once and aliases it for the other kinds: kubectl resolves the alias,
    and a merge patch keeps the ConfigMap's other keys."""
    live = tmp_path / "argocd-cm.yaml"
    live.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "argocd-cm", "namespace": "argocd"},
                "data": {"url": "https://argocd.example.com"},
            }
        )
    )
    proc = subprocess.run(
        [KUBECTL, "patch", "--local", "-f", str(live), "--type", "merge", "-o", "yaml",
         "--patch-file", str(ARGOCD / "argocd-cm-patch.yaml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = yaml.safe_load(proc.stdout)["data"]
    assert set(data) == HEALTH_KEYS | {"url"}
    assert all(data[key] == (ARGOCD / "health.lua").read_text() for key in HEALTH_KEYS)


def test_application_points_at_the_chart_with_server_side_apply() -> None:
    app = yaml.safe_load((ARGOCD / "application.yaml").read_text())
    assert app["apiVersion"] == "argoproj.io/v1alpha1"
    assert app["kind"] == "Application"
    source = app["spec"]["source"]
    assert source["path"] == "deploy/helm/sagemaker-userprofile-operator"
    assert (REPO_ROOT / source["path"] / "Chart.yaml").is_file()
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    assert "ignoreDifferences" not in app["spec"]


def test_application_values_pass_the_chart_schema() -> None:
    app = yaml.safe_load((ARGOCD / "application.yaml").read_text())
    chart = REPO_ROOT / app["spec"]["source"]["path"]
    proc = subprocess.run(
        [helm_binary(), "template", "x", str(chart), "--values", "-"],
        input=yaml.safe_dump(app["spec"]["source"]["helm"]["valuesObject"]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    crds = [d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "CustomResourceDefinition"]
    assert sorted(c["spec"]["names"]["kind"] for c in crds) == sorted(kind for _, kind in crd_kinds(False))
    # Argo CD ignores Helm's keep policy; the Application protects every CRD with its own annotation.
    for crd in crds:
        assert "Delete=false" in crd["metadata"]["annotations"]["argocd.argoproj.io/sync-options"]
