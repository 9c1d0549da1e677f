"""Offboarding end to end: deleting a profile, space or domain whose people used Studio.

Against the real API server and the emulator; Studio is played through SageMaker's own API (boto3's
`sagemaker` client against the emulator: CreateApp, CreateSpace), as a person opening Studio would. The
emulator refuses a delete while apps, owned spaces or (for a domain) profiles and spaces exist, with
AWS's wording, and keeps Deleted apps listed, so only a delete that clears the way in order converges.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import REGION
from tests.support import manifests
from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube, wait_for
from tests.support.manifests import DOMAIN
from tests.support.operator import OperatorProcess

PROFILE_TYPE = "AWS::SageMaker::UserProfile"
SPACE_TYPE = "AWS::SageMaker::Space"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def apply(kube: Kube, namespace: str, *objects: dict[str, Any]) -> None:
    kube.apply_list([{**obj, "metadata": {**obj["metadata"], "namespace": namespace}} for obj in objects])


def ready_condition(kube: Kube, namespace: str, resource: str, name: str) -> dict[str, Any]:
    return dict(kube.condition(kube.get_json(resource, name, "-n", namespace), "Ready") or {})


def wait_ready(kube: Kube, namespace: str, resource: str, name: str, timeout: float = 60) -> None:
    wait_for(
        f"{resource}/{name} Ready",
        lambda: ready_condition(kube, namespace, resource, name).get("status") == "True",
        timeout,
    )


def gone(kube: Kube, namespace: str, resource: str, name: str) -> bool:
    return kube.kubectl("get", resource, name, "-n", namespace, check=False).returncode != 0


def events(kube: Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube.get_json(
        "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return items


def calls(emulator: EmulatorProcess, operation: str) -> int:
    return int(emulator.stats()["calls"].get(operation, 0))


def apps_of(emulator: EmulatorProcess, domain_id: str, **owner: str) -> dict[str, str]:
    """AppType/AppName -> Status, as SageMaker's ListApps shows them (Deleted ones included)."""
    listed = emulator.sagemaker_client(REGION).list_apps(DomainIdEquals=domain_id, **owner)["Apps"]
    return {f"{a['AppType']}/{a['AppName']}": a["Status"] for a in listed}


def open_studio(emulator: EmulatorProcess, domain_id: str, app_type: str, name: str = "default", **owner: str) -> None:
    """A person opens an app (Pending, then InService): what the Studio UI does through CreateApp."""
    sagemaker = emulator.sagemaker_client(REGION)
    sagemaker.create_app(DomainId=domain_id, AppType=app_type, AppName=name, **owner)
    wait_for(
        f"{app_type}/{name} InService",
        lambda: (
            apps_of(emulator, domain_id, **{f"{k}Equals": v for k, v in owner.items()}).get(f"{app_type}/{name}")
            == "InService"
        ),
    )


def _aws(emulator: EmulatorProcess, type_name: str, identifier: str) -> dict[str, Any] | None:
    """The resource as Cloud Control's GetResource returns it, or None."""
    client = emulator.boto3_client(REGION)
    try:
        found: dict[str, Any] = client.get_resource(TypeName=type_name, Identifier=identifier)
    except client.exceptions.ResourceNotFoundException:
        return None
    return found


def aws_profile(emulator: EmulatorProcess, name: str, domain_id: str = DOMAIN) -> dict[str, Any] | None:
    return _aws(emulator, PROFILE_TYPE, f"{name}|{domain_id}")


def aws_space(emulator: EmulatorProcess, name: str, domain_id: str = DOMAIN) -> dict[str, Any] | None:
    return _aws(emulator, SPACE_TYPE, f"{domain_id}|{name}")


def test_a_profile_with_two_apps_goes_with_one_delete_each_app_deleted_once(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique("alice")
    apply(kube, shared_namespace, manifests.profile(name))
    wait_ready(kube, shared_namespace, "smup", name)
    open_studio(emulator, DOMAIN, "JupyterServer", UserProfileName=name)
    open_studio(emulator, DOMAIN, "Canvas", UserProfileName=name)
    before = calls(emulator, "DeleteApp")

    kube.kubectl("delete", "smup", name, "-n", shared_namespace, "--timeout=90s", timeout=100)

    assert aws_profile(emulator, name) is None
    assert apps_of(emulator, DOMAIN, UserProfileNameEquals=name) == {
        "JupyterServer/default": "Deleted",
        "Canvas/default": "Deleted",
    }
    assert calls(emulator, "DeleteApp") - before == 2  # each app once
    said = {e["reason"]: e["message"] for e in events(kube, shared_namespace, name)}
    assert said["CleaningUp"].startswith(f"Deleting 2 apps of {name}: "), said
    assert "Deleted" in said


def test_a_private_space_blocks_touching_nothing_until_owned_spaces_delete_allows_it(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name, lab = unique("bob"), unique("lab")
    apply(kube, shared_namespace, manifests.profile(name))
    wait_ready(kube, shared_namespace, "smup", name)
    open_studio(emulator, DOMAIN, "JupyterServer", UserProfileName=name)
    # The person made a private space in Studio (no object of ours declares it) and opened its JupyterLab.
    emulator.sagemaker_client(REGION).create_space(
        DomainId=DOMAIN,
        SpaceName=lab,
        OwnershipSettings={"OwnerUserProfileName": name},
        SpaceSharingSettings={"SharingType": "Private"},
        SpaceSettings={"AppType": "JupyterLab"},
    )
    wait_for("the space", lambda: aws_space(emulator, lab))
    open_studio(emulator, DOMAIN, "JupyterLab", SpaceName=lab)
    before = {op: calls(emulator, op) for op in ("DeleteApp", "DeleteResource")}

    kube.kubectl("delete", "smup", name, "-n", shared_namespace, "--wait=false")
    blocked = wait_for(
        "DeleteBlocked",
        lambda: (c := ready_condition(kube, shared_namespace, "smup", name)).get("reason") == "DeleteBlocked" and c,
    )
    assert f"space {lab}, owned by {name}: set spec.cleanupOnDelete.ownedSpaces: Delete" in blocked["message"]
    # touch nothing: no app, no space, no profile deleted, and the blocker said once
    assert {op: calls(emulator, op) for op in before} == before
    assert apps_of(emulator, DOMAIN, UserProfileNameEquals=name) == {"JupyterServer/default": "InService"}
    warnings = [e for e in events(kube, shared_namespace, name) if e["reason"] == "DeleteBlocked"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning", warnings

    kube.kubectl(
        "patch", "smup", name, "-n", shared_namespace, "--type=merge",
        "-p", '{"spec":{"cleanupOnDelete":{"ownedSpaces":"Delete"}}}',
    )  # fmt: skip
    wait_for("the profile's object gone", lambda: gone(kube, shared_namespace, "smup", name), timeout=90)
    assert aws_space(emulator, lab) is None and aws_profile(emulator, name) is None
    assert apps_of(emulator, DOMAIN, SpaceNameEquals=lab) == {"JupyterLab/default": "Deleted"}
    assert calls(emulator, "DeleteApp") - before["DeleteApp"] == 2


def test_a_blocked_delete_is_woken_when_the_object_it_waits_for_goes_not_by_back_off(
    kube: Kube, emulator: EmulatorProcess, own_namespace: str
) -> None:
    """With back-off of two minutes and more, only the wake can make the profile go within 30 s."""
    owner, space = unique("carol"), unique("notes")
    slow_retries = {"SMUP_RETRY_MIN": "120", "SMUP_RETRY_MAX": "300"}
    with OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[own_namespace], env=slow_retries):
        apply(kube, own_namespace, manifests.profile(owner))
        wait_ready(kube, own_namespace, "smup", owner)
        apply(kube, own_namespace, manifests.space(space, owner=owner))
        wait_ready(kube, own_namespace, "smspace", space)
        kube.kubectl("delete", "smup", owner, "-n", own_namespace, "--wait=false")
        wait_for(
            "the profile waiting for its space's object",
            lambda: "Waiting for" in ready_condition(kube, own_namespace, "smup", owner).get("message", ""),
        )
        kube.kubectl("delete", "smspace", space, "-n", own_namespace, "--timeout=60s", timeout=70)
        wait_for("the profile's object gone", lambda: gone(kube, own_namespace, "smup", owner), timeout=30)
    assert aws_profile(emulator, owner) is None


def test_sigkill_mid_clean_up_converges_with_at_most_one_repeated_delete_app(
    kube: Kube, emulator: EmulatorProcess, own_namespace: str
) -> None:
    name = unique("dave")
    apps = ["JupyterServer", "Canvas", "RStudioServerPro"]
    op = OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[own_namespace]).start()
    try:
        apply(kube, own_namespace, manifests.profile(name))
        wait_ready(kube, own_namespace, "smup", name)
        for app_type in apps:
            open_studio(emulator, DOMAIN, app_type, UserProfileName=name)
        before = calls(emulator, "DeleteApp")
        with emulator.slow_app_deletes(5):  # apps take a while to go, as in AWS: the crash lands mid-way
            kube.kubectl("delete", "smup", name, "-n", own_namespace, "--wait=false")
            wait_for("a DeleteApp sent", lambda: calls(emulator, "DeleteApp") > before, interval=0.05)
            op.kill()
            op.start()
            wait_for("the profile's object gone", lambda: gone(kube, own_namespace, "smup", name), timeout=90)
        assert aws_profile(emulator, name) is None
        assert set(apps_of(emulator, DOMAIN, UserProfileNameEquals=name).values()) == {"Deleted"}
        assert len(apps) <= calls(emulator, "DeleteApp") - before <= len(apps) + 1
    finally:
        op.stop()


def _domain(kube: Kube, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    domain = manifests.domain(name, domain_name=unique(name), **spec)
    apply(kube, namespace, domain)
    wait_ready(kube, namespace, "smdomain", name, timeout=90)
    return dict(kube.get_json("smdomain", name, "-n", namespace))


def _volumes(emulator: EmulatorProcess) -> set[str]:
    efs = emulator.efs_client(REGION)
    return {fs["FileSystemId"] for fs in efs.describe_file_systems()["FileSystems"]}


@pytest.mark.parametrize("home_efs", ["Delete", "Retain"])
def test_a_domains_home_volume_goes_only_when_asked_and_else_an_event_names_it(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str, home_efs: str
) -> None:
    name = unique("studio")
    spec = {"cleanupOnDelete": {"homeEfs": home_efs}} if home_efs == "Delete" else {}
    domain = _domain(kube, shared_namespace, name, **spec)
    domain_id = domain["status"]["identifier"]
    described = emulator.sagemaker_client(REGION).describe_domain(DomainId=domain_id)
    volume = described["HomeEfsFileSystemId"]
    assert volume in _volumes(emulator)

    kube.kubectl("delete", "smdomain", name, "-n", shared_namespace, "--timeout=90s", timeout=100)

    sagemaker = emulator.sagemaker_client(REGION)
    with pytest.raises(sagemaker.exceptions.ResourceNotFound):
        sagemaker.describe_domain(DomainId=domain_id)
    said = {e["reason"]: e["message"] for e in events(kube, shared_namespace, name)}
    if home_efs == "Delete":
        assert volume not in _volumes(emulator)
        assert calls(emulator, "DeleteDomain") >= 1
        assert "HomeVolumeRetained" not in said
    else:
        assert volume in _volumes(emulator)  # AWS's default: the users' files stay
        assert volume in said["HomeVolumeRetained"], said


def test_a_domain_with_a_profile_nobody_manages_is_blocked_naming_it_and_the_profile_is_untouched(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name, stranger = unique("studio"), unique("stranger")
    domain_id = _domain(kube, shared_namespace, name)["status"]["identifier"]
    emulator.boto3_client(REGION).create_resource(
        TypeName=PROFILE_TYPE, DesiredState=f'{{"DomainId": "{domain_id}", "UserProfileName": "{stranger}"}}'
    )
    wait_for("the stranger's profile", lambda: aws_profile(emulator, stranger, domain_id))
    kube.kubectl("delete", "smdomain", name, "-n", shared_namespace, "--wait=false")
    blocked = wait_for(
        "DeleteBlocked",
        lambda: (c := ready_condition(kube, shared_namespace, "smdomain", name)).get("reason") == "DeleteBlocked" and c,
    )
    assert f"user profile {stranger}, which no object here manages" in blocked["message"], blocked
    assert aws_profile(emulator, stranger, domain_id) is not None
    # someone deletes it in AWS: the domain goes on its own (the back-off looks again)
    emulator.boto3_client(REGION).delete_resource(TypeName=PROFILE_TYPE, Identifier=f"{stranger}|{domain_id}")
    wait_for("the domain's object gone", lambda: gone(kube, shared_namespace, "smdomain", name), timeout=90)
