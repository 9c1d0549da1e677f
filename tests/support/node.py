"""A real node for tests: containerd + runc, kubelet, kube-controller-manager and kube-scheduler on this
machine, next to a local control plane, so that pods run as they run for users. No registry, no
kube-proxy, no CoreDNS, no change to the host that outlives :meth:`LocalNode.down`.

The binaries come from ``hack/node.sh`` (pinned Go modules, plus pause built from kubernetes' own
``pause.c`` and packed as the image ``localhost/pause:<version>``); CNI plugins and dnsmasq come from
Debian (``containernetworking-plugins``, ``dnsmasq-base``). What the node is made of, and why:

* **Network.** One bridge ``cni0`` with 10.244.0.1/24 and a fixed MAC (made here, not by the bridge
  plugin, whose ``isGateway: false`` then leaves ``ip_forward`` alone; a bridge left to pick its MAC
  changes it as pods come and go, and the pods' cached gateway address goes stale), pods in
  10.244.0.0/24 routed via 10.244.0.1.
  The ``kubernetes`` Service's ClusterIP 10.0.0.1 is an address on ``lo`` and kube-apiserver binds
  10.0.0.1:443 itself (:func:`apiserver_args`), so a pod reaches the API server at the address and
  port its environment names, by local delivery: no kube-proxy, no forwarding, no iptables rule.
  10.0.0.10 on ``lo`` is the cluster DNS: dnsmasq answering ``kubernetes.default.svc[.cluster.local]``
  and NXDOMAIN for the rest of ``cluster.local``, with no upstream. Other ClusterIPs do not route.
* **No sysctl write.** The kubelet sets six kernel tunables (``vm/overcommit_memory``, ``kernel/panic``
  ...) when they differ from what it wants, and ``protectKernelDefaults`` makes it exit instead. It
  runs under ``unshare -m`` with files holding the values it wants bind-mounted over those six
  ``/proc/sys`` files, in its own mount namespace only: it reads what it wants and never writes. Its
  root folder is an rshared bind mount made before the ``unshare``, so the volumes it mounts (the
  service-account token's tmpfs) reach runc in the host's namespace.
* **No iptables rule**: ``makeIPTablesUtilChains: false``; no portmap or masquerade in the CNI config.
* **No CAP_SYS_RESOURCE** on the machines this was made on: runc cannot lower ``oom_score_adj`` (the
  sandbox asks for -998), so containerd's ``restrict_oom_score_adj`` clamps it to its own value.
* **cgroups**: the kubelet's ``cgroupRoot`` is ``/smup-node`` (cgroupfs driver, v1 or v2), made here
  in every hierarchy and removed by :meth:`LocalNode.down`.

Everything else lives under one folder (``SMUP_NODE_DIR``, default ``/tmp/smup-node``), except paths
the kubelet, libcni and containerd use whatever they are told (:data:`FIXED_PATHS`); those that did
not exist before are recorded and removed. Fixed addresses, a fixed bridge and a fixed cgroup make
one node per machine: a lock says so to a second session.

:meth:`LocalNode.down` is idempotent and works from what it finds on the machine, not from what this
process remembers, so it also clears what a killed run left (``prepare`` runs it first when it finds
any). Where the machine cannot run a node (not Linux, not root, no writable cgroups, no
CAP_NET_ADMIN / CAP_SYS_ADMIN, binaries not built, a tool missing) :class:`NodeUnavailable` says why.

Usage (``tests/node/conftest.py`` does this)::

    node = LocalNode.find(REPO_ROOT)          # NodeUnavailable(reason) when the machine cannot
    node.prepare()                            # lock, clear stale state, addresses on lo, cni0
    plane = NodeControlPlane(find_assets(REPO_ROOT), extra_apiserver_args=apiserver_args())
    plane.start()
    node.start(plane)                         # containerd, dnsmasq, kubelet, kcm, scheduler; Node Ready
    node.import_image(archive)                # a docker-archive tar, e.g. from `buildah push`
    ...
    node.stop(); plane.stop(); node.down()
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.support.kube import REPO_ROOT, Kube
from tests.support.localcluster import LocalControlPlane
from tests.support.processes import log_tail

NODE_NAME = "smup-node"
API_IP = "10.0.0.1"  # the first address of the Service range 10.0.0.0/24: the `kubernetes` Service
API_PORT = 443
DNS_IP = "10.0.0.10"
BRIDGE = "cni0"
BRIDGE_IP = "10.244.0.1"
BRIDGE_MAC = "02:53:4d:55:50:01"  # locally administered, fixed: the bridge's MAC never follows its ports
POD_SUBNET = "10.244.0.0/24"
CGROUP_ROOT = "smup-node"
CNI_BIN = Path("/usr/lib/cni")
DEFAULT_WORKDIR = Path("/tmp/smup-node")
LOCK_FILE = Path.home() / ".cache" / "sagemaker-userprofile-operator" / "node.lock"


def _versions() -> dict[str, str]:
    values = {}
    for line in (REPO_ROOT / "hack" / "versions.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return values


PAUSE_IMAGE = f"localhost/pause:{_versions().get('PAUSE_VERSION', '3.10.2')}"

# What the kubelet wants of these (pkg/kubelet/cm/container_manager_linux.go, setupKernelTunables): it
# writes each that differs. Seen through bind mounts in its own mount namespace only.
KUBELET_SYSCTLS = {
    "vm/overcommit_memory": 1,
    "vm/panic_on_oom": 0,
    "kernel/panic": 10,
    "kernel/panic_on_oops": 1,
    "kernel/keys/root_maxkeys": 1000000,
    "kernel/keys/root_maxbytes": 25000000,
}

# Used whatever the configuration says: the kubelet's device-plugin socket and /var/log/containers
# symlinks, libcni's cache, containerd's shim sockets (/run/containerd/s). Removed by down() when the
# node made them (recorded in the state file at prepare()).
FIXED_PATHS = [
    Path("/var/lib/kubelet"),
    Path("/var/lib/cni"),
    Path("/var/log/containers"),
    Path("/var/log/pods"),
    Path("/run/containerd"),
    Path("/usr/libexec/kubernetes"),  # FlexVolume's default folder; both are told another, in case
]

BINARIES = [
    "kubelet",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "containerd-shim-runc-v2",
    "ctr",
    "runc",
]
DAEMONS = ["kube-scheduler", "kube-controller-manager", "kubelet", "containerd", "dnsmasq"]  # stop order

CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21
MNT_DETACH = 2


class NodeUnavailable(Exception):
    """This machine cannot run the node; the reason says why (tests skip on it, or fail with CI set)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NodeError(RuntimeError):
    """The node could not start (a daemon exited, Ready never came); the message holds the log tail."""


def default_assets_dir(repo_root: Path = REPO_ROOT) -> Path:
    """The folder ``hack/node.sh`` builds into for the pinned versions (the script says)."""
    out = subprocess.run([str(repo_root / "hack" / "node.sh"), "dir"], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def apiserver_args() -> list[str]:
    """What kube-apiserver needs to serve pods on this node (``LocalControlPlane.extra_apiserver_args``):
    it binds the ``kubernetes`` Service's ClusterIP and port itself (10.0.0.1 must be on ``lo`` first:
    :meth:`LocalNode.prepare`), and reaches the kubelet (logs, exec) at the Node's InternalIP rather than
    resolving the node name through the host's resolver."""
    return [
        f"--bind-address={API_IP}",
        f"--advertise-address={API_IP}",
        f"--secure-port={API_PORT}",
        "--kubelet-preferred-address-types=InternalIP",
    ]


class NodeControlPlane(LocalControlPlane):
    """A LocalControlPlane for a node: the API server at https://10.0.0.1:443 (:func:`apiserver_args`)
    and the ServiceAccount admission plugin on, so pods get their token as in a real cluster.

    LocalControlPlane has no setting for either (it serves on a free loopback port and turns the plugin
    off, since it has no controller-manager to make ServiceAccounts): this subclass changes the address it
    waits on and filters that one flag out.
    """

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        if name == "kube-apiserver":
            args = [arg for arg in args if arg != "--disable-admission-plugins=ServiceAccount"]
        return super()._spawn(name, args)

    def _wait_ready(self, timeout: float) -> None:
        self.server = f"https://{API_IP}:{API_PORT}"
        super()._wait_ready(timeout)

    @property
    def ca_file(self) -> Path:
        return self.workdir / "certs" / "apiserver.crt"

    @property
    def service_account_key(self) -> Path:
        return self.workdir / "sa.key"


def _run(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise NodeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _capabilities() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def _cgroup_hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers, a named one, the v2 one), from /proc/self/mounts."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[2] in {"cgroup", "cgroup2"}:
            found.append(Path(parts[1]))
    return found


def _mounts_under(*roots: Path) -> list[Path]:
    """Mount points at or below any of `roots`, deepest first."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
        point = point.replace("\\134", "\\")
        path = Path(point)
        if any(path == root or root in path.parents for root in roots):
            found.append(path)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _umount(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(os.fsencode(path), 0) == 0:
        return
    if libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # not a mount point (any more)
            raise OSError(err, f"umount {path}: {os.strerror(err)}")


def _proc_exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _proc_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _alive(pid: int) -> bool:
    """Running (a zombie is not: a daemon left by a killed run is reaped by init, in its own time)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in {"Z", "X"}


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _port_bound(ip: str, port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:  # as servers bind: the last run's TIME_WAIT connections do not count
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
        return False


def _dns_query(server: str, name: str, timeout: float = 2.0) -> list[str]:
    """The A records `server` gives for `name` (no search list): a readiness probe for dnsmasq."""
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.rstrip(".").split("."):
        query += bytes([len(label)]) + label.encode()
    query += b"\x00\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query, (server, 53))
        reply = sock.recv(512)
    answers, offset = int.from_bytes(reply[6:8], "big"), len(query)
    found = []
    for _ in range(answers):
        offset += 2 if reply[offset] >= 0xC0 else reply.index(b"\x00", offset) + 1 - offset
        rtype, rdlength = (
            int.from_bytes(reply[offset : offset + 2], "big"),
            int.from_bytes(reply[offset + 8 : offset + 10], "big"),
        )
        offset += 10
        if rtype == 1 and rdlength == 4:
            found.append(socket.inet_ntoa(reply[offset : offset + 4]))
        offset += rdlength
    return found


@dataclass
class LocalNode:
    """One node on this machine; see the module's docstring. Not parallel-safe: one per machine."""

    assets: Path
    workdir: Path = field(default_factory=lambda: Path(os.environ.get("SMUP_NODE_DIR", str(DEFAULT_WORKDIR))))
    timings: dict[str, float] = field(default_factory=dict)
    kube: Kube | None = field(init=False, default=None)
    _procs: dict[str, subprocess.Popen[bytes]] = field(init=False, default_factory=dict)
    _lock_fd: int | None = field(init=False, default=None)
    _imported: set[str] = field(init=False, default_factory=set)

    # ---- finding out whether this machine can -----------------------------------------------------

    @classmethod
    def find(cls, repo_root: Path = REPO_ROOT) -> LocalNode:
        """The node for the binaries ``hack/node.sh`` built; NodeUnavailable when this machine cannot."""
        if sys.platform != "linux":
            raise NodeUnavailable(f"a node needs Linux (this is {sys.platform})")
        if os.geteuid() != 0:
            raise NodeUnavailable("a node needs root (containerd, runc, mounts, cgroups, addresses)")
        caps = _capabilities()
        for bit, name in ((CAP_NET_ADMIN, "CAP_NET_ADMIN"), (CAP_SYS_ADMIN, "CAP_SYS_ADMIN")):
            if not caps & (1 << bit):
                raise NodeUnavailable(f"a node needs {name} (effective capabilities {caps:#x})")
        cls._check_cgroups()
        for tool, package in (("ip", "iproute2"), ("unshare", "util-linux"), ("dnsmasq", "dnsmasq-base")):
            if shutil.which(tool) is None:
                raise NodeUnavailable(f"{tool} is missing: apt-get install {package}")
        for plugin in ("bridge", "host-local", "loopback"):
            if not (CNI_BIN / plugin).is_file():
                raise NodeUnavailable(
                    f"CNI plugin {CNI_BIN / plugin} is missing: apt-get install containernetworking-plugins"
                )
        assets = (
            Path(os.environ["SMUP_NODE_ASSETS"])
            if os.environ.get("SMUP_NODE_ASSETS")
            else default_assets_dir(repo_root)
        )
        missing = [name for name in [*BINARIES, "pause.tar"] if not (assets / name).is_file()]
        if missing:
            raise NodeUnavailable(f"{', '.join(missing)} not built in {assets}: run `hack/node.sh ensure`")
        return cls(assets)

    @staticmethod
    def _check_cgroups() -> None:
        hierarchies = _cgroup_hierarchies()
        if not hierarchies:
            raise NodeUnavailable("no cgroup hierarchy is mounted")
        probe = hierarchies[0] / f"{CGROUP_ROOT}-probe-{os.getpid()}"
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError as err:
            raise NodeUnavailable(f"cgroups are not writable here ({probe}: {err.strerror})") from None

    # ---- paths ------------------------------------------------------------------------------------

    @property
    def bin(self) -> Path:
        return self.assets

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    @property
    def state_file(self) -> Path:
        return self.workdir / "state.json"

    @property
    def containerd_socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.workdir / "kubelet"

    def _cgroups(self) -> list[Path]:
        return [h / CGROUP_ROOT for h in _cgroup_hierarchies()]

    # ---- the lock, stale state, the host's part -----------------------------------------------------

    def _lock(self) -> None:
        if self._lock_fd is not None:
            return
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip()
            os.close(fd)
            raise NodeUnavailable(
                f"another test node runs on this machine (pid {holder or '?'}, lock {LOCK_FILE})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)
            self._lock_fd = None

    def stale(self) -> list[str]:
        """What a previous node left on this machine (empty when nothing)."""
        found = []
        if self.workdir.exists():
            found.append(f"folder {self.workdir}")
        found += [f"process {pid} ({' '.join(_proc_cmdline(pid))[:80]})" for pid in self._our_pids()]
        found += [f"control plane process {pid} ({_proc_cmdline(pid)[0]})" for pid in self._stale_plane()[0]]
        found += [f"mount {m}" for m in _mounts_under(self.workdir)]
        found += [f"cgroup {c}" for c in self._cgroups() if c.exists()]
        found += [f"address {a} on lo" for a in self._lo_addresses()]
        if Path(f"/sys/class/net/{BRIDGE}").exists() and self._is_our_bridge():
            found.append(f"interface {BRIDGE}")
        return found

    def prepare(self) -> None:
        """Takes the machine's node lock, clears what an earlier run left, and sets up what the API server
        needs before it starts: 10.0.0.1 and 10.0.0.10 on lo, and the bridge."""
        self._lock()
        try:
            stale = self.stale()
            if stale:
                print(f"clearing a previous node's state: {', '.join(stale)}", file=sys.stderr)
                self.down(unlock=False)
                self.timings["clear_stale"] = self.timings.pop("down")
            start = time.monotonic()
            self.workdir.mkdir(parents=True)
            self.logs.mkdir()
            # Recorded before anything is made, so that a crash at any point leaves down() what to remove.
            self._write_state({"created": [str(p) for p in FIXED_PATHS if not p.exists()]})
            for ip in (API_IP, DNS_IP):
                _run("ip", "addr", "add", f"{ip}/32", "dev", "lo")
            for ip, port, kind in ((API_IP, API_PORT, socket.SOCK_STREAM), (DNS_IP, 53, socket.SOCK_DGRAM)):
                if _port_bound(ip, port, kind):  # a wildcard listener elsewhere takes it
                    raise NodeUnavailable(f"port {port} on {ip} is taken on this machine (a listener on 0.0.0.0?)")
            _run("ip", "link", "add", BRIDGE, "type", "bridge")
            # A bridge whose address nobody set takes the lowest MAC of its ports, so it changes when a
            # pod's veth comes or goes; pods that still hold the old MAC for their gateway in their ARP
            # cache then send into the void (minutes of connect timeouts to 10.0.0.1 after a pod was
            # deleted). An address set by hand stays.
            _run("ip", "link", "set", "dev", BRIDGE, "address", BRIDGE_MAC)
            _run("ip", "addr", "add", f"{BRIDGE_IP}/24", "dev", BRIDGE)
            _run("ip", "link", "set", BRIDGE, "up")
            self.timings["prepare"] = time.monotonic() - start
        except BaseException:
            self.down()
            raise

    def _write_state(self, state: dict[str, object]) -> None:
        self.state_file.write_text(json.dumps(state))

    def _read_state(self) -> dict[str, object]:
        try:
            state: dict[str, object] = json.loads(self.state_file.read_text())
            return state
        except (OSError, ValueError):
            return {}

    # ---- starting ---------------------------------------------------------------------------------

    def start(self, plane: NodeControlPlane, timeout: float = 180.0) -> None:
        """containerd, dnsmasq, the kubelet, kube-controller-manager and kube-scheduler; returns when the
        Node is Ready and the `default` ServiceAccount exists. `plane` must serve at 10.0.0.1:443."""
        begin = time.monotonic()
        self.kube = Kube(kubeconfig=plane.kubeconfig, server=plane.server)
        try:
            self._write_configs()
            self._cgroups_up()
            self._start_containerd()
            self.import_image(self.assets / "pause.tar", PAUSE_IMAGE)
            self._start_dnsmasq()
            self._start_kubelet(plane)
            self._spawn(
                "kube-controller-manager",
                [
                    str(self.bin / "kube-controller-manager"),
                    f"--kubeconfig={plane.kubeconfig}",
                    "--secure-port=0",
                    "--leader-elect=false",
                    f"--service-account-private-key-file={plane.service_account_key}",
                    f"--root-ca-file={plane.ca_file}",
                    f"--flex-volume-plugin-dir={self.workdir / 'volume-plugins'}",  # else it makes /usr/libexec/...
                    "--v=1",
                ],
            )
            self._spawn(
                "kube-scheduler",
                [
                    str(self.bin / "kube-scheduler"),
                    f"--kubeconfig={plane.kubeconfig}",
                    "--secure-port=0",  # no health endpoint on [::]:10259
                    "--leader-elect=false",
                    "--v=1",
                ],
            )
            step = time.monotonic()
            self._wait(f"Node {NODE_NAME} Ready", self._node_ready, timeout)
            self.timings["node_ready"] = time.monotonic() - step
            self._wait("ServiceAccount default/default", lambda: self.service_account_exists("default"), timeout)
        except BaseException:
            self.keep_logs_on_stderr()
            raise
        self.timings["start"] = time.monotonic() - begin

    def _write_configs(self) -> None:
        w = self.workdir
        for sub in ("containerd", "cni/net.d", "cni/ipam", "cni/cache", "pod-logs", "sysctl", "tmp", "volume-plugins"):
            (w / sub).mkdir(parents=True, exist_ok=True)
        (w / "containerd.toml").write_text(
            f"""version = 3
root = "{w}/containerd/root"
state = "{w}/containerd/state"
temp = "{w}/tmp"
[grpc]
  address = "{self.containerd_socket}"
[ttrpc]
  address = "{self.containerd_socket}.ttrpc"
[debug]
  address = "{w}/containerd/debug.sock"
[plugins.'io.containerd.internal.v1.opt']
  path = "{w}/containerd/opt"
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.image-verifier.v1.bindir']
  bin_dir = "{w}/containerd/image-verifier"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{PAUSE_IMAGE}'
[plugins.'io.containerd.cri.v1.runtime']
  enable_cdi = false
  netns_mounts_under_state_dir = true
  # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE (the sandbox asks for -998): clamp it.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = '{self.bin}/runc'
      Root = '{w}/containerd/runc'
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['{CNI_BIN}']
    conf_dir = '{w}/cni/net.d'
    max_conf_num = 1
"""
        )
        conflist = {
            "cniVersion": "1.0.0",
            "name": "pods",
            "plugins": [
                {
                    # The bridge exists (prepare): with isGateway false the plugin neither addresses it nor
                    # turns on ip_forward. Pods reach 10.0.0.1 and 10.0.0.10 by local delivery.
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": False,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": f"{w}/cni/ipam",
                        "ranges": [[{"subnet": POD_SUBNET, "gateway": BRIDGE_IP}]],
                        "routes": [{"dst": "0.0.0.0/0", "gw": BRIDGE_IP}],
                    },
                },
                {"type": "loopback"},
            ],
        }
        (w / "cni" / "net.d" / "10-pods.conflist").write_text(json.dumps(conflist, indent=1))
        (w / "resolv.conf").write_text(f"nameserver {DNS_IP}\n")
        kubelet = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "imageServiceEndpoint": f"unix://{self.containerd_socket}",
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{CGROUP_ROOT}",
            "failSwapOn": False,
            "address": BRIDGE_IP,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "clusterDomain": "cluster.local",
            "clusterDNS": [DNS_IP],
            "resolvConf": str(w / "resolv.conf"),
            "podLogsDir": str(w / "pod-logs"),
            "volumePluginDir": str(w / "volume-plugins"),
            "makeIPTablesUtilChains": False,
            "protectKernelDefaults": False,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "5%",
                "imagefs.available": "5%",
                "nodefs.inodesFree": "5%",
            },
            "imageGCHighThresholdPercent": 95,
            "imageGCLowThresholdPercent": 90,
        }
        (w / "kubelet.yaml").write_text(yaml.safe_dump(kubelet))
        for name, value in KUBELET_SYSCTLS.items():
            (w / "sysctl" / name.replace("/", ".")).write_text(f"{value}\n")

    def _cgroups_up(self) -> None:
        """The kubelet's cgroupRoot must exist in every hierarchy; cpuset's needs cpus and mems first."""
        for cgroup in self._cgroups():
            cgroup.mkdir(exist_ok=True)
            for knob in ("cpuset.cpus", "cpuset.mems"):
                own, parent = cgroup / knob, cgroup.parent / knob
                if own.exists() and not own.read_text().strip() and parent.exists():
                    own.write_text(parent.read_text())

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._procs[name] = proc
        (self.workdir / f"{name}.pid").write_text(str(proc.pid))
        return proc

    def _wait(self, what: str, probe: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise NodeError(
                        f"{name} exited with {proc.returncode} while waiting for {what}:\n{self.log_tail(name)}"
                    )
            with contextlib.suppress(Exception):
                if probe():
                    return
            time.sleep(0.25)
        raise NodeError(f"timed out after {timeout:.0f} s waiting for {what}")

    def _ctr(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return _run(
            str(self.bin / "ctr"), "--address", str(self.containerd_socket), "-n", "k8s.io", *args, timeout=timeout
        )

    def _start_containerd(self) -> None:
        step = time.monotonic()
        env_path = f"{self.bin}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"  # the shim and runc
        with (self.logs / "containerd.log").open("ab") as out:
            proc = subprocess.Popen(
                [str(self.bin / "containerd"), "--config", str(self.workdir / "containerd.toml")],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, "PATH": env_path},
            )
        self._procs["containerd"] = proc
        (self.workdir / "containerd.pid").write_text(str(proc.pid))
        self._wait("containerd", lambda: self._ctr("version", timeout=5).returncode == 0, 60)
        self.timings["containerd"] = time.monotonic() - step

    def _start_dnsmasq(self) -> None:
        names = ["kubernetes.default.svc.cluster.local", "kubernetes.default.svc"]
        self._spawn(
            "dnsmasq",
            [
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",  # no upstream: nothing leaves the machine
                "--no-hosts",
                "--no-poll",
                f"--listen-address={DNS_IP}",
                "--bind-interfaces",
                f"--pid-file={self.workdir / 'dnsmasq.pidfile'}",
                f"--host-record={','.join(names)},{API_IP}",
                "--local=/cluster.local/",  # NXDOMAIN for every other name in the cluster domain
                "--log-facility=-",
            ],
        )
        self._wait("dnsmasq", lambda: _dns_query(DNS_IP, names[0], timeout=0.5) == [API_IP], 20)

    def _start_kubelet(self, plane: NodeControlPlane) -> None:
        root = self.kubelet_root
        root.mkdir(exist_ok=True)
        # An rshared bind mount of its own, so that what the kubelet mounts in its namespace (token tmpfs)
        # reaches runc, which runs in the host's.
        _run("mount", "--bind", str(root), str(root))
        _run("mount", "--make-rshared", str(root))
        binds = "\n".join(
            f'mount --bind "{self.workdir}/sysctl/{name.replace("/", ".")}" /proc/sys/{name}'
            for name in KUBELET_SYSCTLS
        )
        script = self.workdir / "kubelet-ns.sh"
        script.write_text(
            "#!/bin/sh\n"
            "# Runs in the kubelet's own mount namespace (unshare -m --propagation unchanged): the kubelet sees\n"
            "# the kernel tunables it wants and never writes the host's. /proc is made private first, so that\n"
            "# the binds cannot propagate out on a host whose /proc is a shared mount.\n"
            "set -e\nmount --make-rprivate /proc\n" + binds + '\nexec "$@"\n'
        )
        script.chmod(0o755)
        self._spawn(
            "kubelet",
            [
                "unshare",
                "-m",
                "--propagation",
                "unchanged",
                "--",
                str(script),
                str(self.bin / "kubelet"),
                f"--config={self.workdir / 'kubelet.yaml'}",
                f"--kubeconfig={plane.kubeconfig}",
                f"--root-dir={root}",
                f"--cert-dir={self.workdir / 'kubelet-pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={BRIDGE_IP}",
                "--v=1",
            ],
        )

    def _node_ready(self) -> bool:
        assert self.kube is not None
        node = self.kube.get_json("node", NODE_NAME)
        condition = self.kube.condition(node, "Ready") or {}
        return condition.get("status") == "True"

    def service_account_exists(self, namespace: str, name: str = "default") -> bool:
        assert self.kube is not None
        return self.kube.kubectl("get", "serviceaccount", name, "-n", namespace, check=False).returncode == 0

    def import_image(self, archive: Path, name: str | None = None) -> None:
        """`ctr -n k8s.io images import` of a docker-archive or OCI tar; once per name per node."""
        key = name or str(archive)
        if key in self._imported:
            return
        step = time.monotonic()
        self._ctr("images", "import", str(archive))
        self._imported.add(key)
        self.timings[f"import {Path(archive).name}"] = time.monotonic() - step

    def container_pid(self, container_id: str) -> int:
        """The host pid of a running container's first process (`ctr -n k8s.io tasks ls`); `container_id`
        as in a pod's containerStatuses, with or without `containerd://`."""
        wanted = container_id.split("://", 1)[-1]
        for line in self._ctr("tasks", "ls", timeout=30).stdout.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 3 and parts[0] == wanted and parts[2] == "RUNNING":
                return int(parts[1])
        raise NodeError(f"no running task for container {wanted}")

    # ---- logs -------------------------------------------------------------------------------------

    def log_tail(self, name: str, lines: int = 40) -> str:
        return log_tail(self.logs / f"{name}.log", lines)

    def keep_logs_on_stderr(self) -> None:
        for name in DAEMONS:
            tail = self.log_tail(name, 25)
            if tail:
                print(f"---- {name} log (last lines) ----\n{tail}", file=sys.stderr)

    def save_logs(self, target: Path) -> None:
        """Copies the daemons' logs to `target` (they go with the folder at down())."""
        if self.logs.is_dir():
            shutil.copytree(self.logs, target, dirs_exist_ok=True)

    # ---- stopping ---------------------------------------------------------------------------------

    def _our_pids(self) -> list[int]:
        """Processes of a node on this machine: its binaries, dnsmasq and unshare started for it, and
        everything in its cgroups (the containers)."""
        bindir = str(self.bin.resolve()) + "/"
        workdir = str(self.workdir) + "/"
        own = {os.getpid(), os.getppid()}
        found = set()
        for pid in _pids():
            if pid in own:
                continue
            exe = _proc_exe(pid)
            if exe.startswith(bindir) or (
                Path(exe).name in {"dnsmasq", "unshare"} and any(workdir in arg for arg in _proc_cmdline(pid))
            ):
                found.add(pid)
        for cgroup in self._cgroups():
            if cgroup.is_dir():
                for procs in cgroup.rglob("cgroup.procs"):
                    with contextlib.suppress(OSError, ValueError):
                        found.update(int(p) for p in procs.read_text().split())
        return sorted(found)

    @staticmethod
    def _stale_plane() -> tuple[list[int], list[Path]]:
        """A node's control plane that a killed run left: the kube-apiserver on 10.0.0.1:443 (only a node's
        binds there), its etcd, and their folder. (pids, folders)"""
        pids, folders = [], []
        for pid in _pids():
            args = _proc_cmdline(pid)
            if not args or Path(args[0]).name != "kube-apiserver" or f"--bind-address={API_IP}" not in args:
                continue
            pids.append(pid)
            options = dict(arg[2:].split("=", 1) for arg in args[1:] if arg.startswith("--") and "=" in arg)
            if "cert-dir" in options and Path(options["cert-dir"]).parent.name.startswith("smup-controlplane-"):
                folders.append(Path(options["cert-dir"]).parent)
            etcd = options.get("etcd-servers", "")
            for other in _pids():
                other_args = _proc_cmdline(other)
                if other_args and Path(other_args[0]).name == "etcd" and f"--listen-client-urls={etcd}" in other_args:
                    pids.append(other)
        return pids, folders

    def _signal(self, pids: list[int], sig: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _stop_named(self, names: list[str], timeout: float) -> None:
        for name in names:
            proc = self._procs.pop(name, None)
            pid_file = self.workdir / f"{name}.pid"
            pid = proc.pid if proc else None
            if pid is None and pid_file.exists():
                with contextlib.suppress(ValueError):
                    pid = int(pid_file.read_text())
                # a pid read from a file may be reused: only one of ours is signalled
                if pid is not None and pid not in self._our_pids():
                    pid = None
            if pid is None:
                continue
            self._signal([pid], signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if proc is not None:
                    if proc.poll() is not None:
                        break
                elif not _alive(pid):
                    break
                time.sleep(0.1)
            else:
                self._signal([pid], signal.SIGKILL)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the node's daemons and pods and removes their mounts and cgroups; the addresses, the bridge
        and the folder stay until down(). Idempotent."""
        step = time.monotonic()
        self._stop(timeout)
        self.timings["stop"] = time.monotonic() - step

    def _stop(self, timeout: float) -> None:
        # The control loops first, so nothing restarts what goes next; then the containers (SIGKILL: they
        # are test pods), the shims and containerd.
        self._stop_named(["kube-scheduler", "kube-controller-manager", "kubelet"], timeout)
        for _ in range(50):
            bindir = str(self.bin.resolve()) + "/"
            containers = [  # what runs in the node's cgroups, not the node's own daemons
                pid
                for pid in self._our_pids()
                if not _proc_exe(pid).startswith(bindir) and Path(_proc_exe(pid)).name not in {"dnsmasq", "unshare"}
            ]
            if not containers:
                break
            self._signal(containers, signal.SIGKILL)
            time.sleep(0.1)
        self._stop_named(["containerd"], timeout)
        for _ in range(50):  # shims, runc, anything left of ours but dnsmasq
            left = [pid for pid in self._our_pids() if Path(_proc_exe(pid)).name != "dnsmasq"]
            if not left:
                break
            self._signal(left, signal.SIGKILL)
            time.sleep(0.1)
        for mount in _mounts_under(self.workdir, *FIXED_PATHS):
            _umount(mount)
        self._remove_cgroups()
        self._imported.clear()

    def _remove_cgroups(self) -> None:
        for cgroup in self._cgroups():
            if not cgroup.is_dir():
                continue
            for attempt in range(50):
                try:
                    for path in sorted(
                        (p for p in cgroup.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
                    ):
                        with contextlib.suppress(FileNotFoundError):
                            path.rmdir()
                    cgroup.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)

    def _lo_addresses(self) -> list[str]:
        out = _run("ip", "-o", "-4", "addr", "show", "dev", "lo", check=False).stdout
        return [ip for ip in (API_IP, DNS_IP) if f" {ip}/32 " in out]

    def _is_our_bridge(self) -> bool:
        out = _run("ip", "-o", "-4", "addr", "show", "dev", BRIDGE, check=False).stdout
        return f" {BRIDGE_IP}/24 " in out or not out.strip()

    def down(self, unlock: bool = True) -> None:
        """Everything the node made, gone: processes, mounts, cgroups, the bridge and its ports, the
        addresses on lo, the paths it created, its folder. Idempotent; works after a crash, from what is
        on the machine."""
        step = time.monotonic()
        self._stop(timeout=10.0)
        self._stop_named(["dnsmasq"], 5)
        left = self._our_pids()
        self._signal(left, signal.SIGKILL)
        plane_pids, plane_folders = self._stale_plane()  # none unless a run was killed
        self._signal(plane_pids, signal.SIGKILL)
        for _ in range(50):
            if not any(_alive(pid) for pid in plane_pids):
                break
            time.sleep(0.1)
        for folder in plane_folders:
            shutil.rmtree(folder, ignore_errors=True)
        if Path(f"/sys/class/net/{BRIDGE}").exists() and self._is_our_bridge():
            ports = _run("ip", "-o", "link", "show", "master", BRIDGE, check=False).stdout
            for line in ports.splitlines():
                port = line.split(":")[1].strip().split("@")[0]
                _run("ip", "link", "del", port, check=False)
            _run("ip", "link", "del", BRIDGE, check=False)
        for ip in self._lo_addresses():
            _run("ip", "addr", "del", f"{ip}/32", "dev", "lo", check=False)
        created = self._read_state().get("created", [])
        for mount in _mounts_under(self.workdir, *FIXED_PATHS):
            _umount(mount)
        for path in created if isinstance(created, list) else []:
            shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.kube = None
        if unlock:
            self._unlock()
        self.timings["down"] = time.monotonic() - step


# ---- images for the node: from buildah's storage (`make image`) -------------------------------------

IMAGE_CACHE = Path.home() / ".cache" / "sagemaker-userprofile-operator" / "node-images"
IMAGE_REPOSITORY_SUFFIX = "/sagemaker-userprofile-operator"


def find_operator_image() -> tuple[str, str] | None:
    """(name, image id) of the newest `*/sagemaker-userprofile-operator:*` in buildah's storage,
    `localhost/` first; None without buildah or without such an image."""
    if shutil.which("buildah") is None:
        return None
    proc = subprocess.run(["buildah", "images", "--json"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    candidates = []
    for image in json.loads(proc.stdout):
        for name in image.get("names") or []:
            repo = name.rsplit(":", 1)[0]
            if repo.endswith(IMAGE_REPOSITORY_SUFFIX):
                candidates.append((repo.startswith("localhost/"), image.get("createdatraw", ""), name, image["id"]))
    if not candidates:
        return None
    _, _, name, image_id = max(candidates)
    return name, image_id


def _push_archive(image: str, archive: Path, name: str) -> None:
    partial = archive.with_suffix(".tmp")
    _run("buildah", "push", "--quiet", image, f"docker-archive:{partial}:{name}", timeout=300)
    partial.rename(archive)


def operator_image_archive(name: str, image_id: str) -> Path:
    """A docker-archive of the image, cached by image id in IMAGE_CACHE (only the newest is kept)."""
    archive = IMAGE_CACHE / f"{image_id[:12]}.tar"
    if not archive.exists():
        IMAGE_CACHE.mkdir(parents=True, exist_ok=True)
        for old in IMAGE_CACHE.glob("*.tar"):
            old.unlink()
        _push_archive(image_id, archive, name)
    return archive


def rebuilt_image_archive(image_id: str, name: str) -> Path:
    """A docker-archive of a rebuild of `image_id` named `name`: the same layers under a new config (one
    more label), so a new image id, as a rebuild from changed sources would be. Made with buildah once
    per base image and cached (IMAGE_CACHE/rebuilt/); the intermediate image does not stay in buildah's
    storage, where it could be taken for the operator's image."""
    folder = IMAGE_CACHE / "rebuilt"
    tag = name.rsplit(":", 1)[1]
    archive = folder / f"{image_id[:12]}-{tag}.tar"
    if archive.exists():
        return archive
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.tar"):
        old.unlink()
    scratch = f"localhost/smup-node-rebuild:{image_id[:12]}"
    container = _run("buildah", "from", "--quiet", "--pull-never", image_id).stdout.strip()
    try:
        _run("buildah", "config", "--label", f"dev.awscc.sagemaker.test/rebuilt-from={image_id[:12]}", container)
        _run("buildah", "commit", "--quiet", container, scratch)
    finally:
        _run("buildah", "rm", container, check=False)
    try:
        _push_archive(scratch, archive, name)
    finally:
        _run("buildah", "rmi", scratch, check=False)
    return archive
