"""The resync: which objects it hands back to kopf, and that a healthy cluster costs no writes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from userprofile_operator.kind import FINALIZER, Kind
from userprofile_operator.kinds import all_kinds
from userprofile_operator.kinds.space import KIND as SPACE
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.plan import awaiting_operator, resync_plan
from userprofile_operator.resync import Resync

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def obj(
    name: str,
    *,
    generation: int = 1,
    observed: int | None = None,
    version: str = "10",
    status: dict[str, Any] | None = None,
    deleting: bool = False,
    finalizers: tuple[str, ...] = (FINALIZER,),
    namespace: str = "team-a",
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "generation": generation,
        "resourceVersion": version,
        "finalizers": list(finalizers),
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-11-27T11:59:00Z"
    body_status = dict(status or {})
    if observed is not None:
        body_status["observedGeneration"] = observed
    return {"metadata": meta, "status": body_status}


def delayed(seconds: float) -> dict[str, Any]:
    """kopf's progress record of a handler to be retried `seconds` from NOW (naive UTC, as kopf writes)."""
    when = (NOW + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat(timespec="microseconds")
    return {"kopf": {"progress": {"reconcile": {"retries": 1, "delayed": when}}}}


# -- the decision ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (obj("new"), True),  # never reconciled: no status at all
        (obj("behind", generation=2, observed=1), True),
        (obj("settled", generation=2, observed=2), False),
        (obj("pending", observed=1, status={"operation": {"type": "CREATE"}}), True),
        (obj("retry-planned", generation=2, observed=1, status=delayed(30)), False),
        (obj("retry-overdue", generation=2, observed=1, status=delayed(-30)), True),
        (obj("deleting", observed=1, deleting=True), True),
        (obj("deleted-by-kubernetes", observed=1, deleting=True, finalizers=()), False),
        (obj("someone-elses-finalizer", observed=1, deleting=True, finalizers=("x/y",)), False),
    ],
)
def test_which_objects_await_the_operator(body: dict[str, Any], expected: bool) -> None:
    assert awaiting_operator(body, NOW, FINALIZER) is expected


def test_an_object_is_nudged_only_after_a_whole_interval_without_change() -> None:
    stuck, moving, settled = obj("stuck"), obj("moving", version="20"), obj("settled", observed=1)
    nudge, suspects = resync_plan({}, [stuck, moving, settled], NOW, set(), FINALIZER)
    assert nudge == []  # first sight: maybe kopf is about to get to them
    assert suspects == {"uid-stuck": "10", "uid-moving": "20"}

    moved = obj("moving", version="21")  # kopf wrote to it in between: it is alive
    nudge, suspects = resync_plan(suspects, [stuck, moved, settled], NOW, set(), FINALIZER)
    assert nudge == [stuck]
    assert suspects == {"uid-stuck": "10", "uid-moving": "21"}


def test_an_object_a_handler_is_working_on_is_not_nudged() -> None:
    stuck = obj("stuck")
    nudge, suspects = resync_plan({"uid-stuck": "10"}, [stuck], NOW, {"uid-stuck"}, FINALIZER)
    assert nudge == [] and suspects == {}


# -- the loop -------------------------------------------------------------------------------------


class FakeObjects:
    """Pages of objects per namespace (of the user profile kind, unless told another), and the status
    patches written."""

    def __init__(
        self,
        by_namespace: dict[str | None, list[dict[str, Any]]],
        fail: set[str] = frozenset(),
        kind: Kind = PROFILE,
    ) -> None:
        self.by_kind: dict[Kind, dict[str | None, list[dict[str, Any]]]] = {kind: by_namespace}
        self.patches: list[tuple[str, str, dict[str, Any]]] = []
        self.patched_kinds: list[Kind] = []
        self.listed: list[str | None] = []
        self.listed_kinds: list[Kind] = []
        self.fail = fail

    async def pages(self, kind: Kind, namespace: str | None) -> AsyncIterator[list[dict[str, Any]]]:
        self.listed.append(namespace)
        self.listed_kinds.append(kind)
        items = self.by_kind.get(kind, {}).get(namespace, [])
        for start in range(0, max(len(items), 1), 2):  # pages of two
            yield items[start : start + 2]

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None:
        if name in self.fail:
            raise RuntimeError("the API server is away")
        self.patches.append((namespace, name, status))
        self.patched_kinds.append(kind)


async def test_two_passes_touch_kopfs_dummy_on_stalled_objects_only() -> None:
    objects = [obj("a", observed=1), obj("b"), obj("c", generation=3, observed=2, status=delayed(60)), obj("d")]
    fake = FakeObjects({"team-a": objects})
    resync = Resync(fake, [PROFILE], lambda: ["team-a"], interval=300, busy=set(), clock=lambda: NOW)

    assert await resync.run_pass() == 0
    assert fake.patches == []
    assert await resync.run_pass() == 2
    assert fake.patches == [
        ("team-a", "b", {"kopf": {"dummy": NOW.isoformat()}}),
        ("team-a", "d", {"kopf": {"dummy": NOW.isoformat()}}),
    ]
    assert fake.listed == ["team-a", "team-a"]


async def test_a_healthy_cluster_costs_no_writes() -> None:
    fake = FakeObjects({None: [obj(f"p{i}", observed=1) for i in range(7)]})
    resync = Resync(fake, [PROFILE], lambda: [None], interval=300, busy=set(), clock=lambda: NOW)
    for _ in range(3):
        assert await resync.run_pass() == 0
    assert fake.patches == []
    assert fake.listed == [None, None, None]


async def test_a_failed_nudge_is_tried_again_on_a_later_pass() -> None:
    fake = FakeObjects({"team-a": [obj("b")]}, fail={"b"})
    resync = Resync(fake, [PROFILE], lambda: ["team-a"], interval=300, busy=set(), clock=lambda: NOW)
    await resync.run_pass()
    assert await resync.run_pass() == 0
    fake.fail = set()
    assert await resync.run_pass() == 1
    assert [p[1] for p in fake.patches] == ["b"]


async def test_every_kind_is_listed_and_nudged_as_itself() -> None:
    fake = FakeObjects({"team-a": [obj("p", observed=1), obj("q")]})
    fake.by_kind[SPACE] = {"team-a": [obj("s")]}
    resync = Resync(fake, all_kinds(), lambda: ["team-a"], interval=300, busy=set(), clock=lambda: NOW)
    assert await resync.run_pass() == 0
    assert await resync.run_pass() == 2
    assert [(kind, p[1]) for kind, p in zip(fake.patched_kinds, fake.patches, strict=True)] == [
        (PROFILE, "q"),
        (SPACE, "s"),
    ]
    assert fake.listed_kinds == [PROFILE, SPACE, PROFILE, SPACE]


def test_the_listing_scope_follows_kopfs_namespace_patterns() -> None:
    from userprofile_operator.handlers import Runtime
    from userprofile_operator.settings import Settings

    cluster = Runtime(Settings(), all_kinds())
    assert list(cluster.scope()) == [None]

    runtime = Runtime(Settings(), all_kinds(), ["shared-*, !shared-skip", "team-a"])
    for ns in ("shared-1", "shared-skip", "team-a", "team-b", "shared-2"):
        runtime.namespaces[ns] = {"region": None, "role_arn": None}
    assert list(runtime.scope()) == ["shared-1", "shared-2", "team-a"]
