# Sourced by the build scripts in hack/: the pinned versions, the cache root, and the version stamps
# of binaries built from k8s.io/kubernetes (the way its own hack/lib/version.sh sets them), so they
# report v1.36.3 and not v0.0.0-master.
# shellcheck shell=bash
# shellcheck source=versions.env
. "$(dirname "${BASH_SOURCE[0]}")/versions.env"
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/sagemaker-userprofile-operator
kube_minor=${KUBERNETES_VERSION#v1.}
kube_minor=${kube_minor%%.*}
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=${KUBERNETES_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${kube_minor}"
  kube_ldflags+=" -X $pkg.gitTreeState=clean"
done
