"""The Helm chart renders a hardened, least-privilege install, and refuses bad values.

These run the real helm binary (`hack/control-plane.sh` builds it; no API server is needed for
`helm lint` / `helm template`), and read what it renders the way the API server would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.helm import helm_binary
from userprofile_operator.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "deploy" / "helm" / "sagemaker-userprofile-operator"
CRD_FILES = sorted((REPO_ROOT / "crds").glob("*.yaml"))  # one per managed kind, and the tenant policy's
RELEASE = "smup"
NAMESPACE = "ops"
FULLNAME = "smup-sagemaker-userprofile-operator"
LEASE_ROLE = f"{FULLNAME}-leader-election"


def crd(path: Path) -> dict[str, Any]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert len(docs) == 1, f"{path.name}: one CRD per file"
    return dict(docs[0])


CRDS = {path.name: crd(path) for path in CRD_FILES}
# (apiGroup, plural) of every managed kind in crds/ (category aws): the chart's RBAC covers each, and its
# /status. Not the tenant policy: the operator never reads nor writes it.
KINDS = {
    (c["spec"]["group"], c["spec"]["names"]["plural"])
    for c in CRDS.values()
    if "aws" in c["spec"]["names"].get("categories", [])
}
TENANT_POLICIES = ("sagemaker.awscc.dev", "sagemakertenantpolicies")
# (apiGroup, resource, verb): everything the operator needs, nothing more.
NAMESPACED_GRANTS = {
    *{(group, plural, v) for group, plural in KINDS for v in ("get", "list", "watch", "patch", "update")},
    *{(group, f"{plural}/status", v) for group, plural in KINDS for v in ("get", "patch", "update")},
    *{(group, "events", v) for group in ("", "events.k8s.io") for v in ("create", "patch")},
}
CLUSTER_GRANTS = {
    *{("", "namespaces", v) for v in ("get", "list", "watch")},
    *{("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("get", "list", "watch")},
}
# (apiGroup, resource, verb, resourceName or None): leader election, in the release namespace only.
# Get and update only the release's own Lease; create cannot be limited by name.
LEASE_GRANTS = {
    ("coordination.k8s.io", "leases", "get", FULLNAME),
    ("coordination.k8s.io", "leases", "update", FULLNAME),
    ("coordination.k8s.io", "leases", "create", None),
}
LEADER_ELECT_ARGS = ["--leader-elect", "--leader-election-id", FULLNAME]
LIVENESS_ARGS = ["--liveness", "http://0.0.0.0:8081/healthz"]


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def render(*sets: str, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for item in sets:
        args += ["--set", item]
    if values is not None:
        args += ["--values", "-"]
    proc = subprocess.run(
        [helm_binary(), *args],
        input=yaml.safe_dump(values) if values else None,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def named_grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str, str | None]]:
    """The (group, resource, verb, resourceName or None) of RBAC rules; wildcards fail the test."""
    out: set[tuple[str, str, str, str | None]] = set()
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "verbs", "resourceNames"}, f"unexpected rule fields: {rule}"
        names = rule.get("resourceNames") or [None]
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), f"wildcard in {rule}"
                    out.update((group, resource, verb, name) for name in names)
    return out


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """The (group, resource, verb) triples of RBAC rules; wildcards and resourceNames fail the test."""
    out = set()
    for group, resource, verb, name in named_grants(rules):
        assert name is None, f"unexpected resourceNames in {rules}"
        out.add((group, resource, verb))
    return out


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in by_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, got {len(found)}"
    return found[0]


def guardrails(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The tenant guardrails' policies or bindings (not the warnings)."""
    return [o for o in by_kind(objects, kind) if o["metadata"]["name"].startswith(f"{FULLNAME}-tenant-")]


def notes(*sets: str, values: dict[str, Any] | None = None) -> str:
    """NOTES.txt as `helm install` prints it, rendered without a cluster: a copy of the chart whose one
    template renders NOTES.txt with `tpl` (helm template leaves NOTES.txt out)."""
    with tempfile.TemporaryDirectory() as folder:
        chart = Path(folder) / CHART.name
        shutil.copytree(CHART, chart)
        for template in (chart / "templates").glob("*.yaml"):
            template.unlink()
        (chart / "files" / "notes.tpl").write_text((CHART / "templates" / "NOTES.txt").read_text())
        (chart / "templates" / "notes.yaml").write_text('notes: {{ tpl (.Files.Get "files/notes.tpl") . | toJson }}\n')
        args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
        for item in sets:
            args += ["--set", item]
        proc = subprocess.run(
            [helm_binary(), *args, "--values", "-"],
            input=yaml.safe_dump(values or {}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        (document,) = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
        return str(document["notes"])


def mebibytes(quantity: str) -> float:
    units = {"Mi": 1.0, "Gi": 1024.0, "Ki": 1 / 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="module")
def namespaced() -> list[dict[str, Any]]:
    return render(values={"rbac": {"scope": "namespaced"}, "watchNamespaces": ["team-a", "team-b"]})


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The container's plain environment variables (those with a value, not a valueFrom)."""
    return {e["name"]: e["value"] for e in container(objects)["env"] if "valueFrom" not in e}


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(one(objects, "Deployment")["spec"]["template"]["spec"])


class TestLint:
    def test_lint_is_clean_with_defaults(self) -> None:
        proc = helm("lint", str(CHART), "--strict")
        assert "0 chart(s) failed" in proc.stdout

    def test_lint_is_clean_in_namespaced_mode(self) -> None:
        helm("lint", str(CHART), "--strict", "--set", "rbac.scope=namespaced", "--set", "watchNamespaces={a,b}")

    def test_chart_versions(self) -> None:
        chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
        assert (chart["apiVersion"], chart["version"], chart["appVersion"]) == ("v2", "0.1.0", "0.1.0")

    def test_kubernetes_1_30_or_later_where_validating_admission_policies_are_served(self) -> None:
        chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
        assert chart["kubeVersion"] == ">=1.30.0-0"  # -0: pre-release and vendor builds (v1.30.4-eks-...) too
        for version in ("1.30.0", "v1.30.4-eks-a737599", "1.36.3"):
            helm("template", RELEASE, str(CHART), "--kube-version", version)
        proc = helm("template", RELEASE, str(CHART), "--kube-version", "1.29.9", check=False)
        assert proc.returncode != 0
        assert "chart requires kubeVersion: >=1.30.0-0 which is incompatible with Kubernetes v1.29.9" in proc.stderr
        helm("template", RELEASE, str(CHART))  # without a cluster, helm assumes its own client's version


class TestBadValuesAreRefused:
    @pytest.mark.parametrize(
        ("setting", "complaint"),
        [
            ("rbac.scope=everything", "/rbac/scope"),
            ("replicaCount=-1", "/replicaCount"),
            ("replicaCount=one", "/replicaCount"),
            ("leaderElection.enabled=maybe", "/leaderElection/enabled"),
            ("leaderElection.leaseDuration=0", "/leaderElection/leaseDuration"),
            ("leaderElection.renewDeadline=soon", "/leaderElection/renewDeadline"),
            ("leaderElection.retryPeriod=0.5", "/leaderElection/retryPeriod"),
            ("leaderElection.leaseName=x", "additional properties 'leaseName' not allowed"),
            ("podDisruptionBudget.maxUnavailable=half", "/podDisruptionBudget/maxUnavailable"),
            ("podDisruptionBudget.minAvailable=1", "/podDisruptionBudget"),
            ("podAntiAffinity=always", "/podAntiAffinity"),
            ("config.awsBurst=lots", "/config/awsBurst"),
            ("config.awsRate=0", "/config/awsRate"),
            ("config.driftInterval=-1", "/config/driftInterval"),
            ("config.logLevel=TRACE", "/config/logLevel"),
            ("config.logFormat=xml", "/config/logFormat"),
            ("config.clusterName=has spaces", "/config/clusterName"),
            ("image.digest=latest", "/image/digest"),
            ("image.digest=sha256:abc", "/image/digest"),
            ("tenantPolicies.Team_A.allowAdoption=true", "invalid propertyName 'Team_A'"),
            ("tenantPolicies.team-a.allowedDomainId=d-1", "/tenantPolicies/team-a"),
            ("admissionWarnings.enabled=maybe", "/admissionWarnings/enabled"),
            ("metrics.port=70000", "/metrics/port"),
            ("metrics.port=8081", "/metrics/port"),
            ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
            ("replicas=1", "additional properties 'replicas' not allowed"),
            ("rbac.scope=namespaced", "/watchNamespaces"),
        ],
    )
    def test_template_fails_through_the_values_schema(self, setting: str, complaint: str) -> None:
        proc = helm("template", RELEASE, str(CHART), "--set", setting, check=False)
        assert proc.returncode != 0, f"--set {setting} was accepted"
        assert complaint in proc.stderr

    @pytest.mark.parametrize(
        ("settings", "complaint"),
        [
            (
                ["leaderElection.enabled=false", "replicaCount=2"],
                "replicaCount=2 needs leaderElection.enabled=true: without leader election at most 1 pod",
            ),
            (
                ["leaderElection.leaseDuration=10", "leaderElection.renewDeadline=10"],
                "leaderElection.leaseDuration (10) must be greater than leaderElection.renewDeadline (10)",
            ),
            (
                ["leaderElection.renewDeadline=6", "leaderElection.retryPeriod=5"],
                "leaderElection.renewDeadline (6) must be greater than 1.2 times leaderElection.retryPeriod (5)",
            ),
        ],
    )
    def test_template_fails_with_a_clear_message(self, settings: list[str], complaint: str) -> None:
        args = ["template", RELEASE, str(CHART)]
        for item in settings:
            args += ["--set", item]
        proc = helm(*args, check=False)
        assert proc.returncode != 0, f"{settings} was accepted"
        assert complaint in proc.stderr

    def test_election_timings_the_chart_accepts_the_operator_accepts(self) -> None:
        """The chart's timing check is the operator's: a value at the edge passes both or neither."""
        smup = env(render(values={"leaderElection": {"leaseDuration": 11, "renewDeadline": 10.5, "retryPeriod": 8.7}}))
        prefixed = {k.removeprefix("SMUP_").lower(): v for k, v in smup.items() if k.startswith("SMUP_")}
        Settings.model_validate(prefixed)


class TestHardenedPod:
    def test_pod_and_container_security_context(self, default: list[dict[str, Any]]) -> None:
        pod = one(default, "Deployment")["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 65532
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        sc = container(default)["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["runAsUser"] == 65532
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}

    def test_resources_have_requests_and_limits(self, default: list[dict[str, Any]]) -> None:
        resources = container(default)["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}
        assert set(resources["limits"]) == {"cpu", "memory"}

    def test_memory_holds_ten_thousand_objects_with_headroom(self, default: list[dict[str, Any]]) -> None:
        """bench/README.md measured, with 10,000 Ready objects, 168 MiB resident once settled and 269 MiB
        at the peak of a restart: the request covers the settled figure with room, the limit the peak with
        half as much again, and values.yaml and deploy/README.md carry the sizing table."""
        settled, peak = 168, 269
        memory = container(default)["resources"]
        request, limit = (mebibytes(memory[k]["memory"]) for k in ("requests", "limits"))
        assert request >= 1.5 * settled and limit >= 1.5 * peak
        for document in (CHART / "values.yaml", REPO_ROOT / "deploy" / "README.md"):
            text = document.read_text()
            assert "10,000" in text and "168" in text and "269" in text and "512Mi" in text, document.name

    def test_tmp_is_a_writable_empty_dir(self, default: list[dict[str, Any]]) -> None:
        pod = one(default, "Deployment")["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container(default)["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]

    def test_command_and_ports(self, default: list[dict[str, Any]]) -> None:
        c = container(default)
        assert c["image"] == "ghcr.io/sagemaker-userprofile-operator/sagemaker-userprofile-operator:0.1.0"
        assert c["args"] == ["run", *LEADER_ELECT_ARGS, "--all-namespaces", *LIVENESS_ARGS]
        assert "--standalone" not in c["args"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports == {"healthz": 8081, "metrics": 8080}

    def test_probes(self, default: list[dict[str, Any]]) -> None:
        c = container(default)
        healthz = {"path": "/healthz", "port": "healthz"}
        # A slow first LIST (thousands of objects) gets about 5 minutes before liveness applies.
        assert c["startupProbe"]["httpGet"] == healthz
        assert (c["startupProbe"]["periodSeconds"], c["startupProbe"]["failureThreshold"]) == (5, 60)
        assert c["livenessProbe"]["httpGet"] == healthz
        assert (c["livenessProbe"]["periodSeconds"], c["livenessProbe"]["failureThreshold"]) == (10, 3)
        assert c["livenessProbe"].get("initialDelaySeconds", 0) == 0
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "healthz"}
        assert (c["readinessProbe"]["periodSeconds"], c["readinessProbe"]["failureThreshold"]) == (5, 3)

    def test_scheduling_and_pod_metadata_values(self) -> None:
        objects = render(
            values={
                "image": {"repository": "registry.example/smup", "tag": "1.2.3", "pullPolicy": "Always"},
                "imagePullSecrets": [{"name": "regcred"}],
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}],
                "affinity": {"nodeAffinity": {}},
                "podAnnotations": {"example.com/a": "1"},
                "podLabels": {"team": "ml"},
            }
        )
        template = one(objects, "Deployment")["spec"]["template"]
        pod = template["spec"]
        assert pod["containers"][0]["image"] == "registry.example/smup:1.2.3"
        assert pod["containers"][0]["imagePullPolicy"] == "Always"
        assert pod["imagePullSecrets"] == [{"name": "regcred"}]
        assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
        assert pod["tolerations"][0]["key"] == "ops"
        assert pod["affinity"] == {"nodeAffinity": {}}
        assert template["metadata"]["annotations"] == {"example.com/a": "1"}
        assert template["metadata"]["labels"]["team"] == "ml"

    def test_an_image_digest_references_the_image_by_digest(self) -> None:
        digest = "sha256:" + "0123456789abcdef" * 4
        pinned = render(values={"image": {"repository": "registry.example/smup", "tag": "1.2.3", "digest": digest}})
        assert container(pinned)["image"] == f"registry.example/smup@{digest}"


class TestHighAvailability:
    def test_two_replicas_rolled_one_at_a_time(self, default: list[dict[str, Any]]) -> None:
        deployment = one(default, "Deployment")
        assert deployment["spec"]["replicas"] == 2
        # A new pod stands by (ready) before an old one goes: never fewer than replicaCount pods.
        assert deployment["spec"]["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }

    def test_leader_election_settings_become_smup_environment_variables(self, default: list[dict[str, Any]]) -> None:
        variables = env(default)
        assert {k: variables[k] for k in ("SMUP_LEASE_DURATION", "SMUP_RENEW_DEADLINE", "SMUP_RETRY_PERIOD")} == {
            "SMUP_LEASE_DURATION": "15",
            "SMUP_RENEW_DEADLINE": "10",
            "SMUP_RETRY_PERIOD": "2",
        }
        objects = render(values={"leaderElection": {"leaseDuration": 60, "renewDeadline": 40, "retryPeriod": 5}})
        assert env(objects)["SMUP_LEASE_DURATION"] == "60"
        assert env(objects)["SMUP_RENEW_DEADLINE"] == "40"
        assert env(objects)["SMUP_RETRY_PERIOD"] == "5"

    def test_pod_name_and_namespace_from_the_downward_api(self, default: list[dict[str, Any]]) -> None:
        downward = {
            e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container(default)["env"] if "valueFrom" in e
        }
        assert downward == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}

    def test_lease_namespace_is_the_pods_not_a_flag(self, default: list[dict[str, Any]]) -> None:
        """A kustomize overlay changes metadata.namespace, never args: the Lease follows POD_NAMESPACE."""
        args = container(default)["args"]
        assert "--leader-election-namespace" not in args
        assert NAMESPACE not in args

    def test_lease_role_in_the_release_namespace(self, default: list[dict[str, Any]]) -> None:
        role = named(default, "Role", LEASE_ROLE)
        assert role["metadata"]["namespace"] == NAMESPACE
        assert named_grants(role["rules"]) == LEASE_GRANTS
        binding = named(default, "RoleBinding", LEASE_ROLE)
        assert binding["metadata"]["namespace"] == NAMESPACE
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": LEASE_ROLE}
        sa = one(default, "ServiceAccount")["metadata"]["name"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]

    def test_lease_role_whatever_the_rbac_scope(self, namespaced: list[dict[str, Any]]) -> None:
        role = named(namespaced, "Role", LEASE_ROLE)
        assert role["metadata"]["namespace"] == NAMESPACE
        assert named_grants(role["rules"]) == LEASE_GRANTS
        assert named(namespaced, "RoleBinding", LEASE_ROLE)["metadata"]["namespace"] == NAMESPACE

    def test_lease_id_is_the_release_fullname(self) -> None:
        objects = render("fullnameOverride=ops-smup")
        args = container(objects)["args"]
        assert args[1:4] == ["--leader-elect", "--leader-election-id", "ops-smup"]
        role = named(objects, "Role", "ops-smup-leader-election")
        assert {name for *_, name in named_grants(role["rules"])} == {"ops-smup", None}

    def test_pod_disruption_budget(self, default: list[dict[str, Any]]) -> None:
        pdb = one(default, "PodDisruptionBudget")
        assert pdb["metadata"]["namespace"] == NAMESPACE
        assert pdb["spec"]["maxUnavailable"] == 1
        assert "minAvailable" not in pdb["spec"]
        assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        pod_labels = one(default, "Deployment")["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

    def test_pod_disruption_budget_values(self) -> None:
        pdb = one(render("podDisruptionBudget.maxUnavailable=null", "podDisruptionBudget.minAvailable=1"),
                  "PodDisruptionBudget")  # fmt: skip
        assert (pdb["spec"].get("maxUnavailable"), pdb["spec"]["minAvailable"]) == (None, 1)
        pdb = one(render("podDisruptionBudget.maxUnavailable=50%"), "PodDisruptionBudget")
        assert pdb["spec"]["maxUnavailable"] == "50%"
        assert by_kind(render("podDisruptionBudget.enabled=false"), "PodDisruptionBudget") == []
        # One pod: a budget would only block drains.
        assert by_kind(render("replicaCount=1"), "PodDisruptionBudget") == []

    def test_pods_prefer_different_nodes(self, default: list[dict[str, Any]]) -> None:
        labels = one(default, "Deployment")["spec"]["selector"]["matchLabels"]
        assert pod_spec(default)["affinity"] == {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": labels},
                        },
                    }
                ]
            }
        }

    def test_anti_affinity_presets_and_the_users_affinity(self) -> None:
        required = pod_spec(render("podAntiAffinity=hard"))["affinity"]["podAntiAffinity"]
        assert list(required) == ["requiredDuringSchedulingIgnoredDuringExecution"]
        assert required["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == (
            "kubernetes.io/hostname"
        )
        assert "affinity" not in pod_spec(render("podAntiAffinity=none"))
        # The user's affinity replaces the default (see also test_scheduling_and_pod_metadata_values).
        assert pod_spec(render(values={"affinity": {"nodeAffinity": {}}}))["affinity"] == {"nodeAffinity": {}}

    def test_without_leader_election_one_pod_recreated(self) -> None:
        objects = render("leaderElection.enabled=false", "replicaCount=1")
        deployment = one(objects, "Deployment")
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        assert container(objects)["args"] == ["run", "--all-namespaces", *LIVENESS_ARGS]
        assert not {"SMUP_LEASE_DURATION", "SMUP_RENEW_DEADLINE", "SMUP_RETRY_PERIOD"} & set(env(objects))
        assert by_kind(objects, "Role") == []
        assert by_kind(objects, "RoleBinding") == []
        assert by_kind(objects, "PodDisruptionBudget") == []
        # Still probed, and still named: POD_NAME / POD_NAMESPACE stay.
        assert container(objects)["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert by_kind(render("leaderElection.enabled=false", "replicaCount=0"), "Deployment")

    def test_one_pod_with_leader_election_still_rolls(self) -> None:
        """One pod with leader election: the new pod stands by until the old one releases the Lease."""
        deployment = one(render("replicaCount=1"), "Deployment")
        assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"


class TestSettings:
    def test_config_values_become_smup_environment_variables(self) -> None:
        objects = render(
            values={
                "config": {
                    "defaultRegion": "eu-west-1",
                    "clusterName": "prod",
                    "driftInterval": 120,
                    "driftShare": 0.25,
                    "awsRate": 2.5,
                    "awsBurst": 1000000,
                    "maxConcurrentAwsCalls": 4,
                    "logLevel": "DEBUG",
                    "logFormat": "text",
                },
                "metrics": {"port": 9090},
                "extraEnv": [{"name": "AWS_REGION", "value": "eu-west-1"}],
            }
        )
        assert env(objects) == {
            "SMUP_DEFAULT_REGION": "eu-west-1",
            "SMUP_CLUSTER_NAME": "prod",
            "SMUP_DRIFT_INTERVAL": "120",
            "SMUP_DRIFT_SHARE": "0.25",
            "SMUP_AWS_RATE": "2.5",
            "SMUP_AWS_BURST": "1000000",
            "SMUP_MAX_CONCURRENT_AWS_CALLS": "4",
            "SMUP_LOG_LEVEL": "DEBUG",
            "SMUP_LOG_FORMAT": "text",
            "SMUP_LEASE_DURATION": "15",
            "SMUP_RENEW_DEADLINE": "10",
            "SMUP_RETRY_PERIOD": "2",
            "SMUP_METRICS_PORT": "9090",
            "AWS_REGION": "eu-west-1",
        }

    def test_cluster_name_unset_is_kubernetes_and_notes_say_so_loudly(self, default: list[dict[str, Any]]) -> None:
        """The operator's own default, kept so that an upgrade never renames a cluster in its ownership tags."""
        assert env(default)["SMUP_CLUSTER_NAME"] == "kubernetes"
        assert "WARNING: config.clusterName is not set" in notes()
        assert "--set config.clusterName=CLUSTER" in notes()
        assert "WARNING" not in notes("config.clusterName=prod-eu-1")

    def test_every_smup_variable_is_a_setting_the_operator_accepts(self, default: list[dict[str, Any]]) -> None:
        smup = {
            k: v
            for k, v in env(render(values={"config": {"defaultRegion": "us-east-1"}})).items()
            if k.startswith("SMUP_")
        }
        fields = {name.upper() for name in Settings.model_fields}
        assert {k.removeprefix("SMUP_") for k in smup} <= fields
        # The operator's own parser accepts the rendered values.
        prefixed = {k.removeprefix("SMUP_").lower(): v for k, v in smup.items()}
        Settings.model_validate(prefixed)

    def test_metrics_disabled_turns_the_port_off(self) -> None:
        objects = render("metrics.enabled=false")
        assert env(objects)["SMUP_METRICS_PORT"] == "0"
        assert by_kind(objects, "Service") == []
        assert [p["name"] for p in container(objects)["ports"]] == ["healthz"]


class TestRbac:
    def test_every_kind_is_covered(self) -> None:
        """The grants above come from crds/: make sure that is every kind, not an empty folder."""
        assert {("sagemaker.awscc.dev", "sagemakeruserprofiles"), ("sagemaker.awscc.dev", "sagemakerspaces")} <= KINDS
        assert len(KINDS) == len(CRD_FILES) - 1  # all but the tenant policy

    def test_cluster_scope_grants_exactly_the_least_privilege_set(self, default: list[dict[str, Any]]) -> None:
        role = named(default, "ClusterRole", FULLNAME)
        assert grants(role["rules"]) == NAMESPACED_GRANTS | CLUSTER_GRANTS
        # The only Role is leader election's (TestHighAvailability).
        assert [r["metadata"]["name"] for r in by_kind(default, "Role")] == [LEASE_ROLE]
        binding = one(default, "ClusterRoleBinding")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role["metadata"]["name"],
        }
        sa = one(default, "ServiceAccount")
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}
        ]

    def test_no_secrets_anywhere(self, default: list[dict[str, Any]], namespaced: list[dict[str, Any]]) -> None:
        for objects in (default, namespaced):
            for role in by_kind(objects, "ClusterRole") + by_kind(objects, "Role"):
                assert all(resource != "secrets" for _, resource, _, _ in named_grants(role["rules"]))

    def test_namespaced_scope_uses_a_role_per_watched_namespace(self, namespaced: list[dict[str, Any]]) -> None:
        roles = [r for r in by_kind(namespaced, "Role") if r["metadata"]["name"] != LEASE_ROLE]
        assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
        for role in roles:
            assert role["metadata"]["name"] == FULLNAME
            assert grants(role["rules"]) == NAMESPACED_GRANTS
        bindings = [b for b in by_kind(namespaced, "RoleBinding") if b["metadata"]["name"] != LEASE_ROLE]
        assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
        sa = one(namespaced, "ServiceAccount")["metadata"]["name"]
        for binding in bindings:
            assert binding["roleRef"]["kind"] == "Role"
            assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
        # Only the cluster-scoped reads stay cluster-wide.
        assert grants(named(namespaced, "ClusterRole", FULLNAME)["rules"]) == CLUSTER_GRANTS

    def test_namespaced_scope_watches_only_those_namespaces(self, namespaced: list[dict[str, Any]]) -> None:
        args = container(namespaced)["args"]
        assert "--all-namespaces" not in args
        assert args == ["run", *LEADER_ELECT_ARGS, "--namespace", "team-a", "--namespace", "team-b", *LIVENESS_ARGS]

    def test_release_namespace_watched_too_keeps_two_roles_apart(self) -> None:
        """Watching the release namespace itself: its watch Role and the Lease Role do not collide."""
        objects = render(values={"rbac": {"scope": "namespaced"}, "watchNamespaces": [NAMESPACE]})
        roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in by_kind(objects, "Role")}
        assert roles == {(NAMESPACE, FULLNAME), (NAMESPACE, LEASE_ROLE)}

    def test_service_account_for_irsa_and_an_existing_one(self) -> None:
        arn = "arn:aws:iam::123456789012:role/smup"
        objects = render(values={"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": arn}}})
        assert one(objects, "ServiceAccount")["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn}
        objects = render("serviceAccount.create=false", "serviceAccount.name=existing")
        assert by_kind(objects, "ServiceAccount") == []
        assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing"
        assert one(objects, "ClusterRoleBinding")["subjects"][0]["name"] == "existing"

    def test_rbac_create_false_renders_no_rbac(self) -> None:
        objects = render("rbac.create=false")
        assert not [o for o in objects if o["apiVersion"].startswith("rbac.authorization.k8s.io/")]


class TestCrd:
    def test_chart_copies_equal_crds_folder(self) -> None:
        copies = sorted((CHART / "files" / "crds").glob("*.yaml"))
        stale = "the chart's CRD copies are stale: run deploy/render-kustomize.sh"
        assert [p.name for p in copies] == [p.name for p in CRD_FILES], stale
        for copy, original in zip(copies, CRD_FILES, strict=True):
            assert copy.read_bytes() == original.read_bytes(), f"{copy.name}: {stale}"

    def test_template_renders_every_crd_plus_the_keep_annotation(self, default: list[dict[str, Any]]) -> None:
        rendered = {o["metadata"]["name"]: o for o in by_kind(default, "CustomResourceDefinition")}
        expected = {c["metadata"]["name"]: c for c in CRDS.values()}
        assert sorted(rendered) == sorted(expected)
        for name, obj in rendered.items():
            annotations = obj["metadata"].pop("annotations")
            assert annotations == {"helm.sh/resource-policy": "keep"}, name
            assert obj == expected[name], f"{name} differs from crds/"

    def test_extra_crd_annotations(self) -> None:
        objects = render(values={"crds": {"annotations": {"argocd.argoproj.io/sync-options": "Delete=false"}}})
        crds = by_kind(objects, "CustomResourceDefinition")
        assert len(crds) == len(CRD_FILES)
        for obj in crds:
            assert obj["metadata"]["annotations"] == {
                "argocd.argoproj.io/sync-options": "Delete=false",
                "helm.sh/resource-policy": "keep",
            }

    def test_crds_install_false_omits_them_but_keeps_the_rbac(self) -> None:
        objects = render("crds.install=false")
        assert by_kind(objects, "CustomResourceDefinition") == []
        assert grants(named(objects, "ClusterRole", FULLNAME)["rules"]) == NAMESPACED_GRANTS | CLUSTER_GRANTS


class TestKinds:
    """`kinds` chooses what the release manages: their CRDs, RBAC, guardrails and the operator's --kinds."""

    PROFILES = ("sagemaker.awscc.dev", "sagemakeruserprofiles")
    SPACES = ("sagemaker.awscc.dev", "sagemakerspaces")

    def managed_grants(self, chosen: set[tuple[str, str]]) -> set[tuple[str, str, str]]:
        return {g for g in NAMESPACED_GRANTS if (g[0], g[1].removesuffix("/status")) in chosen or g[1] == "events"}

    def test_by_default_every_kind_and_no_kinds_flag(self, default: list[dict[str, Any]]) -> None:
        assert "--kinds" not in container(default)["args"]
        plurals = {c["spec"]["names"]["plural"] for c in by_kind(default, "CustomResourceDefinition")}
        assert plurals == {plural for _, plural in KINDS} | {TENANT_POLICIES[1]}

    def test_user_profiles_only(self) -> None:
        objects = render(values={"kinds": ["smup"]})
        crds = {c["metadata"]["name"] for c in by_kind(objects, "CustomResourceDefinition")}
        assert crds == {"sagemakeruserprofiles.sagemaker.awscc.dev", "sagemakertenantpolicies.sagemaker.awscc.dev"}
        operator = grants(named(objects, "ClusterRole", FULLNAME)["rules"])
        assert operator == self.managed_grants({self.PROFILES}) | CLUSTER_GRANTS
        for role in ("editor", "viewer"):
            people = grants(named(objects, "ClusterRole", f"{FULLNAME}-{role}")["rules"])
            assert {(g, r) for g, r, _ in people} == {self.PROFILES, TENANT_POLICIES}
        policies = sorted(p["metadata"]["name"] for p in by_kind(objects, "ValidatingAdmissionPolicy"))
        # the guardrails and the instance-type warnings of the chosen kind only
        assert policies == [
            f"{FULLNAME}-tenant-sagemakeruserprofiles",
            f"{FULLNAME}-warn-sagemakertenantpolicies",  # the tenant policy's CRD is always installed
            f"{FULLNAME}-warn-sagemakeruserprofiles",
        ]
        assert len(by_kind(objects, "ValidatingAdmissionPolicyBinding")) == 4  # create, update; two warns
        args = container(objects)["args"]
        assert args[args.index("--kinds") + 1] == "sagemakeruserprofiles"

    def test_names_of_any_form_and_the_operator_accepts_the_flag(self) -> None:
        objects = render(
            values={"kinds": ["SageMakerSpace", "SMUP"], "rbac": {"scope": "namespaced"}, "watchNamespaces": ["team-a"]}
        )
        role = grants(named(objects, "Role", FULLNAME)["rules"])
        assert role == self.managed_grants({self.PROFILES, self.SPACES})
        args = container(objects)["args"]
        flag = args[args.index("--kinds") + 1]
        assert Settings(kinds=flag).kinds == "sagemakeruserprofiles,sagemakerspaces"

    def test_every_kind_named_is_every_kind(self) -> None:
        objects = render(
            values={"kinds": ["smup", "smdomain", "smspace", "smlcc", "smimage", "smimageversion", "smaic"]}
        )
        assert len(by_kind(objects, "CustomResourceDefinition")) == len(CRD_FILES)
        assert grants(named(objects, "ClusterRole", FULLNAME)["rules"]) == NAMESPACED_GRANTS | CLUSTER_GRANTS

    @pytest.mark.parametrize(
        ("value", "complaint"),
        [
            (
                "kinds={smup,smapp}",
                'kinds: unknown kind "smapp"; known: sagemakerappimageconfigs, smaic, sagemakerdomains, smdomain,',
            ),
            ("kinds={x,smtp}", 'kinds: unknown kinds "x", "smtp"; known:'),  # the tenant policy is not a kind
            ("kinds=smup", "/kinds"),  # a list, or all
            ("kinds={}", "/kinds"),
        ],
    )
    def test_unknown_kinds_are_refused_naming_the_known_ones(self, value: str, complaint: str) -> None:
        proc = helm("template", RELEASE, str(CHART), "--set", value, check=False)
        assert proc.returncode != 0, f"--set {value} was accepted"
        assert complaint in proc.stderr


class TestMetrics:
    def test_service_selects_the_pod(self, default: list[dict[str, Any]]) -> None:
        service = one(default, "Service")
        assert service["spec"]["ports"] == [
            {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
        ]
        pod_labels = one(default, "Deployment")["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()

    def test_service_monitor_is_optional(self, default: list[dict[str, Any]]) -> None:
        assert by_kind(default, "ServiceMonitor") == []
        objects = render("metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom")
        monitor = one(objects, "ServiceMonitor")
        assert monitor["metadata"]["labels"]["release"] == "prom"
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        assert (
            monitor["spec"]["selector"]["matchLabels"].items() <= one(objects, "Service")["metadata"]["labels"].items()
        )


POLICY_PREFIX = f"{FULLNAME}-tenant-"


class TestGuardrails:
    """The tenant guardrails: a ValidatingAdmissionPolicy per kind from files/admission/, two bindings each."""

    def test_a_policy_per_kind_as_generated_and_named_after_the_release(self, default: list[dict[str, Any]]) -> None:
        from userprofile_operator.admission import render_policy
        from userprofile_operator.kinds import all_kinds

        policies = {p["metadata"]["name"]: p for p in guardrails(default, "ValidatingAdmissionPolicy")}
        assert sorted(policies) == sorted(f"{POLICY_PREFIX}{kind.plural}" for kind in all_kinds())
        for kind in all_kinds():
            policy = policies[f"{POLICY_PREFIX}{kind.plural}"]
            assert policy["spec"] == render_policy(kind)["spec"]
            assert policy["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
        # cluster-scoped, like every other thing of the chart that is not in the release namespace
        assert all("namespace" not in p["metadata"] for p in policies.values())

    def test_two_bindings_per_policy_create_denies_without_params_update_never(
        self, default: list[dict[str, Any]]
    ) -> None:
        bindings = {b["metadata"]["name"]: b["spec"] for b in guardrails(default, "ValidatingAdmissionPolicyBinding")}
        policies = [p["metadata"]["name"] for p in guardrails(default, "ValidatingAdmissionPolicy")]
        assert sorted(bindings) == sorted(f"{p}-{op}" for p in policies for op in ("create", "update"))
        for policy in policies:
            create, update = bindings[f"{policy}-create"], bindings[f"{policy}-update"]
            plural = policy.removeprefix(POLICY_PREFIX)
            for spec, operation in ((create, "CREATE"), (update, "UPDATE")):
                assert spec["policyName"] == policy
                assert spec["validationActions"] == ["Deny"]
                assert spec["paramRef"]["name"] == "default"
                assert "namespace" not in spec["paramRef"]  # the object's own namespace
                assert spec["matchResources"]["namespaceSelector"] == {}
                assert spec["matchResources"]["resourceRules"] == [
                    {
                        "apiGroups": ["sagemaker.awscc.dev"],
                        "apiVersions": ["v1alpha1"],
                        "resources": [plural],
                        "operations": [operation],
                    }
                ]
            assert create["paramRef"]["parameterNotFoundAction"] == "Deny"
            # An update that finds no parameters is allowed: a finalizer must always come off.
            assert update["paramRef"]["parameterNotFoundAction"] == "Allow"

    def test_values_without_policy_selector_and_actions(self) -> None:
        selector = {
            "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["ops"]}]
        }
        objects = render(
            values={
                "guardrails": {
                    "withoutPolicy": "allow",
                    "namespaceSelector": selector,
                    "validationActions": ["Warn", "Audit"],
                }
            }
        )
        for binding in guardrails(objects, "ValidatingAdmissionPolicyBinding"):
            assert binding["spec"]["paramRef"]["parameterNotFoundAction"] == "Allow"
            assert binding["spec"]["matchResources"]["namespaceSelector"] == selector
            assert binding["spec"]["validationActions"] == ["Warn", "Audit"]

    def test_disabled_renders_no_guardrails(self) -> None:
        objects = render("guardrails.enabled=false")
        assert not guardrails(objects, "ValidatingAdmissionPolicy")
        assert not guardrails(objects, "ValidatingAdmissionPolicyBinding")
        assert by_kind(objects, "CustomResourceDefinition")  # the tenant policy's CRD stays, like the others'
        assert by_kind(objects, "ValidatingAdmissionPolicy")  # the warnings are not guardrails
        none = render("guardrails.enabled=false", "admissionWarnings.enabled=false")
        assert not [o for o in none if o["apiVersion"].startswith("admissionregistration.k8s.io/")]

    @pytest.mark.parametrize(
        ("setting", "complaint"),
        [
            ("guardrails.withoutPolicy=maybe", "/guardrails/withoutPolicy"),
            ("guardrails.validationActions={Deny,Warn}", "/guardrails/validationActions"),
            ("guardrails.validationActions={Block}", "/guardrails/validationActions"),
            ("guardrails.namespaceSelector.labels.a=b", "/guardrails/namespaceSelector"),
            ("guardrails.enforce=true", "additional properties 'enforce' not allowed"),
            ("config.allowedRoleArns=arn", "/config/allowedRoleArns"),
        ],
    )
    def test_bad_values_are_refused(self, setting: str, complaint: str) -> None:
        proc = helm("template", RELEASE, str(CHART), "--set", setting, check=False)
        assert proc.returncode != 0, f"--set {setting} was accepted"
        assert complaint in proc.stderr

    def test_lint_is_clean_without_guardrails(self) -> None:
        helm("lint", str(CHART), "--strict", "--set", "guardrails.enabled=false", "--set", "rbac.userRoles=false")

    def test_allowed_role_arns_become_a_setting_the_operator_accepts(
        self, default: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert "SMUP_ALLOWED_ROLE_ARNS" not in env(default)  # unset: any namespace role
        patterns = [r"arn:aws:iam::\d{12}:role/sagemaker-userprofile-operator-.*"]
        value = env(render(values={"config": {"allowedRoleArns": patterns}}))["SMUP_ALLOWED_ROLE_ARNS"]
        monkeypatch.setenv("SMUP_ALLOWED_ROLE_ARNS", value)  # as the pod's environment gives it
        assert Settings().allowed_role_arns == patterns
        assert env(render(values={"config": {"allowedRoleArns": []}}))["SMUP_ALLOWED_ROLE_ARNS"] == "[]"  # none


WARNING_PREFIX = f"{FULLNAME}-warn-"


class TestWarnings:
    """Advice, not guardrails: an instance type no schema of this release lists is accepted with a warning."""

    def test_a_warning_policy_per_kind_and_for_the_tenant_policy_bound_to_warn(
        self, default: list[dict[str, Any]]
    ) -> None:
        from userprofile_operator.admission import render_tenant_policy_warning_policy, render_warning_policy
        from userprofile_operator.kinds import all_kinds

        # the kinds that hold an instance type (not the platform kinds: scripts, images)
        expected = {kind.plural: render_warning_policy(kind) for kind in all_kinds() if render_warning_policy(kind)}
        expected["sagemakertenantpolicies"] = render_tenant_policy_warning_policy()
        policies = {
            p["metadata"]["name"].removeprefix(WARNING_PREFIX): p
            for p in by_kind(default, "ValidatingAdmissionPolicy")
            if p["metadata"]["name"].startswith(WARNING_PREFIX)
        }
        assert sorted(policies) == sorted(expected)
        bindings = {
            b["metadata"]["name"]: b["spec"]
            for b in by_kind(default, "ValidatingAdmissionPolicyBinding")
            if b["metadata"]["name"].startswith(WARNING_PREFIX)
        }
        for plural, policy in policies.items():
            assert policy["spec"] == expected[plural]["spec"]  # type: ignore[index]
            assert policy["spec"]["failurePolicy"] == "Ignore"
            # Warn whatever the guardrails do; every namespace; no parameters to look for.
            assert bindings[f"{WARNING_PREFIX}{plural}"] == {
                "policyName": f"{WARNING_PREFIX}{plural}",
                "validationActions": ["Warn"],
            }
        assert len(bindings) == len(policies)

    def test_the_guardrails_validation_actions_leave_the_warnings_alone(self) -> None:
        objects = render(values={"guardrails": {"validationActions": ["Warn", "Audit"]}})
        warnings = [
            b for b in by_kind(objects, "ValidatingAdmissionPolicyBinding") if "-warn-" in b["metadata"]["name"]
        ]
        assert warnings and all(b["spec"]["validationActions"] == ["Warn"] for b in warnings)


class TestTenantPolicies:
    """tenantPolicies: the first SageMakerTenantPolicy of each namespace, so the guardrails let it create."""

    def test_none_by_default(self, default: list[dict[str, Any]]) -> None:
        assert by_kind(default, "SageMakerTenantPolicy") == []

    def test_each_namespace_gets_its_default_policy_from_a_hook(self) -> None:
        spec = {
            "allowedDomainIds": ["d-abcdef123456"],
            "allowedExecutionRoles": ["arn:aws:iam::123456789012:role/team-a/.*"],
            "allowedInstanceTypes": ["ml.t3.medium"],
            "allowAdoption": True,
        }
        objects = render(values={"tenantPolicies": {"team-a": spec, "team-b": {}}})
        policies = {p["metadata"]["namespace"]: p for p in by_kind(objects, "SageMakerTenantPolicy")}
        assert sorted(policies) == ["team-a", "team-b"]
        for policy in policies.values():
            assert policy["apiVersion"] == "sagemaker.awscc.dev/v1alpha1"
            assert policy["metadata"]["name"] == "default"  # the name the bindings' paramRef reads
            # Helm maps plain templates before it creates the CRDs of this same release: a hook, run after.
            annotations = policy["metadata"]["annotations"]
            assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
            assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation"
        assert policies["team-a"]["spec"] == spec
        assert policies["team-b"]["spec"] == {}

    def test_each_policy_validates_against_the_tenant_policy_crd(self) -> None:
        spec = {"allowedDomainIds": ["d-abcdef123456"], "allowedInstanceTypes": ["ml.m8i.large"]}
        (policy,) = by_kind(render(values={"tenantPolicies": {"team-a": spec}}), "SageMakerTenantPolicy")
        schema = CRDS["sagemaker.awscc.dev_sagemakertenantpolicies.yaml"]["spec"]["versions"][0]["schema"]
        properties = schema["openAPIV3Schema"]["properties"]["spec"]["properties"]
        assert set(policy["spec"]) <= set(properties)
        values_schema = json.loads((CHART / "values.schema.json").read_text())
        allowed = values_schema["properties"]["tenantPolicies"]["additionalProperties"]["properties"]
        assert set(allowed) == set(properties)  # the values accept exactly the CRD's fields

    def test_notes_say_what_to_do_next(self) -> None:
        text = notes()
        for step in ("kind: SageMakerTenantPolicy", "kind: SageMakerUserProfile", "kubectl get smup -n team-a"):
            assert step in text, step
        given = notes(values={"tenantPolicies": {"ml": {"allowedDomainIds": ["d-0123456789ab"]}}})
        assert "kind: SageMakerTenantPolicy" not in given  # written already: the profile comes next
        assert "kubectl get smtp default -n ml" in given and "domainId: d-0123456789ab" in given


class TestRolesForPeople:
    """ClusterRoles for tenants and the platform team; the operator's own RBAC is TestRbac's."""

    def roles(self, objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        names = {f"{FULLNAME}-{suffix}" for suffix in ("editor", "viewer", "tenant-policy-admin")}
        return {
            r["metadata"]["name"].removeprefix(f"{FULLNAME}-"): r
            for r in by_kind(objects, "ClusterRole")
            if r["metadata"]["name"] in names
        }

    def test_editors_write_the_managed_kinds_and_only_read_their_tenant_policy(
        self, default: list[dict[str, Any]]
    ) -> None:
        editor = self.roles(default)["editor"]
        assert editor["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
        verbs = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
        assert grants(editor["rules"]) == {
            *{(group, plural, v) for group, plural in KINDS for v in verbs},
            *{(*TENANT_POLICIES, v) for v in ("get", "list", "watch")},
        }  # not /status: status.identifier is what a domainIdRef resolves to

    def test_viewers_read(self, default: list[dict[str, Any]]) -> None:
        viewer = self.roles(default)["viewer"]
        assert viewer["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
        assert grants(viewer["rules"]) == {
            (g, r, v) for g, r in (*KINDS, TENANT_POLICIES) for v in ("get", "list", "watch")
        }

    def test_only_the_tenant_policy_admin_writes_tenant_policies_and_it_is_aggregated_nowhere(
        self, default: list[dict[str, Any]]
    ) -> None:
        roles = self.roles(default)
        admin = roles["tenant-policy-admin"]
        assert not [k for k in admin["metadata"]["labels"] if k.startswith("rbac.authorization.k8s.io/aggregate-to")]
        assert {(g, r) for g, r, _ in grants(admin["rules"])} == {TENANT_POLICIES}
        assert (*TENANT_POLICIES, "create") in grants(admin["rules"])
        writes = {"create", "update", "patch", "delete", "deletecollection"}
        for role in by_kind(default, "ClusterRole") + by_kind(default, "Role"):
            if role is not admin:
                assert not {(g, r, v) for g, r, v, _ in named_grants(role["rules"]) if v in writes} & {
                    (*TENANT_POLICIES, v) for v in writes
                }, role["metadata"]["name"]

    def test_user_roles_can_be_left_out(self) -> None:
        assert self.roles(render("rbac.userRoles=false")) == {}
        assert self.roles(render("rbac.create=false")) == {}
