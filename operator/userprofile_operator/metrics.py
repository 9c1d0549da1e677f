"""Prometheus metrics of the operator, served on /metrics (settings.metrics_port).

Every metric the operator exports is defined here: the chart's alerts and dashboard
(`deploy/helm/.../files/monitoring/`) may name only these (tests/unit check it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

RECONCILES = Counter(
    "smup_reconciles_total", "Reconciles of managed objects, by kind, trigger and result", ["kind", "trigger", "result"]
)
AWS_CALLS = Counter(
    "smup_aws_calls_total",
    "Cloud Control calls, by kind, operation and outcome (ok or the error code)",
    ["kind", "operation", "outcome"],
)
IN_FLIGHT = Gauge("smup_operations_in_flight", "Cloud Control requests being waited on")
RESYNC_NUDGES = Counter(
    "smup_resync_nudges_total", "Objects found stalled by the periodic resync and handed back to kopf"
)
DRIFT = Counter(
    "smup_drift_detected_total", "Differences found between a spec and AWS, by kind and action", ["kind", "action"]
)

WATCH_UP = Gauge(
    "smup_watch_up",
    "1 while the operator's resources are served and their watch delivers events (the self-check), else 0",
)
WATCH_LAST_EVENT_AGE = Gauge("smup_watch_last_event_age_seconds", "Seconds since the last watch event arrived")
WATCH_PROBES = Counter("smup_watch_probes_total", "Touches of a watched object sent to prove a quiet watch still works")
KIND_SERVED = Gauge(
    "smup_kind_served",
    "1 while an enabled kind's CRD is served by the API server and watched, else 0 (its objects wait)",
    ["kind"],
)
RECONCILE_ERRORS = Counter(
    "smup_reconcile_errors_total",
    "Reconciles that ended in an error, by kind and reason (the AWS error code, or the operator's own reason)",
    ["kind", "reason"],
)

DRIFT_INTERVAL = Gauge(
    "smup_drift_interval_seconds",
    "The drift-check interval kept now, by kind: the configured one, or longer where the AWS budget's drift "
    "share cannot re-read every object that often",
    ["kind"],
)
DRIFT_INTERVAL_CONFIGURED = Gauge(
    "smup_drift_interval_configured_seconds",
    "The drift-check interval asked for (SMUP_DRIFT_INTERVAL), by kind; 0 where drift checks are off. "
    "smup_drift_interval_seconds above it: the AWS budget has lengthened it",
    ["kind"],
)
DRIFT_OVERDUE = Gauge(
    "smup_drift_overdue_objects", "Objects whose drift check is late by more than the jitter, by kind", ["kind"]
)
DRIFT_LAG = Histogram(
    "smup_drift_lag_seconds",
    "How late drift checks start after they were due",
    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
TOKENS_WAITED = Histogram(
    "smup_aws_tokens_waited_seconds",
    "Time an AWS call waited for a token of the AWS budget, by lane (user: work a person asked for; drift: "
    "periodic re-reads); its _count is the calls of each lane",
    ["lane"],
    buckets=(0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60),
)

LEADER = Gauge("smup_leader", "1 while this process holds the leader Lease (or runs without election), else 0")


class ObjectsCollector(Collector):
    """`smup_objects{kind, ready, reason}`: how many managed objects are in each state of their Ready
    condition, from what the watch last said of each (counted at scrape time, nothing kept per series)."""

    def __init__(self, states: Callable[[], Iterable[tuple[str, str, str]]]) -> None:
        self._states = states

    def collect(self) -> Iterator[Any]:
        family = GaugeMetricFamily(
            "smup_objects",
            "Managed objects by kind and their Ready condition's status and reason (e.g. DeleteBlocked)",
            labels=["kind", "ready", "reason"],
        )
        counts: dict[tuple[str, str, str], int] = {}
        for state in self._states():
            counts[state] = counts.get(state, 0) + 1
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        yield family


_objects: ObjectsCollector | None = None


def count_objects(states: Callable[[], Iterable[tuple[str, str, str]]]) -> None:
    """Export `smup_objects` from `states` (one (kind, ready, reason) per object), replacing any before."""
    global _objects
    if _objects is not None:
        REGISTRY.unregister(_objects)
    _objects = ObjectsCollector(states)
    REGISTRY.register(_objects)


def serve(port: int) -> None:
    if port:
        start_http_server(port)
