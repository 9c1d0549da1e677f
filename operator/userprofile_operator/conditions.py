"""Kubernetes conditions (metav1.Condition conventions) and the reasons the operator reports in them.

Reasons are named here, once: `Reason.AVAILABLE`, not a string written at each use.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["Reason", "condition_reason", "condition_status", "condition_true_at", "set_condition"]


class Reason(StrEnum):
    """Why a condition is what it is (besides AWS's own error codes, which are reported as they come)."""

    AVAILABLE = "Available"
    RECONCILE_SUCCESS = "ReconcileSuccess"
    OBSERVED = "Observed"
    CREATING = "Creating"
    UPDATING = "Updating"
    DELETING = "Deleting"
    RETRYING = "Retrying"
    INVALID_SPEC = "InvalidSpec"
    NO_REGION = "NoRegion"
    CONFLICT = "Conflict"
    ALREADY_EXISTS = "AlreadyExists"
    NOT_FOUND = "NotFound"
    DRIFTED = "Drifted"
    DELETE_FAILED = "DeleteFailed"
    DELETE_BLOCKED = "DeleteBlocked"
    REFERENCE_NOT_READY = "ReferenceNotReady"
    REFERENCE_CHANGED = "ReferenceChanged"
    ROLE_NOT_ALLOWED = "RoleNotAllowed"


def set_condition(
    conditions: list[dict[str, Any]],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[dict[str, Any]]:
    """Conditions with `type_` set; lastTransitionTime moves only when the status flips."""
    value = "True" if status else "False"
    old = next((c for c in conditions if c.get("type") == type_), None)
    transition = (
        old["lastTransitionTime"]
        if old and old.get("status") == value and old.get("lastTransitionTime")
        else now.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    new = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message[:2048],
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }
    return [*(c for c in conditions if c.get("type") != type_), new]


def condition_status(conditions: list[dict[str, Any]], type_: str) -> str | None:
    for c in conditions:
        if c.get("type") == type_:
            return str(c.get("status"))
    return None


def condition_reason(conditions: list[dict[str, Any]], type_: str) -> str | None:
    for c in conditions:
        if c.get("type") == type_:
            return str(c.get("reason"))
    return None


def condition_true_at(conditions: list[dict[str, Any]], type_: str, generation: int) -> bool:
    """Whether condition `type_` is True and was set for this very `generation`."""
    return any(
        c.get("type") == type_ and c.get("status") == "True" and c.get("observedGeneration") == generation
        for c in conditions
    )
