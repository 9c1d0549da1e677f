"""`userprofile-operator list`, `get` and `import` end to end: the CLI as a subprocess, the emulator, a
real API server, and (for import) the operator adopting what import wrote.

The emulator is this module's own, seeded out of band (as if the profiles were made in the console)
with more profiles than one ListResources page holds. The cluster name is this module's own too, so
objects of other tests never count as ours. Objects made here are deleted at the end, so that no
later operator picks them up.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube
from tests.support.manifests import profile as profile_object
from tests.support.operator import OPERATOR, OperatorProcess
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.plan import owner_tag_value
from userprofile_operator.settings import OWNER_TAG_KEY

pytestmark = pytest.mark.e2e

CLI = OPERATOR  # the same console script
CLUSTER = f"inv-{uuid.uuid4().hex[:6]}"
LIST_REGION = "us-east-1"
IMPORT_REGION = "us-west-2"
D1 = "d-inv000000001"
D2 = "d-inv000000002"
ROLE = "arn:aws:iam::123456789012:role/service-role/Studio"


def _state(name: str, domain: str = D1, owner: str | None = None, **extra: Any) -> dict[str, Any]:
    state: dict[str, Any] = {"DomainId": domain, "UserProfileName": name, **extra}
    if owner is not None:
        state["Tags"] = [*state.get("Tags", []), {"Key": OWNER_TAG_KEY, "Value": owner}]
    return state


def _apply(kube: Kube, *documents: dict[str, Any]) -> None:
    kube.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(d) for d in documents))


def _tags(props: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in props.get("Tags", [])}


def cli(
    emu: EmulatorProcess, kubeconfig: Path | str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    environment = {**inherited, **emu.env(), "KUBECONFIG": str(kubeconfig), **(env or {})}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=environment, timeout=120)


def _table(text: str) -> dict[str, list[str]]:
    """PROFILE|DOMAIN -> [PROFILE, DOMAIN, EXECUTION-ROLE, MANAGED-BY] (the last may hold spaces)."""
    lines = text.splitlines()
    assert lines[0].split() == ["PROFILE", "DOMAIN", "EXECUTION-ROLE", "MANAGED-BY"]
    rows = [line.split(maxsplit=3) for line in lines[1:]]
    return {f"{row[0]}|{row[1]}": row for row in rows}


def _calls(emu: EmulatorProcess) -> dict[str, int]:
    return dict(emu.stats()["calls"])


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {op: after.get(op, 0) - before.get(op, 0) for op in after if after.get(op, 0) != before.get(op, 0)}


_DENIED = (
    "User: arn:aws:sts::123456789012:assumed-role/viewer/me is not authorized to perform: "
    "cloudformation:ListResources because no identity-based policy allows the cloudformation:ListResources action"
)


class _DenyAll(http.server.BaseHTTPRequestHandler):
    """What AWS answers when IAM refuses a call (the emulator's service model has no such error)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException", "Message": _DENIED}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _denying_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DenyAll)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class World:
    """What the module seeded: who should own which profile."""

    def __init__(self, emu: EmulatorProcess, kube: Kube) -> None:
        self.emu = emu
        self.kube = kube
        self.managed_ns = f"inv-managed-{uuid.uuid4().hex[:6]}"
        self.expected: dict[str, str] = {}  # identifier -> MANAGED-BY

    def seed(self) -> None:
        kube, emu = self.kube, self.emu
        kube.create_namespace(self.managed_ns)
        states: list[dict[str, Any]] = []
        for i in range(26):
            name = f"user-{i:02d}"
            states.append(_state(name, UserSettings={"ExecutionRole": ROLE}, Tags=[{"Key": "team", "Value": "ml"}]))
            self.expected[f"{name}|{D1}"] = "unmanaged"
        for domain in (D1, D2):
            states.append(_state("alice", domain))
            self.expected[f"alice|{domain}"] = "unmanaged"
        objects = []
        for i in range(3):
            name = f"owned-{i}"
            states.append(_state(name, owner=owner_tag_value(CLUSTER, self.managed_ns, name)))
            objects.append(profile_object(name, self.managed_ns, domain_id=D1, region=LIST_REGION))
            self.expected[f"{name}|{D1}"] = f"{self.managed_ns}/{name}"
        states.append(_state("foreign", D2, owner="elsewhere/team/foreign"))
        self.expected[f"foreign|{D2}"] = "other-cluster:elsewhere"
        states.append(_state("retained", D2, owner=f"{CLUSTER}/gone/retained"))
        self.expected[f"retained|{D2}"] = "orphan:gone/retained"
        emu.oob_create(LIST_REGION, states)
        _apply(kube, *objects)

    def cleanup(self) -> None:
        # These objects never had an operator (no finalizer): they go at once.
        self.kube.kubectl("delete", "smup", "--all", "-n", self.managed_ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(latency=0.2) as emulator:
        for region in (LIST_REGION, IMPORT_REGION):
            emulator.add_domain(D1, region)
            emulator.add_domain(D2, region)
        yield emulator


@pytest.fixture(scope="module")
def world(crd: Kube, emu: EmulatorProcess) -> Iterator[World]:
    seeded = World(emu, crd)
    seeded.seed()
    try:
        yield seeded
    finally:
        seeded.cleanup()


def test_list_shows_every_profile_across_pages_and_who_manages_it(world: World) -> None:
    before = _calls(world.emu)
    done = cli(world.emu, world.kube.kubeconfig, "list", "--region", LIST_REGION, "--cluster-name", CLUSTER)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    rows = _table(done.stdout)
    assert {key: row[3] for key, row in rows.items()} == world.expected
    assert rows[f"user-00|{D1}"][2] == ROLE
    assert rows[f"alice|{D1}"][2] == "-"
    calls = _delta(before, _calls(world.emu))
    assert calls["ListResources"] == 2  # 33 profiles, pages of 25
    assert calls["GetResource"] == len(world.expected)
    assert set(calls) == {"ListResources", "GetResource"}


def test_list_as_json_for_one_domain(world: World) -> None:
    done = cli(
        world.emu,
        world.kube.kubeconfig,
        "list",
        "--region",
        LIST_REGION,
        "--cluster-name",
        CLUSTER,
        "--domain-id",
        D2,
        "-o",
        "json",
    )
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)
    assert {i["identifier"]: i["managedBy"] for i in items} == {
        k: v for k, v in world.expected.items() if k.endswith(D2)
    }
    foreign = next(i for i in items if i["userProfileName"] == "foreign")
    assert foreign["ownership"] == "other-cluster"
    assert foreign["ownerTag"] == "elsewhere/team/foreign"
    assert foreign["userProfileArn"].endswith(f"user-profile/{D2}/foreign")


def test_list_reads_the_region_from_aws_region(world: World) -> None:
    done = cli(
        world.emu,
        world.kube.kubeconfig,
        "list",
        "--cluster-name",
        CLUSTER,
        "-o",
        "yaml",
        env={"AWS_REGION": LIST_REGION},
    )
    assert done.returncode == 0, done.stderr
    assert len(yaml.safe_load(done.stdout)) == len(world.expected)


def test_list_without_cluster_access_still_lists(world: World, tmp_path: Path) -> None:
    done = cli(world.emu, tmp_path / "no-kubeconfig", "list", "--region", LIST_REGION, "--cluster-name", CLUSTER)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("warning: no cluster access")
    assert done.stderr.count("\n") == 1
    rows = _table(done.stdout)
    assert len(rows) == len(world.expected)
    assert rows[f"owned-0|{D1}"][3] == "unknown (no cluster access)"
    assert rows[f"retained|{D2}"][3] == "unknown (no cluster access)"
    assert rows[f"foreign|{D2}"][3] == "other-cluster:elsewhere"
    assert rows[f"user-00|{D1}"][3] == "unmanaged"


def test_get_prints_every_property_in_camel_case(world: World) -> None:
    stored = next(r["Properties"] for r in world.emu.resources(LIST_REGION) if r["Identifier"] == f"user-03|{D1}")
    for fmt, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        done = cli(world.emu, world.kube.kubeconfig, "get", f"user-03|{D1}", "--region", LIST_REGION, "-o", fmt)
        assert done.returncode == 0, done.stderr
        got = load(done.stdout)
        assert got == PROFILE.naming.cfn_to_spec(stored)
        assert got["userProfileArn"] == f"arn:aws:sagemaker:{LIST_REGION}:123456789012:user-profile/{D1}/user-03"
        assert got["userSettings"]["executionRole"] == ROLE
        assert got["tags"] == [{"key": "team", "value": "ml"}]
    done = cli(world.emu, world.kube.kubeconfig, "get", "user-03", "--domain-id", D1, "--region", LIST_REGION)
    assert yaml.safe_load(done.stdout) == PROFILE.naming.cfn_to_spec(stored)


def test_get_of_a_missing_profile_fails_in_one_line(world: World) -> None:
    done = cli(world.emu, world.kube.kubeconfig, "get", f"nobody|{D1}", "--region", LIST_REGION)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"error: user profile nobody|{D1} not found in {LIST_REGION}\n"


def test_one_line_errors_for_credentials_region_and_access(world: World, tmp_path: Path) -> None:
    kubeconfig = world.kube.kubeconfig
    no_credentials = {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    done = cli(world.emu, kubeconfig, "list", "--region", LIST_REGION, env=no_credentials)
    assert (done.returncode, done.stderr) == (1, "error: no AWS credentials: Unable to locate credentials\n")

    done = cli(world.emu, kubeconfig, "list", "--region", "moon-base-1")
    assert done.returncode == 1
    assert done.stderr.startswith("error: unknown region 'moon-base-1'") and done.stderr.count("\n") == 1

    with _denying_endpoint() as url:
        done = cli(world.emu, kubeconfig, "list", "--region", LIST_REGION, env={"AWS_ENDPOINT_URL_CLOUDCONTROL": url})
    assert done.returncode == 1
    assert done.stderr.startswith("error: access denied") and done.stderr.count("\n") == 1
    assert "not authorized to perform: cloudformation:ListResources" in done.stderr
    assert "Traceback" not in done.stderr


def test_import_writes_manifests_that_the_operator_adopts_without_creating(
    world: World, crd: Kube, tmp_path: Path
) -> None:
    emu, kube = world.emu, crd
    namespace = f"inv-import-{uuid.uuid4().hex[:6]}"
    kube.create_namespace(namespace)
    # The import region: 27 unmanaged profiles (two pages), a managed one, one of another cluster.
    unmanaged = [_state(f"adopt-{i:02d}", UserSettings={"ExecutionRole": ROLE}) for i in range(25)]
    unmanaged += [_state("Mixed-Case", D2), _state("alice", D2)]
    managed_name = "kept"
    emu.oob_create(
        IMPORT_REGION,
        [
            *unmanaged,
            _state("kept", owner=owner_tag_value(CLUSTER, world.managed_ns, managed_name)),
            _state("theirs", owner="elsewhere/ns/theirs"),
        ],
    )
    _apply(
        kube,
        profile_object(managed_name, world.managed_ns, domain_id=D1, user_profile_name="kept", region=IMPORT_REGION),
    )

    args = ["import", "--region", IMPORT_REGION, "--cluster-name", CLUSTER, "--namespace", namespace]
    done = cli(emu, kube.kubeconfig, *args)
    assert done.returncode == 0, done.stderr
    manifests = list(yaml.safe_load_all(done.stdout))
    assert len(manifests) == len(unmanaged)
    assert f"imported {len(unmanaged)} of {len(unmanaged) + 2} profiles" in done.stderr
    names = {m["spec"]["userProfileName"]: m["metadata"]["name"] for m in manifests}
    assert names["adopt-00"] == "adopt-00"
    assert names["Mixed-Case"] == "mixed-case"
    for manifest in manifests:
        assert manifest["metadata"]["namespace"] == namespace
        spec = manifest["spec"]
        assert spec["region"] == IMPORT_REGION
        assert spec["adoptionPolicy"] == "Adopt"
        assert "userProfileArn" not in spec
        assert OWNER_TAG_KEY not in json.dumps(spec)

    # the same manifests, one file each
    folder = tmp_path / "gitops"
    done = cli(emu, kube.kubeconfig, *args, "--output-dir", str(folder))
    assert done.returncode == 0, done.stderr
    files = sorted(folder.glob("*.yaml"))
    assert [f.stem for f in files] == sorted(names.values())
    assert sorted((yaml.safe_load(f.read_text()) for f in files), key=lambda m: m["metadata"]["name"]) == sorted(
        manifests, key=lambda m: m["metadata"]["name"]
    )

    before = _calls(emu)
    kube.kubectl("apply", "-f", str(folder))
    # Watch only this namespace: objects of other tests belong to other operators.
    operator = OperatorProcess(kube.kubeconfig, emu.env(), args=["--cluster-name", CLUSTER], namespaces=[namespace])
    with operator:
        try:
            kube.kubectl(
                "wait", "--for=condition=Ready", "smup", "--all", "-n", namespace, "--timeout=120s", timeout=130
            )
            calls = _delta(before, _calls(emu))
            assert calls.get("CreateResource", 0) == 0, calls
            assert calls.get("UpdateResource", 0) == len(unmanaged), calls
            assert calls.get("DeleteResource", 0) == 0, calls
            stored = {r["Properties"]["UserProfileName"]: r["Properties"] for r in emu.resources(IMPORT_REGION)}
            for profile, name in names.items():
                assert _tags(stored[profile])[OWNER_TAG_KEY] == owner_tag_value(CLUSTER, namespace, name)
            assert _tags(stored["theirs"])[OWNER_TAG_KEY] == "elsewhere/ns/theirs"

            # Now list names the objects, and a second import has nothing left to do.
            listed = cli(emu, kube.kubeconfig, "list", "--region", IMPORT_REGION, "--cluster-name", CLUSTER)
            rows = _table(listed.stdout)
            assert rows[f"adopt-00|{D1}"][3] == f"{namespace}/adopt-00"
            assert rows[f"kept|{D1}"][3] == f"{world.managed_ns}/kept"
            assert rows[f"theirs|{D1}"][3] == "other-cluster:elsewhere"
            again = cli(emu, kube.kubeconfig, *args)
            assert again.returncode == 0, again.stderr
            assert again.stdout == ""
            assert f"imported 0 of {len(unmanaged) + 2} profiles" in again.stderr
        finally:
            # Retain, then delete: the objects go, the profiles stay, no later operator finds them.
            for name in names.values():
                retain = '{"spec":{"deletionPolicy":"Retain"}}'
                kube.kubectl("patch", "smup", name, "-n", namespace, "--type=merge", "-p", retain, check=False)
            kube.kubectl("delete", "smup", "--all", "-n", namespace, "--timeout=60s", check=False, timeout=70)
