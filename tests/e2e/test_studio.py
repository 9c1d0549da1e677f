"""The Studio setup end to end: a domain, profiles and spaces wired by references, in one apply and one delete.

Against the real API server and the emulator. The emulator enforces SageMaker's order (a profile needs
its domain, a private space its owner; a domain with profiles and a profile with spaces cannot be
deleted), so a setup that converges with no failed request was handled in dependency order.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import yaml

from tests.e2e.conftest import REGION
from tests.support import manifests
from tests.support.emulator import EmulatorProcess
from tests.support.kube import REPO_ROOT, Kube, everything, ready, wait_all_ready, wait_for
from tests.support.operator import OperatorProcess

STUDIO = REPO_ROOT / "examples" / "studio.yaml"
DOMAIN_TYPE = "AWS::SageMaker::Domain"
TYPES = {
    "SageMakerDomain": DOMAIN_TYPE,
    "SageMakerUserProfile": "AWS::SageMaker::UserProfile",
    "SageMakerSpace": "AWS::SageMaker::Space",
}


def aws(emulator: EmulatorProcess, type_name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = emulator.admin("GET", f"/_emulator/resources?Region={REGION}&TypeName={type_name}")[
        "Resources"
    ]
    return found


def requests_of(emulator: EmulatorProcess, type_name: str, operation: str) -> list[dict[str, Any]]:
    return [r for r in emulator.requests(REGION) if r.get("TypeName") == type_name and r.get("Operation") == operation]


def studio(domain_name: str) -> str:
    """examples/studio.yaml with its own domain name (the emulator is shared by the session's tests)."""
    docs = list(yaml.safe_load_all(STUDIO.read_text()))
    for doc in docs:
        if doc["kind"] == "SageMakerDomain":
            doc["spec"]["domainName"] = domain_name
    return yaml.safe_dump_all(docs)


def in_domain(emulator: EmulatorProcess, type_name: str, domain_id: str) -> list[dict[str, Any]]:
    return [r for r in aws(emulator, type_name) if r["Properties"].get("DomainId") == domain_id]


def test_the_studio_example_converges_in_one_apply_and_leaves_aws_clean_in_one_delete(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = f"studio-{uuid.uuid4().hex[:6]}"
    manifest = studio(name)
    kube.kubectl("apply", "-n", shared_namespace, "-f", "-", input=manifest)
    objects = wait_all_ready(kube, shared_namespace, 5, "every object of the setup Ready", timeout=120)
    assert sorted(o["kind"] for o in objects) == sorted(
        ["SageMakerDomain", "SageMakerUserProfile", "SageMakerUserProfile", "SageMakerSpace", "SageMakerSpace"]
    )  # `kubectl get sagemaker` lists every kind
    domain = next(o for o in objects if o["kind"] == "SageMakerDomain")
    domain_id = domain["status"]["identifier"]
    assert domain_id.startswith("d-")
    assert [r["Properties"]["DomainName"] for r in aws(emulator, DOMAIN_TYPE) if r["Identifier"] == domain_id] == [name]
    profiles = in_domain(emulator, TYPES["SageMakerUserProfile"], domain_id)
    spaces = in_domain(emulator, TYPES["SageMakerSpace"], domain_id)
    assert sorted(p["Properties"]["UserProfileName"] for p in profiles) == ["carol", "dave"]
    assert {
        s["Properties"]["SpaceName"]: s["Properties"]["OwnershipSettings"]["OwnerUserProfileName"] for s in spaces
    } == {
        "carol-notebooks": "carol",
        "team-lab": "dave",
    }
    # In dependency order: nothing was sent before what it needs was Ready, so no request failed.
    identifiers = {domain_id, *(p["Identifier"] for p in profiles), *(s["Identifier"] for s in spaces)}
    failed = [
        r
        for r in emulator.requests(REGION)
        if r["OperationStatus"] == "FAILED" and (r.get("Identifier") in identifiers or name in json.dumps(r))
    ]
    assert failed == [], failed

    # Everything at once: spaces go first, profiles and the domain wait for what depends on them.
    kube.kubectl("delete", "-n", shared_namespace, "-f", "-", "--timeout=150s", input=manifest, timeout=160)
    assert everything(kube, shared_namespace) == []
    assert [r for r in aws(emulator, DOMAIN_TYPE) if r["Identifier"] == domain_id] == []
    assert in_domain(emulator, TYPES["SageMakerUserProfile"], domain_id) == []
    assert in_domain(emulator, TYPES["SageMakerSpace"], domain_id) == []


def test_a_reference_to_a_missing_domain_waits_then_follows_the_domain(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    domain_name = f"later-{uuid.uuid4().hex[:6]}"
    profile = {
        "apiVersion": "sagemaker.awscc.dev/v1alpha1",
        "kind": "SageMakerUserProfile",
        "metadata": {"name": "waiter"},
        "spec": {"domainIdRef": {"name": "later"}, "userProfileName": "waiter"},
    }
    kube.kubectl("apply", "-n", shared_namespace, "-f", "-", input=json.dumps(profile))
    waiting = wait_for(
        "ReferenceNotReady",
        lambda: (
            (c := kube.condition(kube.get_json("smup", "waiter", "-n", shared_namespace), "Ready") or {}).get("reason")
            == "ReferenceNotReady"
            and c
        ),
    )
    assert waiting["status"] == "False" and "SageMakerDomain later" in waiting["message"], waiting
    domain = next(d for d in yaml.safe_load_all(STUDIO.read_text()) if d["kind"] == "SageMakerDomain")
    domain["metadata"]["name"] = "later"
    domain["spec"]["domainName"] = domain_name
    kube.kubectl("apply", "-n", shared_namespace, "-f", "-", input=json.dumps(domain))
    wait_for("the profile Ready", lambda: ready(kube, kube.get_json("smup", "waiter", "-n", shared_namespace)), 90)
    domain_id = kube.get_json("smdomain", "later", "-n", shared_namespace)["status"]["identifier"]
    profile_status = kube.get_json("smup", "waiter", "-n", shared_namespace)["status"]
    assert profile_status["identifier"] == f"waiter|{domain_id}"
    assert [p["Identifier"] for p in in_domain(emulator, TYPES["SageMakerUserProfile"], domain_id)] == [
        f"waiter|{domain_id}"
    ]
    kube.kubectl("delete", "smup,smdomain", "--all", "-n", shared_namespace, "--timeout=90s", timeout=100)
    assert [r for r in aws(emulator, DOMAIN_TYPE) if r["Identifier"] == domain_id] == []


def wide(kube: Kube, resource: str, namespace: str) -> dict[str, dict[str, str]]:
    """`kubectl get RESOURCE -o wide` as the printer columns show it: name -> {COLUMN: value}."""
    lines = kube.kubectl("get", resource, "-n", namespace, "-o", "wide").stdout.splitlines()
    header = lines[0].split()
    return {row.split()[0]: dict(zip(header, row.split(), strict=True)) for row in lines[1:]}


def test_get_wide_shows_the_domain_and_owner_that_references_resolved_to(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    """Objects that name their domain (and owner) by object, not by id: status keeps what the references
    resolved to, and the DOMAIN and OWNER columns read it."""
    ns = shared_namespace
    # Retain: the test is about columns; deleting the objects then leaves AWS alone.
    retain = {"deletionPolicy": "Retain"}
    objects = [
        manifests.domain("studio", domain_name=f"wide-{uuid.uuid4().hex[:6]}", **retain),
        {**manifests.profile("erin"), "spec": {"domainIdRef": {"name": "studio"}, "userProfileName": "erin", **retain}},
        manifests.space("erin-lab"),
    ]
    objects[2]["spec"] = {
        "domainIdRef": {"name": "studio"},
        "spaceName": "erin-lab",
        "ownershipSettings": {"ownerUserProfileNameRef": {"name": "erin"}},
        "spaceSharingSettings": {"sharingType": "Private"},
        **retain,
    }
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(objects))
    wait_all_ready(kube, ns, 3, "all Ready", 120)
    domain_id = kube.get_json("smdomain", "studio", "-n", ns)["status"]["identifier"]

    profiles = wide(kube, "smup", ns)
    assert profiles["erin"]["PROFILE"] == "erin"
    assert profiles["erin"]["DOMAIN"] == domain_id  # blank before: the column read spec.domainId
    assert kube.get_json("smup", "erin", "-n", ns)["status"]["domainId"] == domain_id
    spaces = wide(kube, "smspace", ns)
    assert (spaces["erin-lab"]["DOMAIN"], spaces["erin-lab"]["OWNER"]) == (domain_id, "erin")
    status = kube.get_json("smspace", "erin-lab", "-n", ns)["status"]
    assert (status["domainId"], status["ownerUserProfileName"]) == (domain_id, "erin")

    # A profile that names its domain by id shows it the same way.
    frank = manifests.profile("frank", domain_id=domain_id, **retain)
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(frank))
    wait_for("frank Ready", lambda: ready(kube, kube.get_json("smup", "frank", "-n", ns)), 60)
    assert wide(kube, "smup", ns)["frank"]["DOMAIN"] == domain_id
    assert {p["Identifier"] for p in in_domain(emulator, TYPES["SageMakerUserProfile"], domain_id)} == {
        f"erin|{domain_id}",
        f"frank|{domain_id}",
    }
    kube.kubectl("delete", "smspace,smup,smdomain", "--all", "-n", ns, "--timeout=60s", timeout=70)


def test_sigkill_right_after_a_domains_create_leaves_exactly_one_domain(
    kube: Kube, slow_emulator: EmulatorProcess, own_namespace: str
) -> None:
    emulator = slow_emulator
    domain_name = f"crash-{uuid.uuid4().hex[:6]}"
    domain = next(d for d in yaml.safe_load_all(STUDIO.read_text()) if d["kind"] == "SageMakerDomain")
    domain["spec"]["domainName"] = domain_name

    def creates() -> list[dict[str, Any]]:
        return [r for r in requests_of(emulator, DOMAIN_TYPE, "CREATE") if domain_name in json.dumps(r)]

    op = OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[own_namespace]).start()
    try:
        kube.kubectl("apply", "-n", own_namespace, "-f", "-", input=json.dumps(domain))
        wait_for("the domain's create in flight", lambda: any(r["OperationStatus"] == "IN_PROGRESS" for r in creates()))
        op.kill()  # before the operator could write the request, or the new DomainId, to status
        op.start()
        wait_for("the domain Ready", lambda: ready(kube, kube.get_json("smdomain", "studio", "-n", own_namespace)), 90)
        named = [r for r in aws(emulator, DOMAIN_TYPE) if r["Properties"].get("DomainName") == domain_name]
        assert len(named) == 1, named
        assert len(creates()) == 1, creates()
        assert (
            kube.get_json("smdomain", "studio", "-n", own_namespace)["status"]["identifier"] == named[0]["Identifier"]
        )
        kube.kubectl("delete", "smdomain", "studio", "-n", own_namespace, "--timeout=60s", timeout=70)
        assert [r for r in aws(emulator, DOMAIN_TYPE) if r["Properties"].get("DomainName") == domain_name] == []
    finally:
        op.stop()
