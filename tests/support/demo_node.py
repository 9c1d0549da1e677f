"""`python -m tests.support.demo_node`: the operator as users run it, on the real test node.

Brings the node up (tests/support/node.py: a control plane at https://10.0.0.1:443, containerd, the
kubelet, kube-controller-manager, kube-scheduler), imports the image `make image` built, starts the
Cloud Control emulator on the node's bridge (10.244.0.1, where pods reach it) with the domain
d-abcdef123456 in us-east-1, and installs the Helm chart with its defaults (two pods, leader election)
plus the image (`pullPolicy: Never`) and the emulator, exactly as tests/node/test_chart.py does. Then it
applies examples/minimal.yaml and examples/full.yaml into the namespace `demo` (annotated
`sagemaker.awscc.dev/default-region: us-east-1`), waits until both are Ready, prints
`kubectl get pods,smup -A -o wide` and the KUBECONFIG to use, and waits for Ctrl-C (or SIGTERM; with
--no-wait it goes on at once), then tears everything down: nothing of the node outlives it.

Needs what `make test-node` needs: root, `hack/node.sh ensure`, `hack/control-plane.sh ensure`, and the
image in buildah's storage (`make image`).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from tests.support.chart import (
    NAMESPACE,
    REGION,
    chart_values,
    lease_holder,
    start_emulator,
    wait_pods_ready,
    wait_profiles_ready,
)
from tests.support.emulator import EmulatorProcess
from tests.support.helm import Helm
from tests.support.kube import KUBECTL, REPO_ROOT, Kube, wait_for
from tests.support.localcluster import find_assets
from tests.support.node import (
    LocalNode,
    NodeControlPlane,
    NodeError,
    NodeUnavailable,
    apiserver_args,
    find_operator_image,
    operator_image_archive,
)

DEMO_NAMESPACE = "demo"
EXAMPLES = [REPO_ROOT / "examples" / "minimal.yaml", REPO_ROOT / "examples" / "full.yaml"]
PROFILES = ["alice", "bob"]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _step(what: str, start: float) -> None:
    print(f"  {what} ({time.monotonic() - start:.1f} s)", flush=True)


def run(wait: bool) -> int:
    found = find_operator_image()
    if found is None:
        print("no */sagemaker-userprofile-operator:* image in buildah's storage: run `make image`", file=sys.stderr)
        return 2
    image, image_id = found
    try:
        node = LocalNode.find(REPO_ROOT)
        node.prepare()
    except NodeUnavailable as err:
        print(f"the node cannot run here: {err.reason}", file=sys.stderr)
        return 2

    previous = signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background, where SIGINT is ignored
    plane: NodeControlPlane | None = None
    emulator: EmulatorProcess | None = None
    helm_home = Path(tempfile.mkdtemp(prefix="smup-demo-node-helm-"))
    begin = time.monotonic()
    try:
        print("starting the node", flush=True)
        plane = NodeControlPlane(find_assets(REPO_ROOT), extra_apiserver_args=apiserver_args())
        plane.start()
        _step(f"control plane at {plane.server}", begin)
        node.start(plane)
        _step("node Ready (containerd, kubelet, kube-controller-manager, kube-scheduler)", begin)
        node.import_image(operator_image_archive(image, image_id), image)
        _step(f"image {image} imported", begin)
        emulator = start_emulator()
        _step(f"Cloud Control emulator at {emulator.url} (domain d-abcdef123456 in {REGION})", begin)

        kube = Kube(kubeconfig=plane.kubeconfig, server=plane.server)
        helm = Helm(kube, helm_home)
        helm.install(chart_values(image, emulator))
        wait_pods_ready(kube, 2, image)
        holder = wait_for("a Lease holder", lambda: lease_holder(kube), timeout=60)
        _step(f"chart installed in {NAMESPACE}: 2 pods Ready, {holder} leads", begin)

        kube.create_namespace(DEMO_NAMESPACE, {"sagemaker.awscc.dev/default-region": REGION})
        args = ["apply", "-n", DEMO_NAMESPACE]
        for example in EXAMPLES:
            args += ["-f", str(example)]
        kube.kubectl(*args)
        wait_profiles_ready(kube, DEMO_NAMESPACE, PROFILES, timeout=120)
        _step(f"{', '.join(PROFILES)} Ready in namespace {DEMO_NAMESPACE}", begin)

        print()
        print(kube.kubectl("get", "pods,smup", "-A", "-o", "wide").stdout)
        print("Use the cluster (kubectl from the virtualenv):")
        print(f"  export KUBECONFIG={plane.kubeconfig}")
        print(f"  {KUBECTL} get smup -n {DEMO_NAMESPACE}")
        print(f"The emulator's admin API: {emulator.url}/_emulator/resources", flush=True)
        if wait:
            print("\nCtrl-C stops everything.", flush=True)
            while True:
                signal.pause()
        return 0
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
        return 0
    except (NodeError, AssertionError) as err:
        print(f"demo failed: {err}", file=sys.stderr)
        node.keep_logs_on_stderr()
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the teardown short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            node.stop()
            if emulator is not None:
                emulator.stop()
            if plane is not None:
                plane.stop()
            node.down()
            shutil.rmtree(helm_home, ignore_errors=True)
            print("stopped: node, emulator and control plane gone", flush=True)
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.demo_node", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-wait", action="store_true", help="tear down as soon as the profiles are Ready")
    options = parser.parse_args(argv)
    return run(wait=not options.no_wait)


if __name__ == "__main__":
    sys.exit(main())
