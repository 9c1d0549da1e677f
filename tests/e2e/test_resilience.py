"""Crash safety, throttling, per-namespace IAM roles: each test runs an operator of its own.

These tests use namespaces outside `shared-*`, so the session's operator never touches their objects.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.e2e.conftest import DOMAIN, REGION
from tests.e2e.test_reconciler import apply, manifest, profile, requests_for, tags, wait_condition
from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube, wait_for
from tests.support.operator import OperatorProcess
from tests.support.processes import free_port
from userprofile_operator.settings import OWNER_TAG_KEY

ALL_OPERATIONS = (
    "CreateResource",
    "GetResource",
    "UpdateResource",
    "DeleteResource",
    "GetResourceRequestStatus",
    "ListResources",
    "ListResourceRequests",
    "CancelResourceRequest",
)


def in_flight(emulator: EmulatorProcess, names: list[str], operation: str) -> bool:
    return any(r["OperationStatus"] == "IN_PROGRESS" for name in names for r in requests_for(emulator, name, operation))


def all_ready(kube: Kube, namespace: str, names: list[str], generation: int) -> bool:
    items = kube.get_json("smup", "-n", namespace)["items"]
    done = {
        o["metadata"]["name"]
        for o in items
        if o.get("status", {}).get("observedGeneration") == generation
        and (kube.condition(o, "Ready") or {}).get("status") == "True"
    }
    return done >= set(names)


def test_sigkill_during_create_update_and_delete_leaves_aws_exactly_as_declared(
    kube: Kube, slow_emulator: EmulatorProcess, own_namespace: str
) -> None:
    emulator = slow_emulator
    names = [f"crash-{uuid.uuid4().hex[:6]}-{i}" for i in range(6)]
    op = OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[own_namespace]).start()
    try:
        for name in names:
            apply(kube, own_namespace, manifest(name))
        wait_for("a create in flight", lambda: in_flight(emulator, names, "CREATE"))
        op.kill()
        op.start()
        wait_for("all created", lambda: all_ready(kube, own_namespace, names, 1), timeout=90)
        for name in names:
            assert len(requests_for(emulator, name, "CREATE")) == 1, name

        role = "arn:aws:iam::123456789012:role/after-crash"
        for name in names:
            apply(kube, own_namespace, manifest(name, userSettings={"executionRole": role}))
        wait_for("an update in flight", lambda: in_flight(emulator, names, "UPDATE"))
        op.kill()
        op.start()
        wait_for("all updated", lambda: all_ready(kube, own_namespace, names, 2), timeout=90)
        for name in names:
            assert profile(emulator, name)["UserSettings"]["ExecutionRole"] == role  # type: ignore[index]
            assert len(requests_for(emulator, name, "UPDATE")) == 1, name

        kube.kubectl("delete", "smup", "--all", "-n", own_namespace, "--wait=false")
        wait_for("a delete in flight", lambda: in_flight(emulator, names, "DELETE"))
        op.kill()
        op.start()
        wait_for("all deleted", lambda: not kube.get_json("smup", "-n", own_namespace)["items"], timeout=90)
        for name in names:
            assert profile(emulator, name) is None, name
            assert len(requests_for(emulator, name, "DELETE")) == 1, name
    finally:
        op.stop()


def test_everything_converges_with_30_percent_of_calls_throttled(
    kube: Kube, emulator: EmulatorProcess, own_namespace: str
) -> None:
    names = [f"thr-{uuid.uuid4().hex[:6]}-{i}" for i in range(8)]
    emulator.set_faults(operations={op: {"ThrottleRate": 0.3} for op in ALL_OPERATIONS}, seed=7)
    op = OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[own_namespace]).start()
    try:
        for name in names:
            apply(kube, own_namespace, manifest(name, tags=[{"key": "n", "value": "1"}]))
        wait_for("all created", lambda: all_ready(kube, own_namespace, names, 1), timeout=120)
        for name in names:
            apply(kube, own_namespace, manifest(name, tags=[{"key": "n", "value": "2"}]))
        wait_for("all updated", lambda: all_ready(kube, own_namespace, names, 2), timeout=120)
        assert all(tags(profile(emulator, n) or {}).get("n") == "2" for n in names)
        kube.kubectl("delete", "smup", "--all", "-n", own_namespace, "--timeout=120s", timeout=130)
        assert all(profile(emulator, n) is None for n in names)
        assert sum(emulator.stats()["throttled"].values()) > 0
    finally:
        emulator.clear_faults()
        op.stop()


def test_namespace_role_is_assumed_through_sts(
    kube: Kube, emulator: EmulatorProcess, moto_sts: str, own_namespace: str
) -> None:
    bad = f"own-{uuid.uuid4().hex[:10]}"
    kube.create_namespace(bad, {"sagemaker.awscc.dev/role-arn": "no-role"})
    kube.create_namespace(own_namespace, {"sagemaker.awscc.dev/role-arn": "arn:aws:iam::123456789012:role/team-a"})
    env = {"AWS_ENDPOINT_URL_STS": moto_sts}
    name = f"sts-{uuid.uuid4().hex[:6]}"
    with OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[own_namespace, bad], env=env):
        apply(kube, own_namespace, manifest(name))
        apply(kube, bad, manifest(f"{name}-bad"))
        wait_condition(kube, own_namespace, name, "Ready", "True")
        obj = wait_condition(kube, bad, f"{name}-bad", "Synced", "False")
        message = kube.condition(obj, "Ready")["message"]  # type: ignore[index]
        assert "RoleArn" in message or "roleArn" in message, message
    assert tags(profile(emulator, name) or {})[OWNER_TAG_KEY].endswith(f"/{own_namespace}/{name}")
    assert profile(emulator, f"{name}-bad") is None


def test_metrics_and_liveness_endpoints(kube: Kube, emulator: EmulatorProcess, own_namespace: str) -> None:
    import urllib.request

    metrics_port, liveness_port = free_port(), free_port()
    args = ["--metrics-port", str(metrics_port), "--liveness", f"http://127.0.0.1:{liveness_port}/healthz"]
    name = f"obs-{uuid.uuid4().hex[:6]}"
    with OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[own_namespace], args=args):
        apply(kube, own_namespace, manifest(name))
        wait_condition(kube, own_namespace, name, "Ready", "True")

        def fetch(url: str) -> str | None:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: str = response.read().decode()
                return body

        def metrics_once_watch_checked() -> str | None:
            # smup_watch_up is 0 until the watch self-check has compared kopf's view once (its tick)
            text = fetch(f"http://127.0.0.1:{metrics_port}/metrics")
            return text if text is not None and "smup_watch_up 1.0" in text else None

        text = wait_for("metrics, the watch checked", metrics_once_watch_checked)
        assert 'smup_aws_calls_total{kind="SageMakerUserProfile",operation="CreateResource",outcome="ok"}' in text
        assert 'smup_reconciles_total{kind="SageMakerUserProfile",result="done",trigger="create"}' in text
        assert "smup_operations_in_flight" in text
        assert "smup_leader 1.0" in text  # no election: this process does the work
        assert "smup_watch_last_event_age_seconds" in text
        health: Any = json.loads(wait_for("liveness", lambda: fetch(f"http://127.0.0.1:{liveness_port}/healthz")))
        assert health == {"ok": True, "phase": "Leading", "reason": ""}
        ready: Any = json.loads(wait_for("readiness", lambda: fetch(f"http://127.0.0.1:{liveness_port}/readyz")))
        assert ready == {"ok": True, "phase": "Leading", "reason": ""}
    assert profile(emulator, name) is not None
    assert f"{name}|{DOMAIN}" in {r["Identifier"] for r in emulator.resources(REGION)}


def test_a_slow_operation_is_recorded_in_status_and_picked_up_after_a_restart(
    kube: Kube, slow_emulator: EmulatorProcess, own_namespace: str
) -> None:
    """Requests that outlive the in-line wait go to status.operation (Argo CD shows Progressing)."""
    name = f"slow-{uuid.uuid4().hex[:6]}"
    op = OperatorProcess(
        kube.kubeconfig, slow_emulator.env(), namespaces=[own_namespace], env={"SMUP_INLINE_WAIT": "0"}
    ).start()
    try:
        apply(kube, own_namespace, manifest(name))
        obj = wait_condition(kube, own_namespace, name, "Ready", "False", "Creating")
        operation = obj["status"]["operation"]
        assert operation["type"] == "CREATE" and operation["requestToken"] and operation["clientToken"]
        op.kill()
        op.start()
        obj = wait_condition(kube, own_namespace, name, "Ready", "True")
        assert "operation" not in obj["status"]
        assert len(requests_for(slow_emulator, name, "CREATE")) == 1
    finally:
        op.stop()
