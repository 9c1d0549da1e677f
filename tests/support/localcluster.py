"""A throwaway local Kubernetes control plane: real etcd and kube-apiserver on loopback ports.

This is what the end-to-end tests, the benchmarks and `userprofile-operator demo` run against, in
the manner of controller-runtime's envtest: no kubelet, no scheduler, no controller-manager, but a
real API server with RBAC, admission, CRD validation and CEL, backed by a real etcd. Test machinery,
kept out of the shipped package, as envtest is kept out of controller-runtime's manager.

What it owns: finding the binaries (``KUBEBUILDER_ASSETS`` first, else the folder that
``hack/control-plane.sh`` builds into), choosing free ports, the service-account signing key, an
admin identity (a static token in group ``system:masters``), the kubeconfig, readiness, and a stop
that leaves no process behind. What it does not do: build binaries (``hack/control-plane.sh`` does).
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

from tests.support.processes import free_port, log_tail, stop_process

ADMIN_USER = "local-admin"


class ControlPlaneError(RuntimeError):
    """The control plane could not be found or started; the message says what to do."""


def default_assets_dir(repo_root: Path) -> Path:
    """The folder ``hack/control-plane.sh`` builds into for the pinned versions (the script says)."""
    script = repo_root / "hack" / "control-plane.sh"
    out = subprocess.run([str(script), "dir"], check=True, capture_output=True, text=True).stdout
    return Path(out.strip())


def find_assets(repo_root: Path) -> Path:
    """``KUBEBUILDER_ASSETS`` when set, else the build cache; fails with a hint when neither has binaries."""
    env = os.environ.get("KUBEBUILDER_ASSETS")
    candidates = [Path(env)] if env else [default_assets_dir(repo_root)]
    for folder in candidates:
        if (folder / "etcd").is_file() and (folder / "kube-apiserver").is_file():
            return folder
    raise ControlPlaneError(
        f"no etcd and kube-apiserver in {candidates[0]}: run `hack/control-plane.sh ensure` "
        "(builds them from pinned Go modules) or set KUBEBUILDER_ASSETS to a folder holding both"
    )


@dataclass
class LocalControlPlane:
    """etcd plus kube-apiserver in a temporary folder; use as a context manager or call start/stop."""

    assets: Path
    audit_policy: dict[str, object] | None = None
    extra_apiserver_args: list[str] = field(default_factory=list)
    workdir: Path = field(init=False)
    server: str = field(init=False, default="")
    token: str = field(init=False, default="")
    kubeconfig: Path = field(init=False)
    _procs: list[subprocess.Popen[bytes]] = field(init=False, default_factory=list)
    _logs: list[Path] = field(init=False, default_factory=list)
    _keep_workdir: bool = field(init=False, default=False)
    _apiserver_args: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="smup-controlplane-"))
        self.kubeconfig = self.workdir / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.workdir / "audit.log"

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def __enter__(self) -> LocalControlPlane:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = self.workdir / f"{name}.log"
        self._logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._procs.append(proc)
        return proc

    def start(self, timeout: float = 120.0) -> None:
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                str(self.assets / "etcd"),
                "--name=local",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=local={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        key = self.workdir / "sa.key"
        pub = self.workdir / "sa.pub"
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
        subprocess.run(
            ["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True
        )
        self.token = secrets.token_hex(16)
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        certs = self.workdir / "certs"
        certs.mkdir()
        args = [
            str(self.assets / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}",
            f"--cert-dir={certs}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pub}",
            f"--service-account-signing-key-file={key}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            f"--token-auth-file={tokens}",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--v=0",
        ]
        if self.audit_policy is not None:
            policy = self.workdir / "audit-policy.yaml"
            policy.write_text(yaml.safe_dump(self.audit_policy))
            args += [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}"]
        self._apiserver_args = args + self.extra_apiserver_args
        self._spawn("kube-apiserver", self._apiserver_args)
        self.server = f"https://127.0.0.1:{api_port}"
        self._wait_ready(timeout)
        self._write_kubeconfig(certs)

    def _wait_ready(self, timeout: float) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"})
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for proc, log in zip(self._procs, self._logs, strict=True):
                if proc.poll() is not None:
                    self.stop()
                    raise ControlPlaneError(f"{log.stem} exited with {proc.returncode}:\n{log_tail(log)}")
            try:
                with urllib.request.urlopen(request, context=context, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as err:
                last = str(err)
            time.sleep(0.2)
        self.stop()
        raise ControlPlaneError(f"kube-apiserver not ready after {timeout:.0f} s ({last})")

    def _write_kubeconfig(self, certs: Path) -> None:
        cluster: dict[str, object] = {"server": self.server}
        ca = certs / "apiserver.crt"
        if ca.exists():
            cluster["certificate-authority"] = str(ca)
        else:  # pragma: no cover - every kube-apiserver we pin writes it
            cluster["insecure-skip-tls-verify"] = True
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": cluster}],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": ADMIN_USER}}],
            "current-context": "local",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))

    def restart_apiserver(self, timeout: float = 120.0, down_for: float = 0.0) -> None:
        """Stops kube-apiserver (SIGTERM, then SIGKILL) and starts it again on the same port with the same
        arguments, `down_for` seconds later; etcd keeps running, so every object survives. Waits for /readyz.
        The previous log is kept as ``kube-apiserver.<n>.log``."""
        index = next(i for i, log in enumerate(self._logs) if log.stem == "kube-apiserver")
        proc, log = self._procs.pop(index), self._logs.pop(index)
        stop_process(proc)
        generation = sum(1 for _ in self.workdir.glob("kube-apiserver.*.log")) + 1
        log.rename(self.workdir / f"kube-apiserver.{generation}.log")
        if down_for > 0:
            time.sleep(down_for)
        self._spawn("kube-apiserver", self._apiserver_args)
        self._wait_ready(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """Stops the API server, then etcd; kills what does not stop; removes the folder."""
        for proc in reversed(self._procs):
            stop_process(proc, timeout)
        self._procs.clear()
        if not self._keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def keep_workdir(self) -> None:
        """Leave the folder (logs, kubeconfig) in place after stop, to read after a failure."""
        self._keep_workdir = True
