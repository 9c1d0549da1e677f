"""deploy/iam/policy.json grants what the operator needs, derived from the code and the schema, and no more.

Needed actions come from two sources that change without anyone editing the policy:
- the Cloud Control calls in the operator package (boto3 method names, mapped to `cloudformation:`
  actions through the cloudcontrol service model botocore ships), and `sts.assume_role` for the
  per-namespace role;
- the handler permissions of the vendored registry schema: Cloud Control runs the resource handlers
  with the caller's credentials, so the caller needs them too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import xform_name

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY = REPO_ROOT / "deploy" / "iam" / "policy.json"
PACKAGE = REPO_ROOT / "operator" / "userprofile_operator"
SCHEMA = PACKAGE / "data" / "aws-sagemaker-userprofile.registry-schema.json"
CLOUDCONTROL_MODULE = PACKAGE / "cloudcontrol.py"


def statements() -> list[dict[str, Any]]:
    policy = json.loads(POLICY.read_text())
    assert policy["Version"] == "2012-10-17"
    return list(policy["Statement"])


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def granted() -> set[str]:
    return {action for s in statements() if s["Effect"] == "Allow" for action in as_list(s["Action"])}


def code_calls(service: str) -> set[str]:
    """Operation names of `service` whose boto3 method (or paginator / waiter) the package uses."""
    client = boto3.client(service, region_name="us-east-1")
    by_method = {xform_name(op): op for op in client.meta.service_model.operation_names}
    for waiter in client.waiter_names:
        by_method[waiter] = client.get_waiter(waiter).config.operation
    source = "\n".join(p.read_text() for p in sorted(PACKAGE.rglob("*.py")))
    used = set()
    for method, operation in by_method.items():
        # `client.create_resource(...)`, `client.create_resource` passed along, or a quoted name
        # given to get_paginator / get_waiter.
        if re.search(rf"(\.{method}\b|[\"']{method}[\"'])", source):
            used.add(operation)
    return used


def needed_by_code() -> set[str]:
    actions = {f"cloudformation:{op}" for op in code_calls("cloudcontrol")}
    actions |= {f"sts:{op}" for op in code_calls("sts") if op != "GetCallerIdentity"}  # always allowed
    return actions


def needed_by_schema() -> set[str]:
    handlers = json.loads(SCHEMA.read_text())["handlers"]
    return {p for handler in handlers.values() for p in handler["permissions"]}


def test_the_code_scan_finds_the_cloud_control_calls() -> None:
    # Guards the scan itself: the adapter exists and calls Cloud Control, so the scan must see it.
    assert CLOUDCONTROL_MODULE.is_file()
    assert {"CreateResource", "GetResource", "GetResourceRequestStatus"} <= code_calls("cloudcontrol")


def test_policy_grants_every_action_the_code_calls() -> None:
    missing = needed_by_code() - granted()
    assert not missing, f"deploy/iam/policy.json misses {sorted(missing)}"


def test_policy_grants_every_handler_permission_of_the_schema() -> None:
    missing = needed_by_schema() - granted()
    assert not missing, f"deploy/iam/policy.json misses {sorted(missing)}"


def test_policy_grants_nothing_else() -> None:
    cloudcontrol_ops = boto3.client(
        "cloudcontrol", region_name="us-east-1"
    ).meta.service_model.operation_names
    allowed = needed_by_code() | needed_by_schema() | {f"cloudformation:{op}" for op in cloudcontrol_ops}
    allowed.add("sts:AssumeRole")  # the optional statement for per-namespace roles
    extra = granted() - allowed
    assert not extra, f"deploy/iam/policy.json grants more than needed: {sorted(extra)}"


def test_no_wildcard_actions_no_deny_tricks() -> None:
    for s in statements():
        assert s["Effect"] == "Allow"
        assert "NotAction" not in s and "NotResource" not in s and "Principal" not in s
        for action in as_list(s["Action"]):
            assert "*" not in action and "?" not in action, f"wildcard action {action} in {s['Sid']}"


def test_pass_role_only_to_sagemaker() -> None:
    (stmt,) = [s for s in statements() if "iam:PassRole" in as_list(s["Action"])]
    assert as_list(stmt["Action"]) == ["iam:PassRole"]
    assert stmt["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_assume_role_is_a_statement_of_its_own() -> None:
    (stmt,) = [s for s in statements() if "sts:AssumeRole" in as_list(s["Action"])]
    assert as_list(stmt["Action"]) == ["sts:AssumeRole"]
    assert all(r.startswith("arn:aws:iam::") for r in as_list(stmt["Resource"]))


@pytest.mark.parametrize(
    "action",
    ["sagemaker:CreateUserProfile", "sagemaker:UpdateUserProfile", "sagemaker:DeleteUserProfile"],
)
def test_profile_writes_are_limited_to_user_profile_arns(action: str) -> None:
    resources = {r for s in statements() if action in as_list(s["Action"]) for r in as_list(s["Resource"])}
    assert resources == {"arn:aws:sagemaker:*:*:user-profile/*/*"}


def test_sids_are_unique() -> None:
    sids = [s["Sid"] for s in statements()]
    assert len(sids) == len(set(sids))
