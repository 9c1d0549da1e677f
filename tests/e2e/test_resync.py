"""The resync against a real API server: it reads a namespace page by page and touches only the objects
that wait for the operator with nothing planned, and only after they sat unchanged for a whole pass.

No operator watches the test's namespace, so nothing but the resync writes to these objects. The
chaos test `test_api_server_restarted_mid_run` shows the other half: kopf picks a touched object up.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.kube import Kube
from tests.support.manifests import profile
from userprofile_operator import kube as kube_module
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.kube import ObjectClient
from userprofile_operator.resync import Resync

pytestmark = pytest.mark.e2e


def _create(kube: Kube, namespace: str, name: str, status: dict[str, Any] | None = None) -> None:
    kube.kubectl("apply", "-f", "-", input=json.dumps(profile(name, namespace)))
    if status is not None:
        kube.kubectl(
            "patch", "smup", name, "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}),
        )  # fmt: skip


async def test_resync_touches_only_objects_left_waiting(
    crd: Kube, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(crd.kubeconfig))
    monkeypatch.setattr(kube_module, "PAGE_SIZE", 2)  # 6 objects: 3 pages, so the continue token is used
    later = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    for name in ("settled-a", "settled-b"):
        _create(crd, namespace, name, {"observedGeneration": 1})
    _create(crd, namespace, "retry-planned", {"kopf": {"progress": {"reconcile": {"retries": 2, "delayed": later}}}})
    waiting = ["waiting-a", "waiting-b", "waiting-c"]
    for name in waiting:
        _create(crd, namespace, name)  # never reconciled, and no event will come
    before = {o["metadata"]["name"]: o for o in crd.get_json("smup", "-n", namespace)["items"]}

    objects = ObjectClient()
    try:
        busy = {before["waiting-c"]["metadata"]["uid"]}
        resync = Resync(objects, lambda: [PROFILE], lambda: [namespace], interval=1, busy=busy)
        assert await resync.run_pass() == 0  # first sight: kopf may be about to get to them
        assert await resync.run_pass() == 2  # unchanged for a whole pass; waiting-c has a handler at work
    finally:
        objects.close()

    after = {o["metadata"]["name"]: o for o in crd.get_json("smup", "-n", namespace)["items"]}
    version = {n: o["metadata"]["resourceVersion"] for n, o in before.items()}
    touched = sorted(n for n, o in after.items() if o["metadata"]["resourceVersion"] != version[n])
    assert touched == ["waiting-a", "waiting-b"]
    for name in touched:
        assert after[name]["status"]["kopf"]["dummy"]  # kopf's own touch field: the event kopf waits for
        assert after[name]["spec"] == before[name]["spec"]
