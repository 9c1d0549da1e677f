"""The SageMakerUserProfile API as a real API server enforces it: schema, CEL rules, explain, columns.

No operator runs here: these tests check what the generated CRD alone accepts and refuses, with
kubectl, the way users meet it (server-side apply with strict field validation).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kube import REPO_ROOT, Kube, wait_for
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.models import ResourceStatus

pytestmark = pytest.mark.e2e

EXAMPLES = REPO_ROOT / "examples"
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: (.+)$", re.MULTILINE)
_EXPECT_CREATE = re.compile(r"^# expect-create: (.+)$", re.MULTILINE)


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def _apply(kube: Kube, namespace: str, manifest: dict[str, Any] | str, check: bool = True) -> Any:
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    return kube.kubectl(
        "apply",
        "--server-side",
        "--validate=strict",
        "--field-manager=e2e",
        "-n",
        namespace,
        "-f",
        "-",
        input=text,
        check=check,
    )


def _get(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    got: dict[str, Any] = kube.get_json("smup", name, "-n", namespace)
    return got


def test_crd_is_established_with_the_contracted_names(crd: Kube) -> None:
    got = crd.get_json("crd", PROFILE.crd_name)
    conditions = {c["type"]: c["status"] for c in got["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions.get("NamesAccepted") == "True"
    names = got["status"]["acceptedNames"]
    assert names["kind"] == "SageMakerUserProfile"
    assert names["shortNames"] == ["smup"]
    assert set(names["categories"]) == {"aws", "sagemaker"}


@pytest.mark.parametrize("example", ["minimal.yaml", "full.yaml"])
def test_valid_examples_are_accepted_as_written(crd: Kube, namespace: str, example: str) -> None:
    manifest = _load(EXAMPLES / example)
    _apply(crd, namespace, manifest)
    got = _get(crd, namespace, manifest["metadata"]["name"])
    defaults = {
        "deletionPolicy": "Delete",
        "managementPolicy": "Manage",
        "adoptionPolicy": "Never",
        "cleanupOnDelete": {"apps": "Delete", "ownedSpaces": "Block"},
    }
    # nothing pruned, nothing changed: only the operator fields' defaults were added
    assert got["spec"] == {**defaults, **manifest["spec"]}


def test_examples_are_found_by_category(crd: Kube, namespace: str) -> None:
    _apply(crd, namespace, _load(EXAMPLES / "minimal.yaml"))
    for resource in ("aws", "sagemaker", "smup", "sagemakeruserprofiles.sagemaker.awscc.dev"):
        out = crd.kubectl("get", resource, "-n", namespace, "-o", "name").stdout
        assert "sagemakeruserprofile.sagemaker.awscc.dev/alice" in out, resource


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_example_is_refused_with_its_message(crd: Kube, namespace: str, path: Path) -> None:
    text = path.read_text()
    expect = _EXPECT.search(text)
    assert expect, f"{path.name} lacks an '# expect:' line"
    proc = _apply(crd, namespace, text, check=False)
    assert proc.returncode != 0, f"{path.name} was accepted"
    assert expect.group(1).strip() in proc.stderr


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_example_is_refused_by_a_plain_create_too(crd: Kube, namespace: str, path: Path) -> None:
    text = path.read_text()
    expect = _EXPECT_CREATE.search(text) or _EXPECT.search(text)
    assert expect
    proc = crd.kubectl("create", "--validate=strict", "-n", namespace, "-f", str(path), check=False)
    assert proc.returncode != 0, f"{path.name} was accepted"
    assert expect.group(1).strip() in proc.stderr


# (camelCase path under spec, a different valid value)
IMMUTABLE_CHANGES: list[tuple[str, Any]] = [
    ("domainId", "d-zzzzzz999999"),
    ("userProfileName", "robert"),
    ("singleSignOnUserIdentifier", "UserNameAlias"),
    ("singleSignOnUserValue", "robert@example.com"),
    ("userSettings.rStudioServerProAppSettings.accessStatus", "DISABLED"),
    ("userSettings.rStudioServerProAppSettings.userGroup", "R_STUDIO_ADMIN"),
    ("region", "eu-west-1"),
]


def _set(document: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = document
    for name in parents:
        node = node.setdefault(name, {})
    if value is _REMOVE:
        node.pop(leaf)
    else:
        node[leaf] = value


_REMOVE = object()


@pytest.fixture
def full_object(crd: Kube, namespace: str) -> dict[str, Any]:
    manifest = _load(EXAMPLES / "full.yaml")
    _apply(crd, namespace, manifest)
    return manifest


@pytest.mark.parametrize(("field", "value"), IMMUTABLE_CHANGES, ids=[f for f, _ in IMMUTABLE_CHANGES])
def test_changing_an_immutable_field_is_refused(
    crd: Kube, namespace: str, full_object: dict[str, Any], field: str, value: Any
) -> None:
    changed = copy.deepcopy(full_object)
    _set(changed["spec"], field, value)
    proc = _apply(crd, namespace, changed, check=False)
    assert proc.returncode != 0, f"changing {field} was accepted"
    assert f"{field} is immutable" in proc.stderr
    # the stored object is untouched
    assert _get(crd, namespace, full_object["metadata"]["name"])["spec"]["domainId"] == "d-abcdef123456"


OPTIONAL_IMMUTABLE = [f for f, _ in IMMUTABLE_CHANGES if f not in ("domainId", "userProfileName")]


@pytest.mark.parametrize("field", OPTIONAL_IMMUTABLE)
def test_removing_an_optional_immutable_field_is_refused(
    crd: Kube, namespace: str, full_object: dict[str, Any], field: str
) -> None:
    changed = copy.deepcopy(full_object)
    _set(changed["spec"], field, _REMOVE)
    if field.startswith("singleSignOn"):  # the pair rule would refuse a lone removal anyway
        changed["spec"].pop("singleSignOnUserIdentifier", None)
        changed["spec"].pop("singleSignOnUserValue", None)
    proc = _apply(crd, namespace, changed, check=False)
    assert proc.returncode != 0, f"removing {field} was accepted"
    assert f"{field} is immutable" in proc.stderr


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("region", "us-east-1"),
        ("userSettings.rStudioServerProAppSettings.accessStatus", "ENABLED"),
        ("userSettings.rStudioServerProAppSettings.userGroup", "R_STUDIO_USER"),
    ],
)
def test_adding_an_optional_immutable_field_later_is_refused(crd: Kube, namespace: str, field: str, value: Any) -> None:
    manifest = _load(EXAMPLES / "minimal.yaml")
    _apply(crd, namespace, manifest)
    _set(manifest["spec"], field, value)
    proc = _apply(crd, namespace, manifest, check=False)
    assert proc.returncode != 0, f"adding {field} was accepted"
    assert f"{field} is immutable" in proc.stderr


def test_adding_the_single_sign_on_pair_later_is_refused(crd: Kube, namespace: str) -> None:
    manifest = _load(EXAMPLES / "minimal.yaml")
    _apply(crd, namespace, manifest)
    manifest["spec"].update(singleSignOnUserIdentifier="UserName", singleSignOnUserValue="alice")
    proc = _apply(crd, namespace, manifest, check=False)
    assert proc.returncode != 0
    assert "singleSignOnUserIdentifier is immutable" in proc.stderr
    assert "singleSignOnUserValue is immutable" in proc.stderr


def test_mutable_fields_can_change(crd: Kube, namespace: str, full_object: dict[str, Any]) -> None:
    changed = copy.deepcopy(full_object)
    spec = changed["spec"]
    spec["deletionPolicy"] = "Delete"
    spec["managementPolicy"] = "ObserveOnly"
    spec["userSettings"]["executionRole"] = "arn:aws:iam::123456789012:role/AnotherRole"
    spec["userSettings"]["securityGroups"] = ["sg-0aaaaaaaaaaaaaaaa"]
    del spec["userSettings"]["jupyterLabAppSettings"]
    spec["tags"] = [{"key": "team", "value": "research"}]
    _apply(crd, namespace, changed)
    got = _get(crd, namespace, changed["metadata"]["name"])["spec"]
    assert got["userSettings"]["executionRole"].endswith("role/AnotherRole")
    assert "jupyterLabAppSettings" not in got["userSettings"]
    assert got["tags"] == [{"key": "team", "value": "research"}]


def test_explain_shows_descriptions(crd: Kube) -> None:
    def explained() -> str | None:
        proc = crd.kubectl("explain", "smup.spec.userSettings.jupyterLabAppSettings", check=False)
        return proc.stdout if proc.returncode == 0 else None

    out = wait_for("kubectl explain to know the CRD", explained, timeout=60)
    assert "The JupyterLab app settings." in out
    for field in (
        "appLifecycleManagement",
        "codeRepositories",
        "customImages",
        "defaultResourceSpec",
        "emrSettings",
        "lifecycleConfigArns",
        "builtInLifecycleConfigArn",
    ):
        assert field in out
    deeper = crd.kubectl("explain", "smup.spec.userSettings.jupyterLabAppSettings.appLifecycleManagement.idleSettings")
    assert "Idle shutdown" in deeper.stdout
    assert "idleTimeoutInMinutes" in deeper.stdout
    top = crd.kubectl("explain", "smup.spec").stdout
    for field in (
        "domainId",
        "userProfileName",
        "deletionPolicy",
        "managementPolicy",
        "adoptionPolicy",
        "region",
    ):
        assert field in top


def test_status_round_trips_through_the_status_subresource(crd: Kube, namespace: str) -> None:
    manifest = _load(EXAMPLES / "minimal.yaml")
    _apply(crd, namespace, manifest)
    status = ResourceStatus.from_status(
        {
            "observedGeneration": 1,
            "arn": "arn:aws:sagemaker:us-east-1:123456789012:user-profile/d-abcdef123456/alice",
            "identifier": "alice|d-abcdef123456",
            "region": "us-east-1",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Available",
                    "message": "InService",
                    "lastTransitionTime": "2025-01-02T03:04:05Z",
                    "observedGeneration": 1,
                },
                {
                    "type": "Synced",
                    "status": "True",
                    "reason": "ReconcileSuccess",
                    "lastTransitionTime": "2025-01-02T03:04:05Z",
                    "observedGeneration": 1,
                },
            ],
            "operation": {
                "type": "UPDATE",
                "requestToken": "req-1",
                "clientToken": "tok-1",
                "generation": 1,
                "startedAt": "2025-01-02T03:04:05Z",
            },
            "lastSyncTime": "2025-01-02T03:04:05Z",
            "lastDriftCheckTime": "2025-01-02T03:04:05Z",
            "driftDetected": False,
            "failedGeneration": 1,
            "awsState": {"userProfileName": "alice", "userSettings": {"executionRole": "x"}},
        }
    )
    patch = status.to_patch()
    patch["kopf"] = {"progress": {"handler": {"retries": 1}}}
    patch["notDeclared"] = "pruned"
    crd.kubectl(
        "patch",
        "smup",
        "alice",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": patch}),
    )
    got = _get(crd, namespace, "alice")["status"]
    expected = {k: v for k, v in patch.items() if k != "notDeclared"}
    assert got == expected
    # clearing the finished operation
    clear = ResourceStatus().to_patch(clear=["operation"])
    crd.kubectl(
        "patch",
        "smup",
        "alice",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": clear}),
    )
    assert "operation" not in _get(crd, namespace, "alice")["status"]


def test_status_refuses_bad_condition_status(crd: Kube, namespace: str) -> None:
    _apply(crd, namespace, _load(EXAMPLES / "minimal.yaml"))
    proc = crd.kubectl(
        "patch",
        "smup",
        "alice",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"conditions": [{"type": "Ready", "status": "Yes"}]}}),
        check=False,
    )
    assert proc.returncode != 0
    assert 'Unsupported value: "Yes"' in proc.stderr


def test_get_shows_the_printer_columns(crd: Kube, namespace: str) -> None:
    _apply(crd, namespace, _load(EXAMPLES / "minimal.yaml"))
    status = {
        "region": "us-east-1",
        "domainId": "d-abcdef123456",  # the domain in use, as the operator writes it (DOMAIN reads it)
        "arn": "arn:aws:sagemaker:us-east-1:123456789012:user-profile/d-abcdef123456/alice",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Available"},
            {"type": "Synced", "status": "False", "reason": "ReconcileError"},
        ],
    }
    crd.kubectl(
        "patch",
        "smup",
        "alice",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    lines = crd.kubectl("get", "smup", "-n", namespace).stdout.splitlines()
    assert lines[0].split() == ["NAME", "PROFILE", "DOMAIN", "REGION", "READY", "SYNCED", "AGE"]
    assert lines[1].split()[:6] == ["alice", "alice", "d-abcdef123456", "us-east-1", "True", "False"]
    wide = crd.kubectl("get", "smup", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "PROFILE", "DOMAIN", "REGION", "READY", "SYNCED", "AGE", "ARN"]
    assert wide[1].split()[-1] == status["arn"]
