"""References between managed objects, resolved as plain data: `resolve()` and `target_of()`.

A profile names its domain by the SageMakerDomain object (`domainIdRef: {name}`), a space its owner by the
SageMakerUserProfile object (`ownershipSettings.ownerUserProfileNameRef: {name}`). What the runtime does
with the result (who waits, who is woken) is tested in test_resync.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from userprofile_operator.kind import Kind
from userprofile_operator.kinds.domain import KIND as DOMAIN
from userprofile_operator.kinds.space import KIND as SPACE
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.references import Reference, Resolution, TargetState, referenced, resolve, target_of

DOMAIN_ID = "d-abcdef123456"
READY_DOMAIN = TargetState(ready=True, identifier=DOMAIN_ID, spec={"domainName": "studio"})
READY_ALICE = TargetState(ready=True, identifier=f"alice|{DOMAIN_ID}", spec={"userProfileName": "alice-aws"})

PROFILE_SPEC = {"domainIdRef": {"name": "studio"}, "userProfileName": "alice", "tags": [{"key": "a", "value": "b"}]}
SPACE_SPEC = {
    "domainIdRef": {"name": "studio"},
    "spaceName": "lab",
    "ownershipSettings": {"ownerUserProfileNameRef": {"name": "alice"}},
    "spaceSharingSettings": {"sharingType": "Private"},
}


class Lookup:
    """What the operator has seen, keyed `<Kind>_<name>`; it records what it was asked."""

    def __init__(self, **known: TargetState) -> None:
        self.known = known
        self.asked: list[tuple[str, str]] = []

    def __call__(self, kind: str, name: str) -> TargetState | None:
        self.asked.append((kind, name))
        return self.known.get(f"{kind}_{name}")


def resolve_profile(spec: dict[str, Any], fallback: dict[Any, str] | None = None, **known: TargetState) -> Resolution:
    return resolve(spec, PROFILE.references, PROFILE.naming.spec_path, Lookup(**known), fallback)


def resolve_space(spec: dict[str, Any], fallback: dict[Any, str] | None = None, **known: TargetState) -> Resolution:
    return resolve(spec, SPACE.references, SPACE.naming.spec_path, Lookup(**known), fallback)


# -- resolve ------------------------------------------------------------------------------------------


def test_a_ready_domain_supplies_its_identifier_and_the_ref_is_gone() -> None:
    resolution = resolve_profile(PROFILE_SPEC, SageMakerDomain_studio=READY_DOMAIN)
    assert resolution.waiting == []
    assert resolution.spec == {
        "domainId": DOMAIN_ID,
        "userProfileName": "alice",
        "tags": [{"key": "a", "value": "b"}],
    }
    assert PROFILE_SPEC["domainIdRef"] == {"name": "studio"}  # the input is left as it was


def test_a_domain_that_does_not_exist_is_waited_for_by_kind_and_name() -> None:
    resolution = resolve_profile(PROFILE_SPEC)
    assert resolution.waiting == [("SageMakerDomain", "studio", "does not exist")]
    assert "domainIdRef" not in resolution.spec and "domainId" not in resolution.spec
    assert resolution.spec["userProfileName"] == "alice"


@pytest.mark.parametrize(
    "state",
    [
        TargetState(ready=False, identifier=None, spec={}),  # being created
        TargetState(ready=False, identifier=DOMAIN_ID, spec={}),  # exists, but not Ready (updating, failed)
        TargetState(ready=True, identifier=None, spec={}),  # Ready, but no identifier to give
    ],
    ids=["creating", "not-ready", "no-identifier"],
)
def test_a_domain_that_cannot_give_its_identifier_is_waited_for(state: TargetState) -> None:
    resolution = resolve_profile(PROFILE_SPEC, SageMakerDomain_studio=state)
    assert resolution.waiting == [("SageMakerDomain", "studio", "is not Ready")]
    assert "domainId" not in resolution.spec and "domainIdRef" not in resolution.spec


def test_the_lookup_is_asked_for_the_target_kind_and_name_only() -> None:
    find = Lookup(SageMakerDomain_studio=READY_DOMAIN, SageMakerUserProfile_alice=READY_ALICE)
    resolve(SPACE_SPEC, SPACE.references, SPACE.naming.spec_path, find)
    assert find.asked == [("SageMakerDomain", "studio"), ("SageMakerUserProfile", "alice")]


def test_a_nested_reference_takes_the_profiles_user_profile_name() -> None:
    resolution = resolve_space(SPACE_SPEC, SageMakerDomain_studio=READY_DOMAIN, SageMakerUserProfile_alice=READY_ALICE)
    assert resolution.waiting == []
    # the profile's spec.userProfileName (its name in AWS), not its Kubernetes name
    assert resolution.spec["ownershipSettings"] == {"ownerUserProfileName": "alice-aws"}
    assert resolution.spec["domainId"] == DOMAIN_ID
    assert "domainIdRef" not in resolution.spec
    assert resolution.spec["spaceSharingSettings"] == {"sharingType": "Private"}


def test_every_unresolved_reference_is_reported() -> None:
    resolution = resolve_space(SPACE_SPEC, SageMakerUserProfile_alice=TargetState(False, None, {}))
    assert resolution.waiting == [
        ("SageMakerDomain", "studio", "does not exist"),
        ("SageMakerUserProfile", "alice", "is not Ready"),
    ]
    assert "ownerUserProfileNameRef" not in resolution.spec["ownershipSettings"]


def test_a_profile_without_a_user_profile_name_gives_nothing() -> None:
    nameless = TargetState(ready=True, identifier=f"alice|{DOMAIN_ID}", spec={"userProfileName": ""})
    resolution = resolve_space(SPACE_SPEC, SageMakerDomain_studio=READY_DOMAIN, SageMakerUserProfile_alice=nameless)
    assert resolution.waiting == [("SageMakerUserProfile", "alice", "is not Ready")]


def test_the_fallback_gives_an_identifier_part_when_the_target_cannot() -> None:
    """An object AWS already has keeps the domain it was created in while its domain object is away."""
    resolution = resolve_profile(PROFILE_SPEC, fallback={("DomainId",): DOMAIN_ID})
    assert resolution.waiting == []
    assert resolution.spec["domainId"] == DOMAIN_ID


def test_a_ready_target_wins_over_the_fallback() -> None:
    """A reference that now names another domain resolves to it: the reconciler refuses the change."""
    moved = TargetState(ready=True, identifier="d-new", spec={})
    resolution = resolve_profile(PROFILE_SPEC, fallback={("DomainId",): DOMAIN_ID}, SageMakerDomain_studio=moved)
    assert resolution.spec["domainId"] == "d-new"


def test_with_a_fallback_a_nested_unresolved_reference_drops_its_top_level_property() -> None:
    """The space's identifier holds its domain, not its owner: the createOnly ownershipSettings is left out
    (AWS keeps what it has), and nothing is waited for."""
    fallback = {("DomainId",): DOMAIN_ID, ("SpaceName",): "lab"}
    resolution = resolve_space(SPACE_SPEC, fallback=fallback)
    assert resolution.waiting == []
    assert "ownershipSettings" not in resolution.spec
    assert resolution.spec == {
        "domainId": DOMAIN_ID,
        "spaceName": "lab",
        "spaceSharingSettings": {"sharingType": "Private"},
    }


def test_an_empty_fallback_waits_for_nothing() -> None:
    """An object being deleted that AWS never had: nothing to wait for, nothing filled in."""
    resolution = resolve_space(SPACE_SPEC, fallback={})
    assert resolution.waiting == []
    assert resolution.spec == {"spaceName": "lab", "spaceSharingSettings": {"sharingType": "Private"}}


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        (PROFILE, {"domainId": DOMAIN_ID, "userProfileName": "alice"}),
        (SPACE, {"domainId": DOMAIN_ID, "spaceName": "lab", "ownershipSettings": {"ownerUserProfileName": "alice"}}),
        (DOMAIN, {"domainName": "studio", "authMode": "IAM"}),
    ],
    ids=["profile", "space", "domain"],
)
def test_a_spec_without_references_is_left_unchanged(kind: Kind, spec: dict[str, Any]) -> None:
    find = Lookup()
    resolution = resolve(spec, kind.references, kind.naming.spec_path, find)
    assert resolution.spec == spec and resolution.spec is not spec
    assert resolution.waiting == []
    assert find.asked == []


def test_a_reference_takes_the_identifier_unless_it_names_a_spec_field() -> None:
    domain_ref = PROFILE.references[0]
    assert domain_ref == Reference(("DomainId",), "SageMakerDomain")
    owner = next(ref for ref in SPACE.references if ref.target == "SageMakerUserProfile")
    assert owner.value == "userProfileName"
    state = TargetState(ready=True, identifier="x|y", spec={"userProfileName": "bob"})
    assert (state.value(domain_ref), state.value(owner)) == ("x|y", "bob")
    assert TargetState(ready=True, identifier=None, spec={}).value(owner) is None


# -- target_of ----------------------------------------------------------------------------------------


def body(generation: int = 2, conditions: list[dict[str, Any]] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "studio", "namespace": "ml", "generation": generation},
        "spec": {"domainName": "studio"},
        "status": {"conditions": conditions or [], **status},
    }


def ready(status: str = "True", generation: int = 2) -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": "Available", "observedGeneration": generation}


def test_ready_at_the_current_generation_is_a_ready_target() -> None:
    state = target_of(body(conditions=[ready()], identifier=DOMAIN_ID))
    assert state == TargetState(ready=True, identifier=DOMAIN_ID, spec={"domainName": "studio"}, in_aws=True)


@pytest.mark.parametrize(
    "conditions",
    [
        [],
        [ready("False")],
        [ready("Unknown")],
        [ready(generation=1)],  # Ready for the spec before: the new one is not applied yet
        [{"type": "Synced", "status": "True", "observedGeneration": 2}],
    ],
    ids=["no-conditions", "false", "unknown", "older-generation", "synced-only"],
)
def test_anything_else_is_not_ready(conditions: list[dict[str, Any]]) -> None:
    state = target_of(body(conditions=conditions, identifier=DOMAIN_ID))
    assert not state.ready
    assert state.identifier == DOMAIN_ID


def test_an_object_without_status_or_spec_is_a_target_that_is_not_ready() -> None:
    state = target_of({"metadata": {"name": "studio", "generation": 1}})
    assert state == TargetState(ready=False, identifier=None, spec={})


# -- the platform kinds: ARNs, lists of values, references in list items ---------------------------------

LCC_ARN = "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/idle-shutdown"
OTHER_ARN = "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/conda"
READY_LCC = TargetState(ready=True, identifier="idle-shutdown", spec={}, arn=LCC_ARN)
READY_IMAGE = TargetState(ready=True, identifier="arn:...:image/team", spec={"imageName": "team"}, arn="arn:image")
READY_AIC = TargetState(ready=True, identifier="team-lab", spec={"appImageConfigName": "team-lab"})


def resolve_domain(spec: dict[str, Any], fallback: dict[Any, str] | None = None, **known: TargetState) -> Resolution:
    return resolve(spec, DOMAIN.references, DOMAIN.naming.spec_path, Lookup(**known), fallback)


def lab(**settings: Any) -> dict[str, Any]:
    return {"domainName": "studio", "authMode": "IAM", "defaultUserSettings": {"jupyterLabAppSettings": settings}}


def test_a_lifecycle_config_supplies_its_arn_to_one_field_and_to_a_list_after_the_values_given() -> None:
    spec = lab(
        lifecycleConfigArns=[OTHER_ARN, LCC_ARN],
        lifecycleConfigArnsRefs=[{"name": "idle"}],
        defaultResourceSpec={"lifecycleConfigArnRef": {"name": "idle"}},
    )
    resolution = resolve_domain(spec, SageMakerStudioLifecycleConfig_idle=READY_LCC)
    assert resolution.waiting == []
    settings = resolution.spec["defaultUserSettings"]["jupyterLabAppSettings"]
    assert settings == {
        "lifecycleConfigArns": [OTHER_ARN, LCC_ARN],  # in order, each once
        "defaultResourceSpec": {"lifecycleConfigArn": LCC_ARN},
    }
    only_refs = resolve_domain(
        lab(lifecycleConfigArnsRefs=[{"name": "idle"}]), SageMakerStudioLifecycleConfig_idle=READY_LCC
    )
    assert only_refs.spec["defaultUserSettings"]["jupyterLabAppSettings"] == {"lifecycleConfigArns": [LCC_ARN]}


def test_each_item_of_a_list_resolves_its_own_references() -> None:
    spec = lab(
        customImages=[
            {"imageNameRef": {"name": "team"}, "appImageConfigNameRef": {"name": "lab"}},
            {"imageName": "by-hand", "appImageConfigName": "by-hand-lab", "imageVersionNumber": 2},
        ]
    )
    resolution = resolve_domain(spec, SageMakerImage_team=READY_IMAGE, SageMakerAppImageConfig_lab=READY_AIC)
    assert resolution.waiting == []
    assert resolution.spec["defaultUserSettings"]["jupyterLabAppSettings"]["customImages"] == [
        {"imageName": "team", "appImageConfigName": "team-lab"},
        {"imageName": "by-hand", "appImageConfigName": "by-hand-lab", "imageVersionNumber": 2},
    ]


def test_a_reference_to_a_missing_image_or_one_not_ready_waits_for_each() -> None:
    spec = lab(
        lifecycleConfigArnsRefs=[{"name": "idle"}],
        customImages=[{"imageNameRef": {"name": "team"}, "appImageConfigNameRef": {"name": "lab"}}],
    )
    not_ready = TargetState(ready=False, identifier=None, spec={"appImageConfigName": "team-lab"})
    resolution = resolve_domain(
        spec, SageMakerStudioLifecycleConfig_idle=READY_LCC, SageMakerAppImageConfig_lab=not_ready
    )
    assert sorted(resolution.waiting) == [
        ("SageMakerAppImageConfig", "lab", "is not Ready"),
        ("SageMakerImage", "team", "does not exist"),
    ]


def test_an_existing_domain_whose_target_is_gone_keeps_what_aws_has_of_those_settings() -> None:
    spec = {**lab(lifecycleConfigArnsRefs=[{"name": "idle"}]), "tags": [{"key": "a", "value": "b"}]}
    resolution = resolve_domain(spec, fallback={})
    assert resolution.waiting == []
    assert resolution.spec == {"domainName": "studio", "authMode": "IAM", "tags": [{"key": "a", "value": "b"}]}


def test_referenced_names_the_objects_of_one_kind_a_spec_points_at_wherever_they_are() -> None:
    spec = lab(
        lifecycleConfigArnsRefs=[{"name": "idle"}, {"name": "conda"}],
        defaultResourceSpec={"lifecycleConfigArnRef": {"name": "idle"}, "sageMakerImageArnRef": {"name": "team"}},
        customImages=[{"imageNameRef": {"name": "other"}, "appImageConfigName": "x"}],
    )
    names = referenced(spec, DOMAIN.references, DOMAIN.naming.spec_path, "SageMakerStudioLifecycleConfig")
    assert names == {"idle", "conda"}
    assert referenced(spec, DOMAIN.references, DOMAIN.naming.spec_path, "SageMakerImage") == {"team", "other"}
    assert referenced(spec, DOMAIN.references, DOMAIN.naming.spec_path, "SageMakerUserProfile") == set()


def test_a_target_carries_its_arn_and_whether_it_is_being_deleted() -> None:
    body = {
        "metadata": {"generation": 1, "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"studioLifecycleConfigName": "idle"},
        "status": {
            "arn": LCC_ARN,
            "identifier": "idle",
            "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 1}],
        },
    }
    state = target_of(body)
    assert (state.ready, state.arn, state.deleting) == (True, LCC_ARN, True)
    assert state.value(Reference(("LifecycleConfigArn",), "SageMakerStudioLifecycleConfig", "arn")) == LCC_ARN
