"""The diff base the operator gives kopf is kopf's own, built without copying what kopf throws away."""

from __future__ import annotations

from typing import Any

import kopf

from userprofile_operator.handlers import SlimDiffBaseStorage

FIELD = "status.kopf.lastHandledConfiguration"


def body() -> dict[str, Any]:
    managed = [{"manager": "kopf", "fieldsV1": {"f:status": {"f:conditions": {}}}, "operation": "Update"}] * 5
    return {
        "apiVersion": "sagemaker.awscc.dev/v1alpha1",
        "kind": "SageMakerUserProfile",
        "metadata": {
            "name": "alice",
            "namespace": "ml",
            "uid": "u-1",
            "generation": 3,
            "labels": {"team": "ml"},
            "annotations": {
                "sagemaker.awscc.dev/drift-interval": "5m",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "other.kopf.zalando.org/last-handled-configuration": "{}",
            },
            "managedFields": managed,
            "finalizers": ["sagemaker.awscc.dev/finalizer"],
        },
        "spec": {"domainId": "d-1", "userProfileName": "alice", "tags": [{"key": "a", "value": "b"}]},
        "status": {"observedGeneration": 3, "kopf": {"lastHandledConfiguration": "{}"}, "awsState": {"x": 1}},
    }


def test_the_same_essence_as_kopfs_own() -> None:
    for extra in (None, [("spec",)], ["spec"], [("metadata", "labels")], [("status", "observedGeneration")]):
        ours = SlimDiffBaseStorage(field=FIELD).build(body=kopf.Body(body()), extra_fields=extra)
        kopfs = kopf.StatusDiffBaseStorage(field=FIELD).build(body=kopf.Body(body()), extra_fields=extra)
        assert ours == kopfs, extra


def test_the_essence_is_a_copy() -> None:
    source = body()
    essence = SlimDiffBaseStorage(field=FIELD).build(body=kopf.Body(source))
    essence["spec"]["tags"].append({"key": "c", "value": "d"})
    essence["metadata"]["labels"]["team"] = "other"
    assert source == body(), "the object kopf holds is untouched"
