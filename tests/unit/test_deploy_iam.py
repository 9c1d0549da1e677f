"""deploy/iam/policy.json grants what the operator needs, derived from the code and the schemas, and no more.

Needed actions come from two sources that change without anyone editing the policy:
- the Cloud Control calls in the operator package (boto3 method names, mapped to `cloudformation:`
  actions through the cloudcontrol service model botocore ships), and `sts.assume_role` for the
  per-namespace role;
- the handler permissions of the vendored registry schema of every managed kind (one CRD in crds/
  each): Cloud Control runs the resource handlers with the caller's credentials, so the caller needs
  them too.

deploy/iam/render.py writes the policy from the kinds' schemas; these tests regenerate it, and read the
CRDs and the schema files themselves to check what it wrote.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml
from botocore import xform_name

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY = REPO_ROOT / "deploy" / "iam" / "policy.json"
SCOPED_POLICY = REPO_ROOT / "deploy" / "iam" / "policy-scoped-passrole.json"
RENDER = REPO_ROOT / "deploy" / "iam" / "render.py"
PACKAGE = REPO_ROOT / "operator" / "userprofile_operator"
SCHEMAS = REPO_ROOT / "operator" / "cfn_registry" / "schemas"
CLOUDCONTROL_MODULE = PACKAGE / "cloudcontrol.py"
STUDIO_MODULE = PACKAGE / "studio.py"
CRD_HEADER = re.compile(r"schema of (AWS::\w+::\w+)\.")


def crd_kinds() -> dict[str, str]:
    """Kind -> CloudFormation type, for every CRD in crds/ of a managed kind (category aws; not the tenant
    policy), the type from the generator's header line."""
    out = {}
    for path in sorted((REPO_ROOT / "crds").glob("*.yaml")):
        text = path.read_text()
        (crd,) = [doc for doc in yaml.safe_load_all(text) if doc]
        if "aws" not in crd["spec"]["names"].get("categories", []):
            continue
        match = CRD_HEADER.search(text.split("---", 1)[0])
        assert match, f"{path.name}: no `schema of AWS::...` in its header"
        out[crd["spec"]["names"]["kind"]] = match.group(1)
    return out


KINDS = crd_kinds()


def schema(type_name: str) -> dict[str, Any]:
    """The vendored registry schema of a type, read from its file."""
    document: dict[str, Any] = json.loads((SCHEMAS / f"{type_name.replace('::', '-').lower()}.json").read_text())
    assert document["typeName"] == type_name
    return document


def schema_permissions(type_name: str) -> set[str]:
    return {p for handler in schema(type_name)["handlers"].values() for p in handler["permissions"]}


@cache
def render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_iam_render", RENDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def statements() -> list[dict[str, Any]]:
    policy = json.loads(POLICY.read_text())
    assert policy["Version"] == "2012-10-17"
    return list(policy["Statement"])


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def granted() -> set[str]:
    return {action for s in statements() if s["Effect"] == "Allow" for action in as_list(s["Action"])}


def code_calls(service: str, modules: tuple[Path, ...] = ()) -> set[str]:
    """Operation names of `service` whose boto3 method (or paginator / waiter) the package (or only the
    given modules) uses."""
    client = boto3.client(service, region_name="us-east-1")
    by_method = {xform_name(op): op for op in client.meta.service_model.operation_names}
    for waiter in client.waiter_names:
        by_method[waiter] = client.get_waiter(waiter).config.operation
    source = "\n".join(p.read_text() for p in (modules or sorted(PACKAGE.rglob("*.py"))))
    used = set()
    for method, operation in by_method.items():
        # `client.create_resource(...)`, `client.create_resource` passed along, or a quoted name
        # given to get_paginator / get_waiter.
        if re.search(rf"(\.{method}\b|[\"']{method}[\"'])", source):
            used.add(operation)
    return used


# SageMaker deletes a domain's home volume with the caller's permissions when DeleteDomain's RetentionPolicy
# says Delete (the Domain handler's delete permissions list the same three).
HOME_VOLUME_ACTIONS = {
    "elasticfilesystem:DescribeMountTargets",
    "elasticfilesystem:DeleteMountTarget",
    "elasticfilesystem:DeleteFileSystem",
}


def needed_by_code() -> set[str]:
    actions = {f"cloudformation:{op}" for op in code_calls("cloudcontrol")}
    # SageMaker's own API, only in the module that goes around Cloud Control (its names, like `.search`,
    # would match unrelated code elsewhere)
    studio_calls = code_calls("sagemaker", (STUDIO_MODULE,))
    actions |= {f"sagemaker:{op}" for op in studio_calls}
    if "DeleteDomain" in studio_calls:
        actions |= HOME_VOLUME_ACTIONS
    actions |= {f"sts:{op}" for op in code_calls("sts") if op != "GetCallerIdentity"}  # always allowed
    return actions


def needed_by_schemas() -> set[str]:
    return {p for type_name in KINDS.values() for p in schema_permissions(type_name)}


def kind_statements(kind: str) -> list[dict[str, Any]]:
    return [s for s in statements() if re.fullmatch(rf"{kind}Handlers\w*", s["Sid"])]


def test_policy_is_what_the_generator_writes() -> None:
    assert POLICY.read_text() == render_module().render(), "deploy/iam/policy.json is stale: run make crd"
    assert render_module().main(["--check"]) == 0, "deploy/iam/ is stale: run make crd"


def test_the_scoped_variant_differs_only_in_the_roles_it_may_pass() -> None:
    """The IAM half of the tenant guardrails: iam:PassRole on the execution roles' path, nothing else changed."""
    scoped = json.loads(SCOPED_POLICY.read_text())
    assert SCOPED_POLICY.read_text() == render_module().committed()[SCOPED_POLICY]
    broad = {s["Sid"]: s for s in statements()}
    narrow = {s["Sid"]: s for s in scoped["Statement"]}
    assert sorted(broad) == sorted(narrow)
    for sid, stmt in narrow.items():
        if sid == "PassExecutionRolesToSageMakerOnly":
            assert stmt["Resource"] == "arn:aws:iam::*:role/sagemaker-userprofile-operator/*"
            assert {**stmt, "Resource": broad[sid]["Resource"]} == broad[sid]  # same condition: SageMaker only
        else:
            assert stmt == broad[sid], sid


@pytest.mark.parametrize(
    ("argv", "resource"),
    [
        (["--pass-role-path", "/ml/team-a/"], "arn:aws:iam::*:role/ml/team-a/*"),
        (["--pass-role-path", "/"], "arn:aws:iam::*:role/*"),
        (["--pass-role-name-prefix", "sagemaker-exec-"], "arn:aws:iam::*:role/sagemaker-exec-*"),
        (["--pass-role-name-prefix", "smup-", "--account", "123456789012"], "arn:aws:iam::123456789012:role/smup-*"),
    ],
)
def test_a_variant_for_your_path_or_prefix(argv: list[str], resource: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert render_module().main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    (stmt,) = [s for s in printed["Statement"] if s["Sid"] == "PassExecutionRolesToSageMakerOnly"]
    assert stmt["Resource"] == resource


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_another_partition_differs_only_in_its_arns(partition: str, capsys: pytest.CaptureFixture[str]) -> None:
    """China and GovCloud: the same statements, every ARN in `arn:<partition>:`."""
    assert render_module().main(["--partition", partition]) == 0
    printed = capsys.readouterr().out
    assert "arn:aws:" not in printed
    assert json.loads(printed.replace(f"arn:{partition}:", "arn:aws:")) == json.loads(POLICY.read_text())
    assert (
        render_module().main(["--partition", partition, "--pass-role-path", "/ml/", "--account", "123456789012"]) == 0
    )
    (stmt,) = [
        s for s in json.loads(capsys.readouterr().out)["Statement"] if s["Sid"] == "PassExecutionRolesToSageMakerOnly"
    ]
    assert stmt["Resource"] == f"arn:{partition}:iam::123456789012:role/ml/*"


@pytest.mark.parametrize(
    "argv",
    [
        ["--partition", "aws-mars"],
        ["--partition", "aws-cn", "--check"],
        ["--pass-role-path", "no-slashes"],
        ["--pass-role-path", "/a b/"],
        ["--pass-role-name-prefix", "has/slash"],
        ["--pass-role-name-prefix", "x", "--account", "12345"],
        ["--account", "123456789012"],
        ["--pass-role-path", "/a/", "--pass-role-name-prefix", "b"],
    ],
)
def test_a_bad_variant_is_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        render_module().main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().out == ""


def test_the_generator_covers_the_kinds_of_crds() -> None:
    from userprofile_operator.kinds import all_kinds

    assert {k.kind: k.type_name for k in all_kinds()} == KINDS
    assert {"SageMakerUserProfile", "SageMakerSpace"} <= set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_has_its_statements_with_its_schemas_actions(kind: str) -> None:
    needed = schema_permissions(KINDS[kind])
    mine = kind_statements(kind)
    assert [s["Sid"] for s in mine][:1] == [f"{kind}Handlers"]
    actions = {a for s in mine for a in as_list(s["Action"])}
    # Every action of the kind's statements comes from its schema, and together with the shared
    # iam:PassRole statement they are all of its handler permissions.
    assert actions <= needed
    assert needed - actions <= {"iam:PassRole"}
    if "iam:PassRole" in needed:
        assert "iam:PassRole" in granted()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kinds_own_resource_actions_are_limited_to_its_arns(kind: str) -> None:
    document = schema(KINDS[kind])
    type_ = KINDS[kind].split("::")[-1]
    # e.g. `arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:space/.*` -> space
    arn = document["properties"][f"{type_}Arn"]
    if "$ref" in arn:  # an image's ARN is a definition of its own
        arn = document["definitions"][arn["$ref"].split("/")[-1]]
    arn_pattern = re.search(r":([a-z-]+)\\?/", arn["pattern"])
    assert arn_pattern, kind
    resource_type = arn_pattern.group(1)
    own = {a for a in schema_permissions(KINDS[kind]) if re.fullmatch(rf"sagemaker:[A-Z][a-z]+{type_}", a)}
    own |= set(document["tagging"].get("permissions", ()))  # an image version has no tags
    assert own, kind
    (stmt,) = [s for s in statements() if s["Sid"] == f"{kind}Handlers"]
    assert set(as_list(stmt["Action"])) == own
    assert stmt["Resource"] == f"arn:aws:sagemaker:*:*:{resource_type}/*"


def test_the_code_scan_finds_the_cloud_control_calls() -> None:
    # Guards the scan itself: the adapter exists and calls Cloud Control, so the scan must see it.
    assert CLOUDCONTROL_MODULE.is_file()
    assert {"CreateResource", "GetResource", "GetResourceRequestStatus"} <= code_calls("cloudcontrol")


def test_the_code_scan_finds_the_clean_up_calls_of_sagemaker() -> None:
    assert code_calls("sagemaker", (STUDIO_MODULE,)) == {
        "ListApps",
        "DeleteApp",
        "ListSpaces",
        "ListUserProfiles",
        "DescribeDomain",
        "DeleteDomain",
    }


def test_clean_up_deletes_are_limited_to_their_resource_types_and_sagemakers_volumes() -> None:
    by_sid = {s["Sid"]: s for s in statements()}
    assert by_sid["StudioCleanup"]["Resource"] == ["arn:aws:sagemaker:*:*:app/*", "arn:aws:sagemaker:*:*:domain/*"]
    volumes = by_sid["StudioHomeVolumeDelete"]
    assert set(volumes["Action"]) == HOME_VOLUME_ACTIONS
    assert volumes["Condition"] == {
        "StringLike": {"aws:ResourceTag/ManagedByAmazonSageMakerResource": "arn:aws:sagemaker:*"}
    }


def test_policy_grants_every_action_the_code_calls() -> None:
    missing = needed_by_code() - granted()
    assert not missing, f"deploy/iam/policy.json misses {sorted(missing)}"


def test_policy_grants_every_handler_permission_of_the_schemas() -> None:
    missing = needed_by_schemas() - granted()
    assert not missing, f"deploy/iam/policy.json misses {sorted(missing)}"


def test_policy_grants_nothing_else() -> None:
    cloudcontrol_ops = boto3.client("cloudcontrol", region_name="us-east-1").meta.service_model.operation_names
    allowed = needed_by_code() | needed_by_schemas() | {f"cloudformation:{op}" for op in cloudcontrol_ops}
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
    ("action", "arn"),
    [
        ("sagemaker:CreateUserProfile", "arn:aws:sagemaker:*:*:user-profile/*"),
        ("sagemaker:UpdateUserProfile", "arn:aws:sagemaker:*:*:user-profile/*"),
        ("sagemaker:DeleteUserProfile", "arn:aws:sagemaker:*:*:user-profile/*"),
        ("sagemaker:CreateSpace", "arn:aws:sagemaker:*:*:space/*"),
        ("sagemaker:UpdateSpace", "arn:aws:sagemaker:*:*:space/*"),
        ("sagemaker:DeleteSpace", "arn:aws:sagemaker:*:*:space/*"),
    ],
)
def test_writes_are_limited_to_their_resource_arns(action: str, arn: str) -> None:
    resources = {r for s in statements() if action in as_list(s["Action"]) for r in as_list(s["Resource"])}
    assert resources == {arn}


def test_tag_writes_only_on_the_managed_kinds_resources() -> None:
    # the kinds whose type has tags (an image version has none)
    tagged = [kind for kind in KINDS if schema(KINDS[kind]).get("tagging", {}).get("taggable")]
    own_arns = {s["Resource"] for s in statements() for kind in tagged if s["Sid"] == f"{kind}Handlers"}
    assert len(own_arns) == len(tagged) == len(KINDS) - 1
    for action in ("sagemaker:AddTags", "sagemaker:DeleteTags"):
        resources = {r for s in statements() if action in as_list(s["Action"]) for r in as_list(s["Resource"])}
        assert resources == own_arns, action


def test_sids_are_unique() -> None:
    sids = [s["Sid"] for s in statements()]
    assert len(sids) == len(set(sids))
