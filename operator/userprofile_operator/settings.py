"""The operator's settings: one object, built once at start-up from flags and the environment.

Every field can be set by an environment variable `SMUP_<FIELD>` (e.g. `SMUP_DRIFT_INTERVAL=300`) or
by the matching `userprofile-operator run` flag, which wins. Nothing reads the environment at import.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from userprofile_operator.kinds import ALL, all_kinds, select

# Annotations users put on namespaces and objects.
ROLE_ARN_ANNOTATION = "sagemaker.awscc.dev/role-arn"
DRIFT_INTERVAL_ANNOTATION = "sagemaker.awscc.dev/drift-interval"
# The AWS tag that marks a profile as created (or adopted) by this operator.
OWNER_TAG_KEY = "sagemaker.awscc.dev/owner"


class Settings(BaseSettings):
    """Operator configuration. Durations are in seconds."""

    model_config = SettingsConfigDict(env_prefix="SMUP_", extra="ignore")

    kinds: str = Field(
        default="all",
        description="The kinds to manage, comma-separated: short names (smup, smdomain, smspace, smlcc, smimage, "
        "smimageversion, smaic), plurals or "
        "kind names; all: every kind. An enabled kind whose CRD is not served is reported and picked up once "
        "it is.",
    )
    default_region: str | None = Field(
        default=None,
        description="Region for objects with no spec.region and no namespace annotation "
        "(default: AWS_REGION / AWS_DEFAULT_REGION).",
    )
    cluster_name: str = Field(
        default="kubernetes",
        max_length=40,
        pattern=r"^[A-Za-z0-9_.:=+@-]+$",
        description="Names this cluster in the ownership tag, so two clusters never fight over a profile.",
    )
    drift_interval: float = Field(
        default=600.0, ge=0, description="How often a Ready profile is re-read from AWS; 0 turns drift checks off."
    )
    resync_interval: float = Field(
        default=300.0,
        ge=0,
        description="How often the watched objects are listed to find any that wait for an event that will "
        "not come (after an API server outage) and hand them back to kopf; 0 turns it off.",
    )
    drift_jitter: float = Field(default=0.1, ge=0, le=1, description="Fraction of the interval added at random.")
    max_concurrent_aws_calls: int = Field(default=16, ge=1, description="Cloud Control calls in flight at once.")
    aws_rate: float = Field(default=10.0, gt=0, description="Cloud Control calls per second per account and region.")
    aws_burst: int = Field(default=20, ge=1, description="Calls that may go at once before the rate applies.")
    poll_min: float = Field(default=1.0, gt=0, description="First wait before reading a request's status.")
    poll_max: float = Field(default=30.0, gt=0, description="Longest wait between two status reads.")
    retry_min: float = Field(default=2.0, gt=0, description="First back-off after a transient AWS error.")
    retry_max: float = Field(default=300.0, gt=0, description="Longest back-off after transient AWS errors.")
    inline_wait: float = Field(
        default=20.0,
        ge=0,
        description="How long one pass waits for a Cloud Control request before it records the request "
        "in status and comes back later.",
    )
    operation_timeout: float = Field(
        default=1800.0, gt=0, description="Give up waiting on one Cloud Control request after this long."
    )
    max_object_workers: int = Field(
        default=200,
        ge=1,
        description="Objects handled at once; the others wait their turn. Bounds memory when thousands of "
        "objects arrive together.",
    )
    max_kube_connections: int = Field(
        default=64,
        ge=8,
        description="Connections to the Kubernetes API at once. Each watch holds one for good: watching by "
        "namespace, that is one per managed kind and namespace, so keep it well above kinds x namespaces.",
    )
    metrics_port: int = Field(default=8080, ge=0, le=65535, description="Prometheus /metrics port; 0 turns it off.")
    log_format: Literal["json", "text"] = Field(default="text", description="Log line format.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO")
    watch_server_timeout: int = Field(default=300, ge=1, description="Server-side timeout of a watch request.")
    watch_client_timeout: int = Field(default=330, ge=1, description="Client-side timeout of a watch request.")
    watch_probe_interval: float = Field(
        default=60.0,
        gt=0,
        description="When no watch event has arrived for this long, touch one watched object (status.kopf.dummy) "
        "to prove the watch still delivers events.",
    )
    watch_probe_timeout: float = Field(
        default=30.0, gt=0, description="A probe touch not seen as a watch event within this is a deaf watch."
    )
    deaf_exit_after: float = Field(
        default=60.0,
        ge=0,
        description="How long /healthz reports a deaf watch (or a served kind kopf does not watch) before the "
        "process exits non-zero, for its supervisor to restart it.",
    )
    crd_wait: float = Field(
        default=120.0,
        gt=0,
        description="How long to wait at start-up for the CRD of at least one enabled kind to be "
        "served before exiting.",
    )
    lease_duration: float = Field(
        default=15.0, ge=1, description="Leader election: how long a Lease is valid after its last renewal."
    )
    renew_deadline: float = Field(
        default=10.0,
        ge=1,
        description="Leader election: a leader that has not renewed for this long stops all work and exits; "
        "no mutating AWS call is made past it.",
    )
    retry_period: float = Field(default=2.0, ge=1, description="Leader election: time between two attempts.")
    allowed_role_arns: list[str] | None = Field(
        default=None,
        description="The roles the namespace annotation sagemaker.awscc.dev/role-arn may name: regular "
        "expressions, each matched against the whole ARN (JSON list in SMUP_ALLOWED_ROLE_ARNS). A namespace "
        "whose role matches none gets Ready=False, RoleNotAllowed, and no AWS call. None: any role; []: none.",
    )

    @field_validator("kinds")
    @classmethod
    def _kinds_known(cls, names: str) -> str:
        chosen = select(names)  # ValueError naming the unknown ones
        return ALL if chosen == all_kinds() else ",".join(kind.plural for kind in chosen)

    @field_validator("allowed_role_arns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str] | None) -> list[str] | None:
        for pattern in patterns or ():
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"allowed_role_arns: {pattern!r} is not a regular expression: {err}") from None
        return patterns

    @model_validator(mode="after")
    def _election_timings(self) -> Settings:
        # The same rules as client-go's leader election (and kubernetes.leaderelection.Config).
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= 1.2 * self.retry_period:
            raise ValueError("renew_deadline must be greater than 1.2 times retry_period")
        return self
