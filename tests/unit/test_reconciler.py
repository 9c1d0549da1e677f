"""The reconciler against a fake of our own Cloud Control boundary (`CloudControlApi`), no servers.

The fake keeps profiles in a dict and finishes every request at once, unless told to leave it
IN_PROGRESS; it records each call so tests can count what the reconciler spent.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest

from userprofile_operator.plan import AwsError, ProgressEvent
from userprofile_operator.reconciler import ObjectView, Reconciler
from userprofile_operator.settings import OWNER_TAG_KEY, Settings

OWNER = "kubernetes/ns/alice"
IDENT = "alice|d-abcdef123456"
SPEC = {"domainId": "d-abcdef123456", "userProfileName": "alice"}


class FakeCloudControl:
    def __init__(self) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.tokens: dict[str, ProgressEvent] = {}
        self.pending: dict[str, ProgressEvent] = {}
        self.hold = False
        self.fail_next: str | None = None

    def _finish(self, token: str, event: ProgressEvent) -> ProgressEvent:
        self.tokens[token] = event
        if self.hold and event.status == "SUCCESS":
            self.pending[event.request_token] = event
            return ProgressEvent(event.operation, "IN_PROGRESS", event.request_token, event.identifier)
        return event

    async def create(self, desired: dict[str, Any], token: str) -> ProgressEvent:
        self.calls.append("CreateResource")
        if token in self.tokens:
            return self.tokens[token]
        ident = f"{desired['UserProfileName']}|{desired['DomainId']}"
        if self.fail_next:
            code, self.fail_next = self.fail_next, None
            return self._finish(token, ProgressEvent("CREATE", "FAILED", token, ident, code, f"{code} from AWS"))
        if ident in self.profiles:
            return self._finish(token, ProgressEvent("CREATE", "FAILED", token, ident, "AlreadyExists", "exists"))
        model = {
            **desired,
            "UserProfileArn": f"arn:aws:sagemaker:us-east-1:1:user-profile/{ident}",
            "UserSettings": {"StudioWebPortal": "ENABLED", **desired.get("UserSettings", {})},
        }
        self.profiles[ident] = model
        return self._finish(token, ProgressEvent("CREATE", "SUCCESS", token, ident, resource_model=model))

    async def update(self, identifier: str, patch: list[dict[str, Any]], token: str) -> ProgressEvent:
        self.calls.append("UpdateResource")
        if token in self.tokens:
            return self.tokens[token]
        self.profiles[identifier] = jsonpatch.apply_patch(self.profiles[identifier], patch)
        return self._finish(
            token, ProgressEvent("UPDATE", "SUCCESS", token, identifier, resource_model=self.profiles[identifier])
        )

    async def delete(self, identifier: str, token: str) -> ProgressEvent:
        self.calls.append("DeleteResource")
        if self.profiles.pop(identifier, None) is None:
            return ProgressEvent("DELETE", "FAILED", token, identifier, "NotFound", "not found")
        return self._finish(token, ProgressEvent("DELETE", "SUCCESS", token, identifier))

    async def get(self, identifier: str) -> dict[str, Any] | None:
        self.calls.append("GetResource")
        return self.profiles.get(identifier)

    async def request_status(self, request_token: str) -> ProgressEvent:
        self.calls.append("GetResourceRequestStatus")
        if self.hold:
            raise AwsError("ThrottlingException", "Rate exceeded")
        return self.pending.pop(request_token)

    async def cancel(self, request_token: str) -> ProgressEvent:  # pragma: no cover - not used yet
        raise NotImplementedError


def view(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **kw: Any) -> ObjectView:
    base: dict[str, Any] = {
        "namespace": "ns",
        "name": "alice",
        "uid": "uid-1",
        "generation": 1,
        "spec": {**SPEC, **(spec or {})},
        "status": status or {},
        "owner_value": OWNER,
        "region": "us-east-1",
    }
    return ObjectView(**{**base, **kw})


@pytest.fixture
def reconciler() -> Reconciler:
    return Reconciler(Settings(poll_min=0.01, poll_max=0.01, inline_wait=0.05, retry_min=1, retry_max=4))


def cond(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


async def test_create_costs_one_create_and_reports_ready(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    out = await reconciler.reconcile(view(), cc, "create")
    assert cc.calls == ["CreateResource"]
    assert cond(out.status, "Ready")["status"] == "True"
    assert out.status["identifier"] == IDENT
    assert out.status["arn"].endswith(IDENT)
    assert {"Key": OWNER_TAG_KEY, "Value": OWNER} in cc.profiles[IDENT]["Tags"]
    assert [e[1] for e in out.events] == ["Created"]


async def test_resent_create_after_a_crash_is_the_same_request(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    await reconciler.reconcile(view(), cc, "create")
    out = await reconciler.reconcile(view(), cc, "create")  # same uid, generation, retry: same token
    assert cc.calls == ["CreateResource", "CreateResource"]
    assert cond(out.status, "Ready")["status"] == "True"
    assert len(cc.profiles) == 1


async def test_settled_profile_costs_one_read_and_no_write(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    first = await reconciler.reconcile(view(), cc, "create")
    cc.calls.clear()
    earlier = {**first.status, "lastSyncTime": "2020-01-01T00:00:00Z"}
    out = await reconciler.reconcile(view(status=earlier), cc, "drift")
    assert cc.calls == ["GetResource"]
    assert out.events == []
    assert {k: v for k, v in out.status.items() if earlier.get(k) != v} == {}


async def test_unowned_profile_needs_adopt(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    cc.profiles[IDENT] = {"DomainId": "d-abcdef123456", "UserProfileName": "alice"}
    out = await reconciler.reconcile(view(), cc, "create")
    assert cond(out.status, "Ready")["reason"] == "AlreadyExists"
    assert out.status["failedGeneration"] == 1
    cc.calls.clear()
    out = await reconciler.reconcile(view({"adoptionPolicy": "Adopt"}, generation=2), cc, "update")
    assert cc.calls == ["GetResource", "UpdateResource"]
    assert cond(out.status, "Ready")["status"] == "True"


async def test_terminal_error_is_not_retried_on_resume(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    cc.fail_next = "AccessDenied"
    out = await reconciler.reconcile(view(), cc, "create")
    assert cond(out.status, "Synced") == {**cond(out.status, "Synced"), "status": "False", "reason": "AccessDenied"}
    assert out.retry_in is None
    assert ("Warning", "AccessDenied", "AccessDenied from AWS") in out.events
    cc.calls.clear()
    again = await reconciler.reconcile(view(status=out.status), cc, "resume")
    assert cc.calls == [] and again.status == {}


async def test_transient_error_retries_with_backoff(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    cc.fail_next = "ServiceInternalError"
    out = await reconciler.reconcile(view(), cc, "create")
    assert out.retry_in is not None and 0.5 <= out.retry_in <= 1
    assert cond(out.status, "Synced")["reason"] == "ServiceInternalError"
    later = await reconciler.reconcile(view(status=out.status, retry=1), cc, "create")
    assert cond(later.status, "Ready")["status"] == "True"


async def test_request_outliving_the_inline_wait_is_recorded_then_finished(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    cc.hold = True
    out = await reconciler.reconcile(view(), cc, "create")
    assert out.status["operation"]["type"] == "CREATE"
    assert cond(out.status, "Ready")["reason"] == "Creating"
    assert out.retry_in is not None
    cc.hold = False
    done = await reconciler.reconcile(view(status=out.status), cc, "create")
    assert done.status["operation"] is None  # cleared in the merge patch
    assert cond(done.status, "Ready")["status"] == "True"
    assert cc.calls.count("CreateResource") == 1


async def test_delete_releases_when_gone_and_retain_never_calls_aws(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    created = await reconciler.reconcile(view(), cc, "create")
    cc.calls.clear()
    out = await reconciler.finalize(view(status=created.status), cc)
    assert out.release and cc.calls == ["DeleteResource"] and not cc.profiles
    again = await reconciler.finalize(view(status=created.status), cc)
    assert again.release
    kept = await reconciler.finalize(view({"deletionPolicy": "Retain"}), FakeCloudControl())
    assert kept.release and kept.events[0][1] == "Retained"


async def test_delete_leaves_a_profile_owned_by_someone_else(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    cc.profiles[IDENT] = {
        "DomainId": "d-abcdef123456",
        "UserProfileName": "alice",
        "Tags": [{"Key": OWNER_TAG_KEY, "Value": "kubernetes/ns/other"}],
    }
    out = await reconciler.finalize(view(), cc)
    assert out.release and IDENT in cc.profiles and "DeleteResource" not in cc.calls


async def test_no_region_is_a_terminal_error(reconciler: Reconciler) -> None:
    out = await reconciler.reconcile(view(region=None), None, "create")
    assert cond(out.status, "Ready")["reason"] == "NoRegion"
