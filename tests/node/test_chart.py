"""The operator as users run it, on the real node: the Helm chart with its defaults (two pods, leader
election on a Lease, real probes), the image `make image` built (never pulled), and the Cloud Control
emulator on the node's bridge address for AWS.

One installation serves the tests in file order (module-scoped fixtures), each leaving it as the next one
expects: install, an upgrade while objects change, the leader pod deleted, the leader frozen until the
kubelet's liveness probe restarts it, a namespace of profiles deleted, `helm uninstall`; then the
kustomize base installs the same thing. Waits are on conditions, never fixed sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.chart import (
    KUSTOMIZE_BASE,
    LEASE,
    NAMESPACE,
    RELEASE,
    aws_profiles,
    aws_tag,
    calls_by,
    chart_values,
    container_id,
    describe,
    kustomize_overlay,
    lease_holder,
    pods,
    restart_count,
    start_emulator,
    successful_creates,
    wait_pods_ready,
    wait_profiles_ready,
)
from tests.support.emulator import EmulatorProcess
from tests.support.helm import CRD_NAME, Helm
from tests.support.kube import REPO_ROOT, Kube, wait_for
from tests.support.manifests import REGION, profile
from tests.support.node import LocalNode, find_operator_image, rebuilt_image_archive

pytestmark = pytest.mark.node

TIMINGS: dict[str, float] = {}
NOTES: list[str] = []


# ---- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator(node: LocalNode) -> Iterator[EmulatorProcess]:
    """The emulator on 10.244.0.1 (the bridge), where the pods reach it."""
    emu = start_emulator(latency=0.2)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def helm(node_kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(node_kube, tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="module")
def next_image(operator_image: str, node: LocalNode) -> str:
    """A rebuild of the operator's image (same layers, a new image id), tagged `<tag>-next` and imported."""
    found = find_operator_image()
    assert found is not None and found[0] == operator_image, found
    name = f"{operator_image}-next"
    start = time.monotonic()
    node.import_image(rebuilt_image_archive(found[1], name), name)
    TIMINGS["rebuilt image"] = time.monotonic() - start
    return name


class Installation:
    """The chart's release, installed on first use and kept for the module's tests."""

    def __init__(self, kube: Kube, helm: Helm, emulator: EmulatorProcess, image: str) -> None:
        self.kube, self.helm, self.emulator, self.image = kube, helm, emulator, image
        self.installed = False
        self.notes = ""

    def values(self, image: str | None = None) -> dict[str, Any]:
        return chart_values(image or self.image, self.emulator)

    def ensure(self) -> Installation:
        if not self.installed:
            start = time.monotonic()
            self.notes = self.helm.install(self.values())
            self.installed = True
            wait_pods_ready(self.kube, 2, self.image)
            TIMINGS["install to 2 pods Ready"] = time.monotonic() - start
        return self

    def uninstall(self) -> None:
        if self.installed or self.helm.installed():
            self.helm.uninstall()
            self.installed = False
        wait_for("the chart's pods gone", lambda: not self.kube.get_json("pods", "-n", NAMESPACE)["items"], 90, 0.5)


@pytest.fixture(scope="module")
def installation(node_kube: Kube, helm: Helm, emulator: EmulatorProcess, operator_image: str) -> Iterator[Installation]:
    inst = Installation(node_kube, helm, emulator, operator_image)
    try:
        yield inst
    finally:
        if inst.installed:
            inst.helm("uninstall", RELEASE, "--namespace", NAMESPACE, check=False)
        print(f"\ntest_chart timings: {', '.join(f'{k} {v:.1f} s' for k, v in TIMINGS.items())}")
        print("; ".join(NOTES))


@pytest.fixture
def release(installation: Installation) -> Installation:
    return installation.ensure()


@pytest.fixture(scope="module")
def work_ns(node_kube: Kube) -> str:
    """Where the profiles that outlive the tests live."""
    name = f"work-{uuid.uuid4().hex[:6]}"
    node_kube.create_namespace(name)
    return name


# ---- helpers -------------------------------------------------------------------------------------------


def unique(prefix: str, count: int) -> list[str]:
    tag = uuid.uuid4().hex[:4]
    return [f"{prefix}-{tag}-{i}" for i in range(count)]


def health(pod: dict[str, Any], path: str = "/healthz") -> tuple[int, dict[str, Any]]:
    """The pod's health endpoint, from the host (pod addresses are on the node's bridge)."""
    url = f"http://{pod['status']['podIP']}:8081{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def phases(kube: Kube) -> dict[str, str]:
    return {p["metadata"]["name"]: health(p)[1].get("phase", "?") for p in pods(kube)}


def one_leader(kube: Kube) -> tuple[str, str]:
    """(leader, follower): the Lease names a pod of the release, that pod says Leading, the other one
    Follower."""

    def settled() -> tuple[str, str] | None:
        holder = lease_holder(kube)
        found = phases(kube)
        if holder not in found or sorted(found.values()) != ["Follower", "Leading"]:
            return None
        if found[holder] != "Leading":
            return None
        (follower,) = (name for name in found if name != holder)
        return holder, follower

    try:
        return wait_for("one Lease holder, Leading, and one Follower", settled, timeout=60, interval=0.5)
    except AssertionError as err:
        raise AssertionError(f"{err}\nLease holder {lease_holder(kube)}, phases {phases(kube)}") from None


def pod_named(kube: Kube, name: str) -> dict[str, Any]:
    result: dict[str, Any] = kube.get_json("pod", name, "-n", NAMESPACE)
    return result


def assert_one_create_each(emulator: EmulatorProcess, names: list[str]) -> None:
    counts = successful_creates(emulator, names)
    assert {name: n for name, n in counts.items() if n != 1} == {}, "profiles not created exactly once"


# ---- the tests, in order -------------------------------------------------------------------------------


def test_helm_install_two_ready_pods_one_leader_and_a_profile_becomes_ready(
    release: Installation, node_kube: Kube, emulator: EmulatorProcess, work_ns: str
) -> None:
    kube = node_kube
    running = wait_pods_ready(kube, 2, release.image)
    assert all(p["spec"]["containers"][0]["imagePullPolicy"] == "Never" for p in running)
    assert f"{NAMESPACE}/{LEASE}" in release.notes
    leader, follower = one_leader(kube)

    start = time.monotonic()
    names = unique("first", 1)
    kube.apply_list([profile(names[0], work_ns, "1")])
    wait_profiles_ready(kube, work_ns, names, timeout=60)
    TIMINGS["first profile Ready"] = time.monotonic() - start
    assert names[0] in aws_profiles(emulator)
    assert_one_create_each(emulator, names)
    assert calls_by(emulator, leader).get("CreateResource", 0) >= 1
    assert calls_by(emulator, follower) == {}, "the follower called AWS"
    assert [restart_count(p) for p in pods(kube)] == [0, 0], describe(kube)


def test_helm_upgrade_while_objects_change_loses_nothing_and_creates_once(
    release: Installation, node_kube: Kube, emulator: EmulatorProcess, work_ns: str, next_image: str
) -> None:
    kube = node_kube
    names = unique("up", 6)
    kube.apply_list([profile(n, work_ns, "1") for n in names])
    wait_profiles_ready(kube, work_ns, names)
    before = {s["imageID"] for p in pods(kube) for s in p["status"]["containerStatuses"]}

    # Changes right before the upgrade, which then rolls the pods (surge 1: a new pod stands by before an
    # old one stops, and a stopping leader hands the Lease over), then more changes and new profiles once
    # a pod of the new image is up, while old ones still run.
    kube.apply_list([profile(n, work_ns, "2") for n in names])
    start = time.monotonic()
    release.helm.upgrade(release.values(next_image))
    wait_for(
        "a pod of the new image Running",
        lambda: any(
            p["spec"]["containers"][0]["image"] == next_image and p["status"].get("phase") == "Running"
            for p in pods(kube)
        ),
        timeout=90,
        interval=0.3,
    )
    mid_rollout = {p["spec"]["containers"][0]["image"] for p in pods(kube)}
    more = unique("up-new", 3)
    kube.apply_list([profile(n, work_ns, "3") for n in names] + [profile(n, work_ns, "3") for n in more])
    upgraded = wait_pods_ready(kube, 2, next_image, timeout=180)
    TIMINGS["helm upgrade rolled out"] = time.monotonic() - start
    wait_profiles_ready(kube, work_ns, names + more, timeout=120)
    TIMINGS["upgrade: every profile Ready"] = time.monotonic() - start

    assert release.image in mid_rollout, f"the changes did not land during the rollout: {mid_rollout}"
    generations = {
        o["metadata"]["name"]: o["metadata"]["generation"] for o in kube.get_json("smup", "-n", work_ns)["items"]
    }
    assert all(generations[n] == 3 for n in names), generations
    in_aws = aws_profiles(emulator)
    lost = {n: aws_tag(in_aws[n], "version") for n in names + more if aws_tag(in_aws.get(n, {}), "version") != "3"}
    assert lost == {}, "changes lost: AWS has older versions"
    assert_one_create_each(emulator, names + more)
    after = {s["imageID"] for p in upgraded for s in p["status"]["containerStatuses"]}
    assert after and not after & before, (before, after)
    assert [restart_count(p) for p in upgraded] == [0, 0], describe(kube)
    one_leader(kube)


def test_deleting_the_leader_pod_fails_over_to_the_other(
    release: Installation, node_kube: Kube, emulator: EmulatorProcess, work_ns: str
) -> None:
    """The deleted leader releases the Lease as it stops (SIGTERM), and another pod takes it at its next
    attempt: the follower, or the Deployment's replacement pod when that one starts first (both are
    candidates for a released Lease; which one wins is a race, and either is a failover)."""
    kube = node_kube
    wait_pods_ready(kube, 2)
    leader, follower = one_leader(kube)
    kube.kubectl("delete", "pod", leader, "-n", NAMESPACE, "--wait=false")
    start = time.monotonic()
    wait_for("the deleted leader gives the Lease up", lambda: lease_holder(kube) != leader, timeout=20, interval=0.2)
    TIMINGS["leader pod deleted: Lease released"] = time.monotonic() - start

    def new_holder() -> str | None:
        holder = lease_holder(kube)
        return holder if holder in {p["metadata"]["name"] for p in pods(kube)} - {leader} else None

    try:
        holder = wait_for("another pod holds the Lease", new_holder, timeout=20 - (time.monotonic() - start))
    except AssertionError as err:
        raise AssertionError(f"{err}\nLease holder {lease_holder(kube)!r}\n{describe(kube)}") from None
    TIMINGS["leader pod deleted: Lease taken over"] = time.monotonic() - start
    NOTES.append(f"the deleted leader's Lease went to the {'follower' if holder == follower else 'new pod'}")

    names = unique("after-delete", 2)
    kube.apply_list([profile(n, work_ns, "1") for n in names])
    wait_profiles_ready(kube, work_ns, names, timeout=60)
    TIMINGS["leader pod deleted: new profiles Ready"] = time.monotonic() - start
    assert_one_create_each(emulator, names)
    assert calls_by(emulator, holder).get("CreateResource", 0) >= len(names)
    # The Deployment replaces the pod: two pods again, one leading.
    wait_pods_ready(kube, 2)
    assert one_leader(kube)[0] == holder


def test_a_frozen_leader_is_restarted_by_its_liveness_probe_and_the_other_takes_over(
    release: Installation, node: LocalNode, node_kube: Kube, emulator: EmulatorProcess, work_ns: str
) -> None:
    kube = node_kube
    wait_pods_ready(kube, 2)
    leader, follower = one_leader(kube)
    frozen = pod_named(kube, leader)
    restarts = restart_count(frozen)
    pid = node.container_pid(container_id(frozen))
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert any(part.endswith(b"userprofile-operator") for part in cmdline), cmdline
    os.kill(pid, signal.SIGSTOP)  # the whole process, every thread; only the kubelet ends it
    start = time.monotonic()

    wait_for("the other pod holds the Lease", lambda: lease_holder(kube) == follower, timeout=45, interval=0.5)
    TIMINGS["frozen leader: Lease taken over"] = time.monotonic() - start
    names = unique("after-freeze", 3)
    kube.apply_list([profile(n, work_ns, "1") for n in names])
    wait_profiles_ready(kube, work_ns, names, timeout=90)
    TIMINGS["frozen leader: new profiles Ready"] = time.monotonic() - start

    def restarted() -> bool:
        return restart_count(pod_named(kube, leader)) > restarts

    try:
        wait_for("the kubelet restarts the frozen container", restarted, timeout=150, interval=1)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{describe(kube)}") from None
    TIMINGS["frozen leader: container restarted"] = time.monotonic() - start
    assert not Path(f"/proc/{pid}").exists() or b"userprofile" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    events = kube.get_json("events", "-n", NAMESPACE, "--field-selector", f"involvedObject.name={leader}")["items"]
    assert any("Liveness probe failed" in (e.get("message") or "") for e in events), [e.get("message") for e in events]
    wait_pods_ready(kube, 2)
    assert one_leader(kube) == (follower, leader), "the restarted pod should stand by"
    assert_one_create_each(emulator, names)


def delete_namespace(kube: Kube, namespace: str, timeout: float) -> float:
    """`kubectl delete namespace`, then wait until it is gone (kube-controller-manager deletes its objects,
    the operator's finalizers go); the seconds it took. On a timeout, what was left is in the message."""
    start = time.monotonic()
    kube.kubectl("delete", "namespace", namespace, "--wait=false")

    def gone() -> bool:
        proc = kube.kubectl("get", "namespace", namespace, check=False)
        return proc.returncode != 0 and "NotFound" in proc.stderr

    try:
        wait_for(f"namespace {namespace} gone", gone, timeout=timeout, interval=1)
    except AssertionError as err:
        left = kube.kubectl("get", "sagemaker", "-n", namespace, "-o", "yaml", check=False).stdout[-4000:]
        status = kube.kubectl("get", "namespace", namespace, "-o", "yaml", check=False).stdout
        raise AssertionError(f"{err}\n{status}\n{left}") from None
    return time.monotonic() - start


def test_deleting_a_namespace_full_of_profiles_runs_their_finalizers(
    release: Installation, node: LocalNode, node_kube: Kube, emulator: EmulatorProcess
) -> None:
    kube = node_kube
    namespace = f"doomed-{uuid.uuid4().hex[:6]}"
    kube.create_namespace(namespace)
    names = unique("doomed", 10)
    kube.apply_list([profile(n, namespace, "1") for n in names])
    wait_profiles_ready(kube, namespace, names, timeout=90)
    assert set(names) <= set(aws_profiles(emulator))

    TIMINGS["namespace of 10 profiles deleted"] = delete_namespace(kube, namespace, timeout=150)
    assert set(names).isdisjoint(aws_profiles(emulator)), "AWS profiles left after their namespace went"
    deletes = {n: 0 for n in names}
    for request in emulator.requests():
        name = (request.get("Identifier") or "").split("|", 1)[0]
        if request.get("Operation") == "DELETE" and request.get("OperationStatus") == "SUCCESS" and name in deletes:
            deletes[name] += 1
    assert set(deletes.values()) == {1}, deletes


def test_deleting_the_namespace_of_a_studio_setup_whose_people_used_studio_leaves_aws_empty(
    release: Installation, node: LocalNode, node_kube: Kube, emulator: EmulatorProcess
) -> None:
    """examples/studio.yaml (a domain, profiles and spaces by references); its people use Studio (apps in
    their profiles and spaces, and a private space carol made in Studio, which her profile may delete);
    then `kubectl delete namespace`: kube-controller-manager deletes every object at once; the operator's
    finalizers clear the apps and go in dependency order (AWS refuses a domain with profiles, a profile
    with apps or spaces, a space with apps) and none is left stuck."""
    kube = node_kube
    namespace = f"studio-{uuid.uuid4().hex[:6]}"
    kube.create_namespace(namespace)
    domain_name = f"studio-{uuid.uuid4().hex[:6]}"
    docs = list(yaml.safe_load_all((REPO_ROOT / "examples" / "studio.yaml").read_text()))
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "SageMakerDomain":
            doc["spec"]["domainName"] = domain_name
        if doc["kind"] == "SageMakerUserProfile" and doc["metadata"]["name"] == "carol":
            doc["spec"]["cleanupOnDelete"] = {"ownedSpaces": "Delete"}
    kube.apply_list(docs)

    def everything() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = kube.get_json("sagemaker", "-n", namespace)["items"]
        return items

    def all_ready() -> bool:
        items = everything()
        return len(items) == len(docs) and all(
            (kube.condition(o, "Ready") or {}).get("status") == "True" for o in items
        )

    wait_for("the Studio setup Ready", all_ready, timeout=120, interval=1)
    domain_id = next(o for o in everything() if o["kind"] == "SageMakerDomain")["status"]["identifier"]
    # People use Studio: what the Studio UI does through SageMaker's API.
    sagemaker = emulator.sagemaker_client(REGION)
    sagemaker.create_space(
        DomainId=domain_id,
        SpaceName="carol-scratch",
        OwnershipSettings={"OwnerUserProfileName": "carol"},
        SpaceSharingSettings={"SharingType": "Private"},
        SpaceSettings={"AppType": "JupyterLab"},
    )
    opened = [
        {"UserProfileName": "carol", "AppType": "JupyterServer"},
        {"UserProfileName": "dave", "AppType": "Canvas"},
        {"SpaceName": "carol-notebooks", "AppType": "JupyterLab"},
        {"SpaceName": "team-lab", "AppType": "CodeEditor"},
        {"SpaceName": "carol-scratch", "AppType": "JupyterLab"},
    ]
    for app in opened:
        sagemaker.create_app(DomainId=domain_id, AppName="default", **app)

    def apps() -> dict[str, str]:
        listed = sagemaker.list_apps(DomainIdEquals=domain_id, MaxResults=100)["Apps"]
        return {f"{a.get('UserProfileName') or a.get('SpaceName')}/{a['AppType']}": a["Status"] for a in listed}

    wait_for("every app InService", lambda: len(apps()) == len(opened) and set(apps().values()) == {"InService"})

    TIMINGS["namespace of a Studio setup whose people used Studio deleted"] = delete_namespace(
        kube, namespace, timeout=240
    )
    for type_name in ("AWS::SageMaker::Space", "AWS::SageMaker::UserProfile"):
        left = emulator.admin("GET", f"/_emulator/resources?TypeName={type_name}")["Resources"]
        assert [r for r in left if r["Properties"].get("DomainId") == domain_id] == [], type_name
    domains = emulator.admin("GET", "/_emulator/resources?TypeName=AWS::SageMaker::Domain")["Resources"]
    assert [r for r in domains if r["Identifier"] == domain_id] == []
    assert set(apps().values()) == {"Deleted"}, apps()  # listed for a day, as in AWS: none live


def test_helm_uninstall_keeps_the_crd_and_the_profiles(
    release: Installation, node_kube: Kube, emulator: EmulatorProcess, work_ns: str
) -> None:
    kube = node_kube
    kept = sorted(o["metadata"]["name"] for o in kube.get_json("smup", "-n", work_ns)["items"])
    assert len(kept) >= 10
    deletes_before = emulator.stats()["calls"].get("DeleteResource", 0)
    start = time.monotonic()
    release.uninstall()
    TIMINGS["helm uninstall: pods gone"] = time.monotonic() - start

    crd = kube.get_json("crd", CRD_NAME)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"].get("deletionTimestamp") is None
    assert sorted(o["metadata"]["name"] for o in kube.get_json("smup", "-n", work_ns)["items"]) == kept
    assert set(kept) <= set(aws_profiles(emulator)), "helm uninstall deleted AWS profiles"
    assert emulator.stats()["calls"].get("DeleteResource", 0) == deletes_before
    assert kube.get_json("deployments", "-n", NAMESPACE)["items"] == []


@pytest.fixture
def kustomized(
    installation: Installation, node_kube: Kube, emulator: EmulatorProcess, operator_image: str, tmp_path: Path
) -> Iterator[Path]:
    """The kustomize base through an overlay (image, pullPolicy Never, the emulator), applied after the
    chart's release is gone (two operators must never share the objects); its Deployment is deleted after
    the test (not the CRD: that would take every profile with it)."""
    installation.uninstall()
    overlay = kustomize_overlay(tmp_path / "overlay", operator_image, emulator)
    try:
        yield overlay
    finally:
        node_kube.kubectl(
            "delete", "deployment", RELEASE, "-n", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=60s",
            check=False, timeout=90,
        )  # fmt: skip


def test_the_kustomize_base_installs_the_same_operator(
    kustomized: Path, node_kube: Kube, emulator: EmulatorProcess, operator_image: str, work_ns: str
) -> None:
    kube = node_kube
    start = time.monotonic()
    # as the README says: the CRDs' base first; the operator's base does not make its namespace
    kube.kubectl("apply", "--server-side", "-k", str(KUSTOMIZE_BASE / "crds"), timeout=120)
    kube.create_namespace(NAMESPACE)
    kube.kubectl("apply", "--server-side", "-k", str(kustomized), timeout=120)
    running = wait_pods_ready(kube, 2, operator_image)
    TIMINGS["kustomize: 2 pods Ready"] = time.monotonic() - start
    assert all(p["spec"]["containers"][0]["imagePullPolicy"] == "Never" for p in running)
    _, follower = one_leader(kube)
    names = unique("kustomize", 1)
    kube.apply_list([profile(names[0], work_ns, "1")])
    wait_profiles_ready(kube, work_ns, names, timeout=60)
    assert_one_create_each(emulator, names)
    assert calls_by(emulator, follower) == {}
    assert [restart_count(p) for p in pods(kube)] == [0, 0], describe(kube)
