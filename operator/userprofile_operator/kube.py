"""Reading and writing managed objects (any kind) in the current cluster with the official `kubernetes` client.

Used by the command line (`list`, `import`) and by the operator's drift scheduler and resync, which
run outside kopf's handlers (the handlers themselves write through kopf). The connection follows
kubectl: the kubeconfig (`KUBECONFIG`, else `~/.kube/config`, its current context), else the
in-cluster service account. Any failure to reach or read the cluster is a `ClusterAccessError` with a
one-line reason, so callers can go on without the cluster.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any, Final, Literal

from userprofile_operator.kind import GROUP, VERSION, Kind

REQUEST_TIMEOUT: Final = 15.0
SERVED_VERBS: Final = frozenset({"list", "watch", "patch"})  # what kopf needs of a resource to serve it
PAGE_SIZE: Final = 500


class ClusterAccessError(Exception):
    """The cluster could not be reached or read (no kubeconfig, refused, unauthorized, forbidden)."""


def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException

    config: Any = importlib.import_module("kubernetes.config")  # partly typed: used as Any
    try:
        return config.new_client_from_config(config_file=kubeconfig, context=context)
    except (ConfigException, OSError, TypeError) as kubeconfig_error:
        if kubeconfig or context:
            raise ClusterAccessError(f"cannot load kubeconfig: {kubeconfig_error}") from None
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException:
            raise ClusterAccessError(f"no kubeconfig ({kubeconfig_error}) and not running in a cluster") from None
        return client.ApiClient(configuration)


def _reason(err: Exception) -> str:
    from kubernetes.client.exceptions import ApiException

    if isinstance(err, ApiException):
        return f"the API server answered {err.status} {err.reason}".strip()
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def list_objects(kind: Kind, kubeconfig: str | None = None, context: str | None = None) -> list[dict[str, Any]]:
    """Every object of `kind` in the cluster (all namespaces, all pages), as plain dicts.

    None installed (no CRD) is an empty list; anything else that fails is a `ClusterAccessError`.
    """
    from kubernetes import client

    connection = api_client(kubeconfig, context)
    try:
        api = client.CustomObjectsApi(connection)
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page, token = _list_page(api, kind, None, token)
            items.extend(page)
            if not token:
                return items
    except Exception as err:  # urllib3, HTTP and TLS errors alike mean: no access
        if getattr(err, "status", None) == 404:  # the CRD is not installed: then there are no objects
            return []
        raise ClusterAccessError(_reason(err)) from None
    finally:
        connection.close()


def _list_page(
    api: Any, kind: Kind, namespace: str | None, token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page (up to 500) of a kind's objects, in a namespace or cluster-wide; and the next token."""
    kwargs: dict[str, Any] = {"limit": PAGE_SIZE, "_request_timeout": REQUEST_TIMEOUT}
    if token:
        kwargs["_continue"] = token
    if namespace is None:
        page: Any = api.list_cluster_custom_object(GROUP, VERSION, kind.plural, **kwargs)
    else:
        page = api.list_namespaced_custom_object(GROUP, VERSION, namespace, kind.plural, **kwargs)
    return list(page.get("items") or []), (page.get("metadata") or {}).get("continue") or None


CrdState = Literal["present", "deleting", "gone"]


class ObjectClient:
    """Reads and writes single objects of any kind outside kopf handlers (the drift scheduler).

    Blocking client calls run in a thread. Built once at start-up; the connection follows the same
    rules as above (kubeconfig, else in-cluster). The core and extensions APIs are made at their first
    use, in that call's thread: importing the core API's module alone took 0.5 s of the event loop at
    every start (bench/README.md).
    """

    def __init__(self) -> None:
        from kubernetes import client

        self._api_client = api_client()
        self._objects = client.CustomObjectsApi(self._api_client)

    @functools.cached_property
    def _core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self._api_client)

    @functools.cached_property
    def _extensions(self) -> Any:
        from kubernetes import client

        return client.ApiextensionsV1Api(self._api_client)

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        def call() -> dict[str, Any] | None:
            try:
                body: Any = self._objects.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, kind.plural, name, _request_timeout=REQUEST_TIMEOUT
                )
                return dict(body)
            except Exception as err:
                if getattr(err, "status", None) == 404:
                    return None
                raise

        return await asyncio.to_thread(call)

    async def first(self, kind: Kind, namespace: str | None) -> dict[str, Any] | None:
        """One object of `namespace` (None: cluster-wide), or None when there is none."""

        def call() -> dict[str, Any] | None:
            if namespace is None:
                page: Any = self._objects.list_cluster_custom_object(
                    GROUP, VERSION, kind.plural, limit=1, _request_timeout=REQUEST_TIMEOUT
                )
            else:
                page = self._objects.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, kind.plural, limit=1, _request_timeout=REQUEST_TIMEOUT
                )
            items = page.get("items") or []
            return dict(items[0]) if items else None

        return await asyncio.to_thread(call)

    async def serving(self, kinds: Iterable[Kind]) -> list[Kind] | None:
        """The kinds whose resource the API server's discovery lists with the verbs kopf needs to handle it
        (their CRDs installed and served; a terminating CRD's resource is listed without `patch`), or None
        when it cannot tell (refused, 503 while starting). No group at all (404) is none served."""
        chosen = list(kinds)

        def call() -> list[Kind] | None:
            try:
                found: Any = self._objects.get_api_resources(GROUP, VERSION, _request_timeout=REQUEST_TIMEOUT)
            except Exception as err:
                return [] if getattr(err, "status", None) == 404 else None
            plurals = {r.name for r in found.resources or [] if set(r.verbs or []) >= SERVED_VERBS}
            return [kind for kind in chosen if kind.plural in plurals]

        return await asyncio.to_thread(call)

    async def crd_state(self, kind: Kind) -> CrdState:
        """Whether the kind's CRD is there, being deleted (it has a deletionTimestamp), or gone."""

        def call() -> CrdState:
            try:
                crd: Any = self._extensions.read_custom_resource_definition(
                    kind.crd_name, _request_timeout=REQUEST_TIMEOUT
                )
            except Exception as err:
                if getattr(err, "status", None) == 404:
                    return "gone"
                raise
            return "deleting" if crd.metadata.deletion_timestamp is not None else "present"

        return await asyncio.to_thread(call)

    async def remove_finalizer(self, kind: Kind, body: dict[str, Any], finalizer: str) -> bool:
        """Takes `finalizer` off the object, if it has not changed since `body` was read (a merge patch
        with its resourceVersion). False when it changed or went meanwhile."""
        meta = body["metadata"]
        remaining = [f for f in meta.get("finalizers") or [] if f != finalizer]
        patch = {"metadata": {"finalizers": remaining, "resourceVersion": meta["resourceVersion"]}}

        def call() -> bool:
            try:
                self._objects.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    meta["namespace"],
                    kind.plural,
                    meta["name"],
                    patch,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except Exception as err:
                if getattr(err, "status", None) in (404, 409, 422):
                    return False
                raise
            return True

        return await asyncio.to_thread(call)

    async def pages(self, kind: Kind, namespace: str | None) -> AsyncIterator[list[dict[str, Any]]]:
        """Every object in `namespace` (None: cluster-wide), a page at a time, so memory stays flat."""
        token: str | None = None
        while True:
            page, token = await asyncio.to_thread(_list_page, self._objects, kind, namespace, token)
            yield page
            if not token:
                return

    async def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self._objects.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            kind.plural,
            name,
            {"status": status},
            _request_timeout=REQUEST_TIMEOUT,
        )

    async def post_event(self, body: dict[str, Any], type_: str, reason: str, message: str) -> None:
        meta = body["metadata"]
        now = datetime.now(UTC)
        event: Any = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": body["apiVersion"],
                "kind": body["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": "sagemaker-userprofile-operator"},
            "firstTimestamp": now.isoformat(),
            "lastTimestamp": now.isoformat(),
            "count": 1,
        }
        await asyncio.to_thread(
            lambda: self._core.create_namespaced_event(meta["namespace"], event, _request_timeout=REQUEST_TIMEOUT)
        )

    def close(self) -> None:
        self._api_client.close()
