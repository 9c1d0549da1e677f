"""Benchmarks of the operator against a real API server and the Cloud Control emulator.

    .venv/bin/python -m bench.run            # from the repository's root: full run (about 20-30 minutes on 2 cores)
    .venv/bin/python -m bench.run --quick    # the same scenarios, small (under 3 minutes; CI runs it)

Scenarios (see bench/README.md): convergence of N profiles applied at once under a 25 calls/s AWS
limit, AWS calls per created/updated/deleted profile, offboarding (profiles whose people left apps
running: time and calls per profile and per app), Kubernetes writes per created profile (from the
API server's audit log), drift lanes (new profiles with drift saturating the budget vs an idle operator,
drift's share of the calls, the drift interval kept vs asked), steady state with many Ready profiles
(operator RSS and CPU, AWS calls per minute), and an operator restart over those profiles.

Writes bench/results/latest.json and bench/results/latest.md (or --output-dir), and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.support.emulator import EmulatorProcess
from tests.support.kube import REPO_ROOT, Kube
from tests.support.localcluster import LocalControlPlane, find_assets
from tests.support.manifests import profile
from tests.support.operator import OperatorProcess
from tests.support.processes import free_port

from bench.kubeapi import KubeApi, is_ready
from userprofile_operator.budget import kept_interval
from userprofile_operator.settings import OWNER_TAG_KEY

DOMAIN = "d-bench0000001"
CONV_REGION = "us-east-1"
STEADY_REGION = "us-west-2"
LANES_REGION = "eu-west-1"
AWS_LIMIT = 25.0  # the emulator throttles above this many calls per second (per region)
LATENCY = 2.0  # seconds each emulated Create/Update/Delete stays IN_PROGRESS
MIN_CALLS_PER_CREATE = 2  # CreateResource + one GetResourceRequestStatus
MUTATING = ("CreateResource", "UpdateResource", "DeleteResource", "CancelResourceRequest")
# Writes by anyone but these are the operator's: kopf's client ("kopf/…") and, since drift checks
# moved to their own scheduler, the kubernetes client ("OpenAPI-Generator/…").
NOT_OPERATOR_AGENTS = ("kubectl/", "smup-bench", "kube-apiserver/", "kube-controller-manager/")

# Audit: metadata of every write to our objects and to Events; nothing else.
AUDIT_POLICY: dict[str, object] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "Metadata",
            "verbs": ["create", "update", "patch", "delete", "deletecollection"],
            "resources": [
                {
                    "group": "sagemaker.awscc.dev",
                    "resources": ["sagemakeruserprofiles", "sagemakeruserprofiles/status"],
                },
                {"group": "", "resources": ["events"]},
                {"group": "events.k8s.io", "resources": ["events"]},
            ],
        },
        {"level": "None"},
    ],
}

# Realistic operator timings (the product's defaults), not the shortened TEST_SETTINGS.
REALISTIC = {
    "SMUP_DRIFT_INTERVAL": "600",
    "SMUP_DRIFT_TICK": "60",
    "SMUP_POLL_MIN": "1",
    "SMUP_POLL_MAX": "30",
    "SMUP_RETRY_MIN": "2",
    "SMUP_RETRY_MAX": "300",
    "SMUP_WATCH_PROBE_INTERVAL": "60",
    "SMUP_WATCH_PROBE_TIMEOUT": "30",
    "SMUP_DEAF_EXIT_AFTER": "60",
}
# Client-side limit for the convergence runs: under the emulator's 25/s, with a small burst so the
# operator's first second does not overrun the emulator's bucket.
CONV_OPERATOR = {**REALISTIC, "SMUP_AWS_RATE": "22", "SMUP_AWS_BURST": "3", "SMUP_MAX_CONCURRENT_AWS_CALLS": "16"}
# Convergence near the physical bound (issue 22): no AWS limit, and the operator's own limits set high,
# so what is left is the apply, AWS's latency, and the operator's own time.
FAST_OPERATOR = {**REALISTIC, "SMUP_AWS_RATE": "1000", "SMUP_AWS_BURST": "1000", "SMUP_MAX_CONCURRENT_AWS_CALLS": "128"}
IMAGE_TARGET_MB = 160.0
RSS_TARGET_MB = 200.0  # at 10,000 Ready profiles, idle
RESTART_TARGET_RATIO = 3.0  # a restart resumes every object within 3 LISTs of them
# Steady state: no AWS limit in the emulator; the operator may go fast to set 10,000 profiles up.
STEADY_OPERATOR = {**REALISTIC, "SMUP_AWS_RATE": "200", "SMUP_AWS_BURST": "50", "SMUP_MAX_CONCURRENT_AWS_CALLS": "16"}


@dataclass
class Row:
    scenario: str
    metric: str
    figure: float | None
    unit: str
    bound: float | None = None
    bound_kind: str = "lower bound"  # or "target (at most)"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.figure is None or not self.bound:
            return None
        return self.figure / self.bound


@dataclass
class Report:
    mode: str
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "—"
        print(f"  {row.scenario} · {row.metric}: {fmt(row.figure)} {row.unit} (vs {fmt(row.bound)}; ratio {ratio})")
        return row


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value == int(value) and abs(value) >= 10:
        return f"{int(value):,}"
    return f"{value:,.2f}"


# -- measurement helpers --------------------------------------------------------------------------


def delta(before: Mapping[str, Mapping[str, int]], after: Mapping[str, Mapping[str, int]], key: str) -> Counter[str]:
    result: Counter[str] = Counter(after.get(key, {}))
    result.subtract(before.get(key, {}))
    return +result


class Audit:
    """Reads the API server's audit log from a byte offset: the writes made since a mark."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def written_since_mark(self, most: int = 50) -> list[str]:
        """The operator's writes since the mark, one line each (time, verb, resource, object, user agent),
        the first `most`: where a figure that should be 0 is not, which objects and when."""
        lines: list[str] = []
        with self.path.open("rb") as log:
            log.seek(self.offset)
            for raw in log:
                event = json.loads(raw)
                agent = event.get("userAgent", "")
                if event.get("stage") != "ResponseComplete" or agent.startswith(NOT_OPERATOR_AGENTS):
                    continue
                ref = event.get("objectRef", {})
                resource = ref.get("resource", "") + ("/" + ref["subresource"] if ref.get("subresource") else "")
                when = event.get("requestReceivedTimestamp", "")
                lines.append(f"{when} {event['verb']} {resource} {ref.get('name', '')} ({agent.split(' ')[0]})")
                if len(lines) >= most:
                    break
        return lines

    def writes_since_mark(self, exclude: str = "") -> Counter[str]:
        """The operator's writes since the mark, by HTTP verb and resource; `exclude` leaves out one
        object's own writes (Events cannot be told apart by name: kopf names them `kopf-event-…`)."""
        counts: Counter[str] = Counter()
        with self.path.open("rb") as log:
            log.seek(self.offset)
            for raw in log:
                event = json.loads(raw)
                if event.get("stage") != "ResponseComplete" or event.get("userAgent", "").startswith(
                    NOT_OPERATOR_AGENTS
                ):
                    continue
                ref = event.get("objectRef", {})
                if exclude and ref.get("name") == exclude:
                    continue
                resource = ref.get("resource", "")
                if ref.get("subresource"):
                    resource += "/" + ref["subresource"]
                http_verb = {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE"}.get(
                    event["verb"], event["verb"]
                )
                counts[f"{http_verb} {resource}"] += 1
        return counts


def scrape(port: int) -> dict[str, float]:
    """The operator's /metrics as {'name{labels}': value} (samples only, no comments)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in samples}


def mean_wait(before: Mapping[str, float], after: Mapping[str, float], lane: str) -> float:
    """Mean seconds a lane's AWS calls waited for a token between two scrapes."""

    def grown(suffix: str) -> float:
        key = f'smup_aws_tokens_waited_seconds_{suffix}{{lane="{lane}"}}'
        return after.get(key, 0.0) - before.get(key, 0.0)

    return round(grown("sum") / grown("count"), 3) if grown("count") else 0.0


def proc_usage(pid: int) -> tuple[float, float, float]:
    """(RSS MB, peak RSS MB, CPU seconds user+system) from /proc — psutil is not a dependency."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    rss = int(fields["VmRSS"].split()[0]) / 1024
    hwm = int(fields["VmHWM"].split()[0]) / 1024
    stat = Path(f"/proc/{pid}/stat").read_text()
    parts = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(parts[11]) + int(parts[12])) / ticks  # utime, stime (fields 14 and 15)
    return rss, hwm, cpu


def all_ready(names: set[str], generation: int) -> Any:
    def check(objects: dict[str, dict[str, Any]]) -> bool:
        return all(n in objects and is_ready(objects[n], generation) for n in names)

    return check


def ready_progress(objects: dict[str, dict[str, Any]]) -> str:
    return f"{sum(1 for o in objects.values() if is_ready(o))}/{len(objects)} Ready"


async def op_started(op: OperatorProcess, within: float = 120) -> None:
    """Until the operator has logged in to the API server (its watches start right after), plus a moment."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if op.log_path.exists() and b"Initial authentication has finished" in op.log_path.read_bytes():
            await asyncio.sleep(2)
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the operator did not start within {within:.0f} s")


def image_megabytes(name: str) -> float | None:
    """The image's size in MB (10^6 bytes, as `buildah images` shows it), or None without buildah or image."""
    try:
        proc = subprocess.run(["buildah", "images", "--json", name], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    images = json.loads(proc.stdout)
    # buildah prints the size for people ("158 MB", decimal units)
    match = re.fullmatch(r"([\d.]+)\s*([kMG]?B)", str(images[0].get("size", ""))) if images else None
    if match is None:
        return None
    return float(match.group(1)) * {"B": 1e-6, "kB": 1e-3, "MB": 1.0, "GB": 1e3}[match.group(2)]


def resume_count(op: OperatorProcess, offset: int) -> int:
    """kopf's resume handlers run since `offset` in the log: only for objects not settled at the start."""
    with op.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().count(b"Handler 'resume' succeeded.")


async def count_taken_back(port: int, n: int, within: float = 1200) -> tuple[float, float]:
    """When (time.monotonic()) the operator on `port` had taken back its first object, and all `n`.
    Polled a few times a second: a scrape counts every object, so not more often."""
    first = 0.0
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        count = taken_back(port)
        if count and not first:
            first = time.monotonic()
        if count >= n:
            return first, time.monotonic()
        await asyncio.sleep(0.25)
    raise TimeoutError(f"the operator took back {taken_back(port)} of {n} objects within {within:.0f} s")


def taken_back(port: int) -> int:
    """Objects the operator has taken back since its start: what `smup_objects` counts (every object
    its watch has shown it; a settled one has its drift checks scheduled by then). 0 before it listens."""
    try:
        samples = scrape(port)
    except OSError:
        return 0
    return int(sum(value for name, value in samples.items() if name.startswith("smup_objects{")))


# -- the benchmark ----------------------------------------------------------------------------------


class Bench:
    def __init__(self, quick: bool, only: frozenset[str] = frozenset()) -> None:
        self.quick = quick
        self.only = only  # scenario names to run (--only); empty: all
        self.report = Report(mode="quick" if quick else "full")
        self.plane = LocalControlPlane(find_assets(REPO_ROOT), audit_policy=AUDIT_POLICY)
        self.emulator = EmulatorProcess(latency=LATENCY)
        self.audit = Audit(self.plane.audit_log)
        self.operators: list[OperatorProcess] = []

    def api(self, concurrency: int = 32) -> KubeApi:
        return KubeApi(self.plane.server, self.plane.token, self.plane.workdir / "certs" / "apiserver.crt", concurrency)

    def operator(
        self, env: dict[str, str], region: str, namespaces: list[str], args: list[str] | None = None
    ) -> OperatorProcess:
        op = OperatorProcess(
            self.plane.kubeconfig, self.emulator.env(), args or (), env=env, region=region, namespaces=namespaces
        )
        self.operators.append(op)
        return op

    async def run(self) -> Report:
        started = time.monotonic()
        self.plane.start()
        self.emulator.start()
        try:
            Kube(self.plane.kubeconfig, self.plane.server).apply_crd()
            for region in (CONV_REGION, STEADY_REGION, LANES_REGION):
                self.emulator.add_domain(DOMAIN, region)
            scenarios = {
                "convergence": self.convergence_and_costs,
                "unthrottled": self.convergence_unthrottled,
                "offboarding": self.offboarding,
                "failover": self.failover,
                "lanes": self.drift_lanes,
                "steady": self.steady_state_and_restart,
            }
            for name, scenario in scenarios.items():
                if not self.only or name in self.only:
                    await scenario()
        finally:
            for op in self.operators:
                op.stop()
            self.emulator.stop()
            self.plane.stop()
        self.image_size()
        self.report.details["seconds"] = round(time.monotonic() - started, 1)
        return self.report

    # -- convergence, AWS cost, Kubernetes cost --------------------------------------------------

    async def convergence_and_costs(self) -> None:
        sizes = [100] if self.quick else [100, 1000]
        self.emulator.set_faults(rate_limit=AWS_LIMIT, burst=AWS_LIMIT, seed=1)
        op = self.operator(CONV_OPERATOR, CONV_REGION, ["bench-conv-*"]).start()
        self.report.details["convergence_operator_settings"] = CONV_OPERATOR
        try:
            async with self.api() as api:
                for n in sizes:
                    await self.converge(api, n, costs=(n == sizes[0]))
        finally:
            op.stop()
            self.emulator.clear_faults()

    async def converge(self, api: KubeApi, n: int, costs: bool) -> None:
        ns = f"bench-conv-{n}"
        await api.create_namespace(ns)
        names = [f"conv{n}-{i:05d}" for i in range(n)]
        print(f"convergence: {n} profiles at once", flush=True)
        before = self.emulator.stats()
        self.audit.mark()
        t0 = time.monotonic()
        await api.create_many(ns, [profile(name, ns, domain_id=DOMAIN) for name in names])
        applied = time.monotonic() - t0
        t1 = await api.wait(ns, all_ready(set(names), 1), within=60 + n * 0.5, progress=ready_progress)
        seconds = t1 - t0
        bound = max(LATENCY, n * MIN_CALLS_PER_CREATE / AWS_LIMIT)
        self.report.add(
            Row(
                f"Convergence N={n:,}",
                "time until all Ready",
                round(seconds, 1),
                "s",
                bound,
                note=f"applied in {applied:.1f} s; latency {LATENCY:g} s, AWS limit {AWS_LIMIT:g}/s, "
                f"operator SMUP_AWS_RATE={CONV_OPERATOR['SMUP_AWS_RATE']} burst {CONV_OPERATOR['SMUP_AWS_BURST']}",
            )
        )
        await asyncio.sleep(3)  # the last Events are posted after the status patch
        after = self.emulator.stats()
        calls, throttled = delta(before, after, "calls"), delta(before, after, "throttled")
        writes = self.audit.writes_since_mark()
        self.report.details[f"convergence_{n}"] = {
            "seconds": round(seconds, 2),
            "lower_bound": bound,
            "calls": dict(calls),
            "throttled": dict(throttled),
            "errors": dict(delta(before, after, "errors")),
            "kube_writes": dict(writes),
        }
        if not costs:
            return
        self.aws_cost("created", n, calls, throttled)
        self.kube_cost("created", n, writes)

        # Update every profile (a tag), then delete every profile; count calls and writes per profile.
        before = self.emulator.stats()
        self.audit.mark()
        await api.merge_patch_many(ns, names, {"spec": {"tags": [{"key": "bench", "value": "updated"}]}})
        await api.wait(ns, all_ready(set(names), 2), within=60 + n * 0.5, progress=ready_progress)
        await asyncio.sleep(3)
        after = self.emulator.stats()
        self.aws_cost("updated", n, delta(before, after, "calls"), delta(before, after, "throttled"))
        self.kube_cost("updated", n, self.audit.writes_since_mark())

        before = self.emulator.stats()
        self.audit.mark()
        await api.delete_many(ns, names)
        await api.wait(ns, lambda objects: not objects, within=60 + n * 0.5)
        await asyncio.sleep(3)
        after = self.emulator.stats()
        self.aws_cost("deleted", n, delta(before, after, "calls"), delta(before, after, "throttled"))
        self.kube_cost("deleted", n, self.audit.writes_since_mark())

    async def convergence_unthrottled(self, n: int = 100) -> None:
        """N profiles applied at once with nothing throttling: no AWS limit, the operator's rate, burst and
        concurrency high. The bound is what no operator can beat: the apply, then one AWS latency. Where the
        time goes: the create calls (emulator's request log: each CREATE's EventTime is its completion, so
        sent = EventTime - latency), the handlers (operator log), and Ready as the watch shows it."""
        ns = "bench-fast"
        names = [f"fast-{i:04d}" for i in range(n)]
        region_requests = len(self.emulator.requests(CONV_REGION))
        async with self.api() as api:
            await api.create_namespace(ns)
            op = self.operator(FAST_OPERATOR, CONV_REGION, [ns]).start()
            try:
                await op_started(op)
                print(f"convergence, nothing throttled: {n} profiles at once", flush=True)
                before = self.emulator.stats()
                ready_at: dict[str, float] = {}
                wall0, t0 = time.time(), time.monotonic()
                await api.create_many(ns, [profile(name, ns, domain_id=DOMAIN) for name in names])
                applied = time.monotonic() - t0

                def done(objects: dict[str, dict[str, Any]]) -> bool:
                    for name, obj in objects.items():
                        if name not in ready_at and is_ready(obj, 1):
                            ready_at[name] = time.monotonic() - t0
                    return len(ready_at) == n

                seconds = await api.wait(ns, done, within=60 + n * 0.5) - t0
                await asyncio.sleep(1)
                calls = delta(before, self.emulator.stats(), "calls")
                requests = self.emulator.requests(CONV_REGION)[region_requests:]
            finally:
                op.stop()
        sent = sorted(r["EventTime"] - LATENCY - wall0 for r in requests if r.get("Operation") == "CREATE")
        phases = {
            "applied": round(applied, 2),
            "first_create_sent": round(sent[0], 2) if sent else None,
            "last_create_sent": round(sent[-1], 2) if sent else None,
            "first_ready": round(min(ready_at.values()), 2),
            "last_ready": round(seconds, 2),
        }
        bound = applied + LATENCY
        self.report.add(
            Row(
                f"Convergence N={n}, nothing throttled",
                "time until all Ready",
                round(seconds, 2),
                "s",
                round(bound, 2),
                note=f"bound: the apply ({applied:.2f} s) + one AWS latency ({LATENCY:g} s); creates sent "
                f"{phases['first_create_sent']}-{phases['last_create_sent']} s after the first POST; "
                f"{sum(calls.values()) / n:.2f} calls per profile ("
                + ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(calls.items()))
                + f"); operator SMUP_AWS_RATE={FAST_OPERATOR['SMUP_AWS_RATE']}, no AWS limit",
            )
        )
        self.report.details["convergence_unthrottled"] = {**phases, "bound": round(bound, 2), "calls": dict(calls)}

    def image_size(self) -> None:
        """The operator's image as `make image` built it last (buildah's storage), if there is one."""
        name = subprocess.run(
            ["bash", str(REPO_ROOT / "hack" / "image.sh"), "name"], capture_output=True, text=True, check=False
        ).stdout.strip()
        size = image_megabytes(name) if name else None
        self.report.add(
            Row(
                "Image",
                "size of the operator's image (make image)",
                size,
                "MB",
                IMAGE_TARGET_MB,
                bound_kind="target (at most)",
                note=f"{name}, as `buildah images` counts it" if size else "no image in buildah's storage: make image",
            )
        )

    def aws_cost(self, what: str, n: int, calls: Counter[str], throttled: Counter[str]) -> None:
        total = sum(calls.values())
        per_op = ", ".join(f"{op} {count / n:.2f}" for op, count in sorted(calls.items()))
        # A delete first asks SageMaker what Studio left in the way (ListApps, ListSpaces).
        minimum = {"created": 2, "updated": 3, "deleted": 4}[what]
        self.report.add(
            Row(
                "AWS cost",
                f"AWS calls per {what} profile",
                round(total / n, 2),
                "calls",
                minimum,
                note=per_op + (f"; throttled {sum(throttled.values())}" if throttled else "; none throttled"),
            )
        )
        self.report.details[f"aws_calls_per_{what}"] = {op: round(c / n, 3) for op, c in sorted(calls.items())}

    async def offboarding(self) -> None:
        """N people leave at once: each profile has APPS_PER_PERSON live apps; one delete each. Time until
        every object is gone, and AWS calls per profile and per app (DeleteApp once per app is the floor;
        the rest are the surveys of each pass while apps are Deleting)."""
        n = 10 if self.quick else 50
        ns = "bench-offboard"
        app_types = ("JupyterServer", "Canvas")
        names = [f"leaver-{i:04d}" for i in range(n)]
        op = self.operator(REALISTIC, CONV_REGION, [ns]).start()
        try:
            async with self.api() as api:
                await api.create_namespace(ns)
                await api.create_many(ns, [profile(name, ns, domain_id=DOMAIN) for name in names])
                await api.wait(ns, all_ready(set(names), 1), within=60 + n, progress=ready_progress)
                sagemaker = self.emulator.sagemaker_client(CONV_REGION)
                for name in names:
                    for app_type in app_types:
                        sagemaker.create_app(DomainId=DOMAIN, UserProfileName=name, AppType=app_type, AppName="default")
                print(f"offboarding: {n} profiles with {len(app_types)} apps each", flush=True)
                await asyncio.sleep(LATENCY + 1)  # the apps are InService
                before = self.emulator.stats()
                t0 = time.monotonic()
                await api.delete_many(ns, names)
                await api.wait(ns, lambda objects: not objects, within=120 + n * 2)
                seconds = time.monotonic() - t0
                await asyncio.sleep(3)
                calls = delta(before, self.emulator.stats(), "calls")
        finally:
            op.stop()
        apps = n * len(app_types)
        delete_latency = self.emulator.config().get("AppDeleteLatency")
        self.report.add(
            Row(
                f"Offboarding N={n}",
                "time until every profile (2 apps each) is deleted",
                round(seconds, 1),
                "s",
                note=f"app delete {delete_latency} s in the emulator (real AWS: minutes); operator's default "
                "polling (SMUP_POLL_MIN 1 s, growing to SMUP_POLL_MAX 30 s)",
            )
        )
        per_op = ", ".join(f"{op_name} {count / n:.2f}" for op_name, count in sorted(calls.items()))
        self.report.add(
            Row("AWS cost", "AWS calls per offboarded profile (2 apps)", round(sum(calls.values()) / n, 2), "calls",
                8, note=f"{per_op}; the floor is two passes: survey + 2 DeleteApp, then survey + delete + 1 read")
        )  # fmt: skip
        self.report.add(
            Row("AWS cost", "DeleteApp calls per app", round(calls.get("DeleteApp", 0) / apps, 2), "calls", 1,
                note="each app is asked to go once; Deleted and Failed apps are skipped")
        )  # fmt: skip
        self.report.details["offboarding"] = {
            "profiles": n,
            "apps": apps,
            "seconds": round(seconds, 2),
            "calls": dict(calls),
        }

    async def drift_lanes(self) -> None:
        """Issue 22: N Ready profiles whose drift (interval 60 s) asks for the whole default budget
        (10 calls/s) and more; 20 new profiles are applied on an operator with drift off (idle) and on
        one with drift on (saturated), each with the default budget. Side by side: time until the 20 are
        Ready, drift's share of the calls, and the drift interval the operator keeps against the one
        asked for (its metric, and as measured: N objects over the reads made in a window)."""
        n, asked = (60, 6.0) if self.quick else (600, 60.0)
        new, window, rounds = 20, (12.0 if self.quick else 60.0), (1 if self.quick else 3)
        rate, share = 10.0, 0.5  # the product's defaults
        ns = "bench-lanes"
        names = [f"lanes-{i:05d}" for i in range(n)]
        print(f"drift lanes: {n} Ready profiles, drift every {asked:g} s, default budget", flush=True)
        self.emulator.set_latency(0.1)
        owner = {"Key": OWNER_TAG_KEY, "Value": ""}
        seeds = [
            {"DomainId": DOMAIN, "UserProfileName": name, "Tags": [{**owner, "Value": f"kubernetes/{ns}/{name}"}]}
            for name in names
        ]
        self.emulator.oob_create(LANES_REGION, seeds)
        product = {k: v for k, v in REALISTIC.items() if k != "SMUP_DRIFT_INTERVAL"}
        # BENCH_OPERATOR_PYTHONPATH runs these operators from another source tree (an older commit's
        # `operator/` folder), for a before/after comparison in one run.
        older = os.environ.get("BENCH_OPERATOR_PYTHONPATH")
        extra = {"PYTHONPATH": older} if older else {}
        async with self.api(concurrency=16) as api:
            await api.create_namespace(ns)
            await api.create_many(ns, [profile(name, ns, domain_id=DOMAIN) for name in names])
            setup = self.operator({**STEADY_OPERATOR, "SMUP_DRIFT_INTERVAL": "0"}, LANES_REGION, [ns]).start()
            try:
                await api.wait(ns, all_ready(set(names), 1), within=600, progress=ready_progress)
            finally:
                setup.stop()
            self.emulator.set_latency(LATENCY)
            for phase in ("idle", "saturated"):  # before the operators start: they watch them from the start
                await api.create_namespace(f"{ns}-{phase}")
            figures: dict[str, dict[str, Any]] = {}
            for phase, drift in (("idle", 0.0), ("saturated", asked)):
                port = free_port()
                env = {**product, **extra, "SMUP_DRIFT_INTERVAL": f"{drift:g}"}
                op = self.operator(env, LANES_REGION, [ns, f"{ns}-{phase}"], ["--metrics-port", str(port)]).start()
                try:
                    for _ in range(600):  # every Ready object taken back: the operator is past its start
                        if taken_back(port) >= n:
                            break
                        await asyncio.sleep(0.5)
                    figures[phase] = {}
                    if drift:
                        # Each object's first check is spread over one kept interval from its resume.
                        await asyncio.sleep(kept_interval(asked, n, share, rate) / 2)
                        figures[phase].update(await self._drift_window(op, window, port))
                    batches = [
                        await self._new_profiles(api, f"{ns}-{phase}", f"{phase}{i}", new, port) for i in range(rounds)
                    ]  # one after the other; the median is the figure (the machine is shared)
                    figures[phase]["batches"] = batches
                    figures[phase]["seconds"] = statistics.median(b["seconds"] for b in batches)
                    figures[phase]["user_wait"] = statistics.median(b["user_wait"] for b in batches)
                finally:
                    op.stop()
        self._lanes_rows(n, asked, rate, share, new, figures)

    def _lanes_rows(
        self, n: int, asked: float, rate: float, share: float, new: int, figures: dict[str, dict[str, Any]]
    ) -> None:
        idle, busy = figures["idle"], figures["saturated"]
        ratio = busy["seconds"] / idle["seconds"]
        reads = busy["calls"].get("GetResource", 0)
        drift_rate = reads / busy["window"]
        measured = n * busy["window"] / reads if reads else 0.0
        self.report.add(
            Row(
                f"Drift lanes N={n}",
                f"{new} new profiles Ready, drift saturating",
                busy["seconds"],
                "s",
                round(idle["seconds"] * 1.1, 2),
                bound_kind="target (at most)",
                note=f"idle operator (drift off): {idle['seconds']:.1f} s; ratio to idle {ratio:.2f} (goal 1.10); "
                f"drift every {asked:g} s asked, budget {rate:g} calls/s, burst 20, SMUP_DRIFT_SHARE {share:g}; "
                f"emulator latency {LATENCY:g} s; user calls waited {busy['user_wait']:.2f} s for a token on "
                f"average (idle: {idle['user_wait']:.2f} s)",
            )
        )
        self.report.add(
            Row(
                f"Drift lanes N={n}",
                "drift's share of the budget (GetResource/s over the rate)",
                round(drift_rate / rate, 3),
                "of the rate",
                share,
                bound_kind="target (at most)",
                note=f"{reads} GetResource in {busy['window']:.0f} s = {drift_rate:.2f}/s, "
                f"{reads / max(1, sum(busy['calls'].values())):.0%} of all calls; drift calls waited "
                f"{busy['drift_wait']:.2f} s for a token on average",
            )
        )
        self.report.add(
            Row(
                f"Drift lanes N={n}",
                "drift interval kept (smup_drift_interval_seconds)",
                busy["metric_interval"],
                "s",
                kept_interval(asked, n, share, rate),
                bound_kind="max(asked, N / (share x rate))",
                note=f"asked {asked:g} s; measured {measured:.1f} s (N x window / reads; the jitter adds up to "
                f"10 %); log lines saying so: {busy['log_lines']}",
            )
        )
        table = {
            objects: {f"{r:g}/s": kept_interval(600, objects, share, r) for r in (10, 20, 40)}
            for objects in (1_000, 3_000, 6_000, 10_000, 20_000)
        }  # README's table: the same arithmetic the operator uses
        self.report.details["drift_lanes"] = {
            "objects": n,
            "asked": asked,
            "rate": rate,
            "share": share,
            "measured_interval": round(measured, 1),
            "interval_table_600s": table,
            **figures,
        }

    async def _drift_window(self, op: OperatorProcess, window: float, port: int) -> dict[str, Any]:
        """AWS calls and the drift metrics over `window` seconds of drift alone."""
        before, scrape0 = self.emulator.stats(), scrape(port)
        t0 = time.monotonic()
        await asyncio.sleep(window)
        elapsed = time.monotonic() - t0
        after, scrape1 = self.emulator.stats(), scrape(port)
        return {
            "window": round(elapsed, 1),
            "calls": dict(delta(before, after, "calls")),
            "metric_interval": scrape1.get('smup_drift_interval_seconds{kind="SageMakerUserProfile"}', 0.0),
            "drift_wait": mean_wait(scrape0, scrape1, "drift"),
            "log_lines": op.log_path.read_text(errors="replace").count("Drift checks cannot keep"),
        }

    async def _new_profiles(self, api: KubeApi, ns: str, batch: str, new: int, port: int) -> dict[str, Any]:
        """`new` profiles applied at once: seconds until all are Ready."""
        names = [f"{batch}-{i:03d}" for i in range(new)]  # a profile name is unique in the domain
        if not batch.endswith("0"):
            await asyncio.sleep(3)  # the previous batch's last status reads and Events are done
        scrape0 = scrape(port)
        t0 = time.monotonic()
        await api.create_many(ns, [profile(name, ns, domain_id=DOMAIN) for name in names])
        try:
            t1 = await api.wait(ns, all_ready(set(names), 1), within=120, progress=ready_progress)
        except TimeoutError:
            items, _ = await api.list(ns)
            for item in items:  # why: the Ready conditions
                print("   ", item["metadata"]["name"], json.dumps(item.get("status"))[:600], flush=True)
            raise
        return {"seconds": round(t1 - t0, 2), "user_wait": mean_wait(scrape0, scrape(port), "user")}

    def kube_cost(self, what: str, n: int, writes: Counter[str]) -> None:
        total = sum(c for key, c in writes.items() if not key.startswith("DELETE"))
        breakdown = ", ".join(f"{key} {count / n:.2f}" for key, count in sorted(writes.items()))
        minimum = {"created": 3, "updated": 2, "deleted": 2}[what]
        self.report.add(
            Row(
                "Kubernetes cost",
                f"API writes per {what} profile",
                round(total / n, 2),
                "writes",
                minimum,
                bound_kind="target (at most)" if what == "created" else "lower bound",
                note=breakdown or "none",
            )
        )
        self.report.details[f"kube_writes_per_{what}"] = {key: round(c / n, 3) for key, c in sorted(writes.items())}

    # -- steady state and restart ---------------------------------------------------------------

    async def failover(self) -> None:
        """Two replicas on a Lease over N Ready profiles: SIGKILL of the leader, then a new object."""
        n = 20 if self.quick else 200
        ns, lease_ns = "bench-failover", "bench-failover-lease"
        print(f"failover: two replicas, {n} Ready profiles, SIGKILL of the leader", flush=True)
        replicas = []
        for index in range(2):
            args = ["--leader-elect", "--leader-election-namespace", lease_ns, "--leader-election-id", "bench"]
            op = OperatorProcess(
                self.plane.kubeconfig,
                {**self.emulator.env(), "POD_NAME": f"bench-replica-{index}"},
                args=args,
                env=CONV_OPERATOR,
                region=CONV_REGION,
                namespaces=[ns],
            )
            self.operators.append(op)
            replicas.append(op)
        async with self.api() as api:
            await api.create_namespace(ns)
            await api.create_namespace(lease_ns)
            leader, follower = replicas
            leader.start()
            await api.wait_lease(lease_ns, "bench", "bench-replica-0", within=60)
            follower.start()
            names = [f"fo-{i:04d}" for i in range(n)]
            await api.create_many(ns, [profile(name, ns, domain_id=DOMAIN) for name in names])
            await api.wait(ns, all_ready(set(names), 1), within=120 + n)
            await asyncio.sleep(3)  # the follower is up and standing by
            leader.kill()
            t0 = time.monotonic()
            await api.create_many(ns, [profile("fo-after", ns, domain_id=DOMAIN)])
            t_lease = await api.wait_lease(lease_ns, "bench", "bench-replica-1", within=60)
            t_ready = await api.wait(ns, lambda objects: is_ready(objects.get("fo-after", {}), 1), within=120)
            follower.stop()  # SIGTERM: releases the Lease
        self.report.add(
            Row(
                f"Failover N={n:,}",
                "SIGKILL of the leader → the follower holds the Lease",
                round(t_lease - t0, 1),
                "s",
                20.0,
                note="lease 15 s, renew deadline 10 s, retry 2 s: the Lease must expire first",
            )
        )
        self.report.add(
            Row(
                f"Failover N={n:,}",
                "SIGKILL of the leader → an object created at that moment is Ready",
                round(t_ready - t0, 1),
                "s",
                None,
                note=f"the new leader lists the {n:,} Ready objects and resumes them too",
            )
        )
        self.report.details["failover"] = {
            "lease_seconds": round(t_lease - t0, 1),
            "ready_seconds": round(t_ready - t0, 1),
        }

    async def steady_state_and_restart(self) -> None:
        n = 100 if self.quick else 10_000
        idle = 20.0 if self.quick else 300.0
        # Full: the product's drift interval (10 min) and tick (60 s). Quick: 15 s and 2 s, so that one
        # whole drift cycle fits in the quick run.
        interval, tick = (15.0, 2.0) if self.quick else (600.0, 60.0)
        env = {**STEADY_OPERATOR, "SMUP_DRIFT_INTERVAL": f"{interval:g}", "SMUP_DRIFT_TICK": f"{tick:g}"}
        jitter = 0.1  # the default SMUP_DRIFT_JITTER, and the ±10% the first check is spread over
        ns = "bench-steady"
        names = [f"steady-{i:05d}" for i in range(n)]
        # Profiles exist in AWS already, with our owner tag: the operator's create path meets
        # AlreadyExists, reads the profile, sees its own tag, and reports Ready without changing it.
        self.emulator.set_latency(0.1)
        print(f"steady state: seeding {n:,} profiles in the emulator", flush=True)
        for start in range(0, n, 2000):
            self.emulator.oob_create(
                STEADY_REGION,
                [
                    {
                        "DomainId": DOMAIN,
                        "UserProfileName": name,
                        "Tags": [{"Key": OWNER_TAG_KEY, "Value": f"kubernetes/{ns}/{name}"}],
                    }
                    for name in names[start : start + 2000]
                ],
            )
        async with self.api(concurrency=16) as api:
            await api.create_namespace(ns)
            t0 = time.monotonic()
            await api.create_many(ns, [profile(name, ns, domain_id=DOMAIN) for name in names])
            print(f"  {n:,} objects created in {time.monotonic() - t0:.1f} s; starting the operator", flush=True)
            before = self.emulator.stats()
            self.audit.mark()
            port = free_port()
            op = self.operator(env, STEADY_REGION, [ns], ["--metrics-port", str(port)]).start()
            assert op.proc is not None
            t0 = time.monotonic()
            t1 = await api.wait(ns, all_ready(set(names), 1), within=1800, progress=ready_progress)
            setup = t1 - t0
            after = self.emulator.stats()
            rss, hwm, _ = proc_usage(op.proc.pid)
            self.report.details["steady_setup"] = {
                "profiles": n,
                "seconds_to_all_ready": round(setup, 1),
                "calls": dict(delta(before, after, "calls")),
                "kube_writes": dict(self.audit.writes_since_mark()),
                "rss_mb_after_setup": round(rss, 1),
                "peak_rss_mb_during_setup": round(hwm, 1),
            }
            self.report.add(
                Row(
                    f"Steady state N={n:,}",
                    "set-up: all Ready (create → AlreadyExists → owner tag is ours)",
                    round(setup, 1),
                    "s",
                    None,
                    note=f"operator SMUP_AWS_RATE={STEADY_OPERATOR['SMUP_AWS_RATE']}, emulator latency 0.1 s, "
                    f"no AWS limit; {sum(delta(before, after, 'calls').values()) / n:.2f} calls per profile",
                )
            )

            # Idle: nothing changes. The first window measures RSS and CPU; the measurement of calls goes on
            # until every profile's first drift check is done: each is due `interval` ± 10% after the
            # profile's last reconcile (all of them during set-up) and runs at the next timer tick.
            margin = 3.0 if self.quick else 10.0
            drift_window = interval * (1 + jitter) + tick + margin
            print(f"  idle window: {idle:.0f} s (AWS calls counted over {drift_window:.0f} s)", flush=True)
            before = self.emulator.stats()
            self.audit.mark()
            rss0, _, cpu0 = proc_usage(op.proc.pid)
            samples = [rss0]
            w0 = time.monotonic()
            while time.monotonic() - w0 < idle:
                await asyncio.sleep(min(5.0, idle - (time.monotonic() - w0)))
                samples.append(proc_usage(op.proc.pid)[0])
            elapsed = time.monotonic() - w0
            rss1, hwm1, cpu1 = proc_usage(op.proc.pid)
            after = self.emulator.stats()
            calls = delta(before, after, "calls")
            per_minute = sum(calls.values()) / (elapsed / 60)
            cpu_share = (cpu1 - cpu0) / elapsed * 100
            self.report.add(
                Row(
                    f"Steady state N={n:,}",
                    "operator RSS (max over the idle window)",
                    round(max(samples), 1),
                    "MB",
                    RSS_TARGET_MB,
                    bound_kind="target (at most)",
                    note=f"start {rss0:.0f} MB, end {rss1:.0f} MB, peak since start {hwm1:.0f} MB",
                )
            )
            self.report.add(
                Row(
                    f"Steady state N={n:,}",
                    "operator RSS, settled (median over the idle window)",
                    round(statistics.median(samples), 1),
                    "MB",
                    RSS_TARGET_MB,
                    bound_kind="target (at most)",
                    note=f"{len(samples)} samples, one every 5 s; the operator gives freed memory back every 30 s "
                    "(malloc_trim), so the first samples can still hold the set-up's burst",
                )
            )
            self.report.add(
                Row(
                    f"Steady state N={n:,}",
                    "operator CPU while idle",
                    round(cpu_share, 2),
                    "% of one core",
                    None,
                    note=f"{cpu1 - cpu0:.1f} CPU-s over {elapsed:.0f} s",
                )
            )
            self.report.add(
                Row(
                    f"Steady state N={n:,}",
                    f"AWS calls per minute, first {elapsed:.0f} s of idle",
                    round(per_minute, 1),
                    "calls/min",
                    None,
                    note=(", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "no calls")
                    + f"; the first drift checks are due about {interval:g} s (+{jitter:.0%}) after each "
                    "profile's last reconcile (next row)",
                )
            )
            self.report.details["steady_idle"] = {
                "seconds": round(elapsed, 1),
                "rss_mb_samples": [round(s, 1) for s in samples],
                "cpu_seconds": round(cpu1 - cpu0, 2),
                "calls": dict(calls),
                "kube_writes": dict(self.audit.writes_since_mark()),
            }
            await asyncio.sleep(max(0.0, drift_window - (time.monotonic() - w0)))
            after = self.emulator.stats()
            cycle = delta(before, after, "calls")
            per_profile = sum(cycle.values()) / n
            steady_per_minute = per_profile * n / (interval * (1 + jitter / 2) / 60)
            # No profile gets a second check in the window (the next is due at least `interval` later).
            clean = setup < interval * (1 - 3 * jitter) - tick - margin
            self.report.add(
                Row(
                    f"Steady state N={n:,}",
                    f"AWS calls per profile per drift interval ({interval:g} s)",
                    round(per_profile, 3),
                    "calls",
                    1.0,
                    note=(", ".join(f"{k} {v:,}" for k, v in sorted(cycle.items())) or "no calls")
                    + f" over {time.monotonic() - w0:.0f} s after set-up; in steady state that is "
                    f"{steady_per_minute:,.0f} calls/min for {n:,} profiles"
                    + ("" if clean else " (set-up was slow: some profiles may have been checked twice)"),
                )
            )
            cycle_writes = self.audit.writes_since_mark()
            self.report.add(
                Row(
                    f"Steady state N={n:,}",
                    f"Kubernetes writes per profile per drift interval ({interval:g} s)",
                    round(sum(cycle_writes.values()) / n, 3),
                    "writes",
                    0.0,
                    bound_kind="target",
                    note=(", ".join(f"{k} {v:,}" for k, v in sorted(cycle_writes.items())) or "none")
                    + " while nothing changed",
                )
            )
            self.report.details["steady_drift_cycle"] = {
                "seconds": round(time.monotonic() - w0, 1),
                "drift_interval": interval,
                "drift_tick": tick,
                "calls": dict(cycle),
                "calls_per_profile": round(per_profile, 4),
                "kube_writes": dict(self.audit.writes_since_mark()),
                "kube_write_list": self.audit.written_since_mark(),
            }

            await self.restart(api, op, port, ns, names)

    async def restart(self, api: KubeApi, op: OperatorProcess, port: int, ns: str, names: list[str]) -> None:
        n = len(names)
        print(f"restart: operator restarted over {n:,} Ready profiles", flush=True)
        t_list = time.monotonic()
        await api.list(ns)
        list_seconds = time.monotonic() - t_list
        op.stop()
        offset = op.log_path.stat().st_size
        before = self.emulator.stats()
        requests_before = len(self.emulator.requests(STEADY_REGION))
        self.audit.mark()
        probe = names[n // 2]
        t0 = time.monotonic()
        op.start()
        assert op.proc is not None
        counting = asyncio.create_task(count_taken_back(port, n))
        # A change made while the operator starts: how long until it is reconciled?
        await api.merge_patch_many(ns, [probe], {"spec": {"tags": [{"key": "bench", "value": "after-restart"}]}})
        t_probe = await api.wait(ns, lambda objects: is_ready(objects.get(probe, {}), 2), within=1200)
        t_first, t_resumed = await counting
        resumed = taken_back(port)
        handlers = resume_count(op, offset)  # resume handlers: objects with something to do (the probe)
        await asyncio.sleep(3)
        after = self.emulator.stats()
        calls = delta(before, after, "calls")
        new_requests = self.emulator.requests(STEADY_REGION)[requests_before:]
        probe_id = f"{probe}|{DOMAIN}"
        mutating = [r for r in new_requests if r.get("Identifier") != probe_id]
        writes = self.audit.writes_since_mark(exclude=probe)
        rss, hwm, _ = proc_usage(op.proc.pid)
        self.report.add(
            Row(
                f"Restart N={n:,}",
                "time until every object is taken back",
                round(t_resumed - t0, 1),
                "s",
                round(list_seconds, 2),
                note=f"{resumed:,} of {n:,} counted by smup_objects (each with its drift checks scheduled); "
                f"the first {t_first - t0:.1f} s after the start (imports, log-in, the LIST), then "
                f"{(t_resumed - t_first) / n * 1000:.2f} ms an object; {handlers} resume handler(s) ran (objects "
                f"with something to do); lower bound: one LIST of the {n:,} objects ({list_seconds:.2f} s); "
                f"target: {RESTART_TARGET_RATIO:g} times that, the process's start included",
            )
        )
        op.stop()  # kopf alone next, on the same objects, with the machine to itself
        floor = self.kopf_floor(ns, n)
        if floor is not None:
            floor_first, floor_all = floor
            self.report.add(
                Row(
                    f"Restart N={n:,}",
                    "kopf alone: one empty watch handler, until it has seen every object",
                    round(floor_all, 1),
                    "s",
                    round(list_seconds, 2),
                    note=f"bench/kopf_floor.py, after the operator stopped: the first object {floor_first:.1f} s after "
                    f"the start, then {(floor_all - floor_first) / n * 1000:.2f} ms an object; the least a kopf "
                    "operator takes at a start over these objects (the operator's figure, above, includes it)",
                )
            )
        self.report.add(
            Row(
                f"Restart N={n:,}",
                "time until a change applied at restart is Ready",
                round(t_probe - t0, 1),
                "s",
                None,
                note="merge-patch of one object's tags right after the operator started",
            )
        )
        self.report.add(
            Row(
                f"Restart N={n:,}",
                "mutating AWS calls (besides the changed object)",
                float(len(mutating)),
                "calls",
                0.0,
                bound_kind="target",
                note=", ".join(f"{k} {v}" for k, v in sorted(calls.items()) if k in MUTATING)
                + " in total; "
                + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()) if k not in MUTATING),
            )
        )
        self.report.add(
            Row(
                f"Restart N={n:,}",
                "Kubernetes writes per object at restart (besides the changed object)",
                round((sum(writes.values()) - min(1, writes["POST events"])) / n, 3),
                "writes",
                0.0,
                bound_kind="target",
                note=(", ".join(f"{k} {v}" for k, v in sorted(writes.items())) or "none")
                + " (the changed object's own Event, 1, is left out of the figure)",
            )
        )
        self.report.details["restart"] = {
            "kopf_alone_seconds": None if floor is None else [round(x, 2) for x in floor],
            "seconds_to_first_taken_back": round(t_first - t0, 2),
            "resumed": resumed,
            "resume_handlers": handlers,
            "seconds_to_all_resumed": round(t_resumed - t0, 1),
            "seconds_to_probe_ready": round(t_probe - t0, 1),
            "list_seconds": round(list_seconds, 3),
            "calls": dict(calls),
            "mutating_requests_other_than_probe": len(mutating),
            "kube_writes": dict(writes),
            "rss_mb_after_restart": round(rss, 1),
            "peak_rss_mb_after_restart": round(hwm, 1),
        }

    def kopf_floor(self, ns: str, n: int) -> tuple[float, float] | None:
        """bench/kopf_floor.py over the namespace's `n` objects: (first object, every object) seconds after
        its start; None (said) if it failed."""
        env = {
            **os.environ,
            "KUBECONFIG": str(self.plane.kubeconfig),
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "operator")]),
        }
        command = [sys.executable, "-m", "bench.kopf_floor", ns, str(n)]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=env, cwd=REPO_ROOT)
        found = re.search(r"seen (\d+) first ([\d.]+) all ([\d.]+)", proc.stdout)
        if proc.returncode != 0 or found is None or int(found.group(1)) < n:
            print(f"kopf alone: failed ({proc.returncode}): {proc.stdout[-500:]} {proc.stderr[-1500:]}", flush=True)
            return None
        return float(found.group(2)), float(found.group(3))


# -- output ---------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line))
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def markdown(report: Report, info: Mapping[str, Any]) -> str:
    lines = [
        f"Benchmark ({report.mode}), {info['date']}, {info['machine']['nproc']} CPUs "
        f"({info['machine']['cpu']}), {info['machine']['ram_gb']} GB RAM, "
        f"commit {info['commit']}, {report.details.get('seconds', 0):.0f} s in all.",
        "",
        "| Scenario | Metric | Figure | Compared with | Ratio | Notes |",
        "| --- | --- | ---: | --- | ---: | --- |",
    ]
    for row in report.rows:
        bound = f"{fmt(row.bound)} {row.unit} ({row.bound_kind})" if row.bound is not None else "—"
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "—"
        lines.append(
            f"| {row.scenario} | {row.metric} | {fmt(row.figure)} {row.unit} | {bound} | {ratio} | {row.note} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and a 20 s idle window (CI)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        choices=["convergence", "unthrottled", "offboarding", "failover", "lanes", "steady"],
        help="run only this scenario (repeatable); the results still go to --output-dir",
    )
    parser.add_argument("--output-dir", type=Path, default=REPO_ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    def head() -> str:
        git = ["git", "rev-parse", "--short", "HEAD"]
        return (
            subprocess.run(git, cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout.strip() or "unknown"
        )

    # The operator is started several times; if the tree moves meanwhile, the table says so.
    commit = head()
    report = asyncio.run(Bench(args.quick, frozenset(args.only)).run())
    if head() != commit:
        commit += f" (HEAD moved to {head()} during the run: later scenarios may have run newer code)"
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "machine": machine(),
    }
    table = markdown(report, info)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "latest.md").write_text(table)
    payload = {
        **info,
        "mode": report.mode,
        "rows": [{**asdict(row), "ratio": row.ratio} for row in report.rows],
        "details": report.details,
    }
    (args.output_dir / "latest.json").write_text(json.dumps(payload, indent=2) + "\n")
    print()
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
