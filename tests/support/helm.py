"""helm as the tests, the node and the demo run it: the pinned binary, with homes of its own.

`Helm` runs helm with a cluster's kubeconfig and its own config, cache and data folders, so nothing of
the user's ~/.config/helm or repositories leaks in; a failing command raises AssertionError with helm's
message, as the other test-support helpers do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.kube import REPO_ROOT, Kube

CHART = REPO_ROOT / "deploy" / "helm" / "sagemaker-userprofile-operator"
# As the README installs it: release and namespace both named after the chart, so the release's full name
# (the Deployment, the ServiceAccount, the Lease) is that name too, as in the kustomize base.
RELEASE = "sagemaker-userprofile-operator"
NAMESPACE = "sagemaker-userprofile-operator"
CRD_NAME = "sagemakeruserprofiles.sagemaker.awscc.dev"


def helm_binary() -> str:
    """helm from $HELM, else the folder `hack/control-plane.sh dir` prints (pinned, built by `make tools`),
    else PATH: the order deploy/render-kustomize.sh follows."""
    if os.environ.get("HELM"):
        return os.environ["HELM"]
    folder = subprocess.run(
        [str(REPO_ROOT / "hack" / "control-plane.sh"), "dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    built = Path(folder) / "helm"
    found = str(built) if built.is_file() else shutil.which("helm")
    if found is None:
        raise AssertionError(f"no helm in {folder} nor on PATH: run `make tools` (builds it) or set HELM")
    return found


class Helm:
    """helm with the cluster's kubeconfig and its own config/cache/data folders (nothing from ~)."""

    def __init__(self, kube: Kube, home: Path) -> None:
        self.binary = helm_binary()
        self.home = home
        self.env = {
            **kube.env(),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def __call__(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([self.binary, *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def values_file(self, values: dict[str, Any], name: str = "values.yaml") -> Path:
        path = self.home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(values))
        return path

    def install(self, values: dict[str, Any], release: str = RELEASE, namespace: str = NAMESPACE) -> str:
        path = self.values_file(values, "install-values.yaml")
        args = ["install", release, str(CHART), "--namespace", namespace, "--create-namespace", "-f", str(path)]
        return self(*args).stdout

    def upgrade(self, values: dict[str, Any], release: str = RELEASE, namespace: str = NAMESPACE) -> str:
        path = self.values_file(values, "upgrade-values.yaml")
        return self("upgrade", release, str(CHART), "--namespace", namespace, "-f", str(path)).stdout

    def uninstall(self, release: str = RELEASE, namespace: str = NAMESPACE) -> None:
        self("uninstall", release, "--namespace", namespace)

    def installed(self, release: str = RELEASE, namespace: str = NAMESPACE) -> bool:
        out = self("list", "--namespace", namespace, "--short", check=False).stdout.split()
        return release in out
