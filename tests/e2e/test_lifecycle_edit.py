"""Editing a lifecycle script end to end (issue 21): against the real API server and the emulator.

AWS cannot change a Studio lifecycle config, so an edit of its script is a new config under a new name
(the object's name and a hash of the content); the objects that name it by reference follow to the new
ARN, each with one UpdateResource, and the old config is deleted once none of them uses it (the emulator,
like SageMaker, refuses to delete a config a domain, profile or space still lists).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import yaml

from tests.e2e.conftest import REGION
from tests.support import manifests
from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube, all_ready, ready, wait_all_ready, wait_for
from tests.support.operator import OperatorProcess

LCC_TYPE = "AWS::SageMaker::StudioLifecycleConfig"
ROLL_OUT = 60  # seconds: the issue's "within a minute"


def script(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def lifecycle_config(name: str, text: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": manifests.API_VERSION,
        "kind": "SageMakerStudioLifecycleConfig",
        "metadata": {"name": name},
        "spec": {
            "studioLifecycleConfigAppType": "JupyterLab",
            "studioLifecycleConfigContent": script(text),
            **spec,
        },
    }


def jupyterlab(**lab: Any) -> dict[str, Any]:
    return {"jupyterLabAppSettings": lab}


def studio_profile(name: str, **lab: Any) -> dict[str, Any]:
    """A profile in the domain `studio` (named by reference) with these JupyterLab settings."""
    profile = manifests.profile(name, userSettings=jupyterlab(**lab))
    profile["spec"].pop("domainId")
    profile["spec"]["domainIdRef"] = {"name": "studio"}
    return profile


def setup(domain_name: str, text: str) -> list[dict[str, Any]]:
    """A lifecycle config `idle`; a domain and a profile that name it by reference."""
    domain = manifests.domain("studio", domain_name=domain_name)
    domain["spec"]["defaultUserSettings"].update(jupyterlab(lifecycleConfigArnsRefs=[{"name": "idle"}]))
    profile = studio_profile("alice", lifecycleConfigArnsRefs=[{"name": "idle"}])
    return [lifecycle_config("idle", text), domain, profile]


def apply(kube: Kube, namespace: str, objects: list[dict[str, Any]]) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objects))


def get(kube: Kube, resource: str, name: str, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = kube.get_json(resource, name, "-n", namespace)
    return found


def resources(emulator: EmulatorProcess, type_name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = emulator.admin("GET", f"/_emulator/resources?Region={REGION}&TypeName={type_name}")[
        "Resources"
    ]
    return found


def configs(emulator: EmulatorProcess) -> dict[str, str]:
    """The lifecycle configs AWS has: name -> ARN."""
    return {r["Identifier"]: r["Properties"]["StudioLifecycleConfigArn"] for r in resources(emulator, LCC_TYPE)}


def aws_properties(emulator: EmulatorProcess, type_name: str, identifier: str) -> dict[str, Any]:
    found = [r["Properties"] for r in resources(emulator, type_name) if r["Identifier"] == identifier]
    assert len(found) == 1, (identifier, found)
    return dict(found[0])


def domain_arns(emulator: EmulatorProcess, domain_id: str) -> list[str]:
    return lab_arns(aws_properties(emulator, "AWS::SageMaker::Domain", domain_id)["DefaultUserSettings"])


def profile_arns(emulator: EmulatorProcess, profile_id: str) -> list[str]:
    return lab_arns(aws_properties(emulator, "AWS::SageMaker::UserProfile", profile_id)["UserSettings"])


def lab_arns(settings: dict[str, Any]) -> list[str]:
    arns: list[str] = settings.get("JupyterLabAppSettings", {}).get("LifecycleConfigArns", [])
    return arns


def updates(emulator: EmulatorProcess, identifier: str) -> int:
    return sum(
        1 for r in emulator.requests(REGION) if r.get("Operation") == "UPDATE" and r.get("Identifier") == identifier
    )


def set_up_ready(kube: Kube, namespace: str, text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """setup() with a domain name of its own, applied, once all three are Ready: the objects, and the
    lifecycle config's status."""
    objects = setup(f"lcc-{uuid.uuid4().hex[:6]}", text)
    apply(kube, namespace, objects)
    wait_all_ready(kube, namespace, 3, "the config, the domain and the profile Ready", 120)
    return objects, get(kube, "smlcc", "idle", namespace)["status"]


def test_editing_the_script_rolls_to_every_referrer_and_deletes_the_old_config(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    ns = shared_namespace
    objects, before = set_up_ready(kube, ns, "#!/bin/bash\necho idle shutdown v1\n")
    old_name, old_arn = before["studioLifecycleConfigName"], before["arn"]
    assert old_name.startswith("idle-") and before["identifier"] == old_name
    assert configs(emulator)[old_name] == old_arn
    domain_id = get(kube, "smdomain", "studio", ns)["status"]["identifier"]
    profile_id = get(kube, "smup", "alice", ns)["status"]["identifier"]
    assert domain_arns(emulator, domain_id) == [old_arn]
    assert profile_arns(emulator, profile_id) == [old_arn]
    domain_updates, profile_updates = updates(emulator, domain_id), updates(emulator, profile_id)

    # The edit people make in git: the script changes, nothing else.
    objects[0]["spec"]["studioLifecycleConfigContent"] = script("#!/bin/bash\necho idle shutdown v2\n")
    started = time.monotonic()
    apply(kube, ns, objects)

    def rolled_out() -> dict[str, Any] | None:
        lcc = get(kube, "smlcc", "idle", ns)
        status = lcc["status"]
        if not ready(kube, lcc) or status.get("studioLifecycleConfigName") == old_name or status.get("retiring"):
            return None
        if old_name in configs(emulator) or all_ready(kube, ns, 3) is None:
            return None
        return dict(status)

    after = wait_for("the new config in use everywhere and the old one deleted", rolled_out, ROLL_OUT)
    assert time.monotonic() - started < ROLL_OUT
    new_name, new_arn = after["studioLifecycleConfigName"], after["arn"]
    assert new_name.startswith("idle-") and new_name != old_name and after["identifier"] == new_name
    assert configs(emulator).get(new_name) == new_arn
    assert domain_arns(emulator, domain_id) == [new_arn]
    assert profile_arns(emulator, profile_id) == [new_arn]
    # Each referrer moved with one UpdateResource; the config itself is never updated (AWS cannot).
    assert (updates(emulator, domain_id) - domain_updates, updates(emulator, profile_id) - profile_updates) == (1, 1)
    assert updates(emulator, old_name) == updates(emulator, new_name) == 0

    # Deleting everything at once leaves nothing behind: the config waits for the domain and the profile.
    kube.kubectl("delete", "-n", ns, "-f", "-", "--timeout=90s", input=yaml.safe_dump_all(objects), timeout=100)
    assert new_name not in configs(emulator) and old_name not in configs(emulator)
    assert [r for r in resources(emulator, "AWS::SageMaker::Domain") if r["Identifier"] == domain_id] == []


def test_a_pasted_arn_keeps_the_old_config_and_status_says_so(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    ns = shared_namespace
    objects, old = set_up_ready(kube, ns, "#!/bin/bash\necho v1\n")
    # bob's profile gives the ARN itself: it cannot follow an edit.
    bob = studio_profile("bob", lifecycleConfigArns=[old["arn"]])
    apply(kube, ns, [bob])
    wait_for("bob Ready", lambda: ready(kube, get(kube, "smup", "bob", ns)), 60)

    objects[0]["spec"]["studioLifecycleConfigContent"] = script("#!/bin/bash\necho v2\n")
    apply(kube, ns, objects)

    def waits_for_bob() -> dict[str, Any] | None:
        status = get(kube, "smlcc", "idle", ns)["status"]
        retiring = status.get("retiring") or []
        return dict(status) if retiring and "bob" in (retiring[0].get("waitingFor") or "") else None

    status = wait_for("the old config waiting for bob", waits_for_bob, ROLL_OUT)
    assert status["retiring"][0]["identifier"] == old["identifier"]
    assert "does not follow" in status["retiring"][0]["waitingFor"], status
    assert old["identifier"] in configs(emulator)  # still used by bob: not deleted
    assert ready(kube, get(kube, "smlcc", "idle", ns))  # the config in use is fine

    # bob names it by reference now: the old config goes.
    bob["spec"]["userSettings"] = jupyterlab(lifecycleConfigArnsRefs=[{"name": "idle"}])
    apply(kube, ns, [bob])
    wait_for("the old config deleted", lambda: old["identifier"] not in configs(emulator), ROLL_OUT)
    assert not get(kube, "smlcc", "idle", ns)["status"].get("retiring")
    kube.kubectl("delete", "-n", ns, "-f", "-", "--timeout=90s", input=yaml.safe_dump_all([bob, *objects]), timeout=100)


def test_an_operator_killed_mid_roll_out_finishes_it_after_a_restart(
    kube: Kube, slow_emulator: EmulatorProcess, own_namespace: str
) -> None:
    ns = own_namespace
    objects = setup(f"lcc-{uuid.uuid4().hex[:6]}", "#!/bin/bash\necho v1\n")
    with OperatorProcess(kube.kubeconfig, slow_emulator.env(), namespaces=[ns], env={"SMUP_INLINE_WAIT": "0"}) as op:
        apply(kube, ns, objects)
        wait_all_ready(kube, ns, 3, "all Ready", 180)
        old = get(kube, "smlcc", "idle", ns)["status"]
        objects[0]["spec"]["studioLifecycleConfigContent"] = script("#!/bin/bash\necho v2\n")
        apply(kube, ns, objects)
        # Killed once the new config is in use and the referrers have started to move.
        wait_for(
            "the new config in use",
            lambda: get(kube, "smlcc", "idle", ns)["status"].get("identifier") != old["identifier"],
            90,
        )
        op.kill()
        op.start()
        try:
            wait_for(
                "the roll-out finished after the restart",
                lambda: (
                    old["identifier"] not in configs(slow_emulator)
                    and not get(kube, "smlcc", "idle", ns)["status"].get("retiring")
                    and all_ready(kube, ns, 3)
                ),
                120,
            )
        except AssertionError:
            raise AssertionError(
                (kube.kubectl("get", "sagemaker", "-n", ns, "-o", "yaml").stdout, configs(slow_emulator))
            ) from None
        new = get(kube, "smlcc", "idle", ns)["status"]
        domain_id = get(kube, "smdomain", "studio", ns)["status"]["identifier"]
        assert domain_arns(slow_emulator, domain_id) == [new["arn"]]
        names = [
            n for n in configs(slow_emulator) if n.startswith("idle-") and n in {old["identifier"], new["identifier"]}
        ]
        assert names == [new["identifier"]], json.dumps(names)
        kube.kubectl("delete", "-n", ns, "-f", "-", "--timeout=120s", input=yaml.safe_dump_all(objects), timeout=130)
    assert new["identifier"] not in configs(slow_emulator)
