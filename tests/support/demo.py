"""`userprofile-operator demo`: the whole product on one machine, in about a minute.

Test machinery, not the product: the console script's `demo` finds the source checkout it runs in and
imports this module from there (the control plane is built by `hack/control-plane.sh`). It uses the same
pieces as the tests and the benchmarks: the local control plane (`localcluster.py`), the Cloud Control
emulator (`emulator.py`), the operator process (`operator.py`) and helm (`chart.py`). It installs the CRD
and the Helm chart's RBAC, and runs the operator with the token of the chart's ServiceAccount and the
product's timings, so the demo has exactly the rights a real installation has. It then applies
`examples/minimal.yaml` and `examples/full.yaml`, waits until both are Ready, shows them as Kubernetes and
as the emulator see them, prints how to reach everything, and waits for Ctrl-C or SIGTERM. It also
applies `examples/studio.yaml` (a domain, two profiles and two spaces wired by references) and
`examples/platform.yaml` (an idle-shutdown lifecycle config, a custom image with a version and its app
image config, and a domain using them by reference), and shows every kind with `kubectl get sagemaker`.

What it owns: the order of start-up, the demo's temporary folder (kubeconfigs, logs, helm's home),
and a stop that leaves no process behind, whatever happened before. What it does not do: build the
control-plane binaries (`make tools` / `hack/control-plane.sh ensure` does; `make demo` runs it first).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

import yaml

from tests.support.emulator import EmulatorProcess
from tests.support.helm import CHART, RELEASE, Helm
from tests.support.helm import NAMESPACE as OPERATOR_NAMESPACE
from tests.support.kube import KUBECTL, REPO_ROOT, Kube
from tests.support.localcluster import ControlPlaneError, LocalControlPlane, find_assets
from tests.support.manifests import DOMAIN, REGION
from tests.support.operator import OPERATOR, OperatorProcess
from tests.support.processes import free_port

DEMO_NAMESPACE = "demo"
EXAMPLES = ("minimal.yaml", "full.yaml")
STUDIO = "studio.yaml"  # a whole Studio setup: its objects refer to each other, not to AWS ids
PLATFORM = "platform.yaml"  # the platform kit: an idle-shutdown script, a custom image, a domain using them
KINDS = "sagemaker"  # the category: every kind, the platform kit's too
# The chart's objects the demo installs: no Deployment (no kubelet runs pods), no Service.
RBAC_KINDS = {"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


class DemoError(RuntimeError):
    """A step failed; the message says which and what to do."""


class _Stop(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C does."""


def _isolated_environ() -> dict[str, str]:
    """This process's environment without AWS or operator settings and without a kubeconfig, so that
    nothing of the user's shell (an AWS profile, another cluster) reaches the demo's operator."""
    return {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "SMUP_")) and key != "KUBECONFIG"
    }


def _say(text: str, out: TextIO) -> None:
    out.write(text + "\n")
    out.flush()


@dataclass
class Demo:
    out: TextIO
    latency: float = 2.0
    ready_timeout: float = 180.0
    workdir: Path = field(init=False)
    plane: LocalControlPlane | None = field(init=False, default=None)
    emulator: EmulatorProcess | None = field(init=False, default=None)
    operator: OperatorProcess | None = field(init=False, default=None)
    metrics_port: int = field(init=False, default=0)
    liveness_port: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="smup-demo-"))

    # -- helpers -------------------------------------------------------------------------------

    @property
    def kube(self) -> Kube:
        assert self.plane is not None
        return Kube(kubeconfig=self.plane.kubeconfig, server=self.plane.server)

    @property
    def admin_kubeconfig(self) -> Path:
        return self.kube.kubeconfig

    @property
    def operator_kubeconfig(self) -> Path:
        return self.workdir / "operator.kubeconfig"

    @property
    def operator_log(self) -> Path:
        return self.workdir / "operator.log"

    @property
    def emulator_url(self) -> str:
        assert self.emulator is not None
        return self.emulator.url

    def step(self, text: str) -> None:
        _say(f"==> {text}", self.out)

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 120) -> str:
        """kubectl as the admin; fails (AssertionError, with kubectl's message) on a non-zero exit."""
        return self.kube.kubectl(*args, input=input, timeout=timeout).stdout

    def aws_env(self) -> dict[str, str]:
        """What points boto3 at the emulator, and only at it: dummy keys, no profile, no config files."""
        assert self.emulator is not None
        return {**self.emulator.env(), "AWS_REGION": REGION}

    # -- steps ---------------------------------------------------------------------------------

    def check_tools(self) -> None:
        for tool in (KUBECTL, OPERATOR):
            if not Path(tool).is_file():
                raise DemoError(f"{tool} not found: run `make venv`")

    def start_control_plane(self) -> None:
        self.step("starting a local control plane (etcd + kube-apiserver)")
        self.plane = LocalControlPlane(find_assets(REPO_ROOT))
        self.plane.start()

    def start_emulator(self) -> None:
        self.step(f"starting the Cloud Control emulator (requests take {self.latency:g} s, as AWS's do)")
        self.emulator = EmulatorProcess(latency=self.latency, start_timeout=30)
        try:
            self.emulator.start()
        except RuntimeError as err:
            raise DemoError(f"{err} (is the package installed with its [emulator] extra? `make venv` does)") from None
        self.emulator.add_domain(DOMAIN, REGION)
        # The lifecycle configs, images and app image configs the examples name, as an account has them.
        examples = [REPO_ROOT / "examples" / name for name in (*EXAMPLES, STUDIO)]
        documents = [doc for path in examples for doc in yaml.safe_load_all(path.read_text()) if doc]
        self.emulator.add_platform_kit_named_in(REGION, documents)

    def install_crd_and_rbac(self) -> str:
        """The chart's CRDs, ServiceAccount and RBAC, as `helm template` renders them; returns the SA name."""
        self.step("installing the CRDs and the Helm chart's ServiceAccount and RBAC")
        helm = Helm(self.kube, self.workdir / "helm")
        rendered = helm(
            "template", RELEASE, str(CHART), "--namespace", OPERATOR_NAMESPACE, "--set", "crds.install=true"
        ).stdout
        docs = [doc for doc in yaml.safe_load_all(rendered) if doc and doc.get("kind") in RBAC_KINDS]
        accounts = [doc["metadata"]["name"] for doc in docs if doc["kind"] == "ServiceAccount"]
        crds = [doc["metadata"]["name"] for doc in docs if doc["kind"] == "CustomResourceDefinition"]
        if len(accounts) != 1 or not crds:
            raise DemoError(f"expected one ServiceAccount and the CRDs in the chart, found {accounts} and {crds}")
        self.kubectl("create", "namespace", OPERATOR_NAMESPACE)
        # Server-side: a CRD is too large for the last-applied-configuration annotation.
        self.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))
        for crd in crds:  # one per kind the chart ships
            self.kube.wait_established(crd)
        return str(accounts[0])

    def create_demo_namespace(self) -> None:
        self.kube.create_namespace(DEMO_NAMESPACE, {"sagemaker.awscc.dev/default-region": REGION})

    def write_operator_kubeconfig(self, service_account: str) -> None:
        """A kubeconfig with only the ServiceAccount's token: the operator has the chart's rights, no more."""
        token = self.kubectl("create", "token", service_account, "-n", OPERATOR_NAMESPACE, "--duration=24h").strip()
        admin = yaml.safe_load(self.admin_kubeconfig.read_text())
        user = f"{OPERATOR_NAMESPACE}:{service_account}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": admin["clusters"],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "operator", "context": {"cluster": admin["clusters"][0]["name"], "user": user}}],
            "current-context": "operator",
        }
        self.operator_kubeconfig.write_text(yaml.safe_dump(config))
        self.operator_kubeconfig.chmod(0o600)

    def start_operator(self) -> None:
        self.step("starting the operator with the chart's ServiceAccount token (least privilege)")
        self.metrics_port, self.liveness_port = free_port(), free_port()
        self.operator = OperatorProcess(
            self.operator_kubeconfig,
            {
                **self.aws_env(),
                # Keep the user's AWS configuration out of the demo entirely.
                "AWS_CONFIG_FILE": str(self.workdir / "aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "aws-credentials"),
            },
            args=[
                *("--liveness", f"http://127.0.0.1:{self.liveness_port}/healthz"),
                *("--metrics-port", str(self.metrics_port)),
            ],
            # Quick drift checks, so an out-of-band change is corrected while you watch.
            env={"SMUP_LOG_FORMAT": "text", "SMUP_DRIFT_INTERVAL": "30"},
            region=REGION,
            settings={},  # the product's timings, not the tests' quick ones
            base_env=_isolated_environ(),
            log_path=self.operator_log,
        ).start()

    def apply_examples(self) -> dict[str, str]:
        """Applies the examples into the demo namespace; returns {object name: AWS identifier}."""
        self.step(f"applying {', '.join('examples/' + e for e in EXAMPLES)} into namespace {DEMO_NAMESPACE}")
        objects: dict[str, str] = {}
        for example in EXAMPLES:
            path = REPO_ROOT / "examples" / example
            manifest = yaml.safe_load(path.read_text())
            spec = manifest["spec"]
            objects[str(manifest["metadata"]["name"])] = f"{spec['userProfileName']}|{spec['domainId']}"
            self.kubectl("apply", "-n", DEMO_NAMESPACE, "-f", str(path))
        self.step(f"applying examples/{STUDIO} (a domain, two profiles, two spaces) into namespace {DEMO_NAMESPACE}")
        self.kubectl("apply", "-n", DEMO_NAMESPACE, "-f", str(REPO_ROOT / "examples" / STUDIO))
        self.step(
            f"applying examples/{PLATFORM} (an idle-shutdown lifecycle config, a custom image with a version and "
            f"its app image config, a domain using them) into namespace {DEMO_NAMESPACE}"
        )
        self.kubectl("apply", "-n", DEMO_NAMESPACE, "-f", str(REPO_ROOT / "examples" / PLATFORM))
        return objects

    def wait_ready(self, names: Sequence[str]) -> None:
        self.step("waiting for every object to become Ready (the Studio setup in dependency order)")
        try:
            self.kubectl(
                "wait",
                "--for=condition=Ready",
                f"--timeout={self.ready_timeout:.0f}s",
                "-n",
                DEMO_NAMESPACE,
                KINDS,
                "--all",
                timeout=self.ready_timeout + 30,
            )
        except AssertionError as err:
            conditions = self.kubectl(
                "get", KINDS, "-n", DEMO_NAMESPACE, "-o",
                "custom-columns=KIND:.kind,NAME:.metadata.name,CONDITIONS:.status.conditions",
            )  # fmt: skip
            log = self.operator.log(30) if self.operator is not None else ""
            raise DemoError(f"{err}\n{conditions}\noperator log:\n{log}") from None

    def show(self, identifiers: Collection[str]) -> None:
        _say("", self.out)
        _say(f"$ kubectl get sagemaker -n {DEMO_NAMESPACE}", self.out)
        _say(self.kubectl("get", "sagemaker", "-n", DEMO_NAMESPACE).rstrip(), self.out)
        _say("", self.out)
        _say(f"$ kubectl get smup -n {DEMO_NAMESPACE} -o wide", self.out)
        _say(self.kubectl("get", "smup", "-n", DEMO_NAMESPACE, "-o", "wide").rstrip(), self.out)
        assert self.emulator is not None
        ours = [r for r in self.emulator.resources(REGION) if r["Identifier"] in identifiers]
        _say("", self.out)
        _say(f"The user profiles as AWS (the emulator) holds them, GET /_emulator/resources?Region={REGION}:", self.out)
        _say(json.dumps(ours, indent=2, sort_keys=True), self.out)

    def pids(self) -> dict[str, int]:
        found: dict[str, int] = {}
        if self.plane is not None:
            found.update(zip(("etcd", "kube-apiserver"), self.plane.pids, strict=False))
        for name, proc in (("emulator", self.emulator), ("operator", self.operator)):
            if proc is not None and proc.pid is not None:
                found[name] = proc.pid
        return found

    def instructions(self, wait: bool) -> None:
        env = self.aws_env()
        bin_dir = Path(KUBECTL).parent
        drift = {
            "Region": REGION,
            "Identifier": f"bob|{DOMAIN}",
            "PatchDocument": [{"op": "replace", "path": "/UserSettings/StudioWebPortal", "value": "DISABLED"}],
        }
        lines = [
            "",
            "The demo is running. In another shell:" if wait else "Stopping now (--no-wait). With the demo running:",
            "",
            f"  export PATH={bin_dir}:$PATH                # kubectl and userprofile-operator",
            f"  export KUBECONFIG={self.admin_kubeconfig}",
            f"  kubectl get smup -n {DEMO_NAMESPACE}                 # short name of sagemakeruserprofiles",
            f"  kubectl describe smup alice -n {DEMO_NAMESPACE}      # conditions and Events",
            "  kubectl explain smup.spec.userSettings",
            f"  kubectl edit smup alice -n {DEMO_NAMESPACE}          # e.g. set spec.userSettings.executionRole",
            f"  kubectl delete smup alice -n {DEMO_NAMESPACE}        # deletes the profile in the emulator",
            "",
            "  # the AWS side: the emulator's admin API (README of cloudcontrol_emulator)",
            f"  curl -s '{self.emulator_url}/_emulator/resources?Region={REGION}'",
            "  # change bob behind the operator's back; within about 30 s its drift check puts it back",
            f"  curl -s -X POST {self.emulator_url}/_emulator/resources/patch -d '{json.dumps(drift)}'",
            f"  kubectl get events -n {DEMO_NAMESPACE} --field-selector involvedObject.name=bob",
            "",
            "  # the inventory commands, against the emulator",
            *(f"  export {key}={value}" for key, value in env.items()),
            "  userprofile-operator list",
            "",
            f"  emulator (Cloud Control API):  {self.emulator_url}",
            f"  operator metrics:              http://127.0.0.1:{self.metrics_port}/metrics",
            f"  operator liveness:             http://127.0.0.1:{self.liveness_port}/healthz",
            f"  operator log:                  {self.operator_log}",
            f"  operator kubeconfig (its ServiceAccount token): {self.operator_kubeconfig}",
            "",
            "pids: " + " ".join(f"{name}={pid}" for name, pid in self.pids().items()),
        ]
        _say("\n".join(lines), self.out)

    def wait(self) -> None:
        """Until Ctrl-C or SIGTERM (raised as exceptions); fails if the operator or the emulator dies."""
        _say("\nPress Ctrl-C to stop everything.", self.out)
        assert self.operator is not None and self.operator.proc is not None and self.emulator is not None
        while True:
            if (code := self.operator.proc.poll()) is not None:
                raise DemoError(f"the operator exited with {code}:\n{self.operator.log(30)}")
            if (code := self.emulator.poll()) is not None:
                raise DemoError(f"the emulator exited with {code}:\n{self.emulator.stderr}")
            time.sleep(1)

    def stop(self, keep_files: bool) -> None:
        """Operator first (it talks to both), then the emulator, then the control plane."""
        if self.operator is not None:
            self.operator.stop()
        if self.emulator is not None:
            self.emulator.stop()
            if keep_files:
                (self.workdir / "emulator.log").write_text(self.emulator.stderr)
        if self.plane is not None:
            if keep_files:
                self.plane.keep_workdir()
            self.plane.stop()
        if keep_files:
            _say(f"logs kept in {self.workdir}" + (f" and {self.plane.workdir}" if self.plane else ""), self.out)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def run(self, wait: bool) -> None:
        self.check_tools()
        self.start_control_plane()
        self.start_emulator()
        service_account = self.install_crd_and_rbac()
        self.create_demo_namespace()
        self.write_operator_kubeconfig(service_account)
        self.start_operator()
        objects = self.apply_examples()
        self.wait_ready(list(objects))
        self.show(objects.values())
        self.instructions(wait)
        if wait:
            self.wait()


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C does. SIGINT is set explicitly: a shell starts background jobs with
    it ignored, and Python then raises no KeyboardInterrupt."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    previous_term = signal.signal(signal.SIGTERM, on_term)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def run_demo(wait: bool = True, latency: float = 2.0, out: TextIO = sys.stdout) -> int:
    """Runs the demo from the checkout this module is in; 0 after a clean stop, 1 when a step failed."""
    demo: Demo | None = None
    failed = False
    with _signals_unwind():
        try:
            demo = Demo(out, latency=latency)
            demo.run(wait)
        except (KeyboardInterrupt, _Stop):
            _say("\nstopping", out)
        except (DemoError, ControlPlaneError, AssertionError) as err:
            # AssertionError: a kubectl, helm or wait of the shared test support failed; its message says which.
            failed = True
            sys.stderr.write(f"error: {err}\n")
        except Exception:
            failed = True
            raise
        finally:
            if demo is not None:
                # A second Ctrl-C must not leave half of the processes running.
                old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
                old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
                try:
                    demo.stop(keep_files=failed)
                finally:
                    signal.signal(signal.SIGINT, old_int)
                    signal.signal(signal.SIGTERM, old_term)
                _say("stopped: operator, emulator and control plane", out)
    return 1 if failed else 0
