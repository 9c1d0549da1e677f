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

from tests.support.kube import REPO_ROOT, Kube
from userprofile_operator.localcluster import LocalControlPlane, find_assets

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
