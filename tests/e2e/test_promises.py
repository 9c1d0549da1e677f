"""Promises the unit tests prove, kept end to end: a reference that comes to name another parent
(`ReferenceChanged`), a domain adopted by its name, and `list` / `get` / `import --kind smspace`.

Against the real API server, the session's emulator and its operator (which watches `shared-*`).
Each test works in a domain of its own, so what other tests make never counts, and leaves nothing
behind that an operator would still act on.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.e2e.test_inventory import cli
from tests.support import manifests
from tests.support.emulator import EmulatorAdminError, EmulatorProcess
from tests.support.kube import Kube, wait_for
from tests.support.manifests import REGION
from tests.support.operator import OperatorProcess
from userprofile_operator.plan import owner_tag_value
from userprofile_operator.settings import OWNER_TAG_KEY

DOMAIN_TYPE = "AWS::SageMaker::Domain"
PROFILE_TYPE = "AWS::SageMaker::UserProfile"
SPACE_TYPE = "AWS::SageMaker::Space"
CLUSTER = "kubernetes"  # the operator's and the CLI's default cluster name


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _apply(kube: Kube, namespace: str, *documents: dict[str, Any]) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", "-", input="\n---\n".join(json.dumps(d) for d in documents))


def _get(kube: Kube, short_name: str, name: str, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = kube.get_json(short_name, name, "-n", namespace)
    return found


def _ready(
    kube: Kube, short_name: str, name: str, namespace: str, reason: str = "Available", timeout: float = 90
) -> dict[str, Any]:
    """Wait for Ready with `reason` at the object's current generation; the object."""

    def probe() -> dict[str, Any] | None:
        obj = _get(kube, short_name, name, namespace)
        cond = kube.condition(obj, "Ready") or {}
        current = cond.get("observedGeneration") == obj["metadata"]["generation"]
        return obj if cond.get("reason") == reason and current else None

    return wait_for(f"{short_name}/{name} Ready reason {reason}", probe, timeout=timeout)


def _resources(emulator: EmulatorProcess, type_name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = emulator.admin("GET", f"/_emulator/resources?Region={REGION}&TypeName={type_name}")[
        "Resources"
    ]
    return found


def _requests(emulator: EmulatorProcess, type_name: str) -> list[dict[str, Any]]:
    return [r for r in emulator.requests(REGION) if r.get("TypeName") == type_name]


def _events(kube: Kube, namespace: str, name: str) -> list[tuple[str, str]]:
    items = kube.get_json("events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]
    return [(e["reason"], e["message"]) for e in items]


def _release(kube: Kube, short_name: str, name: str, namespace: str) -> None:
    """Delete the object and leave its AWS resource (deletionPolicy: Retain)."""
    retain = '{"spec":{"deletionPolicy":"Retain"}}'
    kube.kubectl("patch", short_name, name, "-n", namespace, "--type=merge", "-p", retain)
    kube.kubectl("delete", short_name, name, "-n", namespace, "--timeout=60s", timeout=70)


def _domain_in_aws(emulator: EmulatorProcess, domain_name: str) -> str:
    """A domain made outside the cluster (as in the console); its id."""
    desired = {
        "DomainName": domain_name,
        "AuthMode": "IAM",
        "VpcId": "vpc-0123456789abcdef0",
        "SubnetIds": ["subnet-0123456789abcdef0"],
        "DefaultUserSettings": {"ExecutionRole": manifests.STUDIO_EXECUTION_ROLE},
    }
    body = {"Region": REGION, "TypeName": DOMAIN_TYPE, "DesiredState": desired}
    identifier: str = emulator.admin("POST", "/_emulator/resources/create", body)["Identifier"]
    return identifier


# ---------------------------------------------------------------------------------- adoption by name


def test_a_domain_that_exists_in_aws_is_adopted_by_its_name_not_created_again(
    kube: Kube, emulator: EmulatorProcess, operator: OperatorProcess, shared_namespace: str
) -> None:
    name = _unique("adopted")
    domain_id = _domain_in_aws(emulator, name)
    _apply(kube, shared_namespace, manifests.domain("studio", domain_name=name, adoptionPolicy="Adopt"))

    adopted = _ready(kube, "smdomain", "studio", shared_namespace)
    assert adopted["status"]["identifier"] == domain_id
    creates = [
        r
        for r in _requests(emulator, DOMAIN_TYPE)
        if r["Operation"] == "CREATE" and r["DesiredState"]["DomainName"] == name
    ]
    assert creates == []
    assert [d["Identifier"] for d in _resources(emulator, DOMAIN_TYPE) if d["Properties"]["DomainName"] == name] == [
        domain_id
    ]
    ((stored,),) = [[d["Properties"] for d in _resources(emulator, DOMAIN_TYPE) if d["Identifier"] == domain_id]]
    owner = owner_tag_value(CLUSTER, shared_namespace, "studio")
    assert {"Key": OWNER_TAG_KEY, "Value": owner} in stored["Tags"]
    assert ("Adopting", f"Taking over the existing domain {domain_id}") in _events(kube, shared_namespace, "studio")

    # Now ours: deleting the object deletes the domain in AWS.
    kube.kubectl("delete", "smdomain", "studio", "-n", shared_namespace, "--timeout=60s", timeout=70)
    assert [d for d in _resources(emulator, DOMAIN_TYPE) if d["Identifier"] == domain_id] == []


# ------------------------------------------------------------------------------- ReferenceChanged


# The operator's drift checks come every 10 minutes here (its default): each wait below is far shorter, so
# what the profile does, it does because the domain object's change woke it.
PROMPTLY = 30


def _reference_changed(kube: Kube, emulator: EmulatorProcess, ns: str) -> tuple[str, str]:
    """A profile Ready in the domain its `domainIdRef` names; that SageMakerDomain object released and made
    again for another AWS domain. Waits for the profile's ReferenceChanged; (first, second) domain ids."""
    first_name, second_name = _unique("first"), _unique("second")
    _apply(kube, ns, manifests.domain("studio", domain_name=first_name))
    first = _ready(kube, "smdomain", "studio", ns)["status"]["identifier"]
    profile = {
        "apiVersion": manifests.API_VERSION,
        "kind": manifests.KIND,
        "metadata": {"name": "erin"},
        "spec": {"domainIdRef": {"name": "studio"}, "userProfileName": "erin"},
    }
    _apply(kube, ns, profile)
    assert _ready(kube, "smup", "erin", ns)["status"]["identifier"] == f"erin|{first}"
    _release(kube, "smdomain", "studio", ns)
    _apply(kube, ns, manifests.domain("studio", domain_name=second_name))
    second: str = _ready(kube, "smdomain", "studio", ns)["status"]["identifier"]
    assert second != first
    # A Ready profile is woken by its domain object's new identifier: no drift check needed.
    _ready(kube, "smup", "erin", ns, reason="ReferenceChanged", timeout=PROMPTLY)
    return first, second


def _clean_up(kube: Kube, emulator: EmulatorProcess, ns: str, first: str, second: str) -> None:
    """Release whatever objects are left and delete what they made in AWS, so no operator acts on it."""
    for short_name, name in (("smup", "erin"), ("smdomain", "studio")):
        if kube.kubectl("get", short_name, name, "-n", ns, check=False).returncode == 0:
            _release(kube, short_name, name, ns)
    for type_name, identifier in ((PROFILE_TYPE, f"erin|{first}"), (DOMAIN_TYPE, first), (DOMAIN_TYPE, second)):
        body = {"Region": REGION, "TypeName": type_name, "Identifier": identifier}
        with contextlib.suppress(EmulatorAdminError):  # gone already
            emulator.admin("POST", "/_emulator/resources/delete", body)


@dataclass
class Changed:
    """A profile `erin` in ReferenceChanged, in namespace `ns`: it manages a profile in domain `first`, its
    reference now names `second`."""

    ns: str
    first: str
    second: str


@pytest.fixture
def changed(
    kube: Kube, emulator: EmulatorProcess, operator: OperatorProcess, shared_namespace: str
) -> Iterator[Changed]:
    first, second = _reference_changed(kube, emulator, shared_namespace)
    try:
        yield Changed(shared_namespace, first, second)
    finally:
        _clean_up(kube, emulator, shared_namespace, first, second)


def test_a_reference_that_comes_to_name_another_domain_is_refused_and_changes_nothing_in_aws(
    kube: Kube, emulator: EmulatorProcess, changed: Changed
) -> None:
    ns, first, second = changed.ns, changed.first, changed.second
    erin = _get(kube, "smup", "erin", ns)
    ready = kube.condition(erin, "Ready") or {}
    assert ready["status"] == "False"
    assert ready["message"] == (
        f"The spec now resolves to user profile erin|{second}, but this object manages erin|{first}; the "
        "identifier is create-only. Point the reference back, or delete this object and create a new one."
    )
    assert (kube.condition(erin, "Synced") or {}).get("reason") == "ReferenceChanged"
    assert erin["status"]["identifier"] == f"erin|{first}"
    assert any(reason == "ReferenceChanged" for reason, _ in _events(kube, ns, "erin"))
    # Nothing in AWS moved: the profile is where it was (its one create, nothing since), none in the other.
    profiles = {p["Identifier"] for p in _resources(emulator, PROFILE_TYPE)}
    assert f"erin|{first}" in profiles and f"erin|{second}" not in profiles
    erins = [(r["Operation"], r["Identifier"]) for r in _requests(emulator, PROFILE_TYPE) if "erin|" in r["Identifier"]]
    assert (erins[-1], f"erin|{second}" in json.dumps(erins)) == (("CREATE", f"erin|{first}"), False)


def test_pointing_the_reference_back_makes_the_profile_ready_again(
    kube: Kube, emulator: EmulatorProcess, changed: Changed
) -> None:
    _release(kube, "smdomain", "studio", changed.ns)
    name = _domain_name(emulator, changed.first)
    _apply(kube, changed.ns, manifests.domain("studio", domain_name=name, adoptionPolicy="Adopt"))
    assert _ready(kube, "smdomain", "studio", changed.ns)["status"]["identifier"] == changed.first
    # No spec change: the profile's generation is the one that turned ReferenceChanged.
    generation = _get(kube, "smup", "erin", changed.ns)["metadata"]["generation"]
    erin = _ready(kube, "smup", "erin", changed.ns, timeout=PROMPTLY)
    assert erin["metadata"]["generation"] == generation
    assert (kube.condition(erin, "Synced") or {}).get("reason") == "ReconcileSuccess"
    assert erin["status"]["identifier"] == f"erin|{changed.first}"
    assert "failedGeneration" not in erin["status"]
    # Nothing was made or moved in AWS for it: still its one profile, in the first domain.
    mine = {f"erin|{changed.first}", f"erin|{changed.second}"}  # other tests' erins live in other domains
    erins = [(r["Operation"], r["Identifier"]) for r in _requests(emulator, PROFILE_TYPE) if r["Identifier"] in mine]
    assert erins == [("CREATE", f"erin|{changed.first}")]


def test_deleting_a_profile_whose_reference_changed_deletes_the_profile_it_manages(
    kube: Kube, emulator: EmulatorProcess, changed: Changed
) -> None:
    kube.kubectl("delete", "smup", "erin", "-n", changed.ns, "--timeout=60s", timeout=70)
    assert f"erin|{changed.first}" not in {p["Identifier"] for p in _resources(emulator, PROFILE_TYPE)}
    deletes = [r["Identifier"] for r in _requests(emulator, PROFILE_TYPE) if r["Operation"] == "DELETE"]
    assert f"erin|{changed.first}" in deletes and f"erin|{changed.second}" not in deletes
    said = ("Deleted", f"Deleted user profile erin|{changed.first}")
    wait_for("the Deleted Event", lambda: said in _events(kube, changed.ns, "erin") or None, timeout=PROMPTLY)


def _domain_name(emulator: EmulatorProcess, domain_id: str) -> str:
    """The DomainName of an AWS domain."""
    (name,) = [d["Properties"]["DomainName"] for d in _resources(emulator, DOMAIN_TYPE) if d["Identifier"] == domain_id]
    return str(name)


# ------------------------------------------------------------------------- list/get/import --kind


def _table(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    assert lines[0].split() == ["SPACE", "DOMAIN", "MANAGED-BY"]
    return {row[0]: row for row in (line.split(maxsplit=2) for line in lines[1:])}


def test_spaces_are_listed_read_and_imported_with_kind_smspace(
    kube: Kube, emulator: EmulatorProcess, operator: OperatorProcess, shared_namespace: str
) -> None:
    domain_id = f"d-{uuid.uuid4().hex[:12]}"
    emulator.add_domain(domain_id, REGION)
    spaces = [
        {"DomainId": domain_id, "SpaceName": "lab", "SpaceDisplayName": "Team lab"},
        {
            "DomainId": domain_id,
            "SpaceName": "theirs",
            "Tags": [{"Key": OWNER_TAG_KEY, "Value": "elsewhere/ns/theirs"}],
        },
    ]
    emulator.admin(
        "POST",
        "/_emulator/resources/create",
        [{"Region": REGION, "TypeName": SPACE_TYPE, "DesiredState": s} for s in spaces],
    )
    kubeconfig = kube.kubeconfig
    scope = ["--kind", "smspace", "--region", REGION, "--domain-id", domain_id]

    listed = cli(emulator, kubeconfig, "list", *scope)
    assert listed.returncode == 0, listed.stderr
    rows = _table(listed.stdout)
    assert {name: row[1:] for name, row in rows.items()} == {
        "lab": [domain_id, "unmanaged"],
        "theirs": [domain_id, "other-cluster:elsewhere"],
    }

    got = cli(emulator, kubeconfig, "get", "lab", "--kind", "smspace", "--region", REGION, "--domain-id", domain_id)
    assert got.returncode == 0, got.stderr
    described = yaml.safe_load(got.stdout)
    assert described["spaceName"] == "lab" and described["spaceDisplayName"] == "Team lab"
    assert described["spaceArn"] == f"arn:aws:sagemaker:{REGION}:123456789012:space/{domain_id}/lab"
    by_identifier = cli(emulator, kubeconfig, "get", f"{domain_id}|lab", "--kind", "smspace", "--region", REGION)
    assert yaml.safe_load(by_identifier.stdout) == described

    imported = cli(emulator, kubeconfig, "import", *scope, "--namespace", shared_namespace)
    assert imported.returncode == 0, imported.stderr
    (manifest,) = yaml.safe_load_all(imported.stdout)
    assert "imported 1 of 2" in imported.stderr
    assert (manifest["kind"], manifest["metadata"]["name"]) == ("SageMakerSpace", "lab")
    assert manifest["spec"]["adoptionPolicy"] == "Adopt"
    assert manifest["spec"]["spaceDisplayName"] == "Team lab"

    # The session's operator adopts what import wrote: no create, the space now carries our tag.
    kube.kubectl("apply", "-f", "-", input=imported.stdout)
    assert _ready(kube, "smspace", "lab", shared_namespace)["status"]["identifier"] == f"{domain_id}|lab"
    mine = [r for r in _requests(emulator, SPACE_TYPE) if domain_id in json.dumps(r)]
    assert [r["Operation"] for r in mine] == ["UPDATE"]
    relisted = _table(cli(emulator, kubeconfig, "list", *scope).stdout)
    assert relisted["lab"][2] == f"{shared_namespace}/lab"
    again = cli(emulator, kubeconfig, "import", *scope, "--namespace", shared_namespace)
    assert (again.returncode, again.stdout) == (0, "")
    assert "imported 0 of 2" in again.stderr

    _release(kube, "smspace", "lab", shared_namespace)
