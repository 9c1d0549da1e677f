"""SageMakerSpace end to end: the second kind on the same core, against the real API server and the emulator.

AWS-side facts are read with boto3 itself (GetResource through the emulator's Cloud Control wire) and
from the emulator's request log. A space's `spaceSettings` is writeOnly: Cloud Control never returns
it, so drift checks must never update a space because of it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import DOMAIN, REGION
from tests.support import manifests
from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube, wait_for
from tests.support.operator import OperatorProcess
from userprofile_operator.settings import OWNER_TAG_KEY

SPACE_TYPE = "AWS::SageMaker::Space"
JUPYTER = {"appType": "JupyterLab", "jupyterLabAppSettings": {"defaultResourceSpec": {"instanceType": "ml.t3.medium"}}}
CODE_EDITOR = {"appType": "CodeEditor"}
FAST_DRIFT = {"sagemaker.awscc.dev/drift-interval": "1s"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def apply(kube: Kube, namespace: str, *objects: dict[str, Any]) -> None:
    kube.apply_list([{**obj, "metadata": {**obj["metadata"], "namespace": namespace}} for obj in objects])


def condition(kube: Kube, namespace: str, resource: str, name: str, type_: str) -> dict[str, Any]:
    obj = kube.get_json(resource, name, "-n", namespace)
    return dict(kube.condition(obj, type_) or {})


def wait_ready(kube: Kube, namespace: str, resource: str, name: str, generation: int = 1, timeout: float = 60) -> None:
    def ready() -> bool:
        obj = kube.get_json(resource, name, "-n", namespace)
        cond = kube.condition(obj, "Ready") or {}
        return cond.get("status") == "True" and cond.get("observedGeneration") == generation

    wait_for(f"{resource}/{name} Ready at generation {generation}", ready, timeout)


def aws_space(emulator: EmulatorProcess, space_name: str) -> dict[str, Any] | None:
    """The space as Cloud Control's GetResource returns it (boto3 through the emulator), or None."""
    client = emulator.boto3_client(REGION)
    try:
        found = client.get_resource(TypeName=SPACE_TYPE, Identifier=f"{DOMAIN}|{space_name}")
    except client.exceptions.ResourceNotFoundException:
        return None
    properties: dict[str, Any] = json.loads(found["ResourceDescription"]["Properties"])
    return properties


def space_requests(emulator: EmulatorProcess, space_name: str, operation: str) -> list[dict[str, Any]]:
    identifier = f"{DOMAIN}|{space_name}"
    return [
        r
        for r in emulator.requests(REGION)
        if r.get("TypeName", SPACE_TYPE) == SPACE_TYPE
        and r.get("Operation") == operation
        and (r.get("Identifier") == identifier or f'"SpaceName":"{space_name}"' in (r.get("ResourceModel") or ""))
    ]


def events(kube: Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube.get_json(
        "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return items


def test_space_create_update_delete(kube: Kube, emulator: EmulatorProcess, shared_namespace: str) -> None:
    owner, name = unique("owner"), unique("space")
    apply(
        kube,
        shared_namespace,
        manifests.profile(owner),
        manifests.space(name, owner=owner, spaceSettings=JUPYTER, spaceDisplayName="Notebooks"),
    )
    wait_ready(kube, shared_namespace, "smup", owner)
    wait_ready(kube, shared_namespace, "smspace", name)
    obj = kube.get_json("smspace", name, "-n", shared_namespace)
    assert obj["status"]["identifier"] == f"{DOMAIN}|{name}"
    assert obj["status"]["arn"].endswith(f":space/{DOMAIN}/{name}")
    props = aws_space(emulator, name)
    assert props is not None
    assert props["SpaceDisplayName"] == "Notebooks"
    assert props["OwnershipSettings"] == {"OwnerUserProfileName": owner}
    assert "SpaceSettings" not in props  # writeOnly: AWS never shows it
    assert OWNER_TAG_KEY in {t["Key"] for t in props.get("Tags", [])}

    # A change AWS can show, and a change to the writeOnly settings: both reach AWS.
    apply(
        kube,
        shared_namespace,
        manifests.space(name, owner=owner, spaceSettings=CODE_EDITOR, spaceDisplayName="Editor"),
    )
    wait_ready(kube, shared_namespace, "smspace", name, generation=2)
    assert (aws_space(emulator, name) or {}).get("SpaceDisplayName") == "Editor"
    updates = space_requests(emulator, name, "UPDATE")
    assert len(updates) == 1, updates
    assert any("SpaceSettings" in json.dumps(r) for r in updates), updates

    kube.kubectl("delete", "smspace", name, "-n", shared_namespace, "--timeout=60s", timeout=70)
    assert aws_space(emulator, name) is None
    kube.kubectl("delete", "smup", owner, "-n", shared_namespace, "--timeout=60s", timeout=70)


def test_drift_checks_never_update_a_space_for_its_write_only_settings(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique("drift")
    apply(
        kube,
        shared_namespace,
        manifests.space(name, annotations=FAST_DRIFT, spaceSettings=JUPYTER, spaceDisplayName="Before"),
    )
    wait_ready(kube, shared_namespace, "smspace", name)
    before = emulator.stats()["calls"].get("GetResource", 0)
    # Several drift checks (one a second) go by: each reads the space, none writes to it.
    wait_for("five more reads", lambda: emulator.stats()["calls"].get("GetResource", 0) >= before + 5, timeout=30)
    assert space_requests(emulator, name, "UPDATE") == []
    assert condition(kube, shared_namespace, "smspace", name, "Ready")["status"] == "True"

    # Drift in what AWS does show is corrected as for any kind.
    client = emulator.boto3_client(REGION)
    client.update_resource(
        TypeName=SPACE_TYPE,
        Identifier=f"{DOMAIN}|{name}",
        PatchDocument=json.dumps([{"op": "replace", "path": "/SpaceDisplayName", "value": "Console"}]),
    )
    wait_for("drift corrected", lambda: (aws_space(emulator, name) or {}).get("SpaceDisplayName") == "Before", 30)
    wait_for("DriftDetected", lambda: any(e["reason"] == "DriftDetected" for e in events(kube, shared_namespace, name)))
    kube.kubectl("delete", "smspace", name, "-n", shared_namespace, "--timeout=60s", timeout=70)


def test_adopting_an_existing_space_sends_no_create(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique("adopt")
    client = emulator.boto3_client(REGION)
    client.create_resource(
        TypeName=SPACE_TYPE, DesiredState=json.dumps({"DomainId": DOMAIN, "SpaceName": name, "SpaceDisplayName": "Old"})
    )
    wait_for("space made in the console", lambda: aws_space(emulator, name))
    apply(kube, shared_namespace, manifests.space(name, adoptionPolicy="Adopt", spaceDisplayName="Adopted"))
    wait_ready(kube, shared_namespace, "smspace", name)
    assert len(space_requests(emulator, name, "CREATE")) == 1  # the console's, not ours
    props = aws_space(emulator, name) or {}
    assert props.get("SpaceDisplayName") == "Adopted"
    assert OWNER_TAG_KEY in {t["Key"] for t in props.get("Tags", [])}
    kube.kubectl("delete", "smspace", name, "-n", shared_namespace, "--timeout=60s", timeout=70)
    assert aws_space(emulator, name) is None


def test_a_profile_with_spaces_waits_for_them_before_it_is_deleted(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    owner, name = unique("owner"), unique("private")
    apply(kube, shared_namespace, manifests.profile(owner))
    wait_ready(kube, shared_namespace, "smup", owner)
    apply(kube, shared_namespace, manifests.space(name, owner=owner))
    wait_ready(kube, shared_namespace, "smspace", name)

    kube.kubectl("delete", "smup", owner, "-n", shared_namespace, "--wait=false")
    waiting = wait_for(
        "the delete waiting for the space's object",
        lambda: (
            (c := condition(kube, shared_namespace, "smup", owner, "Ready")).get("reason") == "Deleting"
            and "Waiting for" in c.get("message", "")
            and c
        ),
    )
    assert waiting["status"] == "False"
    # names the space and the object that manages it; the space is its object's to delete, not the profile's
    assert f"space {name} (managed by SageMakerSpace " in waiting["message"], waiting
    assert f"/{shared_namespace}/{name})" in waiting["message"], waiting
    assert emulator.boto3_client(REGION).get_resource(
        TypeName="AWS::SageMaker::UserProfile", Identifier=f"{owner}|{DOMAIN}"
    )
    assert aws_space(emulator, name) is not None
    said = [e for e in events(kube, shared_namespace, owner) if e["reason"] == "Deleting"]
    assert len(said) == 1, said  # said once, not at every retry

    kube.kubectl("delete", "smspace", name, "-n", shared_namespace, "--timeout=60s", timeout=70)
    wait_for(
        "the profile's object gone",
        lambda: kube.kubectl("get", "smup", owner, "-n", shared_namespace, check=False).returncode != 0,
        timeout=60,
    )
    client = emulator.boto3_client(REGION)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_resource(TypeName="AWS::SageMaker::UserProfile", Identifier=f"{owner}|{DOMAIN}")


def test_sigkill_mid_create_leaves_exactly_one_space(
    kube: Kube, slow_emulator: EmulatorProcess, own_namespace: str
) -> None:
    emulator = slow_emulator
    names = [unique("crash") for _ in range(3)]
    op = OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[own_namespace]).start()
    try:
        apply(kube, own_namespace, *(manifests.space(n, spaceSettings=JUPYTER) for n in names))
        wait_for(
            "a create in flight",
            lambda: any(
                r["OperationStatus"] == "IN_PROGRESS" for n in names for r in space_requests(emulator, n, "CREATE")
            ),
        )
        op.kill()
        op.start()
        for n in names:
            wait_ready(kube, own_namespace, "smspace", n, timeout=90)
            assert len(space_requests(emulator, n, "CREATE")) == 1, n
        kube.kubectl("delete", "smspace", "--all", "-n", own_namespace, "--timeout=90s", timeout=100)
        assert all(aws_space(emulator, n) is None for n in names)
    finally:
        op.stop()
