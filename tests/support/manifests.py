"""The one place tests, benchmarks and the demo build SageMakerUserProfile manifests.

Plain dicts, as `kubectl apply -f -` takes them (after ``json.dumps``) and as the API server returns them;
nothing here talks to a cluster. The defaults are the examples' domain and region (``examples/*.yaml``),
which the e2e fixtures, the chart on the node and the demo create in the emulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

API_VERSION = "sagemaker.awscc.dev/v1alpha1"
KIND = "SageMakerUserProfile"
DOMAIN = "d-abcdef123456"
REGION = "us-east-1"


def profile(
    name: str,
    namespace: str | None = None,
    version: str | None = None,
    *,
    domain_id: str = DOMAIN,
    user_profile_name: str | None = None,
    annotations: Mapping[str, str] | None = None,
    **spec_overrides: Any,
) -> dict[str, Any]:
    """A SageMakerUserProfile named `name`, for the AWS profile `user_profile_name` (default: `name`).

    `namespace` None leaves ``metadata.namespace`` out (for ``kubectl apply -n``); `version` adds the tag
    ``version=<version>``, which the batch tests bump to make an update; `spec_overrides` are more spec
    fields in camelCase (``region=...``, ``deletionPolicy="Retain"``, ``tags=[...]`` replaces the
    version tag).
    """
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = dict(annotations)
    spec: dict[str, Any] = {"domainId": domain_id, "userProfileName": user_profile_name or name}
    if version is not None:
        spec["tags"] = [{"key": "version", "value": version}]
    spec.update(spec_overrides)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def object_list(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A ``v1`` List of `items`: one ``kubectl apply`` for a whole batch."""
    return {"apiVersion": "v1", "kind": "List", "items": [dict(item) for item in items]}
