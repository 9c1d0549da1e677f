"""Drift under a budget it cannot keep up with (issue 22): more Ready profiles than the drift share of the
AWS budget can re-read every configured interval.

What a user notices: the operator says once, in its log, that the configured interval cannot be kept and
which one it keeps instead; its metric reports that interval, and the reads AWS really sees match it;
and drift never takes more than its share of the budget over a minute.

The test has an emulator of its own, so that the session's other operators' drift checks (objects with
a 1 s drift annotation) do not count among its reads.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.kube import Kube, wait_for
from tests.support.manifests import DOMAIN, REGION, profile
from tests.support.operator import OperatorProcess
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e

OBJECTS = 30
RATE, SHARE, ASKED = 4.0, 0.5, 5.0  # drift may read 2 objects a second; 30 objects every 5 s need 6
KEPT = OBJECTS / (SHARE * RATE)  # 15 s
LOG_LINE = "Drift checks cannot keep"


@pytest.fixture
def own_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(latency=0.2) as emu:
        emu.add_domain(DOMAIN, REGION)
        yield emu


def metric(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def ready(kube: Kube, namespace: str) -> int:
    objects = kube.get_json("smup", "-n", namespace)["items"]
    return sum(1 for o in objects if (kube.condition(o, "Ready") or {}).get("status") == "True")


def reads(emulator: EmulatorProcess) -> int:
    return emulator.stats()["calls"].get("GetResource", 0)


def test_drift_keeps_the_interval_its_share_allows_says_so_once_and_stays_within_its_share(
    crd: Kube, own_emulator: EmulatorProcess, own_namespace: str
) -> None:
    port = free_port()
    settings = {
        "SMUP_AWS_RATE": f"{RATE:g}",
        "SMUP_AWS_BURST": "4",
        "SMUP_DRIFT_SHARE": f"{SHARE:g}",
        "SMUP_DRIFT_INTERVAL": f"{ASKED:g}",
    }
    names = [f"drift-{i:02d}" for i in range(OBJECTS)]
    with OperatorProcess(
        crd.kubeconfig, own_emulator.env(), namespaces=[own_namespace], env=settings, args=["--metrics-port", str(port)]
    ) as op:
        crd.apply_list(profile(name, own_namespace) for name in names)
        wait_for("every profile Ready", lambda: ready(crd, own_namespace) == OBJECTS, timeout=90, interval=1)
        wait_for("the log says the configured interval cannot be kept", lambda: LOG_LINE in op.log_path.read_text())
        kind_metric = 'smup_drift_interval_seconds{kind="SageMakerUserProfile"}'
        reported = wait_for("the kept interval reported", lambda: metric(port, kind_metric))
        assert reported == pytest.approx(KEPT, rel=0.05)
        # Checks planned before every object was counted come early: the window starts once every object
        # has been re-read at the kept pace.
        settled = reads(own_emulator) + OBJECTS
        wait_for("every object re-read once at the kept pace", lambda: reads(own_emulator) >= settled, timeout=60)

        start, count0 = time.monotonic(), reads(own_emulator)
        time.sleep(60)  # the window over which drift's share is measured
        elapsed, made = time.monotonic() - start, reads(own_emulator) - count0

        # Never more than its share over the minute (plus what its own bucket may hold at the start).
        assert made <= SHARE * RATE * elapsed + max(1, SHARE * 4) + 1, made
        measured = OBJECTS * elapsed / made  # each object re-read every `measured` seconds
        assert metric(port, kind_metric) == pytest.approx(measured, rel=0.3), (measured, made)
        assert metric(port, 'smup_drift_overdue_objects{kind="SageMakerUserProfile"}') is not None
        assert (metric(port, "smup_drift_lag_seconds_count") or 0) > 0
        assert (metric(port, 'smup_aws_tokens_waited_seconds_count{lane="drift"}') or 0) >= made
        log = op.log_path.read_text()
    lines = [line for line in log.splitlines() if LOG_LINE in line]
    assert len(lines) == 1, lines
    assert f"Keeping {KEPT:.0f} s instead" in lines[0], lines[0]
    assert f"{OBJECTS} objects" in lines[0], lines[0]
