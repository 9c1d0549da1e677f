"""Decisions of plan.py: patches, tokens, ownership, timing and conditions, without any server."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import jsonpatch
import pytest

from userprofile_operator.conditions import condition_true_at, set_condition
from userprofile_operator.plan import (
    Ownership,
    Step,
    backoff,
    client_token,
    decide,
    failure_stands,
    namespace_role_refusal,
    owner_tag_value,
    ownership,
    parse_duration,
    plan_patch,
    poll_delay,
    reconciled,
    resolve_region,
    with_owner_tag,
    write_only_patch,
)
from userprofile_operator.wire import AwsError, is_transient

OWNER = "sagemaker.awscc.dev/owner"
TAGS = "Tags"
CREATE_ONLY = ["/DomainId", "/UserProfileName", "/UserSettings/RStudioServerProAppSettings/AccessStatus"]
BASE = {"DomainId": "d-1", "UserProfileName": "alice"}


def observed(**extra: object) -> dict[str, object]:
    return {
        **BASE,
        "UserProfileArn": "arn:aws:sagemaker:us-east-1:1:user-profile/d-1/alice",
        "UserSettings": {"StudioWebPortal": "ENABLED", "ExecutionRole": "arn:aws:iam::1:role/a"},
        "Tags": [{"Key": OWNER, "Value": "c/ns/alice"}],
        **extra,
    }


def apply(doc: dict[str, object], patch: list[dict[str, object]]) -> dict[str, object]:
    result: dict[str, object] = jsonpatch.apply_patch(doc, patch)
    return result


def test_no_patch_when_aws_only_adds_defaults_the_user_never_set() -> None:
    desired = with_owner_tag(
        {**BASE, "UserSettings": {"ExecutionRole": "arn:aws:iam::1:role/a"}}, OWNER, "c/ns/alice", tags=TAGS
    )
    assert plan_patch(desired, observed(), CREATE_ONLY, tags=TAGS) == []


def test_changed_field_is_replaced_and_the_result_matches_the_spec() -> None:
    desired = with_owner_tag(
        {**BASE, "UserSettings": {"ExecutionRole": "arn:aws:iam::1:role/b"}}, OWNER, "c/ns/alice", tags=TAGS
    )
    patch = plan_patch(desired, observed(), CREATE_ONLY, tags=TAGS)
    assert patch == [{"op": "replace", "path": "/UserSettings/ExecutionRole", "value": "arn:aws:iam::1:role/b"}]
    result = apply(observed(), patch)
    assert result["UserSettings"] == {"StudioWebPortal": "ENABLED", "ExecutionRole": "arn:aws:iam::1:role/b"}


def test_new_nested_object_is_added() -> None:
    desired = {
        **BASE,
        "UserSettings": {
            "ExecutionRole": "arn:aws:iam::1:role/a",
            "JupyterServerAppSettings": {"DefaultResourceSpec": {"InstanceType": "system"}},
        },
    }
    patch = plan_patch(desired, observed(), CREATE_ONLY, tags=TAGS)
    assert apply(observed(), patch)["UserSettings"]["JupyterServerAppSettings"] == {  # type: ignore[index]
        "DefaultResourceSpec": {"InstanceType": "system"}
    }


def test_field_removed_from_the_spec_is_removed_in_aws_but_defaults_stay() -> None:
    previous = {
        **BASE,
        "UserSettings": {"ExecutionRole": "arn:aws:iam::1:role/a"},
        "Tags": [{"Key": "t", "Value": "1"}],
    }
    desired = with_owner_tag({**BASE, "Tags": [{"Key": "t", "Value": "1"}]}, OWNER, "c/ns/alice", tags=TAGS)
    patch = plan_patch(
        desired,
        observed(Tags=[{"Key": "t", "Value": "1"}, {"Key": OWNER, "Value": "c/ns/alice"}]),
        CREATE_ONLY,
        previous,
        tags=TAGS,
    )
    assert patch == [{"op": "remove", "path": "/UserSettings/ExecutionRole"}]


def test_tags_compare_as_a_set_and_are_replaced_whole() -> None:
    current = observed(Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}, {"Key": OWNER, "Value": "o"}])
    same = with_owner_tag(
        {**BASE, "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}, OWNER, "o", tags=TAGS
    )
    assert plan_patch(same, current, CREATE_ONLY, tags=TAGS) == []
    changed = with_owner_tag({**BASE, "Tags": [{"Key": "a", "Value": "9"}]}, OWNER, "o", tags=TAGS)
    patch = plan_patch(changed, current, CREATE_ONLY, tags=TAGS)
    assert patch == [
        {"op": "replace", "path": "/Tags", "value": [{"Key": "a", "Value": "9"}, {"Key": OWNER, "Value": "o"}]}
    ]


def test_tags_are_added_when_aws_has_none_and_aws_system_tags_are_kept() -> None:
    current = observed()
    del current["Tags"]
    patch = plan_patch(with_owner_tag(dict(BASE), OWNER, "o", tags=TAGS), current, CREATE_ONLY, tags=TAGS)
    assert patch == [{"op": "add", "path": "/Tags", "value": [{"Key": OWNER, "Value": "o"}]}]
    system = observed(Tags=[{"Key": "aws:cloudformation:stack", "Value": "s"}])
    patch = plan_patch(with_owner_tag(dict(BASE), OWNER, "o", tags=TAGS), system, CREATE_ONLY, tags=TAGS)
    assert patch[0]["value"] == [{"Key": "aws:cloudformation:stack", "Value": "s"}, {"Key": OWNER, "Value": "o"}]


def test_create_only_paths_are_never_patched() -> None:
    desired = {
        **BASE,
        "UserSettings": {
            "ExecutionRole": "arn:aws:iam::1:role/a",
            "RStudioServerProAppSettings": {"AccessStatus": "ENABLED"},
        },
    }
    current = observed(
        UserSettings={
            "ExecutionRole": "arn:aws:iam::1:role/a",
            "RStudioServerProAppSettings": {"AccessStatus": "DISABLED"},
        }
    )
    assert plan_patch(desired, current, CREATE_ONLY, tags=TAGS) == []


# -- writeOnly properties (a space's SpaceSettings: AWS never returns them) -------------------------

SPACE = {"DomainId": "d-1", "SpaceName": "lab"}
SPACE_CREATE_ONLY = ["/DomainId", "/SpaceName", "/SpaceSharingSettings", "/OwnershipSettings"]
WRITE_ONLY = ["/SpaceSettings"]
JUPYTER = {"AppType": "JupyterLab"}
CODE_EDITOR = {"AppType": "CodeEditor"}


def observed_space(**extra: object) -> dict[str, object]:
    """A space as Cloud Control returns it: no SpaceSettings, whatever was sent."""
    return {**SPACE, "SpaceArn": "arn:aws:sagemaker:us-east-1:1:space/d-1/lab", "Url": "https://x", **extra}


def test_a_write_only_property_aws_does_not_return_is_never_patched() -> None:
    desired = with_owner_tag({**SPACE, "SpaceSettings": JUPYTER}, OWNER, "c/ns/lab", tags=TAGS)
    current = observed_space(Tags=[{"Key": OWNER, "Value": "c/ns/lab"}])
    for previous in (None, {**SPACE, "SpaceSettings": JUPYTER}, {**SPACE, "SpaceSettings": CODE_EDITOR}, dict(SPACE)):
        patch = plan_patch(desired, current, SPACE_CREATE_ONLY, previous, tags=TAGS, write_only=WRITE_ONLY)
        assert patch == [], previous
    # removed from the spec: still nothing, a patch cannot remove what AWS does not report
    removed = plan_patch(
        with_owner_tag(dict(SPACE), OWNER, "c/ns/lab", tags=TAGS),
        current,
        SPACE_CREATE_ONLY,
        {**SPACE, "SpaceSettings": JUPYTER},
        tags=TAGS,
        write_only=WRITE_ONLY,
    )
    assert removed == []


def test_write_only_paths_do_not_hide_other_changes() -> None:
    desired = with_owner_tag({**SPACE, "SpaceSettings": JUPYTER, "SpaceDisplayName": "Lab"}, OWNER, "o", tags=TAGS)
    patch = plan_patch(desired, observed_space(), SPACE_CREATE_ONLY, None, tags=TAGS, write_only=WRITE_ONLY)
    assert patch == [
        {"op": "add", "path": "/SpaceDisplayName", "value": "Lab"},
        {"op": "add", "path": "/Tags", "value": [{"Key": OWNER, "Value": "o"}]},
    ]


def test_write_only_patch_sends_a_write_only_property_only_when_the_spec_changed_it() -> None:
    desired = {**SPACE, "SpaceSettings": JUPYTER}
    assert write_only_patch(desired, None, WRITE_ONLY) == []
    assert write_only_patch(desired, {**SPACE, "SpaceSettings": JUPYTER}, WRITE_ONLY) == []
    changed = [{"op": "add", "path": "/SpaceSettings", "value": JUPYTER}]
    assert write_only_patch(desired, {**SPACE, "SpaceSettings": CODE_EDITOR}, WRITE_ONLY) == changed
    assert write_only_patch(desired, dict(SPACE), WRITE_ONLY) == changed
    assert write_only_patch(desired, {**SPACE, "SpaceSettings": CODE_EDITOR}, ["SpaceSettings"]) == changed
    # removed from the spec: left as AWS has it
    assert write_only_patch(dict(SPACE), {**SPACE, "SpaceSettings": JUPYTER}, WRITE_ONLY) == []
    assert write_only_patch(desired, {**SPACE, "SpaceSettings": CODE_EDITOR}, ()) == []


def test_client_tokens_are_deterministic_distinct_and_valid() -> None:
    uid = "8a5bbdf5-4ce9-4034-a8bc-4ca1366f3b05"
    token = client_token("CREATE", uid, 1, 0, None)
    assert token == client_token("CREATE", uid, 1, 0, None)
    others = {
        client_token("CREATE", uid, 2, 0, None),
        client_token("UPDATE", uid, 1, 0, None),
        client_token("CREATE", uid, 1, 1, None),
        client_token("CREATE", uid, 1, 0, "2026-01-01T00:00:00Z"),
    }
    assert token not in others and len(others) == 4
    assert len(token) <= 128
    assert all(c.isalnum() or c in "-+/=" for c in token)


def test_ownership_by_tag() -> None:
    assert ownership(observed(), OWNER, "c/ns/alice", tags=TAGS) == ("ours", "c/ns/alice")
    assert ownership(observed(), OWNER, "c/ns/bob", tags=TAGS) == ("other", "c/ns/alice")
    assert ownership({"Tags": []}, OWNER, "c/ns/alice", tags=TAGS) == ("unowned", None)


def test_owner_tag_value_fits_aws_limits() -> None:
    assert owner_tag_value("c", "ns", "alice") == "c/ns/alice"
    long = owner_tag_value("c", "n" * 63, "x" * 200)
    assert len(long) == 128
    assert long != owner_tag_value("c", "n" * 63, "x" * 199 + "y")


def test_error_classification() -> None:
    assert is_transient("Throttling") and is_transient("ThrottlingException")
    assert is_transient("ServiceInternalError") and is_transient("ConcurrentOperationException")
    assert not is_transient("AccessDenied") and not is_transient("ValidationException")
    assert not AwsError("InvalidRequest", "bad").transient


def test_backoff_grows_to_a_cap_with_jitter() -> None:
    rng = random.Random(1)
    delays = [backoff(n, 1, 30, rng) for n in range(10)]
    assert all(0.5 <= d <= 30 for d in delays)
    assert delays[-1] >= 15
    assert backoff(0, 1, 30, rng) <= 1


def test_poll_delay_honours_retry_after() -> None:
    assert poll_delay(0, 1010.0, 1000.0, 1, 30) == 10
    assert poll_delay(0, 5000.0, 1000.0, 1, 30) == 30
    assert poll_delay(2, None, 1000.0, 1, 30) == 2.25


def test_parse_duration() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("2m") == 120
    assert parse_duration("1h") == 3600
    assert parse_duration("soon") is None
    assert parse_duration(None) is None


def test_region_precedence() -> None:
    assert resolve_region("eu-west-1", "us-west-2", "us-east-1") == "eu-west-1"
    assert resolve_region(None, "us-west-2", "us-east-1") == "us-west-2"
    assert resolve_region(None, None, "us-east-1") == "us-east-1"


def test_condition_transition_time_moves_only_when_status_flips() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    conds = set_condition([], "Ready", True, "Available", "", 1, t0)
    again = set_condition(conds, "Ready", True, "Available", "", 2, t0 + timedelta(minutes=5))
    assert again[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert again[0]["observedGeneration"] == 2
    flipped = set_condition(again, "Ready", False, "Throttling", "slow down", 2, t0 + timedelta(minutes=6))
    assert flipped[0]["lastTransitionTime"] == "2026-01-01T00:06:00Z"
    assert flipped[0]["reason"] == "Throttling"


def test_a_condition_counts_only_for_the_generation_it_was_set_for() -> None:
    conditions = [{"type": "Ready", "status": "True", "observedGeneration": 2}, {"type": "Synced", "status": "False"}]
    assert condition_true_at(conditions, "Ready", 2)
    assert not condition_true_at(conditions, "Ready", 3)
    assert not condition_true_at(conditions, "Synced", 2)


def test_reconciled_means_this_generation_and_no_request_pending() -> None:
    assert reconciled({"metadata": {"generation": 2}, "status": {"observedGeneration": 2}})
    assert not reconciled({"metadata": {"generation": 3}, "status": {"observedGeneration": 2}})
    pending = {"observedGeneration": 2, "operation": {"type": "UPDATE", "requestToken": "t-1"}}
    assert not reconciled({"metadata": {"generation": 2}, "status": pending})
    assert not reconciled({"metadata": {"generation": 1}, "status": None})


def _failed(reason: str) -> dict[str, object]:
    return {"failedGeneration": 2, "conditions": [{"type": "Ready", "status": "False", "reason": reason}]}


@pytest.mark.parametrize(
    ("trigger", "status", "stands"),
    [
        ("drift", _failed("AccessDenied"), True),  # only a new spec can fix it: no AWS call per drift check
        ("resume", _failed("AlreadyExists"), True),
        ("update", _failed("AccessDenied"), False),  # a pass for a spec looks again
        ("reference", _failed("AccessDenied"), False),  # so does one a target's change woke
        ("drift", {**_failed("AccessDenied"), "failedGeneration": 1}, False),  # an older generation's
        ("drift", _failed("ReferenceChanged"), False),  # depends on the target, not the spec
        ("resume", _failed("ReferenceChanged"), False),
        ("drift", {}, False),
    ],
)
def test_a_terminal_error_stands_for_drift_and_resume_at_its_generation_unless_a_reference_changed(
    trigger: str, status: dict[str, object], stands: bool
) -> None:
    assert failure_stands(trigger, status, 2) is stands


@pytest.mark.parametrize(
    ("exists", "owned", "observe_only", "adopt", "whose", "step"),
    [
        (True, True, True, False, "ours", Step.OBSERVE),  # ObserveOnly never writes, whatever it sees
        (False, False, True, False, "unowned", Step.OBSERVE),
        (False, False, False, False, "unowned", Step.CREATE),
        (False, False, False, True, "unowned", Step.CREATE),  # adopting nothing: create it
        (False, True, False, False, "unowned", Step.RECREATE),  # ours, gone: deleted out of band
        (True, False, False, False, "other", Step.CONFLICT),
        (True, True, False, False, "other", Step.CONFLICT),  # re-tagged by someone else since
        (True, False, False, False, "unowned", Step.ALREADY_EXISTS),
        (True, False, False, True, "unowned", Step.ADOPT),
        (True, False, False, False, "ours", Step.SYNC),  # our tag, our status not written yet (a crash)
        (True, True, False, False, "unowned", Step.SYNC),  # ours, its tag removed: put it back
        (True, True, False, False, "ours", Step.SYNC),
    ],
)
def test_decide_takes_exactly_one_branch_from_what_was_observed(
    exists: bool, owned: bool, observe_only: bool, adopt: bool, whose: Ownership, step: Step
) -> None:
    assert decide(exists, owned=owned, observe_only=observe_only, adopt=adopt, whose=whose) is step


class TestNamespaceRoleGuardrail:
    ROLE = "arn:aws:iam::123456789012:role/team-a/sagemaker"

    def test_no_setting_or_no_annotation_needs_no_guardrail(self) -> None:
        assert namespace_role_refusal(self.ROLE, None, "ns") is None
        assert namespace_role_refusal(None, [], "ns") is None

    def test_a_pattern_must_match_the_whole_arn(self) -> None:
        assert namespace_role_refusal(self.ROLE, [r"arn:aws:iam::123456789012:role/team-a/.*"], "ns") is None
        assert namespace_role_refusal(self.ROLE, ["other", r"arn:aws:iam::\d{12}:role/team-a/sagemaker"], "ns") is None
        # a prefix or a part is not enough
        assert namespace_role_refusal(self.ROLE, [r"arn:aws:iam::123456789012:role/team-a"], "ns") is not None
        assert namespace_role_refusal(self.ROLE, ["team-a"], "ns") is not None

    def test_the_refusal_names_the_role_the_namespace_and_the_setting(self) -> None:
        message = namespace_role_refusal(self.ROLE, [], "team-b")
        assert message is not None
        assert self.ROLE in message and "namespace team-b" in message and "SMUP_ALLOWED_ROLE_ARNS" in message

    def test_the_setting_is_a_json_list_and_refuses_a_bad_pattern(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from pydantic import ValidationError

        from userprofile_operator.settings import Settings

        assert Settings().allowed_role_arns is None
        monkeypatch.setenv("SMUP_ALLOWED_ROLE_ARNS", '["arn:aws:iam::\\\\d{12}:role/team-.*"]')
        assert Settings().allowed_role_arns == [r"arn:aws:iam::\d{12}:role/team-.*"]
        monkeypatch.setenv("SMUP_ALLOWED_ROLE_ARNS", '["role/(team-a"]')
        with pytest.raises(ValidationError, match="not a regular expression"):
            Settings()


def test_tags_aws_sets_only_at_creation_are_never_patched() -> None:
    """A lifecycle config's tags are createOnly (its type has no update): adopting one, or a tag edited
    in AWS, never makes an update that AWS cannot do."""
    desired = {"StudioLifecycleConfigName": "idle", "Tags": [{"Key": "owner", "Value": "us"}]}
    observed = {"StudioLifecycleConfigName": "idle", "Tags": [{"Key": "team", "Value": "ml"}]}
    assert plan_patch(desired, observed, ["/Tags", "/StudioLifecycleConfigName"], tags="Tags") == []
    assert plan_patch(desired, observed, ["/StudioLifecycleConfigName"], tags="Tags") != []
