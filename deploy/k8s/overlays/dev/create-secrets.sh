#!/usr/bin/env bash
# makes dev's secrets in the cluster, with fresh random values, so none is
# ever written to git: the deployments name them only (prod's come from aws
# secrets manager through external secrets, overlays/prod/shop). safe to run
# again: an existing secret is kept, so the database password stays the one
# postgresql was initialised with.
#   deploy/k8s/overlays/dev/create-secrets.sh [namespace]
set -euo pipefail
ns="${1:-shop-dev}"
rand() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
make() { # name, then key=value pairs
  local name="$1"; shift
  if kubectl -n "$ns" get secret "$name" >/dev/null 2>&1; then
    echo "secret/$name exists in $ns: kept"
    return
  fi
  local args=()
  for kv in "$@"; do args+=(--from-literal="$kv"); done
  kubectl -n "$ns" create secret generic "$name" "${args[@]}"
}
kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns"
pg_password="$(kubectl -n "$ns" get secret postgres -o jsonpath='{.data.POSTGRES_PASSWORD}' 2>/dev/null | base64 -d || true)"
[ -n "$pg_password" ] || pg_password="$(rand)"
make postgres "POSTGRES_PASSWORD=$pg_password"
make shop-database "DATABASE_URL=postgres://shop:$pg_password@postgres:5432/shop"
make shop-redis "REDIS_URL=redis://redis:6379/0"
make shop-admin "SHOP_ADMIN_TOKEN=$(rand)"
# an admin api token for the console (name:role:token); the engine keeps
# its incidents in its pod's sqlite file in dev, so no AIOPS_DATABASE
make aiops-secrets "AIOPS_API_TOKENS=dev-admin:admin:$(rand)"
