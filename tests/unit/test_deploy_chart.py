"""The Helm chart renders a hardened, least-privilege install, and refuses bad values.

These run the real helm binary (`hack/control-plane.sh` builds it; no API server is needed for
`helm lint` / `helm template`), and read what it renders the way the API server would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from userprofile_operator.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "deploy" / "helm" / "sagemaker-userprofile-operator"
CRD_FILE = REPO_ROOT / "crds" / "sagemaker.awscc.dev_sagemakeruserprofiles.yaml"
RELEASE = "smup"
NAMESPACE = "ops"

# (apiGroup, resource, verb): everything the operator needs, nothing more.
NAMESPACED_GRANTS = {
    *{
        ("sagemaker.awscc.dev", "sagemakeruserprofiles", v)
        for v in ("get", "list", "watch", "patch", "update")
    },
    *{("sagemaker.awscc.dev", "sagemakeruserprofiles/status", v) for v in ("get", "patch", "update")},
    *{(group, "events", v) for group in ("", "events.k8s.io") for v in ("create", "patch")},
}
CLUSTER_GRANTS = {
    *{("", "namespaces", v) for v in ("get", "list", "watch")},
    *{("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("get", "list", "watch")},
}


def helm_binary() -> str:
    folder = subprocess.run(
        [str(REPO_ROOT / "hack" / "control-plane.sh"), "dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    helm = Path(folder) / "helm"
    assert helm.is_file(), f"{helm} is missing: run `make tools` (hack/control-plane.sh ensure)"
    return str(helm)


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


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """The (group, resource, verb) triples of RBAC rules; wildcards and resourceNames fail the test."""
    out = set()
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected rule fields: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), f"wildcard in {rule}"
                    out.add((group, resource, verb))
    return out


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
    return {e["name"]: e.get("value") for e in container(objects)["env"]}


class TestLint:
    def test_lint_is_clean_with_defaults(self) -> None:
        proc = helm("lint", str(CHART), "--strict")
        assert "0 chart(s) failed" in proc.stdout

    def test_lint_is_clean_in_namespaced_mode(self) -> None:
        helm(
            "lint", str(CHART), "--strict", "--set", "rbac.scope=namespaced", "--set", "watchNamespaces={a,b}"
        )

    def test_chart_versions(self) -> None:
        chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
        assert (chart["apiVersion"], chart["version"], chart["appVersion"]) == ("v2", "0.1.0", "0.1.0")


class TestBadValuesAreRefused:
    @pytest.mark.parametrize(
        ("setting", "complaint"),
        [
            ("rbac.scope=everything", "/rbac/scope"),
            ("replicaCount=2", "/replicaCount"),
            ("replicaCount=one", "/replicaCount"),
            ("config.awsBurst=lots", "/config/awsBurst"),
            ("config.awsRate=0", "/config/awsRate"),
            ("config.driftInterval=-1", "/config/driftInterval"),
            ("config.logLevel=TRACE", "/config/logLevel"),
            ("config.logFormat=xml", "/config/logFormat"),
            ("config.clusterName=has spaces", "/config/clusterName"),
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

    def test_tmp_is_a_writable_empty_dir(self, default: list[dict[str, Any]]) -> None:
        pod = one(default, "Deployment")["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container(default)["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]

    def test_single_replica_recreated_because_it_runs_standalone(self, default: list[dict[str, Any]]) -> None:
        deployment = one(default, "Deployment")
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}

    def test_command_and_liveness(self, default: list[dict[str, Any]]) -> None:
        c = container(default)
        assert c["image"] == "ghcr.io/sagemaker-userprofile-operator/sagemaker-userprofile-operator:0.1.0"
        assert c["args"] == [
            "run",
            "--standalone",
            "--all-namespaces",
            "--liveness",
            "http://0.0.0.0:8081/healthz",
        ]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports == {"healthz": 8081, "metrics": 8080}
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}

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


class TestSettings:
    def test_config_values_become_smup_environment_variables(self) -> None:
        objects = render(
            values={
                "config": {
                    "defaultRegion": "eu-west-1",
                    "clusterName": "prod",
                    "driftInterval": 120,
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
            "SMUP_AWS_RATE": "2.5",
            "SMUP_AWS_BURST": "1000000",
            "SMUP_MAX_CONCURRENT_AWS_CALLS": "4",
            "SMUP_LOG_LEVEL": "DEBUG",
            "SMUP_LOG_FORMAT": "text",
            "SMUP_METRICS_PORT": "9090",
            "AWS_REGION": "eu-west-1",
        }

    def test_every_smup_variable_is_a_setting_the_operator_accepts(
        self, default: list[dict[str, Any]]
    ) -> None:
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
    def test_cluster_scope_grants_exactly_the_least_privilege_set(
        self, default: list[dict[str, Any]]
    ) -> None:
        role = one(default, "ClusterRole")
        assert grants(role["rules"]) == NAMESPACED_GRANTS | CLUSTER_GRANTS
        assert by_kind(default, "Role") == []
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

    def test_no_secrets_anywhere(
        self, default: list[dict[str, Any]], namespaced: list[dict[str, Any]]
    ) -> None:
        for objects in (default, namespaced):
            for role in by_kind(objects, "ClusterRole") + by_kind(objects, "Role"):
                assert all(resource != "secrets" for _, resource, _ in grants(role["rules"]))

    def test_namespaced_scope_uses_a_role_per_watched_namespace(
        self, namespaced: list[dict[str, Any]]
    ) -> None:
        roles = by_kind(namespaced, "Role")
        assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
        for role in roles:
            assert grants(role["rules"]) == NAMESPACED_GRANTS
        bindings = by_kind(namespaced, "RoleBinding")
        assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
        sa = one(namespaced, "ServiceAccount")["metadata"]["name"]
        for binding in bindings:
            assert binding["roleRef"]["kind"] == "Role"
            assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
        # Only the cluster-scoped reads stay cluster-wide.
        assert grants(one(namespaced, "ClusterRole")["rules"]) == CLUSTER_GRANTS

    def test_namespaced_scope_watches_only_those_namespaces(self, namespaced: list[dict[str, Any]]) -> None:
        args = container(namespaced)["args"]
        assert "--all-namespaces" not in args
        assert args == [
            "run",
            "--standalone",
            "--namespace",
            "team-a",
            "--namespace",
            "team-b",
            "--liveness",
            "http://0.0.0.0:8081/healthz",
        ]

    def test_service_account_for_irsa_and_an_existing_one(self) -> None:
        arn = "arn:aws:iam::123456789012:role/smup"
        objects = render(values={"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": arn}}})
        assert one(objects, "ServiceAccount")["metadata"]["annotations"] == {
            "eks.amazonaws.com/role-arn": arn
        }
        objects = render("serviceAccount.create=false", "serviceAccount.name=existing")
        assert by_kind(objects, "ServiceAccount") == []
        assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing"
        assert one(objects, "ClusterRoleBinding")["subjects"][0]["name"] == "existing"

    def test_rbac_create_false_renders_no_rbac(self) -> None:
        objects = render("rbac.create=false")
        assert not [o for o in objects if o["apiVersion"].startswith("rbac.authorization.k8s.io/")]


class TestCrd:
    def test_chart_copy_equals_crds_folder(self) -> None:
        copy = CHART / "files" / "crd.yaml"
        assert copy.read_bytes() == CRD_FILE.read_bytes(), (
            "the chart's CRD copy is stale: run deploy/render-kustomize.sh"
        )

    def test_template_renders_the_crd_plus_the_keep_annotation(self, default: list[dict[str, Any]]) -> None:
        expected = next(doc for doc in yaml.safe_load_all(CRD_FILE.read_text()) if doc)
        rendered = one(default, "CustomResourceDefinition")
        annotations = rendered["metadata"].pop("annotations")
        assert annotations == {"helm.sh/resource-policy": "keep"}
        assert rendered == expected

    def test_extra_crd_annotations(self) -> None:
        objects = render(
            values={"crds": {"annotations": {"argocd.argoproj.io/sync-options": "Delete=false"}}}
        )
        assert one(objects, "CustomResourceDefinition")["metadata"]["annotations"] == {
            "argocd.argoproj.io/sync-options": "Delete=false",
            "helm.sh/resource-policy": "keep",
        }

    def test_crds_install_false_omits_it(self) -> None:
        assert by_kind(render("crds.install=false"), "CustomResourceDefinition") == []


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
            monitor["spec"]["selector"]["matchLabels"].items()
            <= one(objects, "Service")["metadata"]["labels"].items()
        )
