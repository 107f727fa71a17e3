#!/usr/bin/env bash
# Builds Prometheus, Alertmanager, PostgreSQL and Redis images from this
# machine's Debian packages, for a Docker engine that cannot pull the
# official ones (this project's CI). Each root filesystem holds the
# package's binaries with the shared libraries `ldd` names, busybox for
# `sh` and `wget` (healthchecks, PostgreSQL's initdb), and the data files the
# server needs; FROM scratch, so nothing is pulled.
#   deploy/images/build-local.sh [TAG]      (default tag: debian)
# Tags aiops-local/{prometheus,alertmanager,postgres,redis}:TAG; the compose
# file picks them up through deploy/compose/local-images.env.
set -euo pipefail
cd "$(dirname "$0")"
tag="${1:-debian}"

pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -n "$pg_bin" ] && [ -x "$pg_bin/postgres" ] || missing+=(postgresql)
[ -x /bin/busybox ] || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "build-local: install ${missing[*]} (Debian packages) first" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi
pg_version="$(basename "$(dirname "$pg_bin")")"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

# shellcheck source=shared-libs.sh
. ./shared-libs.sh

# Copies files to the same paths under $root, with every shared library they
# load and the dynamic loader.
copy_with_libs() {
  local root="$1"; shift
  local file
  for file in "$@"; do
    install -D -m 755 "$(readlink -f "$file")" "$root$file"
  done
  copy_shared_libs "$root" "$@"
}

# busybox as /bin/sh and /bin/wget, and the users the server runs as.
base_files() {
  local root="$1" user="$2" uid="$3"
  install -D -m 755 /bin/busybox "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  ln -s busybox "$root/bin/wget"
  mkdir -p "$root/etc" "$root/tmp"
  chmod 1777 "$root/tmp"
  {
    echo "root:x:0:0:root:/root:/bin/sh"
    [ "$user" = nobody ] || echo "$user:x:$uid:$uid:$user:/nonexistent:/bin/sh"
    echo "nobody:x:65534:65534:nobody:/nonexistent:/bin/sh"
  } >"$root/etc/passwd"
  {
    echo "root:x:0:"
    [ "$user" = nobody ] || echo "$user:x:$uid:"
    echo "nogroup:x:65534:"
  } >"$root/etc/group"
}

build() {
  local name="$1" context="$stage/$1"
  cp "$name/Dockerfile" "$context/Dockerfile"
  [ ! -f "$name/entrypoint.sh" ] || install -m 755 "$name/entrypoint.sh" "$context/entrypoint.sh"
  if ! docker build -q --build-arg DEBIAN_VERSION="$3" -t "aiops-local/$name:$tag" "$context" \
    >/dev/null 2>"$stage/build.err"; then
    cat "$stage/build.err" >&2
    return 1
  fi
  echo "built aiops-local/$name:$tag ($2 $3)"
}

package_version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo unknown; }

# Prometheus: the server and promtool; data in /prometheus (nobody).
root="$stage/prometheus/rootfs"
copy_with_libs "$root" /usr/bin/prometheus /usr/bin/promtool
base_files "$root" nobody 65534
mkdir -p "$root/etc/prometheus" "$stage/prometheus/owned/prometheus"
if [ -d /usr/share/prometheus/web ]; then
  mkdir -p "$root/usr/share/prometheus"
  cp -r /usr/share/prometheus/web "$root/usr/share/prometheus/"
fi
build prometheus prometheus "$(package_version prometheus)"

# Alertmanager: data in /alertmanager (nobody).
root="$stage/alertmanager/rootfs"
copy_with_libs "$root" /usr/bin/prometheus-alertmanager
base_files "$root" nobody 65534
mkdir -p "$root/etc/alertmanager" "$stage/alertmanager/owned/alertmanager" "$root/usr/share/prometheus"
# its notification templates (and UI) live under /usr/share
cp -r /usr/share/prometheus/alertmanager "$root/usr/share/prometheus/"
build alertmanager prometheus-alertmanager "$(package_version prometheus-alertmanager)"

# Redis: server and cli; data in /data (redis, 999 as in the official image).
root="$stage/redis/rootfs"
copy_with_libs "$root" /usr/bin/redis-server /usr/bin/redis-cli
base_files "$root" redis 999
mkdir -p "$stage/redis/owned/data"
build redis redis-server "$(package_version redis-server)"

# PostgreSQL: the server, initdb, pg_isready and psql, the modules (not the
# LLVM JIT, 100 MB for nothing here) and the share files initdb reads.
root="$stage/postgres/rootfs"
pg_tools=()
for tool in postgres initdb pg_ctl pg_isready psql; do pg_tools+=("$pg_bin/$tool"); done
copy_with_libs "$root" "${pg_tools[@]}"
for module in "$pg_bin"/../lib/*.so; do
  case "$module" in *llvmjit*) continue ;; esac
  copy_with_libs "$root" "$(readlink -f "$module")"
done
mkdir -p "$root/usr/share/postgresql"
cp -r "/usr/share/postgresql/$pg_version" "$root/usr/share/postgresql/"
mkdir -p "$root/usr/share"
cp -r /usr/share/zoneinfo "$root/usr/share/"
base_files "$root" postgres 999
mkdir -p "$stage/postgres/owned/var/lib/postgresql/data" "$stage/postgres/owned/var/run/postgresql"
ln -s "$pg_bin" "$root/usr/lib/postgresql/bin"
build postgres "postgresql-$pg_version" "$(package_version "postgresql-$pg_version")"
