"""Tenant guardrails end to end: the chart's ValidatingAdmissionPolicies in a real API server with RBAC on,
a tenant user who is not an admin, the session's operator and the emulator.

The chart is rendered with `helm template` and its admission objects and people's ClusterRoles applied,
with the bindings' namespaceSelector narrowed to a label only this module's namespaces carry, so the
policies never touch another test's objects; they are deleted afterwards. The tenant is `alice`, bound to
the chart's `-editor` ClusterRole in her namespace (no kube-controller-manager runs here to aggregate it
into `edit`), and every request of hers is made with `kubectl --as=alice`. Her namespace is `shared-*`,
so the session's operator reconciles what the guardrails let through.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.e2e.test_reconciler import events, profile, wait_condition, wait_ready
from tests.support import manifests
from tests.support.emulator import EmulatorProcess
from tests.support.helm import CHART, Helm
from tests.support.kube import Kube, wait_for
from tests.support.manifests import DOMAIN, REGION
from tests.support.operator import OperatorProcess
from userprofile_operator.kinds import all_kinds
from userprofile_operator.kinds._studio import INSTANCE_TYPES

TENANT = "alice"
LABEL = "tenancy.e2e.sagemaker.awscc.dev/module"
ACCOUNT = "123456789012"
ROLE_A = f"arn:aws:iam::{ACCOUNT}:role/team-a/studio"
ROLE_B = f"arn:aws:iam::{ACCOUNT}:role/team-b"
POLICY = {
    "allowedDomainIds": [DOMAIN],
    "allowedExecutionRoles": [rf"arn:aws:iam::{ACCOUNT}:role/team-a/.*"],
    "allowedInstanceTypes": ["ml.t3.medium", "ml.m5.large"],
    "allowedLifecycleConfigs": ["team-a-.*"],
    "allowedImages": ["team-a-.*"],
}
LCC_B = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:studio-lifecycle-config/team-b-mine"
MUTATING = ("CreateResource", "UpdateResource", "DeleteResource")
ADMISSION_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def tenant_policy(namespace: str, spec: dict[str, Any], name: str = "default") -> str:
    return json.dumps(
        {
            "apiVersion": manifests.API_VERSION,
            "kind": "SageMakerTenantPolicy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def domain(name: str, **spec: Any) -> dict[str, Any]:
    """A SageMakerDomain as examples/studio.yaml writes one, with its own domainName."""
    body = {
        "domainName": name,
        "authMode": "IAM",
        "vpcId": "vpc-0123456789abcdef0",
        "subnetIds": ["subnet-0123456789abcdef0"],
        "defaultUserSettings": {"executionRole": ROLE_A},
        **spec,
    }
    return {"apiVersion": manifests.API_VERSION, "kind": "SageMakerDomain", "metadata": {"name": name}, "spec": body}


def apps(instance_type: str) -> dict[str, Any]:
    return {"jupyterLabAppSettings": {"defaultResourceSpec": {"instanceType": instance_type}}}


@dataclass(frozen=True)
class Guardrails:
    kube: Kube
    label: str
    """The value of LABEL that puts a namespace under the guardrails."""
    fullname: str

    def as_tenant(self, *args: str, input: str | None = None) -> Any:
        return self.kube.kubectl(*args, f"--as={TENANT}", input=input, check=False)

    def apply_as_tenant(self, namespace: str, obj: dict[str, Any], *extra: str) -> Any:
        return self.as_tenant("apply", "-n", namespace, *extra, "-f", "-", input=json.dumps(obj))

    def tenant_namespace(self, prefix: str, policy: dict[str, Any] | None) -> str:
        """A namespace under the guardrails, with `policy` as its SageMakerTenantPolicy (None: none), where
        alice is an editor."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.kube.create_namespace(name)
        self.kube.kubectl("label", "namespace", name, f"{LABEL}={self.label}")
        if policy is not None:
            self.kube.kubectl("apply", "-f", "-", input=tenant_policy(name, policy))
        self.kube.kubectl(
            "create",
            "rolebinding",
            "alice-edits",
            "-n",
            name,
            f"--clusterrole={self.fullname}-editor",
            f"--user={TENANT}",
        )
        return name


@pytest.fixture(scope="module")
def guardrails(crd: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guardrails]:
    """The chart's policies, bindings (for labelled namespaces only) and people's ClusterRoles, applied."""
    release = f"tenancy-{uuid.uuid4().hex[:6]}"
    label = uuid.uuid4().hex[:12]
    selector = json.dumps({"matchLabels": {LABEL: label}})
    rendered = Helm(crd, tmp_path_factory.mktemp("helm"))(
        "template", release, str(CHART), "--namespace", "tenancy-ops", "--set", "crds.install=false",
        "--set-json", f"guardrails.namespaceSelector={selector}",
    ).stdout  # fmt: skip
    fullname = f"{release}-sagemaker-userprofile-operator"
    people = {f"{fullname}-{suffix}" for suffix in ("editor", "viewer", "tenant-policy-admin")}
    docs = [
        d
        for d in yaml.safe_load_all(rendered)
        if d and (d["kind"] in ADMISSION_KINDS or (d["kind"] == "ClusterRole" and d["metadata"]["name"] in people))
    ]
    assert {d["kind"] for d in docs} == {*ADMISSION_KINDS, "ClusterRole"}
    crd.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))
    try:
        yield Guardrails(crd, label, fullname)
    finally:
        for doc in docs:
            crd.kubectl("delete", doc["kind"], doc["metadata"]["name"], "--ignore-not-found")


@pytest.fixture(scope="module")
def tenant(guardrails: Guardrails, operator: OperatorProcess) -> str:
    """Alice's namespace, watched by the session's operator, with POLICY; once the API server applies it."""
    namespace = guardrails.tenant_namespace("shared-tenant", POLICY)
    refused = manifests.profile("probe-refused", domain_id="d-0000000000ff")
    allowed = manifests.profile("probe-allowed")

    def enforced() -> bool:  # the policies and the parameters reach the API server's caches in a moment
        no = guardrails.apply_as_tenant(namespace, refused, "--dry-run=server")
        yes = guardrails.apply_as_tenant(namespace, allowed, "--dry-run=server")
        return no.returncode != 0 and "allowedDomainIds" in no.stderr and yes.returncode == 0

    wait_for("the guardrails enforced in the tenant's namespace", enforced, timeout=30)
    return namespace


def mutating_calls(emulator: EmulatorProcess) -> dict[str, int]:
    calls = emulator.stats()["calls"]
    return {op: calls.get(op, 0) for op in MUTATING}


REFUSED = [
    pytest.param(
        manifests.profile("other-domain", domain_id="d-0000000000ff"),
        "allowedDomainIds: spec.domainId names d-0000000000ff, a domain not allowed in namespace",
        id="profile-domain",
    ),
    pytest.param(
        manifests.profile("other-role", userSettings={"executionRole": ROLE_B}),
        f"allowedExecutionRoles: spec.userSettings.executionRole names {ROLE_B}, an IAM role not allowed",
        id="profile-role",
    ),
    pytest.param(  # a pattern matches the whole ARN: team-a/.* does not allow team-a-admin
        manifests.profile("prefix-role", userSettings={"executionRole": f"arn:aws:iam::{ACCOUNT}:role/team-a-admin"}),
        "allowedExecutionRoles: spec.userSettings.executionRole names arn:aws:iam::123456789012:role/team-a-admin",
        id="profile-role-prefix",
    ),
    pytest.param(
        manifests.profile(
            "emr-role", userSettings={"jupyterLabAppSettings": {"emrSettings": {"executionRoleArns": [ROLE_A, ROLE_B]}}}
        ),
        f"spec.userSettings.jupyterLabAppSettings.emrSettings.executionRoleArns names {ROLE_B},",
        id="profile-emr-roles",
    ),
    pytest.param(
        manifests.profile("big-instance", userSettings=apps("ml.p4d.24xlarge")),
        "allowedInstanceTypes: spec.userSettings.jupyterLabAppSettings.defaultResourceSpec.instanceType names "
        "ml.p4d.24xlarge, an instance type not allowed",
        id="profile-instance-type",
    ),
    pytest.param(
        manifests.profile("adopter", adoptionPolicy="Adopt"),
        "allowAdoption: spec.adoptionPolicy: Adopt takes over an existing AWS user profile",
        id="profile-adopt",
    ),
    pytest.param(
        manifests.space("gpu-space", spaceSettings={"appType": "JupyterLab", **apps("ml.g5.xlarge")}),
        "allowedInstanceTypes: spec.spaceSettings.jupyterLabAppSettings.defaultResourceSpec.instanceType names "
        "ml.g5.xlarge",
        id="space-instance-type",
    ),
    pytest.param(
        manifests.space("foreign-space", domain_id="d-0000000000ff"),
        "allowedDomainIds: spec.domainId names d-0000000000ff",
        id="space-domain",
    ),
    pytest.param(
        domain("foreign-role", defaultSpaceSettings={"executionRole": ROLE_B}),
        f"allowedExecutionRoles: spec.defaultSpaceSettings.executionRole names {ROLE_B}",
        id="domain-role",
    ),
    pytest.param(  # an observed domain's id would feed domainIdRef: as good as adopting it
        domain("observed", managementPolicy="ObserveOnly"),
        "allowAdoption: spec.managementPolicy: ObserveOnly finds an existing AWS domain by its name",
        id="domain-observe-only",
    ),
    pytest.param(  # a person's private spaces hold their files: the platform team decides
        manifests.profile("leaver", cleanupOnDelete={"ownedSpaces": "Delete"}),
        "allowDataDeletion: spec.cleanupOnDelete.ownedSpaces: Delete deletes the private spaces of the profile",
        id="profile-owned-spaces-delete",
    ),
    pytest.param(  # a script of another team, by ARN: the name in it is checked
        manifests.profile("their-script", userSettings={"jupyterLabAppSettings": {"lifecycleConfigArns": [LCC_B]}}),
        f"allowedLifecycleConfigs: spec.userSettings.jupyterLabAppSettings.lifecycleConfigArns names {LCC_B}",
        id="profile-lifecycle-config",
    ),
    pytest.param(  # an image of another team in a list item
        domain(
            "their-image",
            defaultUserSettings={
                "executionRole": ROLE_A,
                "jupyterLabAppSettings": {
                    "customImages": [
                        {"imageName": "team-a-ok", "appImageConfigName": "lab"},
                        {"imageName": "team-b-gpu", "appImageConfigName": "lab"},
                    ]
                },
            },
        ),
        "allowedImages: spec.defaultUserSettings.jupyterLabAppSettings.customImages.imageName names team-b-gpu, "
        "an image not allowed",
        id="domain-custom-image",
    ),
    pytest.param(  # what a Ref would reach is checked where it is made: the image object's own name
        {
            "apiVersion": manifests.API_VERSION,
            "kind": "SageMakerImage",
            "metadata": {"name": "their-image"},
            "spec": {"imageName": "team-b-gpu", "imageRoleArn": ROLE_A},
        },
        "allowedImages: spec.imageName names team-b-gpu",
        id="image-name",
    ),
    pytest.param(  # unnamed, a lifecycle config is named in AWS after the object: that name is checked
        {
            "apiVersion": manifests.API_VERSION,
            "kind": "SageMakerStudioLifecycleConfig",
            "metadata": {"name": "team-b-idle"},
            "spec": {"studioLifecycleConfigAppType": "JupyterLab", "studioLifecycleConfigContent": "ZWNobyBoaQ=="},
        },
        "allowedLifecycleConfigs: spec.studioLifecycleConfigName names team-b-idle",
        id="lifecycle-config-unnamed",
    ),
    pytest.param(
        domain("wiped", cleanupOnDelete={"homeEfs": "Delete"}),
        "allowDataDeletion: spec.cleanupOnDelete.homeEfs: Delete deletes the home directories of all the users",
        id="domain-home-efs-delete",
    ),
]


@pytest.mark.parametrize(("obj", "message"), REFUSED)
def test_each_guardrail_refuses_at_apply_with_its_rule_and_nothing_reaches_aws(
    guardrails: Guardrails, tenant: str, emulator: EmulatorProcess, obj: dict[str, Any], message: str
) -> None:
    before = mutating_calls(emulator)
    proc = guardrails.apply_as_tenant(tenant, obj)
    assert proc.returncode != 0, f"accepted: {proc.stdout}"
    assert "is forbidden: ValidatingAdmissionPolicy" in proc.stderr and "denied request" in proc.stderr
    assert message in proc.stderr, proc.stderr
    assert f"namespace {tenant} (its SageMakerTenantPolicy default" in proc.stderr
    name = obj["metadata"]["name"]
    missing = guardrails.kube.kubectl("get", obj["kind"], name, "-n", tenant, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
    assert mutating_calls(emulator) == before
    assert not [r for r in emulator.resources(REGION) if name in r["Identifier"]]


def test_what_the_policy_allows_becomes_ready(
    guardrails: Guardrails, tenant: str, kube: Kube, emulator: EmulatorProcess
) -> None:
    """A domain, a profile in it by domainIdRef, one by an allowed domainId, and a space: every value allowed."""
    studio = f"team-a-{uuid.uuid4().hex[:6]}"
    by_reference = manifests.profile(f"carol-{studio}", domainIdRef={"name": studio})
    del by_reference["spec"]["domainId"]  # the domain object of this namespace instead, checked itself
    objects = [
        domain(studio, defaultUserSettings={"executionRole": ROLE_A, **apps("ml.t3.medium")}),
        by_reference,
        manifests.profile(f"dave-{studio}", userSettings={"executionRole": ROLE_A, **apps("ml.m5.large")}),
        manifests.space(f"lab-{studio}", spaceSettings={"appType": "JupyterLab", **apps("ml.t3.medium")}),
    ]
    for obj in objects:
        proc = guardrails.apply_as_tenant(tenant, obj)
        assert proc.returncode == 0, proc.stderr

    def all_ready() -> bool:
        for obj in objects:
            got = kube.get_json(obj["kind"], obj["metadata"]["name"], "-n", tenant)
            if (kube.condition(got, "Ready") or {}).get("status") != "True":
                return False
        return True

    wait_for("the tenant's objects Ready", all_ready, timeout=120)
    assert profile(emulator, f"dave-{studio}") is not None


def test_a_namespace_without_a_tenant_policy_refuses_new_objects(guardrails: Guardrails) -> None:
    namespace = guardrails.tenant_namespace("no-policy", None)

    def refused() -> Any:
        proc = guardrails.apply_as_tenant(namespace, manifests.profile("anything"))
        return proc.returncode != 0 and proc.stderr

    stderr = wait_for("the create refused", refused, timeout=30)
    assert "no params found for policy binding with `Deny` parameterNotFoundAction" in stderr
    assert f"{guardrails.fullname}-tenant-sagemakeruserprofiles-create" in stderr  # the binding, named


def test_a_tenant_reads_but_cannot_change_its_own_policy(guardrails: Guardrails, tenant: str) -> None:
    got = guardrails.as_tenant("get", "smtp", "default", "-n", tenant, "-o", "json")
    assert got.returncode == 0 and json.loads(got.stdout)["spec"]["allowedDomainIds"] == [DOMAIN]
    wider = {**POLICY, "allowedDomainIds": [DOMAIN, "d-0000000000ff"], "allowAdoption": True}
    for args, text in (
        (("apply", "-f", "-"), tenant_policy(tenant, wider)),
        (("patch", "smtp", "default", "-n", tenant, "--type=merge", "-p", '{"spec":{"allowAdoption":true}}'), None),
        (("delete", "smtp", "default", "-n", tenant), None),
        (("create", "-f", "-"), tenant_policy(tenant, wider).replace('"default"', '"second"')),
    ):
        proc = guardrails.as_tenant(*args, input=text)
        assert proc.returncode != 0 and "Forbidden" in proc.stderr, (args, proc.stderr)
        assert f'User "{TENANT}" cannot' in proc.stderr
    can = guardrails.as_tenant("auth", "can-i", "create", "sagemakeruserprofiles.sagemaker.awscc.dev", "-n", tenant)
    assert can.stdout.strip() == "yes"
    assert guardrails.kube.get_json("smtp", "default", "-n", tenant)["spec"] == {
        **POLICY,
        "allowAdoption": False,
        "allowDataDeletion": False,
    }


def test_a_tightened_policy_allows_other_edits_but_no_new_value(
    guardrails: Guardrails, tenant: str, kube: Kube
) -> None:
    name = f"tight-{uuid.uuid4().hex[:6]}"
    obj = manifests.profile(name, userSettings={"executionRole": ROLE_A})
    assert guardrails.apply_as_tenant(tenant, obj).returncode == 0
    wait_ready(kube, tenant, name)
    tightened = {**POLICY, "allowedExecutionRoles": [rf"arn:aws:iam::{ACCOUNT}:role/team-a/other"]}
    kube.kubectl("apply", "-f", "-", input=tenant_policy(tenant, tightened))
    try:
        with_tags = {**obj, "spec": {**obj["spec"], "tags": [{"key": "cost-center", "value": "42"}]}}

        moved = {**obj, "spec": {**obj["spec"], "userSettings": {"executionRole": f"{ROLE_A}-2"}}}

        def tightened_enforced() -> bool:  # the new parameters reach the API server's cache in a moment
            refused = guardrails.apply_as_tenant(tenant, moved, "--dry-run=server")
            return refused.returncode != 0 and "team-a/other" in refused.stderr

        wait_for("the tightened policy enforced", tightened_enforced, timeout=30)
        edited = guardrails.apply_as_tenant(tenant, with_tags)
        assert edited.returncode == 0, edited.stderr  # ROLE_A was there before: it passes

        def updated() -> bool:
            got = kube.get_json("smup", name, "-n", tenant)
            ready = kube.condition(got, "Ready") or {}
            return ready.get("status") == "True" and ready.get("observedGeneration") == 2

        wait_for("the tag edit reconciled", updated)
        refused = guardrails.apply_as_tenant(tenant, moved)
        assert refused.returncode != 0 and f"names {ROLE_A}-2, an IAM role not allowed" in refused.stderr
    finally:
        kube.kubectl("apply", "-f", "-", input=tenant_policy(tenant, POLICY))


NEW_TYPE = "ml.m8i.4xlarge"
"""An instance type of the right form that no vendored schema lists: one AWS launches after this release."""
UNLISTED = "that no schema of this operator lists"


def test_an_instance_type_aws_launches_later_is_accepted_with_a_warning_and_a_malformed_one_refused(
    guardrails: Guardrails, tenant: str
) -> None:
    """The CRD checks an instance type's form; the chart's warn-* policies (validationActions [Warn]) point out
    one no schema lists; the tenant's allow-list still refuses what it does not name."""
    assert NEW_TYPE not in INSTANCE_TYPES.known(kind.schema for kind in all_kinds())
    anyone = guardrails.tenant_namespace("types", {"allowedDomainIds": [DOMAIN]})  # any instance type; no operator
    name = f"new-type-{uuid.uuid4().hex[:6]}"
    obj = manifests.profile(name, userSettings=apps(NEW_TYPE))

    def warned() -> Any:  # the policies reach the API server's cache in a moment
        proc = guardrails.apply_as_tenant(anyone, obj, "--dry-run=server")
        return proc.returncode == 0 and UNLISTED in proc.stderr and proc.stderr

    dry_run = wait_for("the warning", warned, timeout=30)
    assert "Warning:" in dry_run and "warn-sagemakeruserprofiles" in dry_run
    created = guardrails.apply_as_tenant(anyone, obj)
    assert created.returncode == 0, created.stderr
    assert (
        f"spec.userSettings.jupyterLabAppSettings.defaultResourceSpec.instanceType names {NEW_TYPE}, "
        f"an instance type {UNLISTED}"
    ) in created.stderr
    stored = guardrails.kube.get_json("smup", name, "-n", anyone)["spec"]["userSettings"]
    assert stored["jupyterLabAppSettings"]["defaultResourceSpec"]["instanceType"] == NEW_TYPE
    # An update that keeps the value is no news; a listed type never warns.
    tagged = {**obj, "spec": {**obj["spec"], "tags": [{"key": "team", "value": "a"}]}}
    again = guardrails.apply_as_tenant(anyone, tagged)
    assert again.returncode == 0 and "Warning" not in again.stderr, again.stderr
    known = guardrails.apply_as_tenant(anyone, manifests.profile(f"known-{name}", userSettings=apps("ml.t3.medium")))
    assert known.returncode == 0 and "Warning" not in known.stderr, known.stderr

    malformed = guardrails.apply_as_tenant(anyone, manifests.profile(f"bad-{name}", userSettings=apps("t3.medium")))
    assert malformed.returncode != 0
    assert "spec.userSettings.jupyterLabAppSettings.defaultResourceSpec.instanceType in body should match" in (
        malformed.stderr
    )
    space = manifests.space(f"lab-{name}", spaceSettings={"appType": "JupyterLab", **apps(NEW_TYPE)})
    spaced = guardrails.apply_as_tenant(anyone, space)
    assert spaced.returncode == 0 and UNLISTED in spaced.stderr, spaced.stderr

    # The allow-list of the tenant's policy refuses it all the same, until the policy names it.
    refused = guardrails.apply_as_tenant(tenant, obj)
    assert refused.returncode != 0 and f"names {NEW_TYPE}, an instance type not allowed" in refused.stderr
    policy = tenant_policy(anyone, {"allowedDomainIds": [DOMAIN], "allowedInstanceTypes": [NEW_TYPE]})
    allowing = guardrails.kube.kubectl("apply", "-f", "-", input=policy)
    assert f"spec.allowedInstanceTypes names {NEW_TYPE}, an instance type {UNLISTED}" in allowing.stderr


@pytest.mark.parametrize(
    ("spec", "name", "message"),
    [
        pytest.param(
            {"allowedExecutionRoles": [f"arn:aws:iam::{ACCOUNT}:role/(team-a"]},
            "default",
            'spec.allowedExecutionRoles[0]: Invalid value: "string": error parsing regexp: missing closing ): '
            "`arn:aws:iam::123456789012:role/(team-a` evaluating rule: must be an RE2 regular expression",
            id="malformed-pattern",
        ),
        pytest.param(
            {"allowedExecutionRole": [".*"]},
            "default",
            'strict decoding error: unknown field "spec.allowedExecutionRole"',
            id="unknown-key",
        ),
        pytest.param(  # a well-formed type no schema lists is accepted with a warning (below)
            {"allowedInstanceTypes": ["t3.medium"]},
            "default",
            'spec.allowedInstanceTypes[0]: Invalid value: "t3.medium": spec.allowedInstanceTypes[0] in body '
            "should match",
            id="malformed-instance-type",
        ),
        pytest.param(
            {"allowedDomainIds": ["studio"]},
            "default",
            'spec.allowedDomainIds[0]: Invalid value: "studio": spec.allowedDomainIds[0] in body should match',
            id="not-a-domain-id",
        ),
        pytest.param(
            {"allowAdoption": True},
            "team-a",
            'metadata.name: Invalid value: "team-a": the guardrails read only the SageMakerTenantPolicy named default',
            id="not-named-default",
        ),
    ],
)
def test_bad_parameters_get_a_clear_error_at_apply(
    crd: Kube, namespace: str, spec: Any, name: str, message: str
) -> None:
    proc = crd.kubectl("apply", "-f", "-", input=tenant_policy(namespace, spec, name), check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert crd.kubectl("get", "smtp", "-n", namespace, "-o", "name").stdout == ""


def test_the_operator_refuses_a_namespace_role_it_does_not_allow_with_no_aws_call(
    kube: Kube, emulator: EmulatorProcess, moto_sts: str
) -> None:
    """The backstop for what admission cannot see: the namespace's role annotation, which the operator
    honours only when SMUP_ALLOWED_ROLE_ARNS allows it. A profile made before the setting was tightened
    is reported, never deleted."""
    team_a, team_b = (f"own-{team}-{uuid.uuid4().hex[:8]}" for team in ("a", "b"))
    annotation = "sagemaker.awscc.dev/role-arn"
    kube.create_namespace(team_a, {annotation: f"arn:aws:iam::{ACCOUNT}:role/sagemaker-userprofile-operator-team-a"})
    kube.create_namespace(team_b, {annotation: f"arn:aws:iam::{ACCOUNT}:role/sagemaker-userprofile-operator-team-b"})
    env = {
        "AWS_ENDPOINT_URL_STS": moto_sts,
        "SMUP_ALLOWED_ROLE_ARNS": json.dumps([r"arn:aws:iam::\d{12}:role/sagemaker-userprofile-operator-team-a"]),
    }
    name = f"sts-{uuid.uuid4().hex[:6]}"
    operator = OperatorProcess(kube.kubeconfig, emulator.env(), namespaces=[team_a, team_b], env=env).start()
    try:
        kube.kubectl("apply", "-n", team_a, "-f", "-", input=json.dumps(manifests.profile(name)))
        wait_ready(kube, team_a, name)
        before = mutating_calls(emulator)
        kube.kubectl("apply", "-n", team_b, "-f", "-", input=json.dumps(manifests.profile(f"{name}-b")))
        obj = wait_condition(kube, team_b, f"{name}-b", "Ready", "False", "RoleNotAllowed")
        message = (kube.condition(obj, "Ready") or {})["message"]
        assert "sagemaker-userprofile-operator-team-b" in message and "SMUP_ALLOWED_ROLE_ARNS" in message
        assert (kube.condition(obj, "Synced") or {}).get("reason") == "RoleNotAllowed"
        warned = [e for e in events(kube, team_b, f"{name}-b") if e["reason"] == "RoleNotAllowed"]
        assert len(warned) == 1 and warned[0]["type"] == "Warning"
        # Not one Cloud Control call for it: no request names it, and nothing was created, updated or deleted.
        assert mutating_calls(emulator) == before
        assert not [r for r in emulator.requests(REGION) if f"{name}-b|" in json.dumps(r)]
        assert profile(emulator, f"{name}-b") is None
        # Never reached AWS: its deletion needs no AWS call either.
        kube.kubectl("delete", "smup", f"{name}-b", "-n", team_b, "--timeout=30s", timeout=40)

        # The setting tightened (no role allowed) and the operator restarted: the existing profile is
        # reported at once, and left in AWS.
        operator.stop()
        operator.env["SMUP_ALLOWED_ROLE_ARNS"] = "[]"
        operator.start()
        obj = wait_condition(kube, team_a, name, "Ready", "False", "RoleNotAllowed")
        assert "sagemaker-userprofile-operator-team-a" in (kube.condition(obj, "Ready") or {})["message"]
        assert profile(emulator, name) is not None
        assert mutating_calls(emulator) == before
        # Deleting it waits rather than act through a role the operator may not use; Retain lets it go.
        kube.kubectl("patch", "smup", name, "-n", team_a, "--type=merge", "-p", '{"spec":{"deletionPolicy":"Retain"}}')
        kube.kubectl("delete", "smup", name, "-n", team_a, "--timeout=30s", timeout=40)
        assert profile(emulator, name) is not None
    finally:
        operator.stop()


def test_the_chart_ships_what_these_tests_used(guardrails: Guardrails, kube: Kube) -> None:
    """`kubectl get validatingadmissionpolicybindings` is how an admin audits the guardrails (docs/multi-tenancy.md)."""
    listed = kube.kubectl("get", "validatingadmissionpolicybindings", "-o", "name").stdout.split()
    ours = sorted(n.split("/", 1)[1] for n in listed if guardrails.fullname in n)
    plurals = [kind.plural for kind in all_kinds()]  # every kind's guardrails, the platform kit's too
    studio = ("sagemakerdomains", "sagemakerspaces", "sagemakeruserprofiles")  # the kinds with instance types
    assert ours == sorted(
        [
            *(f"{guardrails.fullname}-tenant-{plural}-{op}" for plural in plurals for op in ("create", "update")),
            *(f"{guardrails.fullname}-warn-{plural}" for plural in (*studio, "sagemakertenantpolicies")),
        ]
    )
