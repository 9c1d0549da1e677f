"""Replacing a content-addressed resource: its derived name, what it retires, who still holds the old one.

Pure decisions (`rollout.py`, `references.named_targets`), as tables.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.references import TargetState, named_targets, resolve
from userprofile_operator.rollout import content_name, holders, roll

AWS_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # StudioLifecycleConfigName's pattern
SCRIPT = {"studioLifecycleConfigContent": "IyEvYmluL2Jhc2g=", "studioLifecycleConfigAppType": "JupyterLab"}


@pytest.mark.parametrize(
    ("prefix", "starts"),
    [
        ("auto-shutdown", "auto-shutdown-"),
        ("Auto.Shutdown", "auto-shutdown-"),  # AWS lower-cases these names; a dot is no letter
        ("x" * 80, "x" * 52 + "-"),  # cut so that the hash fits in 63
        ("a" * 51 + "-b", "a" * 51 + "-"),  # never a dash before the dash
        ("--", ""),  # nothing usable: the hash alone
    ],
)
def test_the_name_is_the_prefix_and_a_hash_within_aws_limits(prefix: str, starts: str) -> None:
    name = content_name(prefix, SCRIPT, 63)
    assert name.startswith(starts)
    assert len(name) <= 63 and AWS_NAME.fullmatch(name), name
    assert re.fullmatch(r"[0-9a-f]{10}", name[-10:])


def test_a_prefix_that_is_already_the_contents_name_is_kept() -> None:
    """An import of a config this operator made (here or in another cluster) adopts it as it is."""
    name = content_name("idle", SCRIPT, 63)
    assert content_name(name, SCRIPT, 63) == name
    assert content_name(name, {**SCRIPT, "studioLifecycleConfigContent": "IyEvYmluL3No"}, 63) != name


def test_the_same_content_gives_the_same_name_and_an_edit_a_new_one() -> None:
    assert content_name("idle", SCRIPT, 63) == content_name("idle", dict(reversed(list(SCRIPT.items()))), 63)
    edited = {**SCRIPT, "studioLifecycleConfigContent": "IyEvYmluL3No"}
    assert content_name("idle", edited, 63) != content_name("idle", SCRIPT, 63)


A = {"identifier": "idle-aaaaaaaaaa", "arn": "arn:a"}
B = {"identifier": "idle-bbbbbbbbbb", "arn": "arn:b"}
C = {"identifier": "idle-cccccccccc", "arn": "arn:c"}
ADOPTED = {"identifier": "idle-shutdown", "arn": "arn:adopted"}


@pytest.mark.parametrize(
    ("retiring", "current", "new", "expected"),
    [
        ([], None, "idle-aaaaaaaaaa", []),  # the first create replaces nothing
        ([], A, "idle-aaaaaaaaaa", []),  # no edit
        ([], A, "idle-bbbbbbbbbb", [A]),  # an edit: the one in use retires
        ([A], B, "idle-cccccccccc", [A, B]),  # a second edit before the first roll-out ended
        ([A], B, "idle-aaaaaaaaaa", [B]),  # an edit taken back: the old name is in use again, never deleted
        ([A], A, "idle-bbbbbbbbbb", [A]),  # a pass repeated after a restart: listed once
        ([], ADOPTED, "idle-shutdown-aaaaaaaaaa", []),  # adopted (imported), not made by us: let go, kept
    ],
)
def test_what_an_object_retires_when_it_moves(
    retiring: list[dict[str, Any]], current: dict[str, Any] | None, new: str, expected: list[dict[str, Any]]
) -> None:
    assert roll(retiring, current, new) == expected


LCC = "SageMakerStudioLifecycleConfig"
TARGET = (LCC, "ml", "idle")


def state(**kw: Any) -> TargetState:
    base: dict[str, Any] = {"ready": True, "identifier": "x", "spec": {}, "in_aws": True}
    return TargetState(**{**base, **kw})


@pytest.mark.parametrize(
    ("name", "seen", "held", "laggards"),
    [
        (
            "a referrer that has moved holds nothing",
            {"studio": state(named={(LCC, "idle")}, recorded={(LCC, "idle"): "arn:b"})},
            False,
            [],
        ),
        (
            "a referrer that has not moved holds it and follows",
            {"studio": state(named={(LCC, "idle")}, recorded={(LCC, "idle"): "arn:a"})},
            True,
            ["studio"],
        ),
        (
            "a referrer that never recorded a value (made by an older operator) holds it",
            {"studio": state(named={(LCC, "idle")})},
            True,
            ["studio"],
        ),
        (
            "a referrer that never reached AWS holds nothing",
            {"studio": state(named={(LCC, "idle")}, in_aws=False)},
            False,
            [],
        ),
        (
            "a pasted ARN holds it, and does not follow",
            {"studio": state(spec={"settings": {"arns": ["arn:a"]}})},
            True,
            [],
        ),
        (
            "a referrer that dropped its reference but last sent the old ARN holds it",
            {"studio": state(recorded={(LCC, "idle"): "arn:a"})},
            True,
            [],
        ),
        (
            "an object naming another config holds nothing",
            {"studio": state(named={(LCC, "other")}, recorded={(LCC, "other"): "arn:z"})},
            False,
            [],
        ),
        (
            "an object of another namespace naming the same name holds nothing",
            {"studio": state(named={(LCC, "idle")})},
            False,
            [],
        ),
    ],
)
def test_who_still_holds_an_old_value(name: str, seen: dict[str, TargetState], held: bool, laggards: list[str]) -> None:
    namespace = "other" if "another namespace" in name else "ml"
    keyed = {("SageMakerDomain", namespace, key): value for key, value in seen.items()}
    keyed[TARGET] = state(arn="arn:b")  # the target itself is never its own holder
    found = holders(TARGET, "arn:b", ["arn:a"], keyed)
    assert bool(found.reasons) is held, (name, found)
    assert [key[2] for key in found.laggards] == laggards, name


def test_holders_say_who_and_why() -> None:
    seen = {
        ("SageMakerDomain", "ml", "studio"): state(named={(LCC, "idle")}),
        ("SageMakerUserProfile", "team-b", "bob"): state(spec={"userSettings": {"arn": "arn:a"}}),
    }
    assert holders(TARGET, "arn:b", ["arn:a"], seen).reasons == (
        "SageMakerDomain ml/studio (names it by reference; not moved to the new one yet)",
        "SageMakerUserProfile team-b/bob (its spec gives the old ARN itself, not a reference: it does not follow)",
    )


def test_named_targets_finds_references_anywhere_in_the_spec_list_items_too() -> None:
    spec = {
        "domainIdRef": {"name": "studio"},
        "userSettings": {
            "jupyterLabAppSettings": {
                "lifecycleConfigArnsRefs": [{"name": "idle"}, {"name": "git"}],
                "customImages": [{"imageNameRef": {"name": "torch"}, "appImageConfigName": "torch-config"}],
            },
        },
    }
    assert named_targets(spec, PROFILE.references, PROFILE.naming.spec_path) == {
        ("SageMakerDomain", "studio"),
        (LCC, "idle"),
        (LCC, "git"),
        ("SageMakerImage", "torch"),
    }


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (TargetState(ready=True, identifier="idle-b", spec={}, arn="arn:b"), ["arn:b"]),  # moves on
        (TargetState(ready=False, identifier="idle-b", spec={}, arn="arn:b"), ["arn:a"]),  # mid-edit: keeps
        (None, ["arn:a"]),  # not seen yet after a restart: keeps what AWS has, the settings stay whole
    ],
)
def test_a_referrer_keeps_what_it_last_sent_while_its_target_cannot_be_read(
    target: TargetState | None, expected: list[str]
) -> None:
    spec = {"userSettings": {"jupyterLabAppSettings": {"lifecycleConfigArnsRefs": [{"name": "idle"}]}}}
    resolution = resolve(
        spec,
        PROFILE.references,
        PROFILE.naming.spec_path,
        lambda kind, name: target,
        fallback={},
        settled={(LCC, "idle"): "arn:a"},
    )
    assert resolution.spec["userSettings"]["jupyterLabAppSettings"]["lifecycleConfigArns"] == expected
    assert resolution.waiting == []
