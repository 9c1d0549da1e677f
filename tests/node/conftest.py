"""Fixtures for tests on a real node: kubelet, containerd and runc, kube-controller-manager and
kube-scheduler beside a local control plane (tests/support/node.py), so pods really run.

Where this machine cannot run a node (not Linux, not root, no cgroups, no CAP_NET_ADMIN, binaries not
built by `hack/node.sh ensure`), the tests are skipped with the reason; with the environment variable
CI set they fail instead, so that a CI machine that lost the ability does not pass silently.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest

from tests.support.kube import REPO_ROOT, Kube, wait_for
from tests.support.localcluster import find_assets
from tests.support.node import (
    LocalNode,
    NodeControlPlane,
    NodeUnavailable,
    apiserver_args,
    find_operator_image,
    operator_image_archive,
)


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"the test node cannot run on this machine, and CI is set: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _local_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """The node, prepared (lock, stale state cleared, addresses and bridge); down() at the end, always.

    SIGTERM is turned into KeyboardInterrupt meanwhile, so that a terminated run still tears down (a
    SIGKILLed one is cleared by the next run's prepare())."""
    try:
        node = LocalNode.find(REPO_ROOT)
        node.prepare()
    except NodeUnavailable as err:
        unavailable(err.reason)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield node
    finally:
        logs = tmp_path_factory.getbasetemp() / "node-logs"
        node.save_logs(logs)
        node.down()
        signal.signal(signal.SIGTERM, previous)
        timings = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in node.timings.items())
        if logs.is_dir():
            (logs / "timings.txt").write_text(timings + "\n")
        print(f"\nnode: {timings} (logs: {logs})", file=sys.stderr)


@pytest.fixture(scope="session")
def node_plane(_local_node: LocalNode) -> Iterator[NodeControlPlane]:
    """A control plane of its own for the node: kube-apiserver at https://10.0.0.1:443, the `kubernetes`
    Service's address, so pods reach it with no kube-proxy."""
    plane = NodeControlPlane(find_assets(REPO_ROOT), extra_apiserver_args=apiserver_args())
    start = time.monotonic()
    plane.start()
    _local_node.timings["control_plane"] = time.monotonic() - start
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def node(_local_node: LocalNode, node_plane: NodeControlPlane) -> Iterator[LocalNode]:
    """The node, Ready, with the pause image imported."""
    _local_node.start(node_plane)
    try:
        yield _local_node
    finally:
        _local_node.stop()


@pytest.fixture(scope="session")
def node_kube(node: LocalNode, node_plane: NodeControlPlane) -> Kube:
    return Kube(kubeconfig=node_plane.kubeconfig, server=node_plane.server)


@pytest.fixture
def pod_namespace(node_kube: Kube, node: LocalNode) -> Iterator[str]:
    """A fresh namespace with its `default` ServiceAccount (made by kube-controller-manager), which the
    ServiceAccount admission plugin wants before it admits a pod. Deleted after the test."""
    name = f"n-{uuid.uuid4().hex[:10]}"
    node_kube.create_namespace(name)
    wait_for(f"ServiceAccount {name}/default", lambda: node.service_account_exists(name), timeout=60)
    yield name
    node_kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def operator_image(node: LocalNode) -> str:
    """The operator's image, from buildah's storage (`make image`), imported into the node; the test that
    asks for it is skipped when there is none (CI or not: building the image is another target's job).
    The docker-archive is cached by image id under ~/.cache/sagemaker-userprofile-operator/node-images/."""
    found = find_operator_image()
    if found is None:
        pytest.skip("no */sagemaker-userprofile-operator:* image in buildah's storage (make image)")
    name, image_id = found
    node.import_image(operator_image_archive(name, image_id), name)
    return name
