"""The reconciler against a fake of our own Cloud Control boundary (`CloudControlApi`), no servers.

The fake keeps one kind's resources in a dict and finishes every request at once, unless told to
leave it IN_PROGRESS; it records each call so tests can count what the reconciler spent. Like Cloud
Control, it never returns the kind's writeOnly properties (a space's SpaceSettings), and where AWS
makes the identifier (a domain's DomainId) it makes a new one per create request, says it in the
request's ProgressEvent once the request is done, and answers the same ClientToken with the same request.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest

from userprofile_operator.crd import render_crd
from userprofile_operator.kind import Kind
from userprofile_operator.kinds import all_kinds, by_name
from userprofile_operator.kinds.domain import KIND as DOMAIN
from userprofile_operator.kinds.space import KIND as SPACE
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.reconciler import ObjectView, Reconciler, Trigger
from userprofile_operator.settings import OWNER_TAG_KEY, Settings
from userprofile_operator.wire import AwsError, ProgressEvent

OWNER = "kubernetes/ns/alice"
IDENT = "alice|d-abcdef123456"
SPEC = {"domainId": "d-abcdef123456", "userProfileName": "alice"}
SPACE_IDENT = "d-abcdef123456|lab"
SPACE_SPEC = {"domainId": "d-abcdef123456", "spaceName": "lab", "spaceSettings": {"appType": "JupyterLab"}}
DOMAIN_SPEC = {
    "domainName": "studio",
    "authMode": "IAM",
    "defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/sagemaker"},
}
SETTINGS = Settings(poll_min=0.01, poll_max=0.01, inline_wait=0.05, retry_min=1, retry_max=4)


def _aws_defaults(kind: Kind, desired: dict[str, Any]) -> dict[str, Any]:
    """What AWS fills in that the user never set."""
    if kind is PROFILE:
        return {"UserSettings": {"StudioWebPortal": "ENABLED", **desired.get("UserSettings", {})}}
    return {}


class FakeCloudControl:
    def __init__(self, kind: Kind = PROFILE) -> None:
        self.kind = kind
        self.resources: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.patches: list[list[dict[str, Any]]] = []
        self.tokens: dict[str, ProgressEvent] = {}
        self.pending: dict[str, ProgressEvent] = {}
        self.hold = False
        self.fail_next: str | None = None
        self.delete_fails: tuple[str, str] | None = None
        """(ErrorCode, message) of every DeleteResource request while set."""
        self.made = 0  # identifiers AWS made (a domain's DomainId)

    def _identifier_of(self, desired: dict[str, Any]) -> str:
        """The new resource's identifier: from the model, or made by AWS (a new one per create request)."""
        if not self.kind.generated_identifier:
            return self.kind.schema.identifier_of(desired)
        self.made += 1
        return f"d-{self.made:012x}"

    def _shown(self, model: dict[str, Any]) -> dict[str, Any]:
        """The model as Cloud Control returns it: without writeOnly properties."""
        return {k: v for k, v in model.items() if (k,) not in self.kind.schema.write_only}

    def _finish(self, token: str, event: ProgressEvent) -> ProgressEvent:
        self.tokens[token] = event
        if self.hold and event.status == "SUCCESS":
            self.pending[event.request_token] = event
            # an identifier AWS makes is said once the request is done
            said = None if self.kind.generated_identifier and event.operation == "CREATE" else event.identifier
            return ProgressEvent(event.operation, "IN_PROGRESS", event.request_token, said)
        return event

    async def create(self, desired: dict[str, Any], token: str) -> ProgressEvent:
        self.calls.append("CreateResource")
        if token in self.tokens:
            return self.tokens[token]
        ident = self._identifier_of(desired)
        if self.fail_next:
            code, self.fail_next = self.fail_next, None
            return self._finish(token, ProgressEvent("CREATE", "FAILED", token, ident, code, f"{code} from AWS"))
        if ident in self.resources:
            return self._finish(token, ProgressEvent("CREATE", "FAILED", token, ident, "AlreadyExists", "exists"))
        model = {
            **desired,
            **{path[0]: ident for path in self.kind.schema.primary_identifier if self.kind.generated_identifier},
            self.kind.arn_property: f"arn:aws:sagemaker:us-east-1:1:{self.kind.short_noun}/{ident}",
            **_aws_defaults(self.kind, desired),
        }
        self.resources[ident] = model
        return self._finish(token, ProgressEvent("CREATE", "SUCCESS", token, ident, resource_model=self._shown(model)))

    async def update(self, identifier: str, patch: list[dict[str, Any]], token: str) -> ProgressEvent:
        self.calls.append("UpdateResource")
        self.patches.append(patch)
        if token in self.tokens:
            return self.tokens[token]
        self.resources[identifier] = jsonpatch.apply_patch(self.resources[identifier], patch)
        model = self._shown(self.resources[identifier])
        return self._finish(token, ProgressEvent("UPDATE", "SUCCESS", token, identifier, resource_model=model))

    async def delete(self, identifier: str, token: str) -> ProgressEvent:
        self.calls.append("DeleteResource")
        if self.delete_fails is not None and identifier in self.resources:
            code, message = self.delete_fails
            return self._finish(token, ProgressEvent("DELETE", "FAILED", token, identifier, code, message))
        if self.resources.pop(identifier, None) is None:
            return ProgressEvent("DELETE", "FAILED", token, identifier, "NotFound", "not found")
        return self._finish(token, ProgressEvent("DELETE", "SUCCESS", token, identifier))

    async def get(self, identifier: str) -> dict[str, Any] | None:
        self.calls.append("GetResource")
        model = self.resources.get(identifier)
        return None if model is None else self._shown(model)

    async def find(self, name_property: str, value: Any) -> tuple[str, dict[str, Any]] | None:
        self.calls.append("ListResources")
        for identifier, model in self.resources.items():
            if model.get(name_property) == value:
                return identifier, self._shown(model)
        return None

    async def request_status(self, request_token: str) -> ProgressEvent:
        self.calls.append("GetResourceRequestStatus")
        if self.hold:
            raise AwsError("ThrottlingException", "Rate exceeded")
        return self.pending.pop(request_token)

    async def cancel(self, request_token: str) -> ProgressEvent:  # pragma: no cover - not used yet
        raise NotImplementedError


def view(
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    *,
    base_spec: dict[str, Any] = SPEC,
    **kw: Any,
) -> ObjectView:
    base: dict[str, Any] = {
        "namespace": "ns",
        "name": "alice",
        "uid": "uid-1",
        "generation": 1,
        "spec": {**base_spec, **(spec or {})},
        "status": status or {},
        "owner_value": OWNER,
        "region": "us-east-1",
    }
    return ObjectView(**{**base, **kw})


def space_view(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **kw: Any) -> ObjectView:
    return view(spec, status, base_spec=SPACE_SPEC, **kw)


def domain_view(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **kw: Any) -> ObjectView:
    return view(spec, status, base_spec=DOMAIN_SPEC, **{"name": "studio", **kw})


# The platform kinds, each with the least a spec needs.
PLATFORM_SPECS = {
    "SageMakerStudioLifecycleConfig": {
        "studioLifecycleConfigName": "idle-shutdown",
        "studioLifecycleConfigAppType": "JupyterLab",
        "studioLifecycleConfigContent": "IyEvYmluL2Jhc2gK",
    },
    "SageMakerImage": {"imageName": "team-image", "imageRoleArn": "arn:aws:iam::123456789012:role/sagemaker"},
    "SageMakerImageVersion": {
        "imageName": "team-image",
        "baseImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/team-image:1",
    },
    "SageMakerAppImageConfig": {"appImageConfigName": "team-image"},
}


def _platform_view(spec: dict[str, Any]) -> Any:
    def make(more: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **kw: Any) -> ObjectView:
        return view(more, status, base_spec=spec, **kw)

    return make


VIEWS = {
    PROFILE: view,
    DOMAIN: domain_view,
    SPACE: space_view,
    **{by_name(name): _platform_view(spec) for name, spec in PLATFORM_SPECS.items()},
}


@pytest.fixture
def reconciler() -> Reconciler:
    return Reconciler(SETTINGS, PROFILE)


@pytest.fixture
def spaces() -> Reconciler:
    return Reconciler(SETTINGS, SPACE)


def cond(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == type_)


async def test_create_costs_one_create_and_reports_ready(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    out = await reconciler.reconcile(view(), cc, "create")
    assert cc.calls == ["CreateResource"]
    assert cond(out.status, "Ready")["status"] == "True"
    assert out.status["identifier"] == IDENT
    assert out.status["arn"].endswith(IDENT)
    assert {"Key": OWNER_TAG_KEY, "Value": OWNER} in cc.resources[IDENT]["Tags"]
    assert [e[1] for e in out.events] == ["Created"]


async def test_resent_create_after_a_crash_is_the_same_request(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    await reconciler.reconcile(view(), cc, "create")
    out = await reconciler.reconcile(view(), cc, "create")  # same uid, generation, retry: same token
    assert cc.calls == ["CreateResource", "CreateResource"]
    assert cond(out.status, "Ready")["status"] == "True"
    assert len(cc.resources) == 1


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
    cc.resources[IDENT] = {"DomainId": "d-abcdef123456", "UserProfileName": "alice"}
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
    assert out.release and cc.calls == ["DeleteResource"] and not cc.resources
    again = await reconciler.finalize(view(status=created.status), cc)
    assert again.release
    kept = await reconciler.finalize(view({"deletionPolicy": "Retain"}), FakeCloudControl())
    assert kept.release and kept.events[0][1] == "Retained"


async def test_delete_leaves_a_profile_owned_by_someone_else(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    cc.resources[IDENT] = {
        "DomainId": "d-abcdef123456",
        "UserProfileName": "alice",
        "Tags": [{"Key": OWNER_TAG_KEY, "Value": "kubernetes/ns/other"}],
    }
    out = await reconciler.finalize(view(), cc)
    assert out.release and IDENT in cc.resources and "DeleteResource" not in cc.calls


async def test_no_region_is_a_terminal_error(reconciler: Reconciler) -> None:
    out = await reconciler.reconcile(view(region=None), None, "create")
    assert cond(out.status, "Ready")["reason"] == "NoRegion"


# -- a kind with a writeOnly property: the space's SpaceSettings ----------------------------------


async def test_space_drift_pass_never_updates_for_settings_aws_does_not_show(spaces: Reconciler) -> None:
    cc = FakeCloudControl(SPACE)
    created = await spaces.reconcile(space_view(), cc, "create")
    assert cond(created.status, "Ready")["status"] == "True"
    assert created.status["identifier"] == SPACE_IDENT
    assert created.status["arn"] == cc.resources[SPACE_IDENT]["SpaceArn"]
    assert cc.resources[SPACE_IDENT]["SpaceSettings"] == {"AppType": "JupyterLab"}  # sent on create
    assert "SpaceSettings" not in (await cc.get(SPACE_IDENT) or {})  # and never shown again
    cc.calls.clear()
    out = await spaces.reconcile(space_view(status=created.status), cc, "drift")
    assert cc.calls == ["GetResource"]
    assert out.events == []
    assert cond({**created.status, **out.status}, "Ready")["status"] == "True"
    assert not out.status.get("driftDetected")


async def test_space_update_sends_changed_settings_once(spaces: Reconciler) -> None:
    cc = FakeCloudControl(SPACE)
    created = await spaces.reconcile(space_view(), cc, "create")
    cc.calls.clear()
    code_editor = {"spaceSettings": {"appType": "CodeEditor"}}
    out = await spaces.reconcile(
        space_view(code_editor, created.status, generation=2, previous_spec=SPACE_SPEC), cc, "update"
    )
    assert cc.calls == ["GetResource", "UpdateResource"]
    assert cc.patches == [[{"op": "add", "path": "/SpaceSettings", "value": {"AppType": "CodeEditor"}}]]
    assert cc.resources[SPACE_IDENT]["SpaceSettings"] == {"AppType": "CodeEditor"}
    assert cond(out.status, "Ready")["status"] == "True"
    assert [e[1] for e in out.events] == ["Updated"]
    # the same spec again (a resume): nothing changed since previous, nothing sent
    cc.calls.clear()
    again = await spaces.reconcile(
        space_view(code_editor, {**created.status, **out.status}, generation=2, previous_spec=None), cc, "resume"
    )
    assert cc.calls == ["GetResource"]
    assert again.events == []


@pytest.mark.parametrize("kind", all_kinds(), ids=lambda kind: kind.kind)
async def test_delete_blocked_by_dependents_says_so_once_and_retries(kind: Kind) -> None:
    reconciler = Reconciler(SETTINGS, kind)
    make_view = VIEWS[kind]
    cc = FakeCloudControl(kind)
    created = await reconciler.reconcile(make_view(), cc, "create")
    message = "Resource in use: the space still has apps"
    cc.delete_fails = ("ResourceConflict", message)
    cc.calls.clear()
    blocked = await reconciler.finalize(make_view(status=created.status), cc)
    assert cc.calls == ["DeleteResource"]
    assert not blocked.release
    ready = cond(blocked.status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "DeleteBlocked")
    assert message in ready["message"]
    assert [(e[0], e[1]) for e in blocked.events] == [("Warning", "DeleteBlocked")]
    assert message in blocked.events[0][2]
    assert blocked.retry_in is not None and blocked.retry_in > 0
    # the next retry: still blocked, already said so
    status = {**created.status, **blocked.status}
    again = await reconciler.finalize(make_view(status=status, retry=1), cc)
    assert not again.release
    assert again.events == []
    assert cond(again.status, "Ready")["reason"] == "DeleteBlocked"
    assert again.retry_in is not None
    # the dependents are gone: the delete goes through
    cc.delete_fails = None
    done = await reconciler.finalize(make_view(status={**status, **again.status}, retry=2), cc)
    assert done.release and not cc.resources
    assert [e[1] for e in done.events] == ["Deleted"]


async def test_a_new_kind_is_a_schema_and_a_descriptor() -> None:
    """AWS::SageMaker::App has a vendored schema and no descriptor in the product: one written here,
    and nothing else, gives a CRD and a reconciler that creates, confirms and deletes it."""
    app = Kind(
        type_name="AWS::SageMaker::App",
        kind="SageMakerApp",
        plural="sagemakerapps",
        short_names=("smapp",),
        noun="app",
        short_noun="app",
        arn_property="AppArn",
        name_property="AppName",
    )
    spec = render_crd(app)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert {"appName", "appType", "domainId", "userProfileName"} <= set(spec["required"])
    assert "appArn" not in spec["properties"]  # readOnly
    apps = Reconciler(SETTINGS, app)
    cc = FakeCloudControl(app)
    base = {"appName": "default", "appType": "JupyterServer", "domainId": "d-abcdef123456", "userProfileName": "alice"}
    created = await apps.reconcile(view(base_spec=base), cc, "create")
    assert cc.calls == ["CreateResource"]
    assert created.status["identifier"] == "default|JupyterServer|d-abcdef123456|alice"
    settled = await apps.reconcile(view(base_spec=base, status=created.status), cc, "drift")
    assert cc.calls == ["CreateResource", "GetResource"]  # a drift check: one read, no write
    assert cond(settled.status, "Ready")["status"] == "True"
    gone = await apps.finalize(view(base_spec=base, status=created.status), cc)
    assert gone.release and cc.resources == {}


# -- a kind whose identifier AWS makes: the domain ----------------------------------------------------

# A production bug, reported: reconciler.py `owned = observed is not None or (status.get("identifier") ==
# identifier and not observed_only)` holds for a new domain (None == None), so it is taken for one this object
# already created: a ListResources, a DeletedOutOfBand warning about "Domain None", and an unowned domain of the
# same name taken over without adoptionPolicy: Adopt. These tests say what should happen; remove the marker
# with the fix.

OWNERLESS_DOMAIN = {"DomainId": "d-existing", "DomainName": "studio", "AuthMode": "IAM", "Tags": []}


@pytest.fixture
def domains() -> Reconciler:
    return Reconciler(SETTINGS, DOMAIN)


async def test_a_domain_is_created_once_and_keeps_the_id_aws_made(domains: Reconciler) -> None:
    cc = FakeCloudControl(DOMAIN)
    out = await domains.reconcile(domain_view(), cc, "create")
    assert cc.calls.count("CreateResource") == 1
    (made,) = cc.resources
    assert made.startswith("d-")
    assert out.status["identifier"] == made
    assert out.status["arn"] == cc.resources[made]["DomainArn"]
    assert cond(out.status, "Ready")["status"] == "True"
    assert ("Normal", "Created", f"Created domain {made} in us-east-1") in out.events
    assert {"Key": OWNER_TAG_KEY, "Value": OWNER} in cc.resources[made]["Tags"]
    # from now on the id comes from status: a drift pass reads it, and writes nothing
    cc.calls.clear()
    settled = await domains.reconcile(
        domain_view(status={**out.status, "lastSyncTime": "2020-01-01T00:00:00Z"}), cc, "drift"
    )
    assert cc.calls == ["GetResource"]
    assert settled.events == []


async def test_a_domain_create_resent_after_a_crash_makes_no_second_domain(domains: Reconciler) -> None:
    cc = FakeCloudControl(DOMAIN)
    first = await domains.reconcile(domain_view(), cc, "create")
    # the status write was lost: the same object at the same generation sends the same ClientToken
    again = await domains.reconcile(domain_view(), cc, "create")
    assert len(cc.resources) == 1
    assert again.status["identifier"] == first.status["identifier"]
    assert cond(again.status, "Ready")["status"] == "True"


async def test_a_domain_create_that_outlives_the_inline_wait_learns_its_id_when_done(domains: Reconciler) -> None:
    cc = FakeCloudControl(DOMAIN)
    cc.hold = True
    pending = await domains.reconcile(domain_view(), cc, "create")
    assert pending.status["operation"]["type"] == "CREATE"
    assert "identifier" not in pending.status  # not said yet
    cc.hold = False
    done = await domains.reconcile(domain_view(status=pending.status), cc, "create")
    (made,) = cc.resources
    assert done.status["identifier"] == made
    assert done.status["operation"] is None
    assert cond(done.status, "Ready")["status"] == "True"
    assert cc.calls.count("CreateResource") == 1


async def test_adopt_finds_an_existing_domain_by_its_name_and_creates_none(domains: Reconciler) -> None:
    cc = FakeCloudControl(DOMAIN)
    cc.resources["d-existing"] = dict(OWNERLESS_DOMAIN)
    out = await domains.reconcile(domain_view({"adoptionPolicy": "Adopt"}), cc, "create")
    assert cc.calls[0] == "ListResources"
    assert "CreateResource" not in cc.calls
    assert list(cc.resources) == ["d-existing"]
    assert out.status["identifier"] == "d-existing"
    assert cond(out.status, "Ready")["status"] == "True"
    assert {"Key": OWNER_TAG_KEY, "Value": OWNER} in cc.resources["d-existing"]["Tags"]


async def test_observe_only_finds_a_domain_by_its_name_and_writes_nothing(domains: Reconciler) -> None:
    cc = FakeCloudControl(DOMAIN)
    cc.resources["d-existing"] = dict(OWNERLESS_DOMAIN)
    out = await domains.reconcile(domain_view({"managementPolicy": "ObserveOnly"}), cc, "create")
    assert cc.calls == ["ListResources"]
    assert out.status["identifier"] == "d-existing"
    assert cond(out.status, "Synced")["reason"] == "Observed"
    assert cc.resources["d-existing"] == OWNERLESS_DOMAIN


async def test_adopt_with_no_domain_of_that_name_creates_one(domains: Reconciler) -> None:
    cc = FakeCloudControl(DOMAIN)
    out = await domains.reconcile(domain_view({"adoptionPolicy": "Adopt"}), cc, "create")
    assert cc.calls == ["ListResources", "CreateResource"]
    assert out.status["identifier"] in cc.resources
    assert "Adopting" not in [e[1] for e in out.events]


async def test_a_new_domain_costs_one_create_and_no_warning(domains: Reconciler) -> None:
    cc = FakeCloudControl(DOMAIN)
    out = await domains.reconcile(domain_view(), cc, "create")
    assert cc.calls == ["CreateResource"]
    assert [e[1] for e in out.events] == ["Created"]
    again = await domains.reconcile(domain_view(), cc, "create")  # re-sent: the same request answers
    assert cc.calls == ["CreateResource", "CreateResource"]
    assert again.status["identifier"] == out.status["identifier"]


async def test_a_new_domain_never_takes_over_one_nobody_handed_it(domains: Reconciler) -> None:
    cc = FakeCloudControl(DOMAIN)
    cc.resources["d-existing"] = dict(OWNERLESS_DOMAIN)
    out = await domains.reconcile(domain_view(), cc, "create")
    assert "UpdateResource" not in cc.calls
    assert cc.resources["d-existing"] == OWNERLESS_DOMAIN
    assert out.status.get("identifier") != "d-existing"


async def test_adopting_a_domain_says_so(domains: Reconciler) -> None:
    cc = FakeCloudControl(DOMAIN)
    cc.resources["d-existing"] = dict(OWNERLESS_DOMAIN)
    out = await domains.reconcile(domain_view({"adoptionPolicy": "Adopt"}), cc, "create")
    assert ("Normal", "Adopting", "Taking over the existing domain d-existing") in out.events


async def test_a_domain_never_created_is_released_without_asking_aws(domains: Reconciler) -> None:
    cc = FakeCloudControl(DOMAIN)
    out = await domains.finalize(domain_view(), cc)
    assert out.release
    assert cc.calls == [] and out.events == []


async def test_a_domain_deleted_while_its_create_is_in_flight_is_deleted_once_created(domains: Reconciler) -> None:
    cc = FakeCloudControl(DOMAIN)
    cc.hold = True
    pending = await domains.reconcile(domain_view(), cc, "create")
    cc.hold = False
    cc.calls.clear()
    out = await domains.finalize(domain_view(status=pending.status), cc)
    assert out.release
    assert cc.calls == ["GetResourceRequestStatus", "GetResource", "DeleteResource"]
    assert cc.resources == {}


# -- references: what the reconciler does with an unresolved or changed one --------------------------


async def test_a_view_waiting_for_its_reference_calls_no_aws_and_says_so_once(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    waiting = view(base_spec={"userProfileName": "alice"}, waiting=("SageMakerDomain studio (does not exist)",))
    out = await reconciler.reconcile(waiting, cc, "create")
    assert cc.calls == []
    message = "Waiting for SageMakerDomain studio (does not exist)"
    for type_ in ("Ready", "Synced"):
        condition = cond(out.status, type_)
        assert (condition["status"], condition["reason"]) == ("False", "ReferenceNotReady")
    assert cond(out.status, "Ready")["message"] == message
    assert out.events == [("Normal", "ReferenceNotReady", message)]
    assert out.retry_in is None  # the target's own event wakes it: no polling
    # the next pass (the domain changed, but is still not Ready): the condition already says so
    again = await reconciler.reconcile(
        view(
            base_spec={"userProfileName": "alice"},
            status=out.status,
            waiting=("SageMakerDomain studio (is not Ready)",),
        ),
        cc,
        "reference",
    )
    assert cc.calls == [] and again.events == []
    assert cond(again.status, "Ready")["message"] == "Waiting for SageMakerDomain studio (is not Ready)"


async def test_a_space_says_every_reference_it_waits_for(spaces: Reconciler) -> None:
    waiting = ("SageMakerDomain studio (is not Ready)", "SageMakerUserProfile alice (does not exist)")
    out = await spaces.reconcile(space_view(waiting=waiting), FakeCloudControl(SPACE), "create")
    assert cond(out.status, "Ready")["message"] == (
        "Waiting for SageMakerDomain studio (is not Ready); SageMakerUserProfile alice (does not exist)"
    )


# -- a reference that comes to name another parent (ReferenceChanged) -----------------------------------
# A profile's domainIdRef names a SageMakerDomain object; that object is made again for another AWS domain.
# The profile manages alice|d-old (status), its spec now resolves to alice|d-new.

MOVED = {"identifier": "alice|d-old", "region": "us-east-1"}


async def _changed(reconciler: Reconciler, cc: FakeCloudControl) -> dict[str, Any]:
    """alice made in d-old at generation 2, then her reference resolving to d-new: the status she has then."""
    made = await reconciler.reconcile(view({"domainId": "d-old"}, generation=2), cc, "create")
    assert made.status["identifier"] == "alice|d-old"
    cc.calls.clear()
    moved = view({"domainId": "d-new"}, made.status, generation=2)
    return {**made.status, **(await reconciler.reconcile(moved, cc, "reference")).status}


async def test_a_reference_that_now_names_another_parent_changes_nothing_in_aws_and_says_why_once(
    reconciler: Reconciler,
) -> None:
    cc = FakeCloudControl()
    out = await reconciler.reconcile(view({"domainId": "d-new"}, MOVED, generation=2), cc, "update")
    assert cc.calls == []
    for type_ in ("Ready", "Synced"):
        condition = cond(out.status, type_)
        assert (condition["status"], condition["reason"]) == ("False", "ReferenceChanged")
    assert out.retry_in is None  # the target's next change wakes it (the runtime): no polling
    ((type_, reason, message),) = out.events
    assert (type_, reason) == ("Warning", "ReferenceChanged")
    assert "alice|d-new" in message and "alice|d-old" in message
    # Not a failed generation: pointing the reference back needs no spec change.
    assert "failedGeneration" not in out.status
    again = await reconciler.reconcile(view({"domainId": "d-new"}, {**MOVED, **out.status}, generation=2), cc, "drift")
    assert cc.calls == [] and again.events == []


@pytest.mark.parametrize("trigger", ["reference", "drift", "resume"])
async def test_pointing_the_reference_back_makes_the_object_ready_again_without_a_spec_change(
    reconciler: Reconciler, trigger: Trigger
) -> None:
    cc = FakeCloudControl()
    status = await _changed(reconciler, cc)
    assert cond(status, "Ready")["reason"] == "ReferenceChanged"
    cc.calls.clear()
    back = await reconciler.reconcile(view({"domainId": "d-old"}, status, generation=2), cc, trigger)
    assert cond(back.status, "Ready")["status"] == "True"
    assert cond(back.status, "Synced")["reason"] == "ReconcileSuccess"
    assert cc.calls == ["GetResource"]  # it matches: read, nothing written


async def test_a_reference_changed_recorded_as_a_failed_generation_does_not_stand_once_pointed_back(
    reconciler: Reconciler,
) -> None:
    """What an operator before this rule wrote: ReferenceChanged with failedGeneration. A drift check after
    the reference was pointed back looks again all the same."""
    cc = FakeCloudControl()
    status = {**await _changed(reconciler, cc), "failedGeneration": 2}
    cc.calls.clear()
    back = await reconciler.reconcile(view({"domainId": "d-old"}, status, generation=2), cc, "drift")
    assert cond(back.status, "Ready")["status"] == "True"
    assert back.status["failedGeneration"] is None


async def test_deleting_an_object_whose_reference_changed_deletes_what_it_manages(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    cc.resources["alice|d-new"] = {"DomainId": "d-new", "UserProfileName": "alice"}  # someone else's, unowned
    status = await _changed(reconciler, cc)
    cc.calls.clear()
    out = await reconciler.finalize(view({"domainId": "d-new"}, status, generation=2), cc)
    assert out.release and cc.calls == ["DeleteResource"]
    assert "alice|d-old" not in cc.resources and "alice|d-new" in cc.resources
    assert ("Normal", "Deleted", "Deleted user profile alice|d-old") in out.events


async def test_the_values_references_settled_go_to_status_beside_the_identifier(spaces: Reconciler) -> None:
    """The resolved spec's domain id (and a space's owner), whether the spec named it or a reference
    resolved to it: the printer columns read them from status. Not while a reference is unresolved, nor
    when it resolved to another parent than the one this object manages."""
    owned = {"ownershipSettings": {"ownerUserProfileName": "alice"}, "spaceSharingSettings": {"sharingType": "Private"}}
    out = await spaces.reconcile(space_view(owned), FakeCloudControl(SPACE), "create")
    assert cond(out.status, "Ready")["status"] == "True"
    assert (out.status["domainId"], out.status["ownerUserProfileName"]) == ("d-abcdef123456", "alice")
    waiting = view(base_spec={"userProfileName": "alice", "domainIdRef": {"name": "studio"}}, waiting=("x",))
    assert (
        "domainId" not in (await Reconciler(SETTINGS, PROFILE).reconcile(waiting, FakeCloudControl(), "create")).status
    )
    moved = view({"domainId": "d-new"}, MOVED, generation=2)
    assert "domainId" not in (await Reconciler(SETTINGS, PROFILE).reconcile(moved, FakeCloudControl(), "update")).status


ROLE_REFUSED = "The role arn:aws:iam::123456789012:role/team-b of namespace ns is not allowed"


async def test_a_namespace_role_not_allowed_calls_no_aws_and_says_so_once(reconciler: Reconciler) -> None:
    cc = FakeCloudControl()
    out = await reconciler.reconcile(view(role_not_allowed=ROLE_REFUSED), cc, "create")
    assert cc.calls == []
    ready, synced = cond(out.status, "Ready"), cond(out.status, "Synced")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "RoleNotAllowed", ROLE_REFUSED)
    assert (synced["status"], synced["reason"]) == ("False", "RoleNotAllowed")
    assert out.events == [("Warning", "RoleNotAllowed", ROLE_REFUSED)]
    assert out.retry_in is not None  # the annotation or the setting may change: look again later
    assert "failedGeneration" not in out.status  # not the spec's fault: no terminal error
    again = await reconciler.reconcile(view(status=out.status, retry=1, role_not_allowed=ROLE_REFUSED), cc, "create")
    assert again.events == [] and cc.calls == []


async def test_a_profile_made_before_the_role_was_disallowed_is_reported_never_touched(
    reconciler: Reconciler,
) -> None:
    cc = FakeCloudControl()
    made = await reconciler.reconcile(view(), cc, "create")
    cc.calls.clear()
    out = await reconciler.reconcile(view(status=made.status, role_not_allowed=ROLE_REFUSED), cc, "drift")
    assert cc.calls == [] and IDENT in cc.resources
    assert cond(out.status, "Ready")["reason"] == "RoleNotAllowed"
    status = {**made.status, **out.status}
    # Deleting the object waits (what AWS has is not deleted through a role the operator may not use)...
    gone = await reconciler.finalize(view(status=status, role_not_allowed=ROLE_REFUSED), cc)
    assert not gone.release and gone.retry_in is not None and cc.calls == [] and IDENT in cc.resources
    # ...unless the object lets the profile go without AWS, or never reached AWS at all.
    kept = await reconciler.finalize(view({"deletionPolicy": "Retain"}, status, role_not_allowed="x"), cc)
    assert kept.release and cc.calls == []
    never = await reconciler.finalize(view(role_not_allowed=ROLE_REFUSED), cc)
    assert never.release and cc.calls == []
    # Allowed again: the next pass finds it as it was, with one read.
    back = await reconciler.reconcile(view(status=status), cc, "drift")
    assert cc.calls == ["GetResource"] and cond(back.status, "Ready")["status"] == "True"


async def test_a_lifecycle_config_is_deleted_after_the_objects_that_use_it() -> None:
    """Everything deleted at once: the domain that names the script goes first; AWS is not asked (it would
    refuse, ResourceConflict) until it has gone, and the wait is woken when it goes (blocked)."""
    kind = by_name("SageMakerStudioLifecycleConfig")
    reconciler = Reconciler(SETTINGS, kind)
    make_view = VIEWS[kind]
    cc = FakeCloudControl(kind)
    created = await reconciler.reconcile(make_view(), cc, "create")
    cc.calls.clear()
    domain = ("SageMakerDomain platform", True)  # being deleted too
    waiting = await reconciler.finalize(make_view(status=created.status, referrers=(domain,)), cc)
    assert cc.calls == []
    assert not waiting.release and waiting.blocked
    ready = cond(waiting.status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Deleting")
    assert "SageMakerDomain platform" in ready["message"]
    # deleted alone, while the domain stays and names it: blocked, and a person is told what to do
    blocked = await reconciler.finalize(
        make_view(status=created.status, referrers=(("SageMakerDomain platform", False),)), cc
    )
    assert cc.calls == [] and blocked.blocked
    ready = cond(blocked.status, "Ready")
    assert ready["reason"] == "DeleteBlocked" and "still refer to it" in ready["message"]
    assert [e[1] for e in blocked.events] == ["DeleteBlocked"]
    gone = await reconciler.finalize(make_view(status={**created.status, **waiting.status}), cc)
    assert cc.calls == ["DeleteResource"] and gone.release
    assert cc.resources == {}


async def test_an_image_version_has_no_tags_and_is_ours_by_the_identifier_its_create_returned() -> None:
    kind = by_name("SageMakerImageVersion")
    reconciler = Reconciler(SETTINGS, kind)
    cc = FakeCloudControl(kind)
    created = await reconciler.reconcile(VIEWS[kind](), cc, "create")
    assert cond(created.status, "Ready")["status"] == "True"
    ((identifier, model),) = cc.resources.items()
    assert "Tags" not in model and created.status["identifier"] == identifier
    cc.calls.clear()
    again = await reconciler.reconcile(VIEWS[kind](status=created.status), cc, "drift")
    assert cc.calls == ["GetResource"] and again.events == []


async def test_a_delete_whose_references_no_longer_resolve_still_deletes_what_aws_has() -> None:
    """A domain deleted after the lifecycle config its settings named (its object gone, Retained): the spec
    lacks what the reference gave, but status names the domain AWS has, and that is deleted, not left behind."""
    reconciler = Reconciler(SETTINGS, DOMAIN)
    cc = FakeCloudControl(DOMAIN)
    created = await reconciler.reconcile(domain_view(), cc, "create")
    unusable = {k: v for k, v in DOMAIN_SPEC.items() if k != "defaultUserSettings"}  # required: invalid
    cc.calls.clear()
    gone = await reconciler.finalize(
        ObjectView(**{**domain_view(status=created.status).__dict__, "spec": unusable}), cc
    )
    assert cc.calls == ["DeleteResource"] and gone.release
    assert cc.resources == {}
    retained = await reconciler.finalize(
        ObjectView(**{**domain_view(status=created.status).__dict__, "spec": {**unusable, "deletionPolicy": "Retain"}}),
        cc,
    )
    assert retained.release and cc.calls == ["DeleteResource"]


async def test_an_image_whose_name_is_taken_is_refused_not_crashed_on() -> None:
    """AWS makes an image's identifier (its ARN) from its name: a create that meets AlreadyExists finds the
    image by name and says whose it is (here nobody's: AlreadyExists, adopt it or rename)."""
    kind = by_name("SageMakerImage")
    reconciler = Reconciler(SETTINGS, kind)
    cc = FakeCloudControl(kind)
    cc.resources["arn:aws:sagemaker:us-east-1:1:image/team-image"] = {
        "ImageName": "team-image",
        "ImageArn": "arn:aws:sagemaker:us-east-1:1:image/team-image",
    }
    cc.fail_next = "AlreadyExists"
    out = await reconciler.reconcile(VIEWS[kind](), cc, "create")
    assert cc.calls == ["CreateResource", "ListResources"]
    ready = cond(out.status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "AlreadyExists")
    assert "adoptionPolicy: Adopt" in ready["message"]
