"""Pure decisions: desired spec + what AWS has + what status says → what to do and what to report.

No I/O here and no kopf or boto3 (an import-linter contract holds that line): the reconciler asks,
these functions answer, and unit tests cover them without servers.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import jsonpatch

from userprofile_operator.conditions import Reason, condition_reason

# ---------------------------------------------------------------------------------------------
# Tokens and ownership


def client_token(operation: str, uid: str, generation: int, *salt: object) -> str:
    """Deterministic ClientToken: the same object, generation, operation and salt give the same token.

    So a request re-sent after a crash is the same request to AWS, and nothing is created twice. The
    salt separates requests that must differ at the same generation (a retry after a FAILED request,
    a correction of drift, a re-creation), and is itself taken from persisted state.
    """
    digest = hashlib.sha256(json.dumps([operation, uid, generation, *salt], default=str).encode()).hexdigest()
    return f"{operation.lower()}-{generation}-{digest[:40]}"


def owner_tag_value(cluster: str, namespace: str, name: str) -> str:
    """`cluster/namespace/name`, shortened with a digest to fit AWS's 128-character tag values."""
    value = f"{cluster}/{namespace}/{name}"
    if len(value) <= 128:
        return value
    return f"{value[:111]}~{hashlib.sha256(value.encode()).hexdigest()[:16]}"


Ownership = Literal["ours", "unowned", "other"]


def ownership(
    observed: dict[str, Any], owner_key: str, owner_value: str, *, tags: str | None
) -> tuple[Ownership, str | None]:
    """Whose resource is this, by its ownership tag (in the `tags` property): ours, nobody's, or
    someone else's (and whose). A type without tags (`tags` None) can carry no mark: nobody's."""
    for tag in (observed.get(tags) if tags else None) or []:
        if tag.get("Key") == owner_key:
            value = str(tag.get("Value"))
            return ("ours" if value == owner_value else "other"), value
    return "unowned", None


def with_owner_tag(desired: dict[str, Any], owner_key: str, owner_value: str, *, tags: str | None) -> dict[str, Any]:
    """The desired state with our ownership tag added (the user's own tags kept as they are); as it is
    for a type without tags."""
    if tags is None:
        return desired
    kept = [t for t in desired.get(tags, []) if t.get("Key") != owner_key]
    return {**desired, tags: [*kept, {"Key": owner_key, "Value": owner_value}]}


class Step(StrEnum):
    """What one reconcile does, once AWS has been observed: exactly one of these."""

    OBSERVE = "observe"  # ObserveOnly: report what AWS has, write nothing
    CREATE = "create"  # nothing is known to exist: create it (AlreadyExists is an observation too)
    RECREATE = "recreate"  # ours existed and is gone: deleted outside Kubernetes
    CONFLICT = "conflict"  # another object or cluster owns it
    ALREADY_EXISTS = "already-exists"  # it exists, nobody owns it, and the spec does not adopt
    ADOPT = "adopt"  # it exists, nobody owns it, and the spec adopts it: take it over, then sync
    SYNC = "sync"  # ours: patch AWS to the spec (or report it matches)


def decide(exists: bool, *, owned: bool, observe_only: bool, adopt: bool, whose: Ownership) -> Step:
    """The one branch a reconcile takes, from what it observed.

    `exists`: AWS has a resource with this identifier (as far as the pass knows); `owned`: status says
    this object created or took it over; `whose`: what its ownership tag says.
    """
    if observe_only:
        return Step.OBSERVE
    if not exists:
        return Step.RECREATE if owned else Step.CREATE
    if whose == "other":
        return Step.CONFLICT
    if owned or whose == "ours":
        return Step.SYNC
    return Step.ADOPT if adopt else Step.ALREADY_EXISTS


def failure_stands(trigger: str, status: Mapping[str, Any], generation: int) -> bool:
    """Whether a pass stops at a terminal error recorded for this generation (`failedGeneration`): a drift
    check or a resume does, since only a new spec can fix such an error; a pass for a new spec, or one woken
    by a reference, looks again.

    A `ReferenceChanged` never stands (an operator before this rule recorded it as a failed generation):
    it depends on what a reference resolves to, not on the spec, and a pass that gets this far found the
    reference resolving to the identifier the object manages again."""
    if trigger not in ("resume", "drift") or status.get("failedGeneration") != generation:
        return False
    return condition_reason(list(status.get("conditions") or []), "Ready") != Reason.REFERENCE_CHANGED


# ---------------------------------------------------------------------------------------------
# Diff


def _project(observed: Any, desired: Any) -> Any:
    """The part of `observed` that `desired` speaks about: keys the user set, lists whole."""
    if isinstance(desired, dict) and isinstance(observed, dict):
        return {k: _project(observed[k], v) for k, v in desired.items() if k in observed}
    return observed


def _tags_key(tags: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((str(t.get("Key")), str(t.get("Value"))) for t in tags if not str(t.get("Key")).startswith("aws:"))


def plan_patch(
    desired: dict[str, Any],
    observed: dict[str, Any],
    create_only: Iterable[str] = (),
    previous: dict[str, Any] | None = None,
    *,
    tags: str | None,
    write_only: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """RFC 6902 operations that bring `observed` (AWS) to `desired` (the spec) over the fields the user set.

    - A field the user never set and AWS filled in is left alone (no fighting over defaults).
    - A field the user set before (`previous`) and removed now is removed in AWS.
    - Tags (the `tags` property, e.g. `Tags`) are compared as a set and replaced whole, so order never causes an update.
    - createOnly paths (`/DomainId`, ...) are never patched: the API server makes them immutable.
    - writeOnly paths (top-level `/SpaceSettings`, ...) are never in `observed`: AWS does not show them,
      so they are never compared with it. They are sent when the spec changed them since `previous`.
    """
    skip = {p if p.startswith("/") else "/" + p for p in create_only}
    hidden = {p.strip("/") for p in write_only}
    desired = {k: v for k, v in desired.items() if k not in hidden}
    observed_tags = (observed.get(tags) if tags else None) or []
    desired_tags = desired.pop(tags, None) if tags else None
    projected = _project({k: v for k, v in observed.items() if k != tags and k not in hidden}, desired)
    target = json.loads(json.dumps(desired))
    ops: list[dict[str, Any]] = []
    if previous:
        before = {k: v for k, v in previous.items() if k != tags and k not in hidden}
        for path in _removed_paths(before, desired):
            if path not in skip and _exists(observed, path):
                ops.append({"op": "remove", "path": path})
    for op in jsonpatch.make_patch(projected, target).patch:
        if not any(op["path"] == s or op["path"].startswith(s + "/") for s in skip):
            ops.append(op)
    # Tags AWS sets only at creation (a lifecycle config's are createOnly) are never patched either.
    tags_fixed = tags is not None and f"/{tags}" in skip
    if desired_tags is not None and not tags_fixed and _tags_key(desired_tags) != _tags_key(observed_tags):
        keep_aws = [t for t in observed_tags if str(t.get("Key")).startswith("aws:")]
        ops.append(
            {
                "op": "add" if tags not in observed else "replace",
                "path": f"/{tags}",
                "value": [*keep_aws, *desired_tags],
            }
        )
    return ops


def write_only_patch(
    desired: dict[str, Any], previous: dict[str, Any] | None, write_only: Iterable[str]
) -> list[dict[str, Any]]:
    """Operations for the writeOnly properties the spec changed since `previous` (AWS cannot be asked).

    With no `previous` (a create, a drift check, a resume without news) there is nothing to compare
    with, and nothing is sent: a drift check never updates a resource for what AWS does not show.
    A writeOnly property removed from the spec is left as AWS has it (a patch cannot remove what
    Cloud Control does not report).
    """
    if previous is None:
        return []
    ops: list[dict[str, Any]] = []
    for name in (p.strip("/") for p in write_only):
        if name in desired and desired[name] != previous.get(name):
            ops.append({"op": "add", "path": f"/{name}", "value": desired[name]})
    return ops


def _removed_paths(previous: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    removed: list[str] = []
    for key, value in previous.items():
        path = f"{prefix}/{key}"
        if isinstance(value, dict) and isinstance(current.get(key, {}), dict):
            # Down to the leaves the user had set: AWS's own fields beside them stay.
            removed.extend(_removed_paths(value, current.get(key, {}), path))
        elif key not in current:
            removed.append(path)
    return removed


def _exists(doc: Any, path: str) -> bool:
    for part in path.strip("/").split("/"):
        if not isinstance(doc, dict) or part not in doc:
            return False
        doc = doc[part]
    return True


def patch_digest(patch: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(patch, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Timing


def backoff(retry: int, minimum: float, maximum: float, rng: random.Random | None = None) -> float:
    """Capped exponential back-off with full jitter in its upper half: minimum · 2^retry, at most maximum."""
    base = min(maximum, minimum * (2 ** max(0, retry)))
    return (rng or random).uniform(base / 2, base)


def poll_delay(attempt: int, retry_after: float | None, now: float, minimum: float, maximum: float) -> float:
    """How long to wait before reading a request's status: AWS's RetryAfter when it gives one, else back-off."""
    if retry_after is not None and retry_after > now:
        return min(maximum, max(retry_after - now, 0.05))
    return min(maximum, minimum * (1.5**attempt))


def drift_delay(interval: float, jitter: float, rng: random.Random | None = None) -> float:
    return interval * (1 + (rng or random).uniform(0, jitter))


def parse_duration(text: str | None) -> float | None:
    """'600', '600s', '10m', '1h' → seconds; None or garbage → None."""
    if not text:
        return None
    text = text.strip().lower()
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    try:
        if text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Region and progress


def namespace_role_refusal(role_arn: str | None, allowed: Sequence[str] | None, namespace: str) -> str | None:
    """Why the namespace's role (its annotation) must not be assumed, or None when it may be.

    `allowed` is the operator's setting: regular expressions that must match the whole ARN; None
    allows any role (no guardrail), an empty list none. No role annotation needs no guardrail.
    """
    if role_arn is None or allowed is None:
        return None
    if any(re.fullmatch(pattern, role_arn) for pattern in allowed):
        return None
    return (
        f"The role {role_arn} of namespace {namespace} (annotation sagemaker.awscc.dev/role-arn) matches none "
        "of the operator's allowed roles (SMUP_ALLOWED_ROLE_ARNS); nothing is sent to AWS and what AWS has is "
        "left as it is. Fix the annotation, or allow the role in the operator's settings."
    )


def resolve_region(spec_region: str | None, namespace_default: str | None, operator_default: str | None) -> str | None:
    return spec_region or namespace_default or operator_default


def reconciled(obj: Mapping[str, Any]) -> bool:
    """Whether the operator has handled `obj`'s current generation and has no Cloud Control request pending."""
    status = obj.get("status") or {}
    return status.get("observedGeneration") == (obj.get("metadata") or {}).get("generation") and not status.get(
        "operation"
    )


# ---------------------------------------------------------------------------------------------
# Resync: objects the event stream left behind
#
# kopf acts on watch events. When an API server restarts mid-write, kopf can be left holding a change
# it means to retry "on the next event" for an object that will not change again (chaos tests,
# issue 8), and such an object waits forever. A periodic LIST finds objects that still need the
# operator, have no retry planned and have not changed between two passes; a touch of their status
# (kopf's own `status.kopf.dummy`) gives kopf the event it waits for.


def awaiting_operator(obj: Mapping[str, Any], now: datetime, finalizer: str) -> bool:
    """Whether `obj` needs the operator and nothing is planned to come back to it: not reconciled at its
    generation (or a Cloud Control request is pending), or being deleted with our finalizer on; and
    no kopf retry is due in the future (`status.kopf.progress.<handler>.delayed`)."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        if finalizer not in (meta.get("finalizers") or []):
            return False  # nothing of ours holds it: Kubernetes removes it
    elif reconciled(obj):
        return False
    progress = (status.get("kopf") or {}).get("progress") or {}
    for record in progress.values():
        delayed = _parse_time((record or {}).get("delayed"))
        if delayed is not None and delayed > now:
            return False
    return True


def resync_plan(
    previous: Mapping[str, str],
    objects: Iterable[Mapping[str, Any]],
    now: datetime,
    busy: Container[str],
    finalizer: str,
) -> tuple[list[Mapping[str, Any]], dict[str, str]]:
    """One resync pass: (objects to nudge, suspects for the next pass as uid → resourceVersion).

    An object is nudged when it was a suspect in the previous pass at the same resourceVersion (it has
    not changed for a whole interval) and no handler is at work on it now (`busy`, by uid)."""
    nudge: list[Mapping[str, Any]] = []
    suspects: dict[str, str] = {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        uid, version = str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")
        if not uid or uid in busy or not awaiting_operator(obj, now, finalizer):
            continue
        suspects[uid] = version
        if previous.get(uid) == version:
            nudge.append(obj)
    return nudge, suspects


def _parse_time(value: object) -> datetime | None:
    """kopf writes naive UTC timestamps; Kubernetes writes RFC 3339 with Z."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
