"""Injected trouble: throttling, errors, extra latency and a request-rate limit.

The protocol layer asks :class:`Faults` what to do with each Cloud Control call before the backend
sees it. Nothing here knows HTTP; decisions are returned as plain values. Randomness comes from one
``random.Random`` that can be seeded for reproducible runs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors

MUTATIONS = frozenset({"CreateResource", "UpdateResource", "DeleteResource"})

#: ErrorCode values a failed ProgressEvent may carry (botocore's HandlerErrorCode enum).
HANDLER_ERROR_CODES = frozenset(
    {
        "NotUpdatable",
        "InvalidRequest",
        "AccessDenied",
        "UnauthorizedTaggingOperation",
        "InvalidCredentials",
        "AlreadyExists",
        "NotFound",
        "ResourceConflict",
        "Throttling",
        "ServiceLimitExceeded",
        "NotStabilized",
        "GeneralServiceException",
        "ServiceInternalError",
        "ServiceTimeout",
        "NetworkFailure",
        "InternalFailure",
    }
)


class FaultConfigError(ValueError):
    """The admin sent a fault configuration that makes no sense."""


@dataclass
class OperationFaults:
    """Faults for one Cloud Control operation."""

    throttle_rate: float = 0.0
    """Share of calls (0..1) answered with ThrottlingException."""
    error_rate: float = 0.0
    """Share of calls (0..1) that fail with ``error`` (sync) or ``error_code`` (async, mutations)."""
    error: str | None = None
    """Synchronous exception name, e.g. ``ServiceInternalErrorException``."""
    error_code: str | None = None
    """For Create/Update/Delete: the request is accepted but ends FAILED with this ErrorCode."""
    extra_latency: float = 0.0
    """Seconds added before the HTTP answer."""

    @classmethod
    def parse(cls, operation: str, body: Mapping[str, Any]) -> OperationFaults:
        known = {"ThrottleRate", "ErrorRate", "Error", "ErrorCode", "ExtraLatency"}
        unknown = set(body) - known
        if unknown:
            raise FaultConfigError(f"{operation}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        faults = cls(
            throttle_rate=_rate(body.get("ThrottleRate", 0.0), f"{operation}.ThrottleRate"),
            error_rate=_rate(body.get("ErrorRate", 0.0), f"{operation}.ErrorRate"),
            error=body.get("Error"),
            error_code=body.get("ErrorCode"),
            extra_latency=_non_negative(body.get("ExtraLatency", 0.0), f"{operation}.ExtraLatency"),
        )
        if faults.error is not None and faults.error not in errors.SERVICE_MODEL_ERRORS:
            raise FaultConfigError(f"{operation}.Error: unknown exception {faults.error!r}")
        if faults.error_code is not None:
            if operation not in MUTATIONS:
                raise FaultConfigError(f"{operation}.ErrorCode: only Create/Update/DeleteResource end async")
            if faults.error_code not in HANDLER_ERROR_CODES:
                raise FaultConfigError(f"{operation}.ErrorCode: unknown handler error code")
        if faults.error_rate and not (faults.error or faults.error_code):
            raise FaultConfigError(f"{operation}: ErrorRate needs Error or ErrorCode")
        return faults

    def dump(self) -> dict[str, Any]:
        return {
            "ThrottleRate": self.throttle_rate,
            "ErrorRate": self.error_rate,
            "Error": self.error,
            "ErrorCode": self.error_code,
            "ExtraLatency": self.extra_latency,
        }


def _rate(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise FaultConfigError(f"{where} must be a number between 0 and 1")
    return float(value)


def _non_negative(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise FaultConfigError(f"{where} must be a non-negative number")
    return float(value)


@dataclass
class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; one token per call."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Decision:
    """What to do with one call, decided before the backend runs it."""

    throttle: str | None = None
    """Message of a ThrottlingException to answer with."""
    error: errors.ServiceError | None = None
    """A synchronous error to answer with."""
    async_error_code: str | None = None
    """Accept the mutation but let it end FAILED with this ErrorCode."""
    delay: float = 0.0


@dataclass
class Faults:
    """All fault settings. Rate limiting is per (account, region): each is its own world."""

    clock: Callable[[], float] = time.monotonic
    operations: dict[str, OperationFaults] = field(default_factory=dict)
    rate_limit: float | None = None
    burst: float | None = None
    seed: int | None = None
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _random: random.Random = field(default_factory=random.Random)

    def configure(self, body: Mapping[str, Any], known_operations: frozenset[str]) -> None:
        """Merge an admin request into the settings (keys not given keep their value)."""
        unknown = set(body) - {"RateLimit", "Burst", "Seed", "Operations"}
        if unknown:
            raise FaultConfigError(f"unknown keys {sorted(unknown)}")
        operations = dict(self.operations)
        for name, value in (body.get("Operations") or {}).items():
            if name not in known_operations:
                raise FaultConfigError(f"unknown operation {name!r}")
            if not isinstance(value, Mapping):
                raise FaultConfigError(f"{name}: expected an object")
            operations[name] = OperationFaults.parse(name, value)
        rate_limit = body.get("RateLimit", self.rate_limit)
        if rate_limit is not None:
            rate_limit = _non_negative(rate_limit, "RateLimit")
            if rate_limit == 0:
                raise FaultConfigError("RateLimit must be positive (null disables it)")
        burst = body.get("Burst", self.burst)
        if burst is not None:
            burst = _non_negative(burst, "Burst")
            if burst < 1:
                raise FaultConfigError("Burst must be at least 1")
        self.operations = operations
        if rate_limit != self.rate_limit or burst != self.burst:
            self._buckets.clear()
        self.rate_limit, self.burst = rate_limit, burst
        if "Seed" in body:
            self.seed = body["Seed"]
            self._random.seed(self.seed)

    def clear(self) -> None:
        self.operations.clear()
        self.rate_limit = self.burst = self.seed = None
        self._buckets.clear()
        self._random.seed()

    def dump(self) -> dict[str, Any]:
        return {
            "RateLimit": self.rate_limit,
            "Burst": self.burst,
            "Seed": self.seed,
            "Operations": {name: faults.dump() for name, faults in sorted(self.operations.items())},
        }

    def decide(self, operation: str, world: str) -> Decision:
        decision = Decision()
        if self.rate_limit is not None:
            bucket = self._buckets.get(world)
            now = self.clock()
            if bucket is None:
                burst = self.burst if self.burst is not None else max(1.0, self.rate_limit)
                bucket = self._buckets[world] = TokenBucket(self.rate_limit, burst, burst, now)
            if not bucket.take(now):
                decision.throttle = "Rate exceeded"
                return decision
        faults = self.operations.get(operation)
        if faults is None:
            return decision
        decision.delay = faults.extra_latency
        if faults.throttle_rate and self._random.random() < faults.throttle_rate:
            decision.throttle = "Rate exceeded"
            return decision
        if faults.error_rate and self._random.random() < faults.error_rate:
            if faults.error_code is not None:
                decision.async_error_code = faults.error_code
            elif faults.error is not None:
                decision.error = errors.by_name(faults.error, f"Injected fault: {faults.error}")
        return decision
