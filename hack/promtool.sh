#!/usr/bin/env bash
# Builds promtool (Prometheus's rule checker and rule unit-test runner) from the pinned Go module in
# hack/tools/promtool/, once per version, into ~/.cache/sagemaker-userprofile-operator/promtool-<version>/.
# The chart's alerting rules are checked and unit-tested with it (tests/unit/test_deploy_monitoring.py).
#
#   hack/promtool.sh ensure          build when missing (a no-op when cached), print the binary's path
#   hack/promtool.sh path            print the binary's path without building
#   hack/promtool.sh [promtool args] build when missing, then run promtool
#
# PROMTOOL_VERSION in hack/versions.env is the Go module version of github.com/prometheus/prometheus
# (Prometheus 3.x is tagged v0.3xx.y there: v0.316.0 is Prometheus 3.16.0); the tools module must agree.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"  # versions, cache_root
module_version=$(awk '$1 == "require" && $2 == "github.com/prometheus/prometheus" {print $3}' "$here/tools/promtool/go.mod")
if [ "$module_version" != "$PROMTOOL_VERSION" ]; then
  echo "hack/versions.env pins PROMTOOL_VERSION=$PROMTOOL_VERSION, hack/tools/promtool/go.mod requires" \
    "${module_version:-nothing}: make them agree" >&2
  exit 1
fi
dir="$cache_root/promtool-$PROMTOOL_VERSION"
bin=$dir/promtool

ensure() {
  [ -x "$bin" ] && return 0
  command -v go >/dev/null || { echo "go is needed to build promtool" >&2; exit 1; }
  echo "building promtool $PROMTOOL_VERSION (once per version; minutes: it compiles much of Prometheus)" >&2
  mkdir -p "$dir"
  # As Prometheus's own release stamps it (its .promu.yml), so `promtool --version` says 3.16.0.
  local minor=${PROMTOOL_VERSION#v0.} patch
  patch=${minor#*.}
  minor=${minor%%.*}
  local ldflags="-X github.com/prometheus/common/version.Version=3.$((minor - 300)).$patch"
  ldflags+=" -X github.com/prometheus/common/version.Branch=HEAD"
  ldflags+=" -X github.com/prometheus/common/version.Revision=$PROMTOOL_VERSION"
  local start=$SECONDS
  (cd "$here/tools/promtool" && go build -ldflags="-s -w $ldflags" -o "$bin.tmp.$$" github.com/prometheus/prometheus/cmd/promtool)
  mv "$bin.tmp.$$" "$bin"
  echo "built promtool in $((SECONDS - start)) s" >&2
}

case "${1:-ensure}" in
  path) echo "$bin" ;;
  ensure) ensure; echo "$bin" ;;
  *) ensure; exec "$bin" "$@" ;;
esac
