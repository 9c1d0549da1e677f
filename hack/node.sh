#!/usr/bin/env bash
# Builds what a real test node runs (tests/support/node.py) from pinned sources, once per version, into
# ~/.cache/sagemaker-userprofile-operator/node-<versions>-b<revision>/:
#
#   kubelet, kube-controller-manager, kube-scheduler   k8s.io/kubernetes (hack/tools/node)
#   containerd, containerd-shim-runc-v2, ctr           github.com/containerd/containerd/v2 (hack/tools/containerd)
#   runc                                               github.com/opencontainers/runc (hack/tools/runc; cgo, seccomp)
#   pause, pause.tar                                   k8s.io/kubernetes's build/pause/linux/pause.c (gcc -static),
#                                                      and a docker-archive of it named localhost/pause:<version>
#
#   hack/node.sh ensure   build what is missing (a no-op when cached), print the folder
#   hack/node.sh dir      print the folder without building
#
# Needs go, gcc with a static libc (libc6-dev), libseccomp-dev and python3. At run time the node also
# needs the Debian packages containernetworking-plugins (/usr/lib/cni), dnsmasq-base, iproute2 and
# util-linux (unshare); tests/support/node.py says which one is missing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"  # versions, cache_root, kube_ldflags
# BUILD_REVISION changes when the way the binaries are built changes (flags, stamps), so a cache
# built the old way is not reused.
BUILD_REVISION=1
dir="$cache_root/node-k8s-${KUBERNETES_VERSION}_containerd-${CONTAINERD_VERSION}_runc-${RUNC_VERSION}_pause-${PAUSE_VERSION}-b${BUILD_REVISION}"

# containerd's and runc's own release stamps (their Makefiles).
containerd_ldflags="-X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}"
containerd_ldflags+=" -X github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2"
runc_ldflags="-X main.version=${RUNC_VERSION#v}"

build() {  # build <tools module> <package> <output name> <ldflags> [go build flags...]
  local module=$1 pkg=$2 out=$3 ldflags=$4
  shift 4
  [ -x "$dir/$out" ] && return 0
  command -v go >/dev/null || { echo "go is needed to build $out" >&2; exit 1; }
  echo "building $out from $pkg (once per version; kubelet and kube-controller-manager take minutes)" >&2
  mkdir -p "$dir"
  local start=$SECONDS
  (cd "$here/tools/$module" && go build "$@" -ldflags="-s -w $ldflags" -o "$dir/.$out.tmp" "$pkg")
  mv "$dir/.$out.tmp" "$dir/$out"
  echo "built $out in $((SECONDS - start)) s" >&2
}

build_pause() {
  [ -x "$dir/pause" ] && [ -f "$dir/pause.tar" ] && return 0
  command -v gcc >/dev/null || { echo "gcc (with libc6-dev, for -static) is needed to build pause" >&2; exit 1; }
  mkdir -p "$dir"
  local start=$SECONDS src
  # The source comes from the module cache, the same k8s.io/kubernetes the kubelet is built from.
  src=$(cd "$here/tools/node" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c
  if [ ! -f "$src" ]; then
    (cd "$here/tools/node" && go mod download k8s.io/kubernetes)
  fi
  gcc -Os -Wall -Werror -static "-DVERSION=v${PAUSE_VERSION}" -o "$dir/.pause.tmp" "$src"
  strip "$dir/.pause.tmp"
  # A docker-archive (what `ctr images import` and `docker load` read) of one layer holding /pause,
  # built by hand so that no image tool (and no registry) is needed. Deterministic: same bytes each time.
  python3 - "$dir/.pause.tmp" "$dir/.pause.tar.tmp" "localhost/pause:${PAUSE_VERSION}" <<'EOF'
import hashlib, io, json, sys, tarfile

binary, out, name = sys.argv[1:4]

def tar_bytes(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data, mode in members:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime, info.uname, info.gname = len(data), mode, 0, "", ""
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()

with open(binary, "rb") as f:
    layer = tar_bytes([("pause", f.read(), 0o755)])
diff_id = hashlib.sha256(layer).hexdigest()
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
    "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
    "history": [{"created_by": "gcc -Os -static build/pause/linux/pause.c (hack/node.sh)"}],
}, sort_keys=True).encode()
config_id = hashlib.sha256(config).hexdigest()
manifest = json.dumps([{
    "Config": f"{config_id}.json", "RepoTags": [name], "Layers": [f"{diff_id}/layer.tar"],
}]).encode()
with open(out, "wb") as f:
    f.write(tar_bytes([
        (f"{diff_id}/layer.tar", layer, 0o644),
        (f"{config_id}.json", config, 0o644),
        ("manifest.json", manifest, 0o644),
    ]))
EOF
  mv "$dir/.pause.tar.tmp" "$dir/pause.tar"
  mv "$dir/.pause.tmp" "$dir/pause"
  echo "built pause and pause.tar in $((SECONDS - start)) s" >&2
}

case "${1:-ensure}" in
  dir) echo "$dir" ;;
  ensure)
    build_pause
    CGO_ENABLED=1 build runc github.com/opencontainers/runc runc "$runc_ldflags" -tags "seccomp urfave_cli_no_docs"
    for cmd in containerd containerd-shim-runc-v2 ctr; do
      CGO_ENABLED=0 build containerd "github.com/containerd/containerd/v2/cmd/$cmd" "$cmd" "$containerd_ldflags" \
        -tags "no_btrfs no_zfs no_devmapper"
    done
    for cmd in kubelet kube-scheduler kube-controller-manager; do
      build node "k8s.io/kubernetes/cmd/$cmd" "$cmd" "$kube_ldflags"
    done
    echo "$dir"
    ;;
  *) echo "usage: $0 [ensure|dir]" >&2; exit 2 ;;
esac
