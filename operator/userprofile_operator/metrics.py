"""Prometheus metrics of the operator, served on /metrics (settings.metrics_port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, start_http_server

RECONCILES = Counter(
    "smup_reconciles_total", "Reconciles of SageMakerUserProfile objects, by trigger and result", ["trigger", "result"]
)
AWS_CALLS = Counter(
    "smup_aws_calls_total",
    "Cloud Control calls, by operation and outcome (ok or the error code)",
    ["operation", "outcome"],
)
IN_FLIGHT = Gauge("smup_operations_in_flight", "Cloud Control requests being waited on")
RESYNC_NUDGES = Counter(
    "smup_resync_nudges_total", "Objects found stalled by the periodic resync and handed back to kopf"
)
DRIFT = Counter("smup_drift_detected_total", "Differences found between a spec and AWS, by action", ["action"])


def serve(port: int) -> None:
    if port:
        start_http_server(port)
