"""The reconciler end to end: real API server, the operator as a subprocess, the Cloud Control emulator.

Each test uses its own profile names, so the shared emulator needs no reset between tests; AWS-side
facts are read from the emulator's admin API (`resources`, `requests`, `stats`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.e2e.conftest import DOMAIN, OTHER_REGION, REGION
from tests.support import manifests
from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube, wait_for
from userprofile_operator.settings import OWNER_TAG_KEY

ROLE_A = "arn:aws:iam::123456789012:role/team-a"
ROLE_B = "arn:aws:iam::123456789012:role/team-b"


def unique(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def manifest(name: str, profile: str | None = None, annotations: dict[str, str] | None = None, **spec: Any) -> str:
    """The object as JSON text, without a namespace (`apply` gives it)."""
    return json.dumps(manifests.profile(name, user_profile_name=profile, annotations=annotations, **spec))


def apply(kube: Kube, namespace: str, text: str) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=text)


def wait_ready(kube: Kube, namespace: str, name: str, timeout: int = 60) -> dict[str, Any]:
    kube.kubectl(
        "wait", "--for=condition=Ready", f"smup/{name}", "-n", namespace, f"--timeout={timeout}s", timeout=timeout + 10
    )
    obj: dict[str, Any] = kube.get_json("smup", name, "-n", namespace)
    return obj


def wait_condition(
    kube: Kube, namespace: str, name: str, type_: str, status: str, reason: str | None = None, timeout: float = 60
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        obj = kube.get_json("smup", name, "-n", namespace)
        cond = kube.condition(obj, type_)
        if cond and cond["status"] == status and (reason is None or cond.get("reason") == reason):
            return dict(obj)
        return None

    return wait_for(f"{namespace}/{name} {type_}={status} {reason or ''}", probe, timeout)


def profile(emulator: EmulatorProcess, name: str, region: str = REGION) -> dict[str, Any] | None:
    for item in emulator.resources(region):
        if item["Identifier"] == f"{name}|{DOMAIN}":
            return dict(item["Properties"])
    return None


def tags(props: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in props.get("Tags", [])}


def requests_for(emulator: EmulatorProcess, name: str, operation: str, region: str = REGION) -> list[dict[str, Any]]:
    identifier = f"{name}|{DOMAIN}"
    return [
        r
        for r in emulator.requests(region)
        if r.get("Operation") == operation
        and (r.get("Identifier") == identifier or identifier in (r.get("ResourceModel") or ""))
    ]


def console_profile(emulator: EmulatorProcess, name: str, role: str | None = None) -> None:
    """A profile made outside Kubernetes (as in the console), with no ownership tag."""
    state: dict[str, Any] = {"DomainId": DOMAIN, "UserProfileName": name}
    if role:
        state["UserSettings"] = {"ExecutionRole": role}
    emulator.oob_create(REGION, state)


def events(kube: Kube, namespace: str, name: str) -> list[dict[str, Any]]:
    items = kube.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]
    return list(items)


# ------------------------------------------------------------------------------------------------


def test_create_reports_ready_with_arn_identifier_and_region(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique()
    apply(
        kube,
        shared_namespace,
        manifest(
            name,
            userSettings={"executionRole": "arn:aws:iam::123456789012:role/x"},
            tags=[{"key": "team", "value": "ml"}],
        ),
    )
    obj = wait_ready(kube, shared_namespace, name)
    status = obj["status"]
    assert status["arn"] == f"arn:aws:sagemaker:{REGION}:123456789012:user-profile/{DOMAIN}/{name}"
    assert status["identifier"] == f"{name}|{DOMAIN}"
    assert status["region"] == REGION
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert kube.condition(obj, "Synced")["status"] == "True"  # type: ignore[index]
    props = profile(emulator, name)
    assert props is not None
    assert props["UserSettings"]["ExecutionRole"] == "arn:aws:iam::123456789012:role/x"
    assert tags(props) == {"team": "ml", OWNER_TAG_KEY: f"kubernetes/{shared_namespace}/{name}"}
    assert len(requests_for(emulator, name, "CREATE")) == 1
    assert any(e["reason"] == "Created" for e in events(kube, shared_namespace, name))


def test_update_patches_fields_and_tags_without_fighting_aws_defaults(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique()
    apply(kube, shared_namespace, manifest(name, tags=[{"key": "team", "value": "ml"}]))
    wait_ready(kube, shared_namespace, name)
    # AWS filled in defaults the user never set; they must not cause updates.
    assert profile(emulator, name)["UserSettings"]["StudioWebPortal"] == "ENABLED"  # type: ignore[index]
    assert requests_for(emulator, name, "UPDATE") == []

    apply(
        kube,
        shared_namespace,
        manifest(
            name,
            userSettings={"executionRole": "arn:aws:iam::123456789012:role/new"},
            tags=[{"key": "team", "value": "research"}, {"key": "cost", "value": "42"}],
        ),
    )
    obj = wait_for(
        "generation 2 reconciled",
        lambda: (
            o
            if (o := kube.get_json("smup", name, "-n", shared_namespace))["status"].get("observedGeneration") == 2
            and kube.condition(o, "Ready")["status"] == "True"
            else None
        ),
    )  # type: ignore[index]
    assert obj["status"]["observedGeneration"] == 2
    props = profile(emulator, name)
    assert props is not None
    assert props["UserSettings"]["ExecutionRole"] == "arn:aws:iam::123456789012:role/new"
    assert props["UserSettings"]["StudioWebPortal"] == "ENABLED"
    assert tags(props) == {"team": "research", "cost": "42", OWNER_TAG_KEY: f"kubernetes/{shared_namespace}/{name}"}
    assert len(requests_for(emulator, name, "UPDATE")) == 1

    # Removing a field the user had set removes it in AWS.
    apply(kube, shared_namespace, manifest(name, tags=[{"key": "team", "value": "research"}]))
    wait_for("execution role removed", lambda: "ExecutionRole" not in profile(emulator, name)["UserSettings"])  # type: ignore[index]
    assert tags(profile(emulator, name)) == {  # type: ignore[arg-type]
        "team": "research",
        OWNER_TAG_KEY: f"kubernetes/{shared_namespace}/{name}",
    }


def test_delete_removes_the_profile_and_retain_keeps_it(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    gone, kept = unique("gone"), unique("kept")
    apply(kube, shared_namespace, manifest(gone))
    apply(kube, shared_namespace, manifest(kept, deletionPolicy="Retain"))
    wait_ready(kube, shared_namespace, gone)
    wait_ready(kube, shared_namespace, kept)
    kube.kubectl("delete", "smup", gone, kept, "-n", shared_namespace, "--timeout=60s", timeout=70)
    assert profile(emulator, gone) is None
    assert profile(emulator, kept) is not None
    assert kube.kubectl("get", "smup", "-n", shared_namespace, "-o", "name").stdout.strip() == ""


def test_delete_of_a_profile_already_gone_releases_the_object(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique()
    apply(kube, shared_namespace, manifest(name))
    wait_ready(kube, shared_namespace, name)
    emulator.oob_delete(REGION, f"{name}|{DOMAIN}")
    kube.kubectl("delete", "smup", name, "-n", shared_namespace, "--timeout=60s", timeout=70)


def test_existing_unowned_profile_is_not_taken_until_adopt(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique()
    console_profile(emulator, name, "arn:aws:iam::123456789012:role/console")
    apply(kube, shared_namespace, manifest(name))
    obj = wait_condition(kube, shared_namespace, name, "Ready", "False", "AlreadyExists")
    assert "adoptionPolicy: Adopt" in kube.condition(obj, "Ready")["message"]  # type: ignore[index]
    assert OWNER_TAG_KEY not in tags(profile(emulator, name))  # type: ignore[arg-type]

    apply(kube, shared_namespace, manifest(name, adoptionPolicy="Adopt"))
    wait_condition(kube, shared_namespace, name, "Ready", "True")
    props = profile(emulator, name)
    assert props is not None
    assert tags(props)[OWNER_TAG_KEY] == f"kubernetes/{shared_namespace}/{name}"
    # Adopting kept what the spec does not say (the console's execution role).
    assert props["UserSettings"]["ExecutionRole"] == "arn:aws:iam::123456789012:role/console"
    assert len(requests_for(emulator, name, "UPDATE")) == 1


def test_two_objects_declaring_one_profile_conflict_and_neither_deletes_the_other(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique()
    apply(kube, shared_namespace, manifest(name))
    wait_ready(kube, shared_namespace, name)
    apply(kube, shared_namespace, manifest(f"{name}-twin", profile=name, adoptionPolicy="Adopt"))
    obj = wait_condition(kube, shared_namespace, f"{name}-twin", "Ready", "False", "Conflict")
    assert f"{shared_namespace}/{name}" in kube.condition(obj, "Ready")["message"]  # type: ignore[index]
    kube.kubectl("delete", "smup", f"{name}-twin", "-n", shared_namespace, "--timeout=60s", timeout=70)
    props = profile(emulator, name)
    assert props is not None
    assert tags(props)[OWNER_TAG_KEY] == f"kubernetes/{shared_namespace}/{name}"
    assert requests_for(emulator, name, "DELETE") == []


def test_drift_in_a_field_the_user_set_is_corrected(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique()
    apply(
        kube,
        shared_namespace,
        manifest(
            name,
            annotations={"sagemaker.awscc.dev/drift-interval": "1s"},
            userSettings={"executionRole": "arn:aws:iam::123456789012:role/x"},
        ),
    )
    wait_ready(kube, shared_namespace, name)
    emulator.oob_patch(
        REGION,
        f"{name}|{DOMAIN}",
        [
            {"op": "replace", "path": "/UserSettings/ExecutionRole", "value": "arn:aws:iam::123456789012:role/console"},
            {"op": "replace", "path": "/UserSettings/StudioWebPortal", "value": "DISABLED"},
        ],
    )
    wait_for(
        "drift corrected",
        lambda: (
            profile(emulator, name)["UserSettings"]["ExecutionRole"]  # type: ignore[index]
            == "arn:aws:iam::123456789012:role/x"
        ),
        timeout=30,
    )
    # A field the user never set is AWS's business: left as the console made it.
    assert profile(emulator, name)["UserSettings"]["StudioWebPortal"] == "DISABLED"  # type: ignore[index]
    wait_for(
        "DriftDetected event", lambda: any(e["reason"] == "DriftDetected" for e in events(kube, shared_namespace, name))
    )


def test_profile_deleted_out_of_band_is_recreated(kube: Kube, emulator: EmulatorProcess, shared_namespace: str) -> None:
    name = unique()
    apply(kube, shared_namespace, manifest(name, annotations={"sagemaker.awscc.dev/drift-interval": "1s"}))
    wait_ready(kube, shared_namespace, name)
    emulator.oob_delete(REGION, f"{name}|{DOMAIN}")
    wait_for("profile re-created", lambda: profile(emulator, name), timeout=30)
    assert len(requests_for(emulator, name, "CREATE")) == 2
    wait_condition(kube, shared_namespace, name, "Ready", "True")


def test_observe_only_reports_drift_and_never_writes(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique()
    console_profile(emulator, name, "arn:aws:iam::123456789012:role/x")
    apply(
        kube,
        shared_namespace,
        manifest(
            name,
            managementPolicy="ObserveOnly",
            annotations={"sagemaker.awscc.dev/drift-interval": "1s"},
            userSettings={"executionRole": "arn:aws:iam::123456789012:role/x"},
        ),
    )
    obj = wait_ready(kube, shared_namespace, name)
    assert obj["status"]["arn"].endswith(f"/{DOMAIN}/{name}")
    emulator.oob_patch(
        REGION,
        f"{name}|{DOMAIN}",
        [{"op": "replace", "path": "/UserSettings/ExecutionRole", "value": "arn:aws:iam::123456789012:role/console"}],
    )
    obj = wait_condition(kube, shared_namespace, name, "Ready", "False", "Drifted")
    assert "/UserSettings/ExecutionRole" in kube.condition(obj, "Ready")["message"]  # type: ignore[index]
    emulator.oob_delete(REGION, f"{name}|{DOMAIN}")
    wait_condition(kube, shared_namespace, name, "Ready", "False", "NotFound")
    kube.kubectl("delete", "smup", name, "-n", shared_namespace, "--timeout=60s", timeout=70)
    assert all(not requests_for(emulator, name, op) for op in ("CREATE", "UPDATE", "DELETE"))


def test_terminal_error_is_reported_once_and_not_retried_until_the_spec_changes(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique()
    apply(kube, shared_namespace, manifest(name, domainId="d-doesnotexist"))
    obj = wait_condition(kube, shared_namespace, name, "Ready", "False", "NotFound")
    assert "d-doesnotexist" in kube.condition(obj, "Ready")["message"]  # type: ignore[index]
    assert kube.condition(obj, "Synced")["status"] == "False"  # type: ignore[index]
    assert obj["status"]["observedGeneration"] == 1
    warnings = [e for e in events(kube, shared_namespace, name) if e["type"] == "Warning"]
    assert warnings and "d-doesnotexist" in warnings[0]["message"]
    # A later object in the same namespace is handled completely; the failed one was not retried.
    later = unique()
    apply(kube, shared_namespace, manifest(later))
    wait_ready(kube, shared_namespace, later)
    creates = [
        r for r in emulator.requests(REGION) if r.get("Operation") == "CREATE" and "d-doesnotexist" in json.dumps(r)
    ]
    assert len(creates) == 1


def test_namespace_default_region_is_used(kube: Kube, emulator: EmulatorProcess, operator: Any) -> None:
    namespace = f"shared-{uuid.uuid4().hex[:10]}"
    kube.create_namespace(namespace, {"sagemaker.awscc.dev/default-region": OTHER_REGION})
    name = unique()
    apply(kube, namespace, manifest(name))
    obj = wait_ready(kube, namespace, name)
    assert obj["status"]["region"] == OTHER_REGION
    assert profile(emulator, name, OTHER_REGION) is not None
    assert profile(emulator, name, REGION) is None


def test_switching_from_observe_only_to_manage_does_not_take_over_without_adopt(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    name = unique()
    console_profile(emulator, name)
    apply(kube, shared_namespace, manifest(name, managementPolicy="ObserveOnly"))
    wait_ready(kube, shared_namespace, name)
    apply(kube, shared_namespace, manifest(name, managementPolicy="Manage"))
    wait_condition(kube, shared_namespace, name, "Ready", "False", "AlreadyExists")
    assert OWNER_TAG_KEY not in tags(profile(emulator, name))  # type: ignore[arg-type]
    apply(kube, shared_namespace, manifest(name, managementPolicy="Manage", adoptionPolicy="Adopt"))
    wait_condition(kube, shared_namespace, name, "Ready", "True", "Available")
    assert OWNER_TAG_KEY in tags(profile(emulator, name))  # type: ignore[arg-type]
