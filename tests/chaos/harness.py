"""What every chaos test shares: a batch of profiles taken through create, update and delete, profiles
the operator does not own seeded next to them, and the final check that the cluster and AWS agree.

The check (`assert_agreement`) is the point of the chaos tests:

* no object stuck: every declared object is Ready at its generation, or there are none left;
* no leak: the emulator holds exactly the declared profiles of this namespace, each with our owner tag;
* no duplicate: exactly one successful CREATE per profile in the emulator's request log;
* nothing touched that is not ours: the seeded unowned profiles are unchanged, and no request named them.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.conftest import DOMAIN, REGION
from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube, wait_for
from tests.support.manifests import profile
from userprofile_operator.settings import OWNER_TAG_KEY

ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "1"))
PROFILES = int(os.environ.get("CHAOS_PROFILES", "50"))

# The operator under test: TEST_SETTINGS timings, a client-side rate that lets 50 profiles move quickly,
# and a resync every 5 s, so an object the event stream left behind is picked up within a phase.
OPERATOR_ENV = {
    "SMUP_AWS_RATE": "60",
    "SMUP_AWS_BURST": "20",
    "SMUP_DRIFT_INTERVAL": "600",
    "SMUP_RESYNC_INTERVAL": "5",
}
PHASE_TIMEOUT = 240.0


def identifier(name: str) -> str:
    return f"{name}|{DOMAIN}"


@dataclass
class Scene:
    """One namespace, its declared profiles and the unowned profiles seeded beside them."""

    kube: Kube
    emulator: EmulatorProcess
    namespace: str
    unowned: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)  # every name ever declared here

    @classmethod
    def new(cls, kube: Kube, emulator: EmulatorProcess, label: str) -> Scene:
        namespace = f"chaos-{label}-{uuid.uuid4().hex[:6]}"
        kube.create_namespace(namespace)
        scene = cls(kube, emulator, namespace)
        scene.seed_unowned()
        return scene

    def names(self, round_: int, count: int) -> list[str]:
        return [f"{self.namespace}-r{round_}-{i:03d}" for i in range(count)]

    def seed_unowned(self) -> None:
        """Three profiles in the same domain that this operator must never change: no tags, another
        cluster's tag, and our cluster's tag for an object that does not exist in this namespace."""
        base = f"{self.namespace}-unowned"
        seeds: list[dict[str, Any]] = [
            {"DomainId": DOMAIN, "UserProfileName": f"{base}-plain"},
            {
                "DomainId": DOMAIN,
                "UserProfileName": f"{base}-other-cluster",
                "Tags": [{"Key": OWNER_TAG_KEY, "Value": f"other-cluster/{self.namespace}/{base}-other-cluster"}],
            },
            {
                "DomainId": DOMAIN,
                "UserProfileName": f"{base}-other-ns",
                "Tags": [{"Key": OWNER_TAG_KEY, "Value": f"kubernetes/elsewhere/{base}-other-ns"}],
            },
        ]
        self.emulator.oob_create(REGION, seeds)
        mine = {identifier(s["UserProfileName"]) for s in seeds}
        resources = self.emulator.resources(REGION)
        self.unowned = {r["Identifier"]: r["Properties"] for r in resources if r["Identifier"] in mine}
        assert len(self.unowned) == 3

    # -- driving ----------------------------------------------------------------------------------

    def apply(self, names: list[str], version: str) -> None:
        """One kubectl apply of all the objects (a List), each with the tag `version`."""
        items = [profile(name, self.namespace, version) for name in names]
        self.created.update(names)
        # Idempotent, so it is retried while the API server is away (the API server chaos test).
        wait_for("kubectl apply", lambda: self.kube.apply_list(items).returncode == 0)

    def delete_all(self) -> None:
        wait_for(
            "kubectl delete",
            lambda: (
                self.kube.kubectl(
                    "delete", "smup", "--all", "-n", self.namespace, "--wait=false", check=False
                ).returncode
                == 0
            ),
        )

    def objects(self) -> list[dict[str, Any]]:
        return list(self.kube.get_json("smup", "-n", self.namespace)["items"])

    def ready_count(self, generation: int) -> int:
        return sum(1 for o in self.objects() if is_ready(self.kube, o, generation))

    def wait_ready(self, names: list[str], generation: int, timeout: float = PHASE_TIMEOUT) -> None:
        wanted = set(names)

        def done() -> bool:
            objects = self.objects()
            ready = {o["metadata"]["name"] for o in objects if is_ready(self.kube, o, generation)}
            return ready >= wanted

        wait_for(f"{len(names)} profiles Ready at generation {generation}", done, timeout, interval=0.5)

    def wait_gone(self, timeout: float = PHASE_TIMEOUT) -> None:
        wait_for("every object gone", lambda: not self.objects(), timeout, interval=0.5)

    # -- the verdict ------------------------------------------------------------------------------

    def assert_agreement(self, declared: list[str], version: str | None = None) -> None:
        kube, emulator = self.kube, self.emulator
        objects = {o["metadata"]["name"]: o for o in self.objects()}
        assert set(objects) == set(declared), "objects in the cluster differ from the declared ones"
        stuck = [n for n, o in objects.items() if not is_ready(kube, o, o["metadata"]["generation"])]
        assert not stuck, f"not Ready: {stuck[:5]}"

        resources = emulator.resources(REGION)
        ours = {}
        for r in resources:
            props = r["Properties"]
            name = props.get("UserProfileName", "")
            owner = {t["Key"]: t["Value"] for t in props.get("Tags", [])}.get(OWNER_TAG_KEY, "")
            if name.startswith(self.namespace) and r["Identifier"] not in self.unowned:
                ours[name] = (owner, props)
        assert set(ours) == set(declared), (
            f"leaked: {sorted(set(ours) - set(declared))[:5]}, missing: {sorted(set(declared) - set(ours))[:5]}"
        )
        for name, (owner, props) in ours.items():
            assert owner == f"kubernetes/{self.namespace}/{name}", f"{name}: owner tag {owner!r}"
            if version is not None:
                tags = {t["Key"]: t["Value"] for t in props.get("Tags", [])}
                assert tags.get("version") == version, f"{name}: tags {tags}"

        requests = emulator.requests(REGION)
        creates: dict[str, int] = {}
        for r in requests:
            if r.get("Operation") == "CREATE" and r.get("OperationStatus") == "SUCCESS":
                creates[r.get("Identifier", "")] = creates.get(r.get("Identifier", ""), 0) + 1
        duplicates = {n: creates.get(identifier(n), 0) for n in self.created if creates.get(identifier(n), 0) != 1}
        assert not duplicates, f"successful CREATE requests per profile (want exactly 1): {duplicates}"

        now = {r["Identifier"]: r["Properties"] for r in resources if r["Identifier"] in self.unowned}
        assert now == self.unowned, "an unowned profile was changed or deleted"
        unowned_names = {i.split("|", 1)[0] for i in self.unowned}
        touched = [
            r
            for r in requests
            if r.get("Identifier") in self.unowned
            or json.loads(r.get("ResourceModel") or "{}").get("UserProfileName") in unowned_names
        ]
        assert not touched, f"requests on unowned profiles: {touched[:3]}"


def is_ready(kube: Kube, obj: dict[str, Any], generation: int) -> bool:
    """Ready and Synced at `generation`. Ready alone is not enough: while a change is being retried the
    operator reports Ready=True (the profile is usable) with Synced=False (reason: the last error)."""
    if obj.get("status", {}).get("observedGeneration") != generation:
        return False
    return all((kube.condition(obj, type_) or {}).get("status") == "True" for type_ in ("Ready", "Synced"))
