#!/usr/bin/env bash
# Builds the shop and engine images without a registry: static binaries from
# cargo on this host, packaged by the Dockerfile's `prebuilt` stage on
# `scratch`. Tags aiops/shop:$TAG and aiops/engine:$TAG (default: dev).
#   deploy/docker/build-prebuilt.sh [TAG]
# SKIP_CARGO=1 packages the release binaries already built.
# BINARIES=DIR packages the binaries already in DIR instead (CI: the test
# build's target/debug, so the stack is tested without a second, release
# build of the workspace); a dynamically linked binary gets the shared
# libraries it loads beside it on scratch.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../images/shared-libs.sh
. deploy/images/shared-libs.sh
tag="${1:-dev}"
triple=x86_64-unknown-linux-gnu
bin_dir="${BINARIES:-target/$triple/release}"

if [ -z "${BINARIES:-}" ] && [ "${SKIP_CARGO:-0}" != 1 ]; then
  # --target keeps build scripts and proc-macros dynamic while the binaries
  # link glibc statically, so they run on scratch
  RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target "$triple" -p aiops-server -p shop --bins
fi
for binary in shop aiops; do
  [ -x "$bin_dir/$binary" ] || { echo "build-prebuilt: $bin_dir/$binary is missing" >&2; exit 1; }
done

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
source="$(git remote get-url origin 2>/dev/null || echo unknown)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/data"
for pair in shop:shop aiops:engine; do
  binary="${pair%%:*}" image="aiops/${pair##*:}:$tag"
  # the release profile keeps line tables for profiling; images need none
  strip -o "$stage/$binary" "$bin_dir/$binary"
  rm -rf "$stage/rootfs" && mkdir "$stage/rootfs"
  # a static binary has no program interpreter to name; any other runs on
  # scratch with the libraries it loads
  if readelf -l "$stage/$binary" | grep -q 'program interpreter'; then
    copy_shared_libs "$stage/rootfs" "$bin_dir/$binary"
  fi
  if ! docker build -q -f deploy/docker/Dockerfile --target prebuilt \
    --build-arg BINARY="$binary" --build-arg VERSION="$version" \
    --build-arg REVISION="$revision" --build-arg SOURCE="$source" \
    -t "$image" "$stage" >/dev/null 2>"$stage/build.err"; then
    cat "$stage/build.err" >&2
    exit 1
  fi
  rm "$stage/$binary"
  echo "built $image"
done
