"""The AWS budget's two lanes, driven by a fake clock: who gets the next call, how much drift gets
when people are busy and when they are not, how throttling slows drift first, and the drift interval
the budget can keep. No sleeps: time is a number these tests move."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from userprofile_operator.budget import (
    DRIFT,
    DRIFT_FLOOR,
    LANE,
    RECOVERY_SECONDS,
    USER,
    Lane,
    Lanes,
    kept_interval,
    lane,
)
from userprofile_operator.drift import DriftPace, pace_message, pace_settled_change

RATE, BURST, SHARE = 10.0, 20, 0.5  # the defaults


def simulate(
    lanes: Lanes, seconds: float, user_waiting: bool, drift_waiting: bool, start: float = 0.0
) -> tuple[Counter[Lane], float]:
    """Both lanes keep asking (a backlog each, when waiting) for `seconds`: the calls each lane got."""
    got: Counter[Lane] = Counter()
    now = start
    while now < start + seconds:
        granted, wait = lanes.next(now, user_waiting, drift_waiting)
        if granted is None:
            now += max(wait, 1e-6)
            continue
        lanes.take(granted, now)
        got[granted] += 1
    return got, now


def test_with_nobody_else_asking_drift_gets_its_share_and_no_more() -> None:
    lanes = Lanes(RATE, BURST, SHARE, now=0.0)
    got, _ = simulate(lanes, 60, user_waiting=False, drift_waiting=True)
    # 5/s over a minute, plus what its own bucket held at the start (share x burst = 10).
    assert got[USER] == 0
    assert got[DRIFT] <= SHARE * RATE * 60 + SHARE * BURST + 1
    assert got[DRIFT] >= SHARE * RATE * 60


def test_people_take_the_whole_budget_while_drift_gets_its_floor_and_never_starves() -> None:
    lanes = Lanes(RATE, BURST, SHARE, now=0.0)
    got, _ = simulate(lanes, 60, user_waiting=True, drift_waiting=True)
    floor = DRIFT_FLOOR * SHARE * RATE  # 0.5 call/s
    assert got[DRIFT] == pytest.approx(floor * 60, abs=2)
    # The user lane gets everything else: the rate over the minute, the burst, less drift's floor.
    assert got[USER] + got[DRIFT] == pytest.approx(RATE * 60 + BURST, abs=2)


def test_a_user_call_arriving_behind_drift_is_served_first() -> None:
    lanes = Lanes(RATE, BURST, SHARE, now=0.0)
    simulate(lanes, 10, user_waiting=False, drift_waiting=True)  # drift busy, at its share
    # The user lane finds the tokens drift could not use: half the rate, banked up to the burst.
    granted, wait = lanes.next(10.0, user_waiting=True, drift_waiting=True)
    assert (granted, wait) == (USER, 0.0)


def test_people_and_drift_together_share_the_budget_user_first() -> None:
    """People asking for less than the whole budget: drift takes what they leave, up to its share."""
    lanes = Lanes(RATE, BURST, SHARE, now=0.0)
    got: Counter[Lane] = Counter()
    now, next_user = 0.0, 0.0
    user_backlog = 0
    while now < 60:
        if now >= next_user:  # a person's call every 0.25 s: 4/s
            user_backlog += 1
            next_user += 0.25
        granted, wait = lanes.next(now, user_backlog > 0, True)
        if granted is None:
            now += min(max(wait, 1e-6), max(next_user - now, 1e-6))
            continue
        lanes.take(granted, now)
        got[granted] += 1
        user_backlog -= granted == USER
    assert user_backlog <= 1  # people never wait behind drift
    assert got[USER] == pytest.approx(4 * 60, abs=2)
    assert got[DRIFT] == pytest.approx(SHARE * RATE * 60 + SHARE * BURST, abs=3)  # its share: 6/s are left


def test_throttling_slows_drift_first_then_everyone_and_wears_off() -> None:
    lanes = Lanes(RATE, BURST, SHARE, now=0.0)
    lanes.throttled(0.0)
    assert lanes.drift_rate == pytest.approx(SHARE * RATE / 2)
    assert lanes.total_rate == RATE  # people are not slowed while drift can still give way
    for _ in range(10):
        lanes.throttled(0.0)
    assert lanes.drift_rate == pytest.approx(DRIFT_FLOOR * SHARE * RATE)  # drift at its floor, still some
    assert lanes.total_rate < RATE  # only now the whole budget slows
    assert lanes.total_rate >= RATE / 4
    # Without throttling, the whole budget comes back first, then drift.
    lanes.next(RECOVERY_SECONDS, False, False)
    assert lanes.total_rate == RATE
    assert lanes.drift_rate < SHARE * RATE
    lanes.next(3 * RECOVERY_SECONDS, False, False)
    assert lanes.drift_rate == SHARE * RATE


def test_drift_slowed_by_throttling_still_gets_its_floor_under_a_user_backlog() -> None:
    lanes = Lanes(RATE, BURST, SHARE, now=0.0)
    for _ in range(10):
        lanes.throttled(0.0)
    got, _ = simulate(lanes, 20, user_waiting=True, drift_waiting=True)
    assert got[DRIFT] >= DRIFT_FLOOR * SHARE * RATE * 20 - 1


@pytest.mark.parametrize(
    ("objects", "configured", "rate", "expected"),
    [
        (600, 60, 10, 120),  # the case: 600 objects need 10 reads/s, drift has 5
        (600, 600, 10, 600),  # the default interval: kept
        (6000, 600, 10, 1200),  # more than 3,000 objects at the defaults: 1,200 s
        (10000, 600, 10, 2000),
        (10000, 600, 40, 600),  # a budget raised to 40/s keeps 10 minutes for 10,000 objects
        (10, 0, 10, 0),  # drift off stays off
    ],
)
def test_kept_interval(objects: int, configured: float, rate: float, expected: float) -> None:
    assert kept_interval(configured, objects, SHARE, rate) == pytest.approx(expected)


def test_pace_is_per_budget_and_counts_annotated_intervals() -> None:
    pace: DriftPace[str] = DriftPace(capacity=SHARE * RATE)
    for i in range(600):
        pace.note(f"p{i}", "SageMakerUserProfile", "us-east-1", 60)
    pace.note("s1", "SageMakerSpace", "us-east-1", 60)
    pace.note("never", "SageMakerUserProfile", "us-east-1", 0)  # drift-interval: 0
    for i in range(100):
        pace.note(f"w{i}", "SageMakerUserProfile", "eu-west-1", 60)
    assert pace.stretch("us-east-1") == pytest.approx(601 / 60 / 5)  # 601 objects: 120.2 s
    assert pace.stretch("eu-west-1") == 1.0  # 100 objects every 60 s fit in 5 reads/s
    assert pace.counts("us-east-1") == {"SageMakerUserProfile": 600, "SageMakerSpace": 1}
    # An object annotated to be read less often asks for less.
    for i in range(300):
        pace.note(f"p{i}", "SageMakerUserProfile", "us-east-1", 600)
    assert pace.stretch("us-east-1") == pytest.approx((301 / 60 + 300 / 600) / 5)
    for i in range(600):
        pace.drop(f"p{i}")
    pace.drop("s1")
    assert pace.stretch("us-east-1") == 1.0
    assert list(pace.targets()) == ["eu-west-1"]


def test_the_log_waits_for_a_burst_of_objects_to_settle_and_says_it_once() -> None:
    readings = [1.0, 1.5, 2.0, 2.0, 2.0, 2.05, 2.0]  # stretches read every few seconds
    logged, previous, said = 1.0, 1.0, []
    for current in readings:
        if pace_settled_change(logged, previous, current):
            said.append(current)
            logged = current
        previous = current
    assert said == [2.0]
    assert pace_settled_change(2.0, 1.0, 1.0)  # back to the configured interval: said too


async def test_the_lane_is_the_drift_checks_own_and_follows_its_tasks() -> None:
    assert LANE.get() == USER
    with lane(DRIFT):
        assert LANE.get() == DRIFT
    assert LANE.get() == USER


def test_the_log_line_names_the_budget_the_counts_and_the_interval_kept() -> None:
    level, text = pace_message("us-east-1", {"SageMakerUserProfile": 10_000}, 10_000 / 600, SHARE, RATE, 600)
    assert level == logging.WARNING
    assert "cannot keep 600 s in us-east-1: 10000 objects (10000 SageMakerUserProfile) need 16.7 reads/s" in text
    assert "drift may use 5.0 (SMUP_DRIFT_SHARE 0.5 x SMUP_AWS_RATE 10). Keeping 2000 s instead." in text
    level, text = pace_message("us-east-1", {"SageMakerUserProfile": 100}, 100 / 600, SHARE, RATE, 600)
    assert level == logging.INFO and "keep their configured intervals again" in text


def test_every_throttled_attempt_reaches_the_budget_even_those_botocore_retries() -> None:
    from types import SimpleNamespace

    from botocore.hooks import HierarchicalEmitter

    from userprofile_operator.budget import LaneBudget
    from userprofile_operator.cloudcontrol import _watch_throttling

    budget = LaneBudget(RATE, BURST, SHARE, clock=lambda: 0.0)
    # What botocore's endpoint emits after each attempt ("needs-retry.<service>.<operation>"), on a client's
    # own emitter without botocore's retry handler beside ours.
    events = HierarchicalEmitter()
    _watch_throttling(SimpleNamespace(meta=SimpleNamespace(events=events)), budget)
    events.emit("needs-retry.cloudcontrol.GetResource", response=(None, {"Error": {"Code": "ThrottlingException"}}))
    events.emit("needs-retry.cloudcontrol.GetResource", response=(None, {"Error": {"Code": "ValidationException"}}))
    events.emit("needs-retry.cloudcontrol.GetResource", response=None, caught_exception=OSError())
    budget._apply_throttling()
    assert budget.lanes.drift_rate == pytest.approx(SHARE * RATE / 2)  # one throttled attempt: drift halved


def test_after_a_burst_of_user_work_drift_waits_until_the_reserve_is_back() -> None:
    """Back-to-back batches of people's work find the bucket as an idle operator would, but for drift's floor."""
    lanes = Lanes(RATE, BURST, SHARE, now=0.0)
    for _ in range(BURST):  # a batch takes the whole burst
        assert lanes.next(0.0, True, True)[0] in (USER, DRIFT)
        lanes.take(USER, 0.0)
    got, _ = simulate(lanes, 1.0, user_waiting=False, drift_waiting=True)
    assert got[DRIFT] == 1  # the floor's one call: the bucket refills the reserve at the full rate
    lanes.next(1.0, False, False)
    assert lanes.tokens == pytest.approx((1 - SHARE) * BURST - 1)
    assert Lanes(RATE, 1, SHARE, now=0.0).reserve == 0  # a burst of 1 keeps no reserve, or drift would never run


def test_the_operator_reports_the_interval_it_keeps_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    from userprofile_operator import metrics
    from userprofile_operator.handlers import Runtime
    from userprofile_operator.kinds import all_kinds
    from userprofile_operator.kinds.userprofile import KIND as PROFILE
    from userprofile_operator.settings import Settings

    caplog.set_level(logging.INFO)
    runtime = Runtime(Settings(default_region="us-east-1", drift_interval=60), all_kinds())
    for i in range(600):
        body = {"metadata": {"namespace": "team-a", "name": f"p{i}", "uid": f"u{i}"}, "spec": {}}
        runtime.saw(PROFILE, "ADDED", body)
        if i in (299, 599):
            runtime.keep_pace()  # a reading in the middle of the burst, then two after it
    runtime.keep_pace()
    runtime.keep_pace()
    assert metrics.DRIFT_INTERVAL.labels(kind=PROFILE.kind)._value.get() == pytest.approx(120)
    assert metrics.DRIFT_INTERVAL_CONFIGURED.labels(kind=PROFILE.kind)._value.get() == 60  # what was asked
    said = [r.getMessage() for r in caplog.records if "Drift checks cannot keep" in r.getMessage()]
    assert len(said) == 1 and "Keeping 120 s instead" in said[0], said
    for i in range(600):  # most of them deleted: the configured interval can be kept again
        runtime.saw(PROFILE, "DELETED", {"metadata": {"namespace": "team-a", "name": f"p{i}", "uid": f"u{i}"}})
    runtime.keep_pace()
    runtime.keep_pace()
    assert metrics.DRIFT_INTERVAL.labels(kind=PROFILE.kind)._value.get() == 60
    assert metrics.DRIFT_INTERVAL_CONFIGURED.labels(kind=PROFILE.kind)._value.get() == 60
    assert any("keep their configured intervals again" in r.getMessage() for r in caplog.records)
