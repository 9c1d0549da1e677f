"""Prometheus metrics of the operator, served on /metrics (settings.metrics_port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, start_http_server

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
LEADER = Gauge("smup_leader", "1 while this process holds the leader Lease (or runs without election), else 0")


def serve(port: int) -> None:
    if port:
        start_http_server(port)
