"""The chart's monitoring (metrics.prometheusRule, metrics.dashboard): alerts that promtool accepts and that
fire on the series they are about and stay quiet on the others, and a Grafana dashboard whose queries name
only metrics the operator exports.

promtool comes from the pinned Go module (hack/promtool.sh builds it once into ~/.cache; `make test-unit`
builds it first). Where it is missing and cannot be built (no Go) the tests needing it are skipped, and
fail instead when CI is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, Metric

import userprofile_operator.metrics as operator_metrics
from tests.unit.test_deploy_chart import CHART, FULLNAME, NAMESPACE, by_kind, helm, one, render
from tests.unit.test_docs import anchors

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMTOOL_SCRIPT = REPO_ROOT / "hack" / "promtool.sh"
VERSIONS = REPO_ROOT / "hack" / "versions.env"
ALERTS_FILE = CHART / "files" / "monitoring" / "alerts.yaml"
DASHBOARD_FILE = CHART / "files" / "monitoring" / "dashboard.json"
UNIT_TESTS = Path(__file__).parent / "monitoring"
OPERATIONS = REPO_ROOT / "docs" / "operations.md"
JOB = f"{FULLNAME}-metrics"  # the metrics Service's name: the job label of a ServiceMonitor's scrapes
# The values tests/unit/monitoring/*.yaml expect (their README says so).
MONITORING = {
    "metrics": {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {
            "enabled": True,
            "alertLabels": {"team": "ml-platform"},
            "runbookUrl": "https://runbooks.example/operations.md",
        },
        "dashboard": {"enabled": True},
    }
}


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool from $PROMTOOL, else built once by hack/promtool.sh (needs Go the first time)."""
    if os.environ.get("PROMTOOL"):
        return os.environ["PROMTOOL"]
    built = subprocess.run([PROMTOOL_SCRIPT, "path"], capture_output=True, text=True, check=True).stdout.strip()
    if not Path(built).is_file() and shutil.which("go") is None:
        reason = f"no promtool at {built} and no Go to build it (make tools, or set PROMTOOL)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI is set", pytrace=False)
        pytest.skip(reason)
    proc = subprocess.run([PROMTOOL_SCRIPT, "ensure"], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"hack/promtool.sh ensure failed:\n{proc.stderr}"
    return proc.stdout.strip()


def run_promtool(promtool: str, *args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert proc.returncode == 0, f"promtool {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def monitoring() -> list[dict[str, Any]]:
    return render(values=MONITORING)


def rules_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for group in one(objects, "PrometheusRule")["spec"]["groups"] for rule in group["rules"]]


def alerts_of(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules_of(objects) if "alert" in rule}


def write_rules(objects: list[dict[str, Any]], folder: Path) -> Path:
    """The rendered PrometheusRule's groups as a Prometheus rule file, as the Prometheus Operator writes it."""
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": one(objects, "PrometheusRule")["spec"]["groups"]}))
    return path


def file_alerts() -> list[str]:
    return [alert["alert"] for alert in yaml.safe_load(ALERTS_FILE.read_text())["alerts"]]


# What the operator exports: every sample name of the metric families its process registers.
_SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "summary": ["_sum", "_count"]}


def _sample_names(family: Metric) -> set[str]:
    return {family.name + suffix for suffix in _SUFFIXES.get(family.type, [""])}


def _families() -> list[Metric]:
    # smup_objects is registered when the leader starts; its collector is the same one.
    return [*REGISTRY.collect(), *operator_metrics.ObjectsCollector(list).collect()]


def operator_families() -> list[str]:
    return sorted(family.name for family in _families() if family.name.startswith("smup_"))


def exported() -> set[str]:
    names = set().union(*(_sample_names(family) for family in _families()))
    assert {"smup_objects", "smup_reconciles_total", "smup_drift_lag_seconds_bucket"} <= names
    assert "process_resident_memory_bytes" in names
    return names


# Metric names in a PromQL expression: what is left once strings, label matchers, ranges and the label lists
# of by/without/on/ignoring/group_* are gone, less function calls (a name before "(") and keywords.
_STRIPPED = [
    re.compile(r'"(?:[^"\\]|\\.)*"'),
    re.compile(r"\{[^}]*\}"),
    re.compile(r"\[[^\]]*\]"),
    re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"),
    re.compile(r"\boffset\s+\S+"),
]
_NAME = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:]|\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "group_left", "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    for pattern in _STRIPPED:
        expr = pattern.sub(" ", expr)
    return {name for name in _NAME.findall(expr) if name.lower() not in _KEYWORDS}


def test_metric_names_finds_the_names_and_only_them() -> None:
    expr = (
        'sum by (kind, le) (rate(smup_a_bucket{x="b(c)", lane=~"user|drift"}[$__rate_interval])) / on (kind)'
        " group_left max(smup_b) > 2 * 1e+06 and changes(process_start_time_seconds[30m]) or vector(0)"
    )
    assert metric_names(expr) == {"smup_a_bucket", "smup_b", "process_start_time_seconds"}


def test_off_by_default_and_no_alerts_without_metrics() -> None:
    objects = render()
    assert by_kind(objects, "PrometheusRule") == []
    assert by_kind(objects, "ConfigMap") == []
    # no /metrics, no Service to scrape: SmupOperatorDown would fire for ever
    assert by_kind(render("metrics.prometheusRule.enabled=true", "metrics.enabled=false"), "PrometheusRule") == []


class TestAlerts:
    def test_promtool_is_the_pinned_version(self, promtool: str) -> None:
        pinned = re.search(r"^PROMTOOL_VERSION=(v0\.(\d+)\.(\d+))$", VERSIONS.read_text(), re.MULTILINE)
        assert pinned, "hack/versions.env pins PROMTOOL_VERSION=v0.3xx.y"
        go_mod = (REPO_ROOT / "hack" / "tools" / "promtool" / "go.mod").read_text()
        assert f"require github.com/prometheus/prometheus {pinned.group(1)}\n" in go_mod
        # Prometheus 3.x is tagged v0.3xx.y as a Go module: v0.316.0 is 3.16.0, as hack/promtool.sh stamps it
        release = f"3.{int(pinned.group(2)) - 300}.{pinned.group(3)}"
        assert f"promtool, version {release} " in run_promtool(promtool, "--version")

    def test_promtool_checks_the_rules(self, promtool: str, monitoring: list[dict[str, Any]], tmp_path: Path) -> None:
        out = run_promtool(promtool, "check", "rules", str(write_rules(monitoring, tmp_path)))
        assert f"SUCCESS: {len(file_alerts())} rules found" in out

    def test_each_alert_fires_on_its_series_and_not_on_others(
        self, promtool: str, monitoring: list[dict[str, Any]], tmp_path: Path
    ) -> None:
        tests = sorted(UNIT_TESTS.glob("*.yaml"))
        # one file per alert, named after it, and every alert has one
        assert sorted(path.stem for path in tests) == sorted(file_alerts())
        write_rules(monitoring, tmp_path)
        for path in tests:
            shutil.copy(path, tmp_path / path.name)
            cases = yaml.safe_load(path.read_text())["tests"]
            asked = [case["exp_alerts"] for test in cases for case in test["alert_rule_test"]]
            assert any(asked) and not all(asked), f"{path.name}: series that fire and series that do not"
        run_promtool(promtool, "test", "rules", *[path.name for path in tests], cwd=tmp_path)

    def test_every_alert_says_what_and_where_the_runbook_is(self, monitoring: list[dict[str, Any]]) -> None:
        alerts = alerts_of(monitoring)
        assert list(alerts) == file_alerts()
        runbooks = anchors(OPERATIONS)
        for name, rule in alerts.items():
            assert rule["labels"] == {"severity": rule["labels"]["severity"], "team": "ml-platform"}
            assert rule["labels"]["severity"] in ("critical", "warning", "info")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            url = rule["annotations"]["runbook_url"]
            assert url == f"https://runbooks.example/operations.md#{name.lower()}"
            assert name.lower() in runbooks, f"docs/operations.md has no section {name}"
            assert "${" not in json.dumps(rule), f"{name}: a placeholder left"

    def test_the_default_runbooks_are_the_operations_guide(self) -> None:
        rule = alerts_of(render("metrics.prometheusRule.enabled=true"))["SmupWatchDeaf"]
        assert rule["annotations"]["runbook_url"].endswith("/blob/main/docs/operations.md#smupwatchdeaf")
        assert "team" not in rule["labels"]

    def test_alerts_name_only_metrics_the_operator_exports(self, monitoring: list[dict[str, Any]]) -> None:
        names = exported() | {"up"}  # up: Prometheus's own, one per scraped pod
        for name, rule in alerts_of(monitoring).items():
            used = metric_names(rule["expr"])
            assert used, name
            assert used <= names, f"{name} names what the operator does not export: {used - names}"

    def test_alerts_select_this_release_as_its_service_monitor_scrapes_it(
        self, monitoring: list[dict[str, Any]]
    ) -> None:
        service = one(monitoring, "Service")["metadata"]["name"]
        assert service == JOB
        for name, rule in alerts_of(monitoring).items():
            matchers = re.findall(r"\{([^}]*)\}", rule["expr"])
            assert matchers and all(f'job="{JOB}", namespace="{NAMESPACE}"' in m for m in matchers), name
        custom = render("metrics.prometheusRule.enabled=true", 'metrics.prometheusRule.selector=service="smup"')
        assert alerts_of(custom)["SmupNoLeader"]["expr"] == 'max by (namespace, job) (smup_leader{service="smup"}) < 1'

    def test_thresholds_for_and_severity_are_values(self) -> None:
        alerts = alerts_of(
            render(
                values={
                    "metrics": {
                        "prometheusRule": {
                            "enabled": True,
                            "alerts": {
                                "SmupReconcileErrors": {"ratio": 0.3, "window": "30m", "for": "1h", "severity": "page"},
                                "SmupNoLeader": {"enabled": False},
                            },
                        }
                    }
                }
            )
        )
        errors = alerts["SmupReconcileErrors"]
        assert errors["for"] == "1h" and errors["labels"]["severity"] == "page"
        assert errors["expr"].endswith("> 0.3") and errors["expr"].count("[30m]") == 2
        assert "For 1h, more than {{ 0.3 | humanizePercentage }}" in errors["annotations"]["description"]
        assert "SmupNoLeader" not in alerts and "SmupOperatorDown" in alerts

    def test_the_drift_interval_alert_compares_with_the_interval_the_operator_was_asked_for(self) -> None:
        # not config.driftInterval: extraEnv may set SMUP_DRIFT_INTERVAL; 0 (drift off) is the series' to say
        exprs = {
            alerts_of(render("metrics.prometheusRule.enabled=true", f"config.driftInterval={seconds}"))[
                "SmupDriftIntervalStretched"
            ]["expr"]
            for seconds in (600, 1200, 0)
        }
        assert len(exprs) == 1
        (expr,) = exprs
        assert "> 2 * (smup_drift_interval_configured_seconds{" in expr and "600" not in expr

    def test_a_misspelt_setting_is_refused_naming_it(self) -> None:
        proc = helm(
            "template", "smup", str(CHART), "--set", "metrics.prometheusRule.enabled=true",
            "--set", "metrics.prometheusRule.alerts.SmupDriftOverdue.object=5", check=False,
        )  # fmt: skip
        assert proc.returncode != 0
        assert "metrics.prometheusRule.alerts.SmupDriftOverdue.object: SmupDriftOverdue has no such setting" in (
            proc.stderr
        )
        proc = helm(
            "template", "smup", str(CHART), "--set", "metrics.prometheusRule.alerts.SmupPanic.for=1m", check=False
        )
        assert proc.returncode != 0 and "SmupPanic" in proc.stderr  # values.schema.json knows the alerts

    def test_extra_rules_join_the_group_and_labels_reach_the_rule(self, promtool: str, tmp_path: Path) -> None:
        extra = {
            "record": "smup:aws_calls:rate5m",
            "expr": "sum by (kind) (rate(smup_aws_calls_total[5m]))",
        }
        objects = render(
            values={
                "metrics": {"prometheusRule": {"enabled": True, "labels": {"release": "prom"}, "extraRules": [extra]}}
            }
        )
        assert one(objects, "PrometheusRule")["metadata"]["labels"]["release"] == "prom"
        assert rules_of(objects)[-1] == extra
        run_promtool(promtool, "check", "rules", str(write_rules(objects, tmp_path)))


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable, Grafana's variables filled in."""

    def fill(expr: str) -> str:
        return expr.replace("$__rate_interval", "5m").replace("$namespace", "ops").replace("$job", JOB)

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", fill(target["expr"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.*), \w+\)", variable["query"]["query"])
            assert match, variable["name"]
            yield f"variable {variable['name']}", fill(match.group(1))


class TestDashboard:
    def test_a_config_map_for_grafanas_sidecar(self, monitoring: list[dict[str, Any]]) -> None:
        config_map = one(monitoring, "ConfigMap")
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["namespace"] == NAMESPACE
        (name, text), *_ = config_map["data"].items()
        assert name.endswith(".json") and json.loads(text) == json.loads(DASHBOARD_FILE.read_text())

    def test_label_namespace_and_annotations_are_values(self) -> None:
        # a sidecar with label "dashboards" (the default's label nulled: values merge into the defaults)
        dashboard = {"enabled": True, "labels": {"dashboards": "smup", "grafana_dashboard": None}}
        dashboard |= {"namespace": "grafana", "annotations": {"grafana_folder": "SageMaker"}}
        config_map = one(render(values={"metrics": {"dashboard": dashboard}}), "ConfigMap")
        assert config_map["metadata"]["namespace"] == "grafana"
        assert config_map["metadata"]["labels"]["dashboards"] == "smup"
        assert "grafana_dashboard" not in config_map["metadata"]["labels"]
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "SageMaker"}

    def test_queries_name_only_metrics_the_operator_exports(self) -> None:
        names = exported() | {"up"}
        queries = list(dashboard_queries(json.loads(DASHBOARD_FILE.read_text())))
        assert len(queries) > 20
        seen: set[str] = set()
        for where, expr in queries:
            used = metric_names(expr)
            assert used, where
            assert used <= names, f"{where} names what the operator does not export: {used - names}"
            seen |= used
        # every metric of the operator's own is on the dashboard somewhere
        missing = [family for family in operator_families() if not any(name.startswith(family) for name in seen)]
        assert not missing, f"not on the dashboard: {missing}"

    def test_every_query_is_promql_that_promtool_accepts(self, promtool: str, tmp_path: Path) -> None:
        queries = dashboard_queries(json.loads(DASHBOARD_FILE.read_text()))
        rules = [{"record": f"dashboard:query_{n}", "expr": expr} for n, (_, expr) in enumerate(queries)]
        path = tmp_path / "dashboard-queries.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        assert f"SUCCESS: {len(rules)} rules found" in run_promtool(promtool, "check", "rules", str(path))

    def test_every_panel_has_a_title_description_and_unique_id(self) -> None:
        dashboard = json.loads(DASHBOARD_FILE.read_text())
        panels = dashboard["panels"]
        assert len({panel["id"] for panel in panels}) == len(panels)
        for panel in panels:
            if panel["type"] != "row":
                assert panel["title"] and panel.get("description"), panel["id"]
                assert panel["datasource"]["uid"] == "${datasource}"
