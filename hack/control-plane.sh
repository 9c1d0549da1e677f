#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver) and helm from the pinned Go modules in
# hack/tools/, once per version, into ~/.cache/sagemaker-userprofile-operator/<versions>/.
#
#   hack/control-plane.sh ensure   build what is missing (a no-op when cached), print the folder
#   hack/control-plane.sh dir      print the folder without building
#
# KUBEBUILDER_ASSETS (a folder holding etcd and kube-apiserver) wins when set: nothing of the
# control plane is built then; helm is still built unless it is on that folder or on PATH.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/sagemaker-userprofile-operator
# BUILD_REVISION changes when the way the binaries are built changes (flags, stamps), so a cache
# built the old way is not reused.
BUILD_REVISION=2
dir="$cache_root/k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}_b${BUILD_REVISION}"

# Version stamps, the way each project's own release build sets them, so `kubectl version` and Helm's
# .Capabilities.KubeVersion see v1.36.3 and not v0.0.0-master (hack/lib/version.sh in kubernetes).
kube_minor=${KUBERNETES_VERSION#v1.}
kube_minor=${kube_minor%%.*}
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=${KUBERNETES_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${kube_minor}"
  kube_ldflags+=" -X $pkg.gitTreeState=clean"
done
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

build() {  # build <tools module> <package> <output name> [ldflags]
  local module=$1 pkg=$2 out=$3 ldflags=${4:-}
  [ -x "$dir/$out" ] && return 0
  command -v go >/dev/null || { echo "go is needed to build $out (or set KUBEBUILDER_ASSETS)" >&2; exit 1; }
  echo "building $out from $pkg (once per version; kube-apiserver takes several minutes)" >&2
  mkdir -p "$dir"
  local start=$SECONDS
  (cd "$here/tools/$module" && go build -ldflags="-s -w $ldflags" -o "$dir/.$out.tmp" "$pkg")
  mv "$dir/.$out.tmp" "$dir/$out"
  echo "built $out in $((SECONDS - start)) s" >&2
}

case "${1:-ensure}" in
  dir) echo "$dir" ;;
  ensure)
    if [ -z "${KUBEBUILDER_ASSETS:-}" ]; then
      build etcd go.etcd.io/etcd/server/v3 etcd
      build kube k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$kube_ldflags"
    fi
    build helm helm.sh/helm/v3/cmd/helm helm "$helm_ldflags"
    echo "$dir"
    ;;
  *) echo "usage: $0 [ensure|dir]" >&2; exit 2 ;;
esac
