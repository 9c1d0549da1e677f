"""Reading SageMakerUserProfiles from the current cluster with the official `kubernetes` client.

Used by the command line (`list`, `import`), not by the operator (kopf has its own API client). The
connection follows kubectl: the kubeconfig (`KUBECONFIG`, else `~/.kube/config`, its current
context), else the in-cluster service account. Any failure to reach or read the cluster is a
`ClusterAccessError` with a one-line reason, so callers can go on without the cluster.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

from userprofile_operator import GROUP, PLURAL, VERSION

REQUEST_TIMEOUT: Final = 15.0


class ClusterAccessError(Exception):
    """The cluster could not be reached or read (no kubeconfig, refused, unauthorized, forbidden)."""


def _api_client(kubeconfig: str | None, context: str | None) -> Any:
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


def list_profiles(kubeconfig: str | None = None, context: str | None = None) -> list[dict[str, Any]]:
    """Every SageMakerUserProfile in the cluster (all namespaces, all pages), as plain dicts.

    None installed (no CRD) is an empty list; anything else that fails is a `ClusterAccessError`.
    """
    from kubernetes import client

    api_client = _api_client(kubeconfig, context)
    try:
        api = client.CustomObjectsApi(api_client)
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 500, "_request_timeout": REQUEST_TIMEOUT}
            if token:
                kwargs["_continue"] = token
            page: Any = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kwargs)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
    except Exception as err:  # urllib3, HTTP and TLS errors alike mean: no access
        if getattr(err, "status", None) == 404:  # the CRD is not installed: then there are no objects
            return []
        raise ClusterAccessError(_reason(err)) from None
    finally:
        api_client.close()
