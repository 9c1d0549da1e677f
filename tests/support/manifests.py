"""The one place tests, benchmarks and the demo build manifests of our kinds.

Plain dicts, as `kubectl apply -f -` takes them (after ``json.dumps``) and as the API server returns them;
nothing here talks to a cluster. The defaults are the examples' domain and region (``examples/*.yaml``),
which the e2e fixtures, the chart on the node and the demo create in the emulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

API_VERSION = "sagemaker.awscc.dev/v1alpha1"
# The execution role of examples/studio.yaml: under the path the scoped iam:PassRole policy allows.
STUDIO_EXECUTION_ROLE = "arn:aws:iam::123456789012:role/sagemaker-userprofile-operator/team-a/SageMakerExecutionRole"
KIND = "SageMakerUserProfile"
DOMAIN = "d-abcdef123456"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # the emulator's default account, which the examples' placeholder ARNs name
_LIFECYCLE_CONFIG_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:studio-lifecycle-config/"
_LIFECYCLE_CONFIG_APP_TYPES = ("JupyterServer", "KernelGateway", "CodeEditor", "JupyterLab")


def _metadata(name: str, namespace: str | None, annotations: Mapping[str, str] | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = dict(annotations)
    return metadata


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
    metadata = _metadata(name, namespace, annotations)
    spec: dict[str, Any] = {"domainId": domain_id, "userProfileName": user_profile_name or name}
    if version is not None:
        spec["tags"] = [{"key": "version", "value": version}]
    spec.update(spec_overrides)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def space(
    name: str,
    namespace: str | None = None,
    *,
    domain_id: str = DOMAIN,
    space_name: str | None = None,
    owner: str | None = None,
    sharing: str = "Private",
    annotations: Mapping[str, str] | None = None,
    **spec_overrides: Any,
) -> dict[str, Any]:
    """A SageMakerSpace named `name`, for the AWS space `space_name` (default: `name`).

    With `owner` (a UserProfileName) it is a `sharing` (Private or Shared) space owned by that profile;
    without, a space with no owner. `spec_overrides` are more spec fields in camelCase.
    """
    metadata = _metadata(name, namespace, annotations)
    spec: dict[str, Any] = {"domainId": domain_id, "spaceName": space_name or name}
    if owner is not None:
        spec["ownershipSettings"] = {"ownerUserProfileName": owner}
        spec["spaceSharingSettings"] = {"sharingType": sharing}
    spec.update(spec_overrides)
    return {"apiVersion": API_VERSION, "kind": "SageMakerSpace", "metadata": metadata, "spec": spec}


def domain(
    name: str,
    namespace: str | None = None,
    *,
    domain_name: str | None = None,
    annotations: Mapping[str, str] | None = None,
    **spec_overrides: Any,
) -> dict[str, Any]:
    """A SageMakerDomain named `name` for the AWS domain `domain_name` (default: `name`): IAM auth, the
    VPC, subnet and execution role of ``examples/studio.yaml``. AWS makes its id."""
    metadata = _metadata(name, namespace, annotations)
    spec: dict[str, Any] = {
        "domainName": domain_name or name,
        "authMode": "IAM",
        "vpcId": "vpc-0123456789abcdef0",
        "subnetIds": ["subnet-0123456789abcdef0"],
        "defaultUserSettings": {"executionRole": STUDIO_EXECUTION_ROLE},
    }
    spec.update(spec_overrides)
    return {"apiVersion": API_VERSION, "kind": "SageMakerDomain", "metadata": metadata, "spec": spec}


def object_list(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A ``v1`` List of `items`: one ``kubectl apply`` for a whole batch."""
    return {"apiVersion": "v1", "kind": "List", "items": [dict(item) for item in items]}


def platform_kit_named_in(specs: Iterable[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(Cloud Control type, desired state) of each lifecycle config, image and app image config that the
    settings of these specs (camelCase) name, once each: what must exist in AWS before SageMaker takes them.
    Lifecycle configs are named by ARN (only those of the examples' account and region count); each gets
    the app type of the settings it is found in, and an `echo` script."""
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def lifecycle_config(arn: Any, app_type: str) -> None:
        if isinstance(arn, str) and arn.startswith(_LIFECYCLE_CONFIG_ARN):
            name = arn.removeprefix(_LIFECYCLE_CONFIG_ARN)
            found.setdefault(
                ("AWS::SageMaker::StudioLifecycleConfig", name),
                {
                    "StudioLifecycleConfigName": name,
                    "StudioLifecycleConfigAppType": app_type,
                    "StudioLifecycleConfigContent": "ZWNobyBzZXQgdXA=",  # base64 of `echo set up`
                },
            )

    def walk(node: Any, app_type: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, app_type)
            return
        if not isinstance(node, Mapping):
            return
        for key, value in node.items():
            if key.endswith("AppSettings"):
                named = key[0].upper() + key[1 : -len("AppSettings")]
                walk(value, named if named in _LIFECYCLE_CONFIG_APP_TYPES else "JupyterLab")
            elif key == "lifecycleConfigArns":
                for arn in value or []:
                    lifecycle_config(arn, app_type)
            elif key == "lifecycleConfigArn":
                lifecycle_config(value, app_type)
            elif key == "customImages":
                for image in value or []:
                    name, config = image.get("imageName"), image.get("appImageConfigName")
                    if name:
                        state = {"ImageName": name, "ImageRoleArn": STUDIO_EXECUTION_ROLE}
                        found.setdefault(("AWS::SageMaker::Image", name), state)
                    if config:
                        found.setdefault(("AWS::SageMaker::AppImageConfig", config), {"AppImageConfigName": config})
            else:
                walk(value, app_type)

    for spec in specs:
        walk(spec, "JupyterLab")
    return [(type_name, state) for (type_name, _), state in found.items()]
