#!/usr/bin/env bash
# Builds the operator's image from deploy/Dockerfile with buildah: no Docker daemon, no registry pull.
# The two base images (a Debian bookworm rootfs with python3, one to build and one to run) are made
# with mmdebstrap and kept in buildah's local storage and under
# ~/.cache/sagemaker-userprofile-operator/image/<key>/, so only the first build makes them.
#
#   hack/image.sh build          the bases when missing, then the image; prints its name and size
#   hack/image.sh bases          only the bases
#   hack/image.sh verify         smoke tests of the built image (non-root, no passwd entry, read-only root)
#   hack/image.sh archive PATH   build, then write a docker-archive tar (`ctr images import PATH`,
#                                `kind load image-archive PATH`, `docker load -i PATH`)
#   hack/image.sh name           print the image name
#
# IMAGE (default ghcr.io/sagemaker-userprofile-operator/sagemaker-userprofile-operator:<version>, the
# chart's default, so a loaded archive is used as is) names the result. Needs buildah and mmdebstrap
# (Debian, Ubuntu: apt-get install --no-install-recommends buildah mmdebstrap uidmap), as root (or sudo).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/sagemaker-userprofile-operator
# chroot isolation: RUN steps need no OCI runtime, so no cgroups (hybrid cgroup hosts, nested containers).
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/pyproject.toml" | head -n1)
IMAGE=${IMAGE:-ghcr.io/sagemaker-userprofile-operator/sagemaker-userprofile-operator:$version}
SOURCE_URL=${SOURCE_URL:-https://github.com/sagemaker-userprofile-operator/sagemaker-userprofile-operator}

# The base recipes. Anything that changes what goes into a base goes into its recipe string, whose
# hash is the cache key: a changed recipe makes new bases, an unchanged one reuses them. Security
# updates do not change the recipe; `IMAGE_REFRESH_BASES=1 hack/image.sh build` remakes the bases.
SUITE=bookworm
MIRRORS=(
  "deb http://deb.debian.org/debian $SUITE main"
  "deb http://deb.debian.org/debian $SUITE-updates main"
  "deb http://deb.debian.org/debian-security $SUITE-security main"
)
# Debian's python3 is 3.11 in bookworm, /usr/bin/python3 in both bases, so the virtualenv made in the
# build stage runs in the runtime stage. The runtime base is the Essential set plus the interpreter
# and its standard library: no apt, no pip, no compiler.
BUILD_VARIANT=minbase
BUILD_PACKAGES=python3,python3-venv,ca-certificates
RUNTIME_VARIANT=essential
RUNTIME_PACKAGES=python3-minimal,libpython3.11-stdlib,ca-certificates
MMDEBSTRAP_OPTS=(
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr  # usr-is-merged, not usrmerge (which pulls in perl)
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
  # Debian compiles only part of the standard library at install; the rest now, so that the operator
  # compiles nothing when it starts (and writes nothing: read-only root filesystem).
  --customize-hook='chroot "$1" python3 -m compileall -q -j0 /usr/lib/python3.11 >/dev/null'
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*'
)
# The runtime base only: what the Essential set brings that nothing in the image runs. perl-base
# (7.6 MB; only maintainer scripts use it, and nothing is installed in this image after the base) and
# glibc's iconv modules (gconv, 8 MB; Python's codecs are its own); the standard library's `help()`
# texts (pydoc_data) and test helpers (2 MB). The Essential tools the image's
# checks and a debugging `kubectl exec` use stay: sh, coreutils, bash.
RUNTIME_OPTS=(
  --dpkgopt='path-exclude=/usr/lib/*/gconv/*'
  --dpkgopt='path-exclude=/usr/lib/python3.*/pydoc_data/*' --dpkgopt='path-exclude=/usr/lib/python3.*/test/*'
  --customize-hook='chroot "$1" dpkg --purge --force-remove-essential --force-depends perl-base >/dev/null 2>&1'
)
recipe="$SUITE|${MIRRORS[*]}|$BUILD_VARIANT:$BUILD_PACKAGES|$RUNTIME_VARIANT:$RUNTIME_PACKAGES|${MMDEBSTRAP_OPTS[*]}|${RUNTIME_OPTS[*]}|r1"
key="$SUITE-$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"
base_dir="$cache_root/image/$key"
BUILD_BASE=localhost/smup-base-build:$key
RUNTIME_BASE=localhost/smup-base-runtime:$key

need() { command -v "$1" >/dev/null || { echo "$1 is needed: apt-get install $2" >&2; exit 1; }; }
have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

base() {  # base <build|runtime> <variant> <packages>: the rootfs tar (cached), then the image
  local name=$1 variant=$2 packages=$3
  local image=localhost/smup-base-$name:$key tar=$base_dir/$name.tar
  if [ -z "${IMAGE_REFRESH_BASES:-}" ] && have_image "$image"; then return 0; fi
  if [ -n "${IMAGE_REFRESH_BASES:-}" ] || [ ! -s "$tar" ]; then
    need mmdebstrap "mmdebstrap uidmap"
    echo "making the $name base ($SUITE, $variant + $packages) with mmdebstrap, once per recipe" >&2
    mkdir -p "$base_dir"
    local start=$SECONDS
    local extra=()
    [ "$name" = runtime ] && extra=("${RUNTIME_OPTS[@]}")
    mmdebstrap --format=tar --variant="$variant" --include="$packages" "${MMDEBSTRAP_OPTS[@]}" "${extra[@]}" \
      "$SUITE" "$tar.tmp" "${MIRRORS[@]}" >"$base_dir/$name.log" 2>&1 \
      || { tail -n 40 "$base_dir/$name.log" >&2; echo "mmdebstrap failed: $base_dir/$name.log" >&2; exit 1; }
    mv "$tar.tmp" "$tar"
    echo "made $tar in $((SECONDS - start)) s" >&2
  fi
  local ctr
  ctr=$(buildah from --quiet scratch)
  buildah add --quiet "$ctr" "$tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd /bin/bash "$ctr"
  buildah commit --quiet --rm "$ctr" "$image" >/dev/null
  buildah tag "$image" "localhost/smup-base-$name:$SUITE"
  echo "imported $image (also tagged :$SUITE)" >&2
}

bases() {
  need buildah "buildah uidmap"
  base build "$BUILD_VARIANT" "$BUILD_PACKAGES"
  base runtime "$RUNTIME_VARIANT" "$RUNTIME_PACKAGES"
}

build() {
  bases
  # Build time only: the RUN steps see the host's pip settings and CA bundle (a private index, a
  # proxy that re-signs TLS). Bind mounts are not committed; nothing of them is in the image.
  local mounts=()
  tmp=$(mktemp -d)  # global: the EXIT trap runs after this function's locals are gone
  trap 'rm -rf "$tmp"' EXIT
  local ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
  {
    echo "[global]"
    [ -n "${PIP_INDEX_URL:-}" ] && echo "index-url = $PIP_INDEX_URL"
    [ -n "${PIP_EXTRA_INDEX_URL:-}" ] && echo "extra-index-url = $PIP_EXTRA_INDEX_URL"
    [ -f "$ca" ] && echo "cert = /etc/ssl/certs/ca-certificates.crt"
    true
  } >"$tmp/pip.conf"
  mounts+=(--volume "$tmp/pip.conf:/etc/pip.conf:ro")
  [ -f "$ca" ] && mounts+=(--volume "$ca:/etc/ssl/certs/ca-certificates.crt:ro")

  local revision created start=$SECONDS
  revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
  created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  # The same labels again as --label: buildah's layer cache (--layers) does not see a changed build
  # argument in LABEL, and would keep the first build's revision and date.
  echo "building $IMAGE from deploy/Dockerfile on $BUILD_BASE and $RUNTIME_BASE" >&2
  buildah bud --layers --pull=never --network=host "${mounts[@]}" \
    --build-arg "BUILD_IMAGE=$BUILD_BASE" --build-arg "RUNTIME_IMAGE=$RUNTIME_BASE" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
    --build-arg "CREATED=$created" --build-arg "SOURCE=$SOURCE_URL" \
    --label "org.opencontainers.image.version=$version" --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.created=$created" --label "org.opencontainers.image.source=$SOURCE_URL" \
    -f "$root/deploy/Dockerfile" -t "$IMAGE" "$root" >&2
  echo "built in $((SECONDS - start)) s" >&2
  buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE"
}

verify() {
  have_image "$IMAGE" || { echo "no image $IMAGE: run hack/image.sh build" >&2; exit 1; }
  local ctr out
  ctr=$(buildah from --quiet --pull=never "$IMAGE")
  # shellcheck disable=SC2064
  trap "buildah umount $ctr >/dev/null 2>&1; buildah rm $ctr >/dev/null" EXIT
  out=$(buildah run --user 65532:65532 "$ctr" -- userprofile-operator --version)
  echo "--version as 65532:65532: $out" >&2
  # uid 65532 has no passwd entry: the operator must not need one (it fails on the missing cluster).
  echo "run --all-namespaces as 65532:65532, no kubeconfig, no cluster:" >&2
  out=$(buildah run --user 65532:65532 "$ctr" -- timeout 20 userprofile-operator run --all-namespaces 2>&1 || true)
  printf '%s\n' "$out" | tail -n 5 >&2
  if grep -q -e getpwuid -e KeyError <<<"$out" || ! grep -q -i -e kubeconfig -e cluster <<<"$out"; then
    echo "FAIL: the operator did not stop on the missing cluster" >&2; exit 1
  fi
  # A read-only root with an empty /tmp, as the chart runs it. buildah run has no --read-only: mount
  # the image's root read-only in a mount namespace of its own and chroot into it as 65532. Python
  # logs (-v) each module it has to compile from source: there should be none. Loading every vendored
  # registry schema proves cfn_registry's package data is in the image.
  local mnt
  mnt=$(buildah mount "$ctr")
  echo "read-only root, uid 65532, tmpfs /tmp:" >&2
  out=$(unshare --mount --fork sh -ec '
    mnt=$1
    mount --bind "$mnt" "$mnt" && mount -o remount,bind,ro "$mnt"
    mount -t tmpfs -o mode=1777,size=64m tmpfs "$mnt/tmp"
    mount --rbind /dev "$mnt/dev" && mount -t proc proc "$mnt/proc"
    exec chroot --userspec=65532:65532 "$mnt" /usr/bin/env -i PATH=/opt/operator/bin:/usr/bin:/bin HOME=/tmp \
      PYTHONDONTWRITEBYTECODE=1 /bin/sh -c "userprofile-operator --version >&2 \
        && python3 -v -c \"import userprofile_operator.cli, userprofile_operator.runner, cfn_registry, kopf, boto3, kubernetes; \
             [cfn_registry.load(t) for t in cfn_registry.type_names()]\" \
        && if touch /probe 2>/dev/null; then echo root is writable >&2; exit 1; fi"
  ' sh "$mnt" 2>&1) || { printf '%s\n' "$out" | tail -n 20 >&2; exit 1; }
  buildah umount "$ctr" >/dev/null
  printf '%s\n' "$out" | grep '^userprofile-operator' >&2
  local compiled
  compiled=$(grep -c "code object from /.*\.py$" <<<"$out" || true)
  echo "modules compiled at start: $compiled (loaded from .pyc: $(grep -c "code object from '[^']*\.pyc'$" <<<"$out"))" >&2
  [ "$compiled" -eq 0 ] || { grep "code object from /.*\.py$" <<<"$out" | head -n 5 >&2; exit 1; }
  echo "verified $IMAGE" >&2
}

case "${1:-build}" in
  name) echo "$IMAGE" ;;
  bases) bases ;;
  build) build ;;
  verify) verify ;;
  archive)
    [ $# -eq 2 ] || { echo "usage: $0 archive PATH" >&2; exit 2; }
    build >/dev/null
    mkdir -p "$(dirname "$2")" && rm -f "$2"
    buildah push --quiet "$IMAGE" "docker-archive:$2:$IMAGE"
    echo "$2 ($(du -h "$2" | cut -f1)): $IMAGE" >&2
    ;;
  *) echo "usage: $0 [build|bases|verify|archive PATH|name]" >&2; exit 2 ;;
esac
