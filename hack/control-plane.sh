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
. "$here/lib.sh"  # versions, cache_root, kube_ldflags
# BUILD_REVISION changes when the way the binaries are built changes (flags, stamps), so a cache
# built the old way is not reused.
BUILD_REVISION=3
dir="$cache_root/k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}_b${BUILD_REVISION}"
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
# As helm's own Makefile stamps it: the Kubernetes version of its client libraries (k8s.io/client-go
# v0.37 -> 1.37) is what `helm template` and `helm lint` assume without a cluster; unstamped, v1.20,
# which the chart's kubeVersion refuses.
helm_k8s_minor=$(awk '$1 == "k8s.io/client-go" { split($2, v, "."); print v[2] }' "$here/tools/helm/go.mod")
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=${helm_k8s_minor}"
done

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
