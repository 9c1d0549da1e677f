#!/usr/bin/env bash
# Lints .github/workflows with actionlint, built once from the pinned Go module in hack/tools/actionlint/
# into ~/.cache/sagemaker-userprofile-operator/actionlint-<version>/.
#
#   hack/actionlint.sh [actionlint args]   build when missing, then lint (default: every workflow)
#   hack/actionlint.sh path                build when missing, print the binary's path
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
version=$(awk '$1 == "require" && $2 == "github.com/rhysd/actionlint" {print $3}' "$here/tools/actionlint/go.mod")
[ -n "$version" ] || { echo "no actionlint version in hack/tools/actionlint/go.mod" >&2; exit 1; }
dir=${XDG_CACHE_HOME:-$HOME/.cache}/sagemaker-userprofile-operator/actionlint-$version
bin=$dir/actionlint

if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "go is needed to build actionlint" >&2; exit 1; }
  echo "building actionlint $version (once per version)" >&2
  mkdir -p "$dir"
  start=$SECONDS
  (cd "$here/tools/actionlint" && go build -ldflags="-s -w" -o "$bin.tmp.$$" github.com/rhysd/actionlint/cmd/actionlint)
  mv "$bin.tmp.$$" "$bin"
  echo "built actionlint in $((SECONDS - start)) s" >&2
fi

if [ "${1:-}" = path ]; then echo "$bin"; exit 0; fi
cd "$root"
exec "$bin" "$@"
