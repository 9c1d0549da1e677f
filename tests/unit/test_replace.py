"""A content-addressed kind (`Kind.replace_on_change`) through the reconciler, against the fake Cloud Control.

An edit of a lifecycle script is a new config under a new name; the old one is deleted once nothing of
ours uses it (the runtime says who does, through `ObjectView.holders`), and with the object. Table-like
scenarios: the calls it costs, what status says, what survives a crash between two steps.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from tests.unit.test_reconciler import SETTINGS, FakeCloudControl, cond, domain_view
from userprofile_operator.drift import DriftScheduler
from userprofile_operator.handlers import Runtime
from userprofile_operator.kinds.domain import KIND as DOMAIN
from userprofile_operator.kinds.studiolifecycleconfig import KIND as LCC
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.reconciler import ObjectView, Reconciler
from userprofile_operator.rollout import Holders
from userprofile_operator.settings import Settings


def content(text: str) -> dict[str, Any]:
    return {
        "studioLifecycleConfigAppType": "JupyterLab",
        "studioLifecycleConfigContent": base64.b64encode(text.encode()).decode(),
    }


V1, V2 = content("echo v1"), content("echo v2")


def nobody(current: str | None, old: Sequence[str]) -> Holders:
    return Holders()


def the_domain(current: str | None, old: Sequence[str]) -> Holders:
    return Holders(
        ("SageMakerDomain ml/studio (names it by reference; not moved to the new one yet)",),
        (("SageMakerDomain", "ml", "studio"),),
    )


def lcc_view(spec: dict[str, Any], status: dict[str, Any] | None = None, **kw: Any) -> ObjectView:
    base: dict[str, Any] = {
        "namespace": "ml",
        "name": "idle",
        "uid": "uid-lcc",
        "generation": 1,
        "spec": spec,
        "status": status or {},
        "owner_value": "kubernetes/ml/idle",
        "region": "us-east-1",
        "holders": nobody,
    }
    return ObjectView(**{**base, **kw})


@pytest.fixture
def lccs() -> Reconciler:
    return Reconciler(SETTINGS, LCC)


async def created(lccs: Reconciler, cc: FakeCloudControl) -> dict[str, Any]:
    out = await lccs.reconcile(lcc_view(V1), cc, "create")
    return out.status


async def test_the_aws_name_is_the_object_name_and_a_hash_and_status_shows_it(lccs: Reconciler) -> None:
    cc = FakeCloudControl(LCC)
    status = await created(lccs, cc)
    name = status["studioLifecycleConfigName"]
    assert name.startswith("idle-") and len(name) == len("idle-") + 10
    assert status["identifier"] == name and status["arn"].endswith(name)
    assert list(cc.resources) == [name] and cc.calls == ["CreateResource"]
    assert "retiring" not in status or status["retiring"] is None


async def test_an_edit_creates_the_new_config_and_keeps_the_old_while_something_uses_it(lccs: Reconciler) -> None:
    cc = FakeCloudControl(LCC)
    first = await created(lccs, cc)
    cc.calls.clear()
    out = await lccs.reconcile(lcc_view(V2, first, generation=2, holders=the_domain), cc, "update")
    new = out.status["identifier"]
    assert new != first["identifier"] and new.startswith("idle-")
    assert cc.calls == ["CreateResource"]  # never an UpdateResource (AWS has none), nothing deleted yet
    assert set(cc.resources) == {first["identifier"], new}
    assert cond(out.status, "Ready")["status"] == "True"  # the config in use is fine
    [retiring] = out.status["retiring"]
    assert (retiring["identifier"], retiring["arn"]) == (first["identifier"], first["arn"])
    assert "SageMakerDomain ml/studio" in retiring["waitingFor"]
    assert out.follow == []  # its own status event moves the referrers; asking them now would be too early
    assert out.retry_in is not None  # a safety net: the referrers' events wake it first


async def test_the_old_config_is_deleted_once_nothing_uses_it(lccs: Reconciler) -> None:
    cc = FakeCloudControl(LCC)
    first = await created(lccs, cc)
    held = (await lccs.reconcile(lcc_view(V2, first, generation=2, holders=the_domain), cc, "update")).status
    status = {**first, **held}
    cc.calls.clear()
    out = await lccs.reconcile(lcc_view(V2, status, generation=2), cc, "reference")
    assert cc.calls == ["GetResource", "DeleteResource"]
    assert list(cc.resources) == [status["identifier"]]
    assert out.status["retiring"] is None and out.retry_in is None
    assert [e[1] for e in out.events] == ["Retired"]


async def test_a_pass_that_finds_laggards_after_a_restart_asks_them_to_follow(lccs: Reconciler) -> None:
    cc = FakeCloudControl(LCC)
    first = await created(lccs, cc)
    held = (await lccs.reconcile(lcc_view(V2, first, generation=2, holders=the_domain), cc, "update")).status
    out = await lccs.reconcile(lcc_view(V2, {**first, **held}, generation=2, holders=the_domain), cc, "resume")
    assert out.follow == [("SageMakerDomain", "ml", "studio")]
    assert first["identifier"] in cc.resources


async def test_aws_refusing_the_delete_is_retried_never_terminal(lccs: Reconciler) -> None:
    cc = FakeCloudControl(LCC)
    first = await created(lccs, cc)
    cc.delete_fails = ("ResourceConflict", "StudioLifecycleConfig is in use by Domain d-1")
    out = await lccs.reconcile(lcc_view(V2, first, generation=2), cc, "update")
    [retiring] = out.status["retiring"]
    assert retiring["attempts"] == 1 and "in use by Domain d-1" in retiring["waitingFor"]
    assert cond(out.status, "Ready")["status"] == "True" and cond(out.status, "Synced")["status"] == "True"
    assert out.retry_in is not None and "failedGeneration" not in out.status
    cc.delete_fails = None
    again = await lccs.reconcile(lcc_view(V2, {**first, **out.status}, generation=2), cc, "update")
    assert again.status["retiring"] is None and list(cc.resources) == [out.status["identifier"]]


async def test_a_crash_after_the_create_loses_nothing(lccs: Reconciler) -> None:
    """Killed after the new config was made, before status said so: the next pass makes no second one and
    still retires the old one."""
    cc = FakeCloudControl(LCC)
    first = await created(lccs, cc)
    await lccs.reconcile(lcc_view(V2, first, generation=2, holders=the_domain), cc, "update")  # status lost
    cc.calls.clear()
    out = await lccs.reconcile(lcc_view(V2, first, generation=2, retry=1), cc, "resume")
    assert cc.calls.count("CreateResource") <= 1 and len(cc.resources) == 1
    assert out.status["identifier"] != first["identifier"] and out.status["retiring"] is None


async def test_an_edit_taken_back_reuses_the_old_name_and_retires_the_other(lccs: Reconciler) -> None:
    cc = FakeCloudControl(LCC)
    first = await created(lccs, cc)
    second = {
        **first,
        **(await lccs.reconcile(lcc_view(V2, first, generation=2, holders=the_domain), cc, "update")).status,
    }
    out = await lccs.reconcile(lcc_view(V1, second, generation=3, holders=the_domain), cc, "update")
    assert out.status["identifier"] == first["identifier"]
    assert [r["identifier"] for r in out.status["retiring"]] == [second["identifier"]]


async def test_deleting_the_object_deletes_the_config_in_use_and_every_old_one(lccs: Reconciler) -> None:
    cc = FakeCloudControl(LCC)
    first = await created(lccs, cc)
    second = {
        **first,
        **(await lccs.reconcile(lcc_view(V2, first, generation=2, holders=the_domain), cc, "update")).status,
    }
    out = await lccs.finalize(lcc_view(V2, second, generation=2), cc)
    assert out.release and cc.resources == {}


# -- the runtime: who follows, who is woken ------------------------------------------------------------

REFERRER = PROFILE  # names lifecycle configs by reference (lifecycleConfigArnsRefs)


def _ready_body(name: str, uid: str, spec: dict[str, Any], **status: Any) -> dict[str, Any]:
    ready = {"type": "Ready", "status": "True", "observedGeneration": 1}
    return {
        "metadata": {"namespace": "ml", "name": name, "uid": uid, "generation": 1},
        "spec": spec,
        "status": {"conditions": [ready], **status},
    }


def _alice(value: str) -> dict[str, Any]:
    spec = {"userSettings": {"jupyterLabAppSettings": {"lifecycleConfigArnsRefs": [{"name": "idle"}]}}}
    recorded = [{"kind": LCC.kind, "name": "idle", "value": value}]
    return _ready_body("alice", "uid-alice", spec, identifier="alice|d-1", references=recorded)


async def test_a_new_arn_moves_every_referrer_and_their_moves_wake_the_config() -> None:
    runtime = Runtime(Settings(), (LCC, REFERRER))
    runtime.scheduler = DriftScheduler(lambda ref: asyncio.sleep(0))
    runtime.saw(REFERRER, "ADDED", _alice("arn:a"))
    runtime.saw(LCC, "ADDED", _ready_body("idle", "uid-lcc", V1, identifier="idle-a", arn="arn:a"))
    assert runtime.following == set()  # the first sight of a target is no change
    retiring = [{"identifier": "idle-a", "arn": "arn:a"}]
    runtime.saw(
        LCC, "MODIFIED", _ready_body("idle", "uid-lcc", V2, identifier="idle-b", arn="arn:b", retiring=retiring)
    )
    assert runtime.following == {"uid-alice"}  # the referrer resolves again, now
    assert runtime.holders_of(LCC, "ml", "idle")("arn:b", ["arn:a"]).reasons == (
        "SageMakerUserProfile ml/alice (names it by reference; not moved to the new one yet)",
    )
    runtime.following.clear()
    runtime.saw(REFERRER, "MODIFIED", _alice("arn:b"))  # alice moved: the config looks again
    assert runtime.following == {"uid-lcc"}
    assert runtime.holders_of(LCC, "ml", "idle")("arn:b", ["arn:a"]) == Holders()


async def test_a_domain_whose_settings_a_reference_took_along_is_still_deleted_in_aws() -> None:
    """Deleting a domain and its lifecycle config at once: the config's object may be gone (or not Ready)
    first, its reference then resolves to nothing and takes the domain's settings along, which leaves a spec
    AWS would refuse. The domain AWS has (status.identifier) is deleted all the same, never orphaned."""
    domains = Reconciler(SETTINGS, DOMAIN)
    cc = FakeCloudControl(DOMAIN)
    made = await domains.reconcile(domain_view(), cc, "create")
    unusable = {"domainName": "studio", "authMode": "IAM"}  # defaultUserSettings went with the reference
    out = await domains.finalize(dataclasses.replace(domain_view(status=made.status), spec=unusable), cc)
    assert out.release and cc.resources == {} and "DeleteResource" in cc.calls


# A profile naming its domain by reference (domainIdRef), and the domain object made again for another
# AWS domain: the profile must learn it now, whether Ready (it then says ReferenceChanged) or held in
# ReferenceChanged (the reference may just have been pointed back).


def _domain(identifier: str | None, uid: str = "uid-studio") -> dict[str, Any]:
    body = _ready_body("studio", uid, {"domainName": "studio"}, identifier=identifier)
    if identifier is None:
        body["status"] = {}
    return body


def _erin(reason: str) -> dict[str, Any]:
    body = _ready_body("erin", "uid-erin", {"domainIdRef": {"name": "studio"}, "userProfileName": "erin"})
    ready = reason == "Available"
    body["status"] = {
        "identifier": "erin|d-first",
        "references": [{"kind": DOMAIN.kind, "name": "studio", "value": "d-first"}],
        "conditions": [{"type": "Ready", "status": str(ready), "reason": reason, "observedGeneration": 1}],
    }
    return body


def _runtime() -> Runtime:
    runtime = Runtime(Settings(), (DOMAIN, PROFILE))
    runtime.scheduler = DriftScheduler(lambda ref: asyncio.sleep(0))
    return runtime


async def test_a_ready_profile_follows_when_its_domain_object_is_made_again_for_another_domain() -> None:
    runtime = _runtime()
    runtime.saw(DOMAIN, "ADDED", _domain("d-first"))
    runtime.saw(PROFILE, "ADDED", _erin("Available"))
    runtime.saw(DOMAIN, "MODIFIED", _domain("d-first"))
    assert runtime.following == set()  # nothing changed
    runtime.saw(DOMAIN, "DELETED", _domain("d-first"))
    runtime.saw(DOMAIN, "ADDED", _domain(None, "uid-studio-2"))  # made again, not Ready yet
    assert runtime.following == set()
    runtime.saw(DOMAIN, "MODIFIED", _domain("d-second", "uid-studio-2"))
    assert runtime.following == {"uid-erin"}  # it resolves again now, not at its next drift check


async def test_a_profile_held_in_reference_changed_follows_every_ready_sighting_of_its_domain() -> None:
    runtime = _runtime()
    runtime.saw(PROFILE, "ADDED", _erin("ReferenceChanged"))
    runtime.saw(DOMAIN, "ADDED", _domain(None, "uid-studio-3"))
    assert runtime.following == set()  # not Ready: nothing to resolve to yet
    # The first sighting of the object made again (adopting the first domain) is already Ready:
    runtime.saw(DOMAIN, "DELETED", _domain(None, "uid-studio-3"))
    runtime.saw(DOMAIN, "ADDED", _domain("d-first", "uid-studio-4"))
    assert runtime.following == {"uid-erin"}  # the reference may point back: it looks again
