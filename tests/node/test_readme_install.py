"""The README's install path, run as written on the real node: a README that drifts from the chart fails.

The shell blocks marked `<!-- readme-test: install -->` (helm install, the team namespace, the first
tenant policy, the first profile, waiting for it) run in order with bash, on a cluster as a new user has
it (no CRD, no release), with the built image. Only what no README can know is added: `helm install` and
`helm upgrade` get one more `-f` with the image as imported into the node and the AWS endpoints of the
emulator (a bash function named `helm` wraps the real one); the README's placeholders for the region,
account and domain are the emulator's own, so nothing in the blocks is substituted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.chart import operator_env, start_emulator
from tests.support.emulator import EmulatorProcess
from tests.support.helm import Helm
from tests.support.kube import REPO_ROOT, Kube, wait_for
from tests.support.node import LocalNode

pytestmark = pytest.mark.node

MARKER = "<!-- readme-test: install -->"
README = REPO_ROOT / "README.md"
KINDS = ("sagemakeruserprofiles", "sagemakerdomains", "sagemakerspaces")


def install_blocks(text: str) -> list[str]:
    """The marked ```sh blocks of a Markdown text, in order."""
    blocks = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        fence = lines[index + 1].strip()
        assert fence in ("```sh", "```bash", "```shell"), f"line {index + 2}: {MARKER} is not followed by a sh block"
        end = next(i for i in range(index + 2, len(lines)) if lines[i].strip() == "```")
        blocks.append("\n".join(lines[index + 2 : end]))
    return blocks


def test_the_readme_marks_its_install_path() -> None:
    """A cheap guard, where the node cannot run: the blocks are there, in the order a user follows."""
    blocks = install_blocks(README.read_text())
    assert len(blocks) >= 4, blocks
    joined = "\n".join(blocks)
    steps = ("helm install", "SageMakerTenantPolicy", "SageMakerUserProfile", "kubectl wait")
    order = [joined.find(what) for what in steps]
    assert -1 not in order and order == sorted(order), order


def _fresh_cluster(kube: Kube) -> None:
    """As a new user's cluster: no CRD of ours (earlier tests' objects lose their finalizers first, no
    operator runs now to remove them), and no admission policy of an earlier release."""
    crds = kube.kubectl("get", "crd", "-o", "name").stdout.split()
    for kind in KINDS:
        if f"customresourcedefinition.apiextensions.k8s.io/{kind}.sagemaker.awscc.dev" not in crds:
            continue
        for obj in kube.get_json(kind, "-A")["items"]:
            meta = obj["metadata"]
            kube.kubectl(
                "patch", kind, meta["name"], "-n", meta["namespace"], "--type=merge",
                "-p", '{"metadata":{"finalizers":null}}', check=False,
            )  # fmt: skip
    ours = [name for name in crds if name.endswith(".sagemaker.awscc.dev")]
    if ours:
        kube.kubectl("delete", *ours, "--wait=true", "--timeout=120s", timeout=150)
    # What an earlier test applied from the kustomize base (cluster roles, admission policies, the release
    # namespace's objects) carries the names the README's release makes: gone too.
    kube.kubectl("delete", "-k", str(REPO_ROOT / "deploy" / "kustomize"), "--ignore-not-found", "--wait=true",
                 "--timeout=120s", check=False, timeout=150)  # fmt: skip


@pytest.fixture
def readme_emulator(node: LocalNode) -> Iterator[EmulatorProcess]:
    emulator = start_emulator(latency=0.5)
    try:
        yield emulator
    finally:
        emulator.stop()


def test_the_readme_install_path_ends_with_a_ready_profile(
    node: LocalNode,
    node_kube: Kube,
    readme_emulator: EmulatorProcess,
    operator_image: str,
    tmp_path: Path,
) -> None:
    kube = node_kube
    blocks = install_blocks(README.read_text())
    _fresh_cluster(kube)
    repository, tag = operator_image.rsplit(":", 1)
    values: dict[str, Any] = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "extraEnv": operator_env(readme_emulator),
    }
    helm = Helm(kube, tmp_path / "helm")
    values_file = helm.values_file(values, "node.yaml")
    script = tmp_path / "install.sh"
    preamble = f"""set -euo pipefail
cd {REPO_ROOT}
# The node's image and the emulator: what no README can know.
helm() {{
  case "$1" in
    install|upgrade) command {helm.binary} "$@" -f {values_file} ;;
    *) command {helm.binary} "$@" ;;
  esac
}}
# The API server's admission learns of a new tenant policy from its own watch, a moment after the apply
# returns; until then it refuses with "no params found". A person applies again; so does the script, for
# that refusal only, and at most 30 s.
kubectl() {{
  local input out rc tries=60
  input=$(cat)
  while :; do
    out=$(command kubectl "$@" 2>&1 <<<"$input") && rc=0 || rc=$?
    case $out in *"no params found"*) ;; *) break ;; esac
    [ "$((tries -= 1))" -gt 0 ] || break
    sleep 0.5
  done
  printf '%s\n' "$out"
  return "$rc"
}}
"""
    steps = "\n".join(f"# --- README block {i + 1}\n{b}" for i, b in enumerate(blocks))
    script.write_text(preamble + steps + "\n")
    env = {
        **os.environ,
        **helm.env,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # the clone's kubectl
    }
    start = time.monotonic()
    release: str | None = None
    try:
        proc = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, env=env, timeout=900, stdin=subprocess.DEVNULL
        )
        release = _release_of(blocks)
        assert proc.returncode == 0, f"the README's install path failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        profile = kube.get_json("smup", "-A")["items"]
        ready = [o for o in profile if (kube.condition(o, "Ready") or {}).get("status") == "True"]
        assert ready, profile
        identifier = ready[0]["status"]["identifier"]
        assert any(r["Identifier"] == identifier for r in readme_emulator.resources()), "not in AWS (the emulator)"
        print(f"\nREADME install path: {time.monotonic() - start:.1f} s to a Ready profile")
    finally:
        _tear_down(kube, helm, release)


def _release_of(blocks: list[str]) -> str | None:
    """The release name and namespace of the README's `helm install NAME CHART --namespace NS`."""
    for block in blocks:
        match = re.search(r"helm install\s+(\S+)\s+\S+.*?--namespace[ =](\S+)", block, re.S)
        if match:
            return f"{match.group(1)} {match.group(2)}"
    return None


def _tear_down(kube: Kube, helm: Helm, release: str | None) -> None:
    """The objects first (the operator still runs and deletes them in the emulator), then the release."""
    for kind in KINDS:
        proc = kube.kubectl("get", kind, "-A", "-o", "name", check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            kube.kubectl("delete", kind, "--all", "-A", "--timeout=120s", check=False, timeout=150)
    if release:
        name, namespace = release.split()
        helm("uninstall", name, "--namespace", namespace, "--wait", check=False)

    def gone() -> bool:
        return not [p for p in kube.get_json("pods", "-A")["items"] if "userprofile-operator" in p["metadata"]["name"]]

    wait_for("the release's pods gone", gone, 120, 1)
