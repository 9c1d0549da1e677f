"""Fixtures for end-to-end tests: a real API server (etcd + kube-apiserver) and the emulator.

The control plane is started once per session from the binaries `hack/control-plane.sh` builds (or
`KUBEBUILDER_ASSETS`), with RBAC on and an admin token; `USE_EXISTING_CLUSTER=1` with `KUBECONFIG`
points the same tests at a real cluster instead. Nothing here fakes Kubernetes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from tests.support.emulator import EmulatorProcess
from tests.support.kube import REPO_ROOT, Kube
from tests.support.localcluster import LocalControlPlane, find_assets
from tests.support.manifests import DOMAIN, REGION
from tests.support.operator import OperatorProcess
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e


def _use_existing_cluster() -> bool:
    return os.environ.get("USE_EXISTING_CLUSTER", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Against an existing cluster, leave out the tests that start a control plane of their own."""
    if not _use_existing_cluster():
        return
    own = [item for item in items if item.get_closest_marker("own_control_plane")]
    if own:
        config.hook.pytest_deselected(items=own)
        items[:] = [item for item in items if item not in own]


@pytest.fixture(scope="session")
def control_plane() -> Iterator[LocalControlPlane | None]:
    """The local control plane, or None when the tests run against an existing cluster."""
    if _use_existing_cluster():
        yield None
        return
    plane = LocalControlPlane(find_assets(REPO_ROOT))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def kube(control_plane: LocalControlPlane | None) -> Kube:
    if control_plane is None:
        kubeconfig = Path(os.environ.get("KUBECONFIG", Path.home() / ".kube" / "config"))
        cluster = Kube(kubeconfig=kubeconfig, server="")
    else:
        cluster = Kube(kubeconfig=control_plane.kubeconfig, server=control_plane.server)
    return cluster


@pytest.fixture(scope="session")
def crd(kube: Kube) -> Kube:
    """The cluster with the generated SageMakerUserProfile CRD applied and Established."""
    kube.apply_crd()
    return kube


@pytest.fixture
def namespace(kube: Kube) -> str:
    """A fresh namespace per test. Not deleted: without kube-controller-manager it never finishes."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.create_namespace(name)
    return name


OTHER_REGION = "us-west-2"


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    """The Cloud Control emulator, with the domain the examples use in two regions."""
    with EmulatorProcess(latency=0.5) as emu:
        emu.add_domain(DOMAIN, REGION)
        emu.add_domain(DOMAIN, OTHER_REGION)
        yield emu


@pytest.fixture(scope="session")
def operator(crd: Kube, emulator: EmulatorProcess) -> Iterator[OperatorProcess]:
    """The operator as a subprocess, watching the namespaces `shared-*` (see `shared_namespace`).

    Tests that start, kill or reconfigure an operator of their own use other namespaces, so that
    two operators never handle one object.
    """
    with OperatorProcess(crd.kubeconfig, emulator.env(), namespaces=["shared-*"]) as proc:
        yield proc


@pytest.fixture
def own_namespace(crd: Kube) -> str:
    """A namespace for an operator of the test's own (the session's operator watches `shared-*`)."""
    name = f"own-{uuid.uuid4().hex[:10]}"
    crd.create_namespace(name)
    return name


@pytest.fixture(scope="module")
def moto_sts() -> Iterator[str]:
    """moto's STS (moto implements it; it has no Cloud Control), for the per-namespace roles."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def slow_emulator(emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    """Requests take 3 s, so an operator can be killed while they are in flight."""
    with emulator.slowed(3) as slow:
        yield slow


@pytest.fixture
def shared_namespace(kube: Kube, operator: OperatorProcess) -> str:
    """A fresh namespace that the session's operator watches."""
    name = f"shared-{uuid.uuid4().hex[:10]}"
    kube.create_namespace(name)
    return name


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failed e2e test, attach the log of every operator that ran, to read why."""
    report = yield
    if report.failed:
        for index, proc in enumerate(OperatorProcess.instances):
            report.sections.append((f"operator log {index}", proc.log(150)))
    return report
