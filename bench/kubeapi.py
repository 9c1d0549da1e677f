"""A small asyncio client for the local API server, for the benchmarks: bulk create/patch/delete of
SageMakerUserProfile objects with many requests in flight, listing, and waiting on a watch.

kubectl applies one object after another (a GET and a write each); creating 10,000 objects that way
takes minutes, so the benchmark talks to the API server directly, with the admin token of
`LocalControlPlane`. Waiting uses a watch, not polling, so a convergence time is measured to the
event, and listing 10,000 objects every second does not steal CPU from the operator being measured.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

GROUP, VERSION, PLURAL = "sagemaker.awscc.dev", "v1alpha1", "sagemakeruserprofiles"


def is_ready(obj: Mapping[str, Any], generation: int | None = None) -> bool:
    """Ready=True and Synced=True, observed at the object's generation (or at `generation` when given).
    Synced matters: while a change is retried, the operator keeps Ready=True with Synced=False."""
    status = obj.get("status") or {}
    want = generation if generation is not None else obj.get("metadata", {}).get("generation")
    if status.get("observedGeneration") != want:
        return False
    true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    return {"Ready", "Synced"} <= true


class KubeApi:
    """`async with KubeApi(server, token, ca) as api:` — one connection pool, `concurrency` requests at once."""

    def __init__(self, server: str, token: str, ca_file: Path, concurrency: int = 32) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {token}", "User-Agent": "smup-bench"}
        self.ssl = ssl.create_default_context(cafile=str(ca_file))
        self.ssl.check_hostname = False
        self.concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> KubeApi:
        connector = aiohttp.TCPConnector(limit=self.concurrency, ssl=self.ssl)
        self._session = aiohttp.ClientSession(connector=connector, headers=self.headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use `async with KubeApi(...)`"
        return self._session

    def path(self, namespace: str, name: str = "") -> str:
        base = f"{self.server}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
        return f"{base}/{name}" if name else base

    async def _request(self, method: str, url: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = json.dumps(body) if body is not None else None
        for attempt in range(20):
            async with self.session.request(method, url, data=data, headers={"Content-Type": content_type}) as response:
                text = await response.text()
                if response.status in (429, 500, 503) and attempt < 19:
                    await asyncio.sleep(0.5)
                    continue
                if response.status >= 400:
                    raise RuntimeError(f"{method} {url} -> {response.status}: {text[:500]}")
                return json.loads(text) if text else None
        raise AssertionError("unreachable")

    async def _many(self, requests: Iterable[tuple[str, str, Any, str]]) -> None:
        """(method, url, body, content type) each, `concurrency` at a time."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(method: str, url: str, body: Any, content_type: str) -> None:
            async with gate:
                await self._request(method, url, body, content_type)

        await asyncio.gather(*(one(*r) for r in requests))

    async def create_many(self, namespace: str, objects: list[dict[str, Any]]) -> None:
        await self._many(("POST", self.path(namespace), o, "application/json") for o in objects)

    async def merge_patch_many(self, namespace: str, names: list[str], patch: dict[str, Any]) -> None:
        await self._many(("PATCH", self.path(namespace, n), patch, "application/merge-patch+json") for n in names)

    async def delete_many(self, namespace: str, names: list[str]) -> None:
        await self._many(("DELETE", self.path(namespace, n), None, "application/json") for n in names)

    async def create_namespace(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        await self._request("POST", f"{self.server}/api/v1/namespaces", body)

    async def wait_lease(self, namespace: str, name: str, holder: str, within: float) -> float:
        """Polls the Lease (every 0.1 s) until `holder` holds it; returns the monotonic time it did."""
        deadline = time.monotonic() + within
        url = f"{self.server}/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        while time.monotonic() < deadline:
            async with self.session.get(url) as response:
                if response.status == 200:
                    lease = await response.json()
                    if (lease.get("spec") or {}).get("holderIdentity") == holder:
                        return time.monotonic()
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{holder} did not hold the Lease {namespace}/{name} within {within:.0f} s")

    async def list(self, namespace: str) -> tuple[list[dict[str, Any]], str]:
        """Every object (pages of 500) and the list's resourceVersion."""
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            url = f"{self.path(namespace)}?limit=500" + (f"&continue={token}" if token else "")
            page = await self._request("GET", url)
            items += page["items"]
            token = page["metadata"].get("continue") or ""
            if not token:
                return items, page["metadata"]["resourceVersion"]

    async def wait(
        self,
        namespace: str,
        done: Callable[[dict[str, dict[str, Any]]], bool],
        within: float,
        progress: Callable[[dict[str, dict[str, Any]]], str] | None = None,
    ) -> float:
        """Lists, then watches, until `done(objects by name)`; returns the monotonic time it became true.
        Raises TimeoutError after `within` seconds."""
        deadline = time.monotonic() + within
        last_report = time.monotonic()
        while True:
            items, version = await self.list(namespace)
            objects = {o["metadata"]["name"]: o for o in items}
            if done(objects):
                return time.monotonic()
            url = f"{self.path(namespace)}?watch=true&allowWatchBookmarks=true&resourceVersion={version}"
            url += f"&timeoutSeconds={max(1, int(deadline - time.monotonic()))}"
            expired = False
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as response:
                async for line in response.content:
                    event = json.loads(line)
                    kind, obj = event["type"], event["object"]
                    if kind == "ERROR":
                        expired = True  # 410 Gone: list again
                        break
                    if kind == "BOOKMARK":
                        continue
                    name = obj["metadata"]["name"]
                    if kind == "DELETED":
                        objects.pop(name, None)
                    else:
                        objects[name] = obj
                    if done(objects):
                        return time.monotonic()
                    if progress is not None and time.monotonic() - last_report > 15:
                        last_report = time.monotonic()
                        print(f"    … {progress(objects)}", flush=True)
            if not expired and time.monotonic() >= deadline:
                raise TimeoutError(f"{namespace}: not done after {within:.0f} s")
