#!/usr/bin/env bash
# Builds the shop and engine images without a registry: static binaries from
# cargo on this host, packaged by the Dockerfile's `prebuilt` stage on
# `scratch`. Tags aiops/shop:$TAG and aiops/engine:$TAG (default: dev).
#   deploy/docker/build-prebuilt.sh [TAG]
# SKIP_CARGO=1 packages binaries already built.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-dev}"
triple=x86_64-unknown-linux-gnu
release="target/$triple/release"

if [ "${SKIP_CARGO:-0}" != 1 ]; then
  # --target keeps build scripts and proc-macros dynamic while the binaries
  # link glibc statically, so they run on scratch
  RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target "$triple" -p aiops-server -p shop --bins
fi
for binary in shop aiops; do
  [ -x "$release/$binary" ] || { echo "build-prebuilt: $release/$binary is missing" >&2; exit 1; }
  # a static binary has no program interpreter to name
  if readelf -l "$release/$binary" | grep -q 'program interpreter'; then
    echo "build-prebuilt: $release/$binary is dynamically linked; it would not run on scratch" >&2
    exit 1
  fi
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
  strip -o "$stage/$binary" "$release/$binary"
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
