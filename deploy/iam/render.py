"""Writes deploy/iam/policy.json, the operator role's IAM policy, from the managed kinds' registry schemas,
and deploy/iam/policy-scoped-passrole.json, the same with iam:PassRole scoped for many tenants.

    .venv/bin/python deploy/iam/render.py            rewrite both files (`make crd` runs it)
    .venv/bin/python deploy/iam/render.py --check    exit 1 when a committed file is stale
    .venv/bin/python deploy/iam/render.py --pass-role-path /sagemaker/tenants/ [--account 123456789012]
    .venv/bin/python deploy/iam/render.py --pass-role-name-prefix sagemaker-exec- [--account ...]
                                                     print a variant scoped to your role path or name prefix
    .venv/bin/python deploy/iam/render.py --partition aws-cn [--pass-role-path ...]
                                                     print the policy for another partition (ARNs arn:aws-cn:...)

The scoped variant is the IAM half of the tenant guardrails (docs/multi-tenancy.md): the chart's
admission policies refuse a spec that names another team's role (intent), and this policy makes AWS refuse
to pass any role outside the execution roles' path or name prefix, whatever a spec says (blast radius).
Give every execution role that path (`aws iam create-role --path /sagemaker-userprofile-operator/...`) or
prefix; then no spec, namespace or operator bug can make SageMaker run as an unrelated, more powerful role.

Cloud Control runs a type's resource handlers with the caller's credentials, so the operator's role
needs every permission the handlers of each managed kind list (`handlers.*.permissions` of the vendored
schema), besides the Cloud Control actions themselves. The statements:

- `CloudControl`: the Cloud Control API. Its IAM actions carry the `cloudformation:` prefix (the
  service authorization reference lists no `cloudcontrol:` prefix); it has no resource-level
  permissions, hence `Resource: *`.
- per kind, `<Kind>Handlers`: the handler permissions on the kind's own resources (the `<Verb><Type>`
  actions and the schema's tagging permissions), limited to the resource type's ARNs (from the pattern
  of the kind's ARN property). This keeps `AddTags`/`DeleteTags` to the operator's own types.
- per kind, `<Kind>HandlersAnyResource`: the rest of its handler permissions (lists, look-ups of
  related resources, IAM Identity Center), on `*`: each acts on its own resource type only, so naming
  every ARN of that type would grant nothing less.
- `PassExecutionRolesToSageMakerOnly`: `iam:PassRole`, when a kind's handlers list it, only to the
  kinds' services; on every role (policy.json) or on the roles of one path or name prefix (the variant).
- `StudioCleanup*`, `StudioHomeVolumeDelete`: what clearing the way for a delete needs of SageMaker's own
  API (apps, a domain's home volume: `userprofile_operator/studio.py` says why Cloud Control cannot).
- `OptionalAssumeNamespaceRoles`: `sts:AssumeRole` for the per-namespace roles (the namespace
  annotation `sagemaker.awscc.dev/role-arn`).

tests/unit/test_deploy_iam.py regenerates the policy and compares, and checks each kind's actions
against its schema file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from userprofile_operator.kind import Kind
from userprofile_operator.kinds import all_kinds
from userprofile_operator.studio import CLEANUP_ACTIONS

POLICY = Path(__file__).resolve().parent / "policy.json"
SCOPED_POLICY = Path(__file__).resolve().parent / "policy-scoped-passrole.json"
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc")
"""The AWS partitions: every ARN of the policy starts `arn:<partition>:` (the committed files: aws)."""
DEFAULT_PASS_ROLE_PATH = "/sagemaker-userprofile-operator/"
"""The role path of the execution roles in the committed scoped variant."""
# IAM's own rules: a path is / or /.../ of printable ASCII; a role name of [\w+=,.@-], 64 at most.
_ROLE_PATH = re.compile(r"^/(?:[\x21-\x2e\x30-\x7e]+/)*$")
_ROLE_NAME_PREFIX = re.compile(r"^[\w+=,.@-]{1,63}$")
_ACCOUNT = re.compile(r"^\d{12}$")

# Every Cloud Control operation (botocore's cloudcontrol model); the test checks the code calls no other.
CLOUD_CONTROL_ACTIONS = (
    "CreateResource",
    "GetResource",
    "UpdateResource",
    "DeleteResource",
    "ListResources",
    "GetResourceRequestStatus",
    "CancelResourceRequest",
    "ListResourceRequests",
)
PASS_ROLE = "iam:PassRole"
# `arn:aws[...]:<service>:<region>:<account>:<resource-type>/...` as the registry schemas write ARN patterns.
# The partition may be a class (`aws[a-z\-]*`) or a group (`aws(-[\w]+)*`); the slash may be escaped.
_ARN_PATTERN = re.compile(r"^\^?arn:aws(?:\[[^\]]*\][*+?]?|\([^)]*\)[*+?]?)?:([a-z0-9-]+):.*?:([a-z][a-z0-9-]*)\\?/")


def handler_permissions(kind: Kind) -> set[str]:
    """The union of the permissions of the kind's create, read, update, delete and list handlers."""
    return {action for actions in kind.schema.handler_permissions().values() for action in actions}


def any_role(partition: str = "aws") -> str:
    return f"arn:{partition}:iam::*:role/*"


def assume_namespace_roles(partition: str = "aws") -> dict[str, Any]:
    return {
        "Sid": "OptionalAssumeNamespaceRoles",
        "Effect": "Allow",
        "Action": ["sts:AssumeRole"],
        "Resource": f"arn:{partition}:iam::*:role/sagemaker-userprofile-operator-*",
    }


def own_resource_arn(kind: Kind, partition: str = "aws") -> str:
    """`arn:<partition>:<service>:*:*:<resource-type>/*`, from the pattern of the kind's ARN property."""
    pattern = kind.schema.node_at((kind.arn_property,)).get("pattern", "")
    match = _ARN_PATTERN.match(pattern)
    if match is None:
        raise SystemExit(
            f"{kind.type_name}: cannot read a resource type from {kind.arn_property}'s pattern {pattern!r}"
        )
    service, resource_type = match.groups()
    return f"arn:{partition}:{service}:*:*:{resource_type}/*"


def is_own_resource_action(kind: Kind, action: str) -> bool:
    """`<service>:<Verb><Type>` (CreateUserProfile, not ListUserProfiles) or a tagging permission."""
    type_ = kind.type_name.split("::")[-1]
    tagging = kind.schema.tagging.get("permissions", ())
    return action in tagging or re.fullmatch(rf"{kind.schema.service}:[A-Z][a-z]+{type_}", action) is not None


def statement(sid: str, actions: Iterable[str], resource: str) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource}


def kind_statements(kind: Kind, partition: str = "aws") -> list[dict[str, Any]]:
    needed = handler_permissions(kind) - {PASS_ROLE}
    own = {action for action in needed if is_own_resource_action(kind, action)}
    out = [statement(f"{kind.kind}Handlers", own, own_resource_arn(kind, partition))]
    if needed - own:
        out.append(statement(f"{kind.kind}HandlersAnyResource", needed - own, "*"))
    return out


def cleanup_statements(kinds: Sequence[Kind], partition: str = "aws") -> list[dict[str, Any]]:
    """What clearing the way for a delete calls outside Cloud Control (`studio.CLEANUP_ACTIONS`): the
    deletes on their own resource types (DeleteApp on apps, DeleteDomain on domains), the lists and
    describes on `*`, and the EFS actions of DeleteDomain's home-volume deletion only on file systems
    SageMaker made (their `ManagedByAmazonSageMakerResource` tag)."""
    if not any(kind.cleanup is not None for kind in kinds):
        return []
    actions = {action for needed in CLEANUP_ACTIONS.values() for action in needed}
    efs = {action for action in actions if action.startswith("elasticfilesystem:")}
    deletes = {action for action in actions if action.startswith("sagemaker:Delete")}
    resource_types = sorted(
        re.sub(r"(?<!^)(?=[A-Z])", "-", a.removeprefix("sagemaker:Delete")).lower() for a in deletes
    )
    return [
        {
            **statement("StudioCleanup", deletes, "*"),
            "Resource": [f"arn:{partition}:sagemaker:*:*:{t}/*" for t in resource_types],
        },
        statement("StudioCleanupAnyResource", actions - deletes - efs, "*"),
        {
            **statement("StudioHomeVolumeDelete", efs, f"arn:{partition}:elasticfilesystem:*:*:file-system/*"),
            "Condition": {
                "StringLike": {"aws:ResourceTag/ManagedByAmazonSageMakerResource": f"arn:{partition}:sagemaker:*"}
            },
        },
    ]


def pass_role_resource(
    path: str | None = None, name_prefix: str | None = None, account: str | None = None, partition: str = "aws"
) -> str:
    """The roles iam:PassRole may pass: every role, or those under a role path, or with a name prefix."""
    if account is not None and not _ACCOUNT.fullmatch(account):
        raise ValueError(f"not an AWS account id: {account!r}")
    if path is not None and not _ROLE_PATH.fullmatch(path):
        raise ValueError(f"not an IAM role path (/ or /name/.../): {path!r}")
    if name_prefix is not None and not _ROLE_NAME_PREFIX.fullmatch(name_prefix):
        raise ValueError(f"not the start of an IAM role name: {name_prefix!r}")
    return f"arn:{partition}:iam::{account or '*'}:role{path or '/'}{name_prefix or ''}*"


def policy(kinds: Sequence[Kind], pass_role: str | None = None, partition: str = "aws") -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "CloudControl",
            "Effect": "Allow",
            "Action": [f"cloudformation:{action}" for action in CLOUD_CONTROL_ACTIONS],
            "Resource": "*",
        }
    ]
    for kind in kinds:
        statements += kind_statements(kind, partition)
    statements += cleanup_statements(kinds, partition)
    passers = sorted({kind.schema.service for kind in kinds if PASS_ROLE in handler_permissions(kind)})
    if passers:
        services = [f"{service}.amazonaws.com" for service in passers]
        statements.append(
            {
                "Sid": "PassExecutionRolesToSageMakerOnly",
                "Effect": "Allow",
                "Action": [PASS_ROLE],
                "Resource": pass_role or any_role(partition),
                "Condition": {"StringEquals": {"iam:PassedToService": services[0] if len(services) == 1 else services}},
            }
        )
    statements.append(assume_namespace_roles(partition))
    return {"Version": "2012-10-17", "Statement": statements}


def render(kinds: Sequence[Kind] | None = None, pass_role: str | None = None, partition: str = "aws") -> str:
    return json.dumps(policy(all_kinds() if kinds is None else kinds, pass_role, partition), indent=2) + "\n"


def committed() -> dict[Path, str]:
    """The files this script keeps in the repository, and what they must hold."""
    return {POLICY: render(), SCOPED_POLICY: render(pass_role=pass_role_resource(DEFAULT_PASS_ROLE_PATH))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed policy is stale")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--pass-role-path", help="print a variant: iam:PassRole only for roles under this path")
    scope.add_argument("--pass-role-name-prefix", help="print a variant: iam:PassRole only for roles named so")
    parser.add_argument("--account", help="with a variant: only roles of this account (default: any)")
    parser.add_argument(
        "--partition", choices=PARTITIONS, help="print the policy for this AWS partition (the files: aws)"
    )
    args = parser.parse_args(argv)
    partition = args.partition or "aws"
    if args.pass_role_path is not None or args.pass_role_name_prefix is not None:
        try:
            resource = pass_role_resource(args.pass_role_path, args.pass_role_name_prefix, args.account, partition)
        except ValueError as err:
            parser.error(str(err))
        sys.stdout.write(render(pass_role=resource, partition=partition))
        return 0
    if args.account is not None:
        parser.error("--account goes with --pass-role-path or --pass-role-name-prefix")
    if args.partition is not None:
        if args.check:
            parser.error("--check compares the committed files, which are for the aws partition")
        sys.stdout.write(render(partition=partition))
        return 0
    files = committed()
    if args.check:
        stale = [path.name for path, text in files.items() if not path.is_file() or path.read_text() != text]
        for name in stale:
            print(f"deploy/iam/{name} is stale: run deploy/iam/render.py (or make crd)", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
