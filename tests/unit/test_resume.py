"""What a restart does with each object it meets in the listing (issue 22: restart within 3 LISTs).

A settled object (Ready at its generation, nothing in flight, nothing retiring, its namespace's role
allowed) is taken back by the watch handler: its drift checks are scheduled, and kopf's resume handler
does not run for it (one handler less per object was most of a restart's time). Anything else resumes
through the resume handler, which reconciles it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest

from userprofile_operator.drift import DriftScheduler
from userprofile_operator.handlers import Runtime, build_registry
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.settings import Settings


def _body(uid: str = "uid-a", generation: int = 3, **status: Any) -> dict[str, Any]:
    ready = {"type": "Ready", "status": "True", "observedGeneration": generation}
    return {
        "apiVersion": "sagemaker.awscc.dev/v1alpha1",
        "kind": PROFILE.kind,
        "metadata": {"namespace": "ml", "name": "alice", "uid": uid, "generation": generation},
        "spec": {"domainId": "d-1", "userProfileName": "alice"},
        "status": {"conditions": [ready], "observedGeneration": generation, "region": "us-east-1", **status},
    }


def _runtime(**settings: Any) -> Runtime:
    runtime = Runtime(Settings(drift_interval=600, **settings), (PROFILE,))
    runtime.scheduler = DriftScheduler(lambda ref: asyncio.sleep(0))
    return runtime


def test_a_ready_object_at_its_generation_with_nothing_in_flight_is_settled() -> None:
    assert _runtime().settled(_body())


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_body(observedGeneration=2), id="its spec changed while the operator was away"),
        pytest.param(_body(operation={"requestToken": "t-1"}), id="an AWS request in flight"),
        pytest.param(_body(retiring=[{"identifier": "old"}]), id="an old resource being retired"),
        pytest.param({**_body(), "status": {}}, id="never reconciled"),
        pytest.param(
            {**_body(), "status": {**_body()["status"], "conditions": [{"type": "Ready", "status": "False"}]}},
            id="not Ready",
        ),
    ],
)
def test_anything_left_to_do_is_not_settled(body: dict[str, Any]) -> None:
    assert not _runtime().settled(body)


def test_an_object_in_a_namespace_whose_role_is_refused_is_not_settled() -> None:
    runtime = _runtime(allowed_role_arns=("arn:aws:iam::111111111111:role/allowed",))
    runtime.namespaces["ml"] = {"region": None, "role_arn": "arn:aws:iam::222222222222:role/other"}
    assert not runtime.settled(_body())  # its resume must say why it will not act


def test_saw_tells_the_first_sight_of_an_object_by_uid() -> None:
    runtime = _runtime()
    assert runtime.saw(PROFILE, None, _body())
    assert not runtime.saw(PROFILE, "MODIFIED", _body())
    assert not runtime.saw(PROFILE, None, _body())  # a re-listing of the same object
    assert runtime.saw(PROFILE, "ADDED", _body(uid="uid-b"))  # deleted and made again under the same name
    assert not runtime.saw(PROFILE, "DELETED", _body(uid="uid-b"))


def _registered(registry: kopf.OperatorRegistry, handler_id: str) -> Any:
    found = [h for h in registry._changing.get_all_handlers() if h.id == handler_id]
    assert len(found) == 1, handler_id
    return found[0]


def test_the_resume_handler_runs_only_for_objects_with_something_to_do() -> None:
    runtime = _runtime()
    resume = _registered(build_registry(runtime), "resume")
    assert resume.when is not None
    assert not resume.when(body=kopf.Body(_body()))
    assert resume.when(body=kopf.Body(_body(observedGeneration=2)))


async def test_the_listing_schedules_a_settled_objects_drift_checks_within_one_interval() -> None:
    runtime = _runtime()
    registry = build_registry(runtime)
    seen = [h for h in registry._watching.get_all_handlers() if h.id == "watch_self_check"]
    scheduled: list[tuple[str, float]] = []
    assert runtime.scheduler is not None
    runtime.scheduler.schedule = lambda ref, delay, tolerance=0.0: scheduled.append((ref.uid, delay))  # type: ignore[method-assign]
    await seen[0].fn(type=None, body=kopf.Body(_body()))
    assert len(scheduled) == 1 and scheduled[0][0] == "uid-a"
    assert 0 <= scheduled[0][1] <= 600  # spread over one interval: its last check is unknown
    await seen[0].fn(type=None, body=kopf.Body(_body()))  # listed again (a watch re-list): not again
    await seen[0].fn(type="MODIFIED", body=kopf.Body(_body(uid="uid-c", observedGeneration=2)))
    assert len(scheduled) == 1
