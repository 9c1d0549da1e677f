"""The one place that talks to AWS: Cloud Control calls, for any managed kind's type.

What it owns: boto3 clients per region and IAM role (roles assumed through STS with refreshable
credentials), the limits on AWS calls (a semaphore for calls in flight, the budget of calls per
credentials and region, split into a user and a drift lane: budget.py), mapping botocore errors to
`AwsError` with Cloud Control's error codes, and metrics per call. What it does not do: decide
anything — `plan.py` decides, `reconciler.py` drives.

boto3 calls are blocking, so each runs in a thread of our own pool, sized to the concurrency limit.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import boto3
import botocore.exceptions
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials
from botocore.session import get_session

from userprofile_operator import metrics
from userprofile_operator.budget import LANE, THROTTLING_CODES, USER, LaneBudget
from userprofile_operator.election import Fence, NotLeader
from userprofile_operator.kind import Kind
from userprofile_operator.studio import Studio
from userprofile_operator.wire import NOT_FOUND_CODES, AwsError, ProgressEvent

T = TypeVar("T")

# The calls that change AWS: each goes out only while the fence holds (leader election).
MUTATING = frozenset({"CreateResource", "UpdateResource", "DeleteResource", "CancelResourceRequest"})


class CloudControlApi(Protocol):
    """What the reconciler needs from Cloud Control (tests may give a fake of this)."""

    async def create(self, desired: dict[str, Any], token: str) -> ProgressEvent: ...
    async def update(self, identifier: str, patch: list[dict[str, Any]], token: str) -> ProgressEvent: ...
    async def delete(self, identifier: str, token: str) -> ProgressEvent: ...
    async def get(self, identifier: str) -> dict[str, Any] | None: ...
    async def request_status(self, request_token: str) -> ProgressEvent: ...
    async def cancel(self, request_token: str) -> ProgressEvent: ...

    async def find(self, name_property: str, value: Any) -> tuple[str, dict[str, Any]] | None: ...


def _progress(raw: dict[str, Any]) -> ProgressEvent:
    retry_after = raw.get("RetryAfter")
    model = raw.get("ResourceModel")
    return ProgressEvent(
        operation=raw.get("Operation", ""),
        status=raw.get("OperationStatus", ""),
        request_token=raw.get("RequestToken", ""),
        identifier=raw.get("Identifier"),
        error_code=raw.get("ErrorCode"),
        message=raw.get("StatusMessage", ""),
        retry_after=retry_after.timestamp() if isinstance(retry_after, datetime) else None,
        resource_model=json.loads(model) if model else None,
    )


def _aws_error(err: Exception) -> AwsError:
    if isinstance(err, botocore.exceptions.ClientError):
        error = err.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        return AwsError(code=code, message=str(error.get("Message", err)))
    if isinstance(err, botocore.exceptions.ParamValidationError):
        return AwsError(code="InvalidRequest", message=str(err))
    if isinstance(err, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return AwsError(code="InvalidCredentials", message=str(err))
    return AwsError(code="NetworkFailure", message=f"{type(err).__name__}: {err}")


@dataclass(frozen=True)
class Target:
    """Where calls go: a region and, optionally, an IAM role to assume first."""

    region: str
    role_arn: str | None = None


class CloudControl:
    """Cloud Control for one target and one kind's type; built and cached by `CloudControlPool`.

    The kinds of one target share its boto3 client and its token bucket.
    """

    def __init__(self, client: Any, bucket: LaneBudget, pool: CloudControlPool, kind: Kind) -> None:
        self._client = client
        self._bucket = bucket
        self._pool = pool
        self.kind = kind
        self.type_name = kind.type_name

    async def _call(self, operation: str, fn: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        return await self._pool.call(self._bucket, self.kind.kind, operation, operation in MUTATING, fn, **kwargs)

    async def create(self, desired: dict[str, Any], token: str) -> ProgressEvent:
        raw = await self._call(
            "CreateResource",
            self._client.create_resource,
            TypeName=self.type_name,
            DesiredState=json.dumps(desired, separators=(",", ":")),
            ClientToken=token,
        )
        return _progress(raw["ProgressEvent"])

    async def update(self, identifier: str, patch: list[dict[str, Any]], token: str) -> ProgressEvent:
        raw = await self._call(
            "UpdateResource",
            self._client.update_resource,
            TypeName=self.type_name,
            Identifier=identifier,
            PatchDocument=json.dumps(patch, separators=(",", ":")),
            ClientToken=token,
        )
        return _progress(raw["ProgressEvent"])

    async def delete(self, identifier: str, token: str) -> ProgressEvent:
        raw = await self._call(
            "DeleteResource",
            self._client.delete_resource,
            TypeName=self.type_name,
            Identifier=identifier,
            ClientToken=token,
        )
        return _progress(raw["ProgressEvent"])

    async def get(self, identifier: str) -> dict[str, Any] | None:
        """The resource's properties, or None when it does not exist."""
        try:
            raw = await self._call(
                "GetResource", self._client.get_resource, TypeName=self.type_name, Identifier=identifier
            )
        except AwsError as err:
            if err.code.removesuffix("Exception") in NOT_FOUND_CODES:
                return None
            raise
        properties: dict[str, Any] = json.loads(raw["ResourceDescription"]["Properties"])
        return properties

    async def request_status(self, request_token: str) -> ProgressEvent:
        raw = await self._call(
            "GetResourceRequestStatus", self._client.get_resource_request_status, RequestToken=request_token
        )
        return _progress(raw["ProgressEvent"])

    async def cancel(self, request_token: str) -> ProgressEvent:
        raw = await self._call(
            "CancelResourceRequest", self._client.cancel_resource_request, RequestToken=request_token
        )
        return _progress(raw["ProgressEvent"])

    async def find(self, name_property: str, value: Any) -> tuple[str, dict[str, Any]] | None:
        """The one resource whose `name_property` is `value` (ListResources, then GetResource where the
        listing leaves the property out): how a resource whose identifier AWS makes is found by name."""
        for item in await self.list_all():
            properties = item["Properties"]
            if name_property not in properties:
                properties = await self.get(item["Identifier"]) or {}
            if properties.get(name_property) == value:
                return str(item["Identifier"]), properties
        return None

    async def list_all(self, resource_model: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every resource of the type (all pages): [{"Identifier": ..., "Properties": {...}}]."""
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TypeName": self.type_name}
        if resource_model:
            kwargs["ResourceModel"] = json.dumps(resource_model)
        while True:
            raw = await self._call("ListResources", self._client.list_resources, **kwargs)
            for item in raw.get("ResourceDescriptions", []):
                found.append({"Identifier": item["Identifier"], "Properties": json.loads(item["Properties"])})
            if not raw.get("NextToken"):
                return found
            kwargs["NextToken"] = raw["NextToken"]


def _watch_throttling(client: Any, budget: LaneBudget) -> Any:
    """Tells `budget` of every throttled attempt, the ones botocore retries by itself included (they
    never reach our code as errors, yet they are AWS asking us to slow down)."""

    def attempted(response: Any = None, **_: Any) -> None:
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else None
        code = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        if code in THROTTLING_CODES:
            budget.throttled()

    client.meta.events.register("needs-retry", attempted)
    return client


class CloudControlPool:
    """Clients per target (Cloud Control per kind, SageMaker's own API once), sharing one limit on calls in
    flight and one token bucket per target."""

    def __init__(
        self, max_concurrent: int, rate: float, burst: int, fence: Fence | None = None, drift_share: float = 0.5
    ) -> None:
        self.fence = fence  # asked before every mutating call (election.py)
        self.semaphore = asyncio.Semaphore(max_concurrent)
        self.executor = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="aws")
        self._max_concurrent = max_concurrent
        self._rate = rate
        self._burst = burst
        self._drift_share = drift_share
        self._sessions: dict[Target, tuple[boto3.Session, LaneBudget]] = {}
        self._raw: dict[Target, Any] = {}
        self._clients: dict[tuple[Target, Kind], CloudControl] = {}
        self._studios: dict[Target, Studio] = {}
        # Making a boto3 client takes 0.5 s of pure Python (its service model): the operator makes its
        # default target's in a thread at start-up (`handlers.warm_up`), and the event loop may ask
        # for the same one meanwhile; made once, under this lock.
        self._making = threading.Lock()

    async def call(
        self,
        bucket: LaneBudget,
        label: str,
        operation: str,
        mutating: bool,
        fn: Callable[..., dict[str, Any]],
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One AWS call of any client of a target: a token of the target's budget in the caller's lane
        (`budget.LANE`; a call that changes AWS is always the user's: a drift correction restores what a
        person asked for), then within the limit on calls in flight, in a worker thread, behind the fence
        when it changes AWS; botocore's errors become `AwsError`s, and every call is counted (`label` is
        the kind, or what else it is for)."""
        fence = self.fence if mutating else None
        lane = USER if mutating else LANE.get()

        def send() -> dict[str, Any]:
            if fence is not None:
                # In the thread, right before the request: a leader frozen while it waited for the rate
                # limit or a thread wakes up here, finds its Lease renewal too old, and sends nothing.
                fence.check()
            return fn(**kwargs)

        # The token first: a drift call waiting for its lane must not hold a slot a user call could use.
        waited = await bucket.acquire(lane)
        metrics.TOKENS_WAITED.labels(lane=lane).observe(waited)
        async with self.semaphore:
            loop = asyncio.get_running_loop()
            try:
                result = await loop.run_in_executor(self.executor, send)
            except NotLeader:
                raise
            except Exception as err:
                aws = _aws_error(err)
                metrics.AWS_CALLS.labels(kind=label, operation=operation, outcome=aws.code).inc()
                raise aws from err
            metrics.AWS_CALLS.labels(kind=label, operation=operation, outcome="ok").inc()
            return result

    def _config(self, region: str) -> Config:
        # botocore's standard retry mode backs off and retries throttling a few times itself.
        return Config(
            region_name=region,
            retries={"mode": "standard", "max_attempts": 3},
            max_pool_connections=self._max_concurrent,
            connect_timeout=10,
            read_timeout=30,
        )

    def _session(self, target: Target) -> boto3.Session:
        if target.role_arn is None:
            return boto3.Session(region_name=target.region)
        base = boto3.Session(region_name=target.region)
        sts = base.client("sts", config=self._config(target.region))
        role_arn = target.role_arn

        def refresh() -> dict[str, str]:
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="sagemaker-userprofile-operator")["Credentials"]
            expiry = creds["Expiration"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": (expiry if isinstance(expiry, datetime) else datetime.now(UTC)).isoformat(),
            }

        botocore_session = get_session()
        # Deferred: the first AssumeRole happens on the first call, in a worker thread, not here.
        botocore_session._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
            refresh_using=refresh, method="sts-assume-role"
        )
        botocore_session.set_config_variable("region", target.region)
        return boto3.Session(botocore_session=botocore_session)

    def _target(self, target: Target) -> tuple[boto3.Session, LaneBudget]:
        if target not in self._sessions:
            budget = LaneBudget(self._rate, self._burst, self._drift_share)
            self._sessions[target] = (self._session(target), budget)
        return self._sessions[target]

    def for_target(self, target: Target, kind: Kind) -> CloudControl:
        client = self._clients.get((target, kind))
        if client is None:
            with self._making:
                session, bucket = self._target(target)
                if target not in self._raw:
                    self._raw[target] = _watch_throttling(
                        session.client("cloudcontrol", config=self._config(target.region)), bucket
                    )
                client = self._clients.get((target, kind))
                if client is None:
                    client = self._clients[(target, kind)] = CloudControl(self._raw[target], bucket, self, kind)
        return client

    def studio_for(self, target: Target) -> Studio:
        """SageMaker's own API for the target, for what Cloud Control cannot do (`studio.py`); it shares
        the target's credentials, token bucket, limits and fence with Cloud Control."""
        studio = self._studios.get(target)
        if studio is None:
            with self._making:
                session, bucket = self._target(target)
                studio = self._studios.get(target)
                if studio is None:
                    raw = _watch_throttling(session.client("sagemaker", config=self._config(target.region)), bucket)
                    studio = self._studios[target] = Studio(raw, bucket, self)
        return studio

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
