#!/usr/bin/env bash
# A labelled log corpus from the real shop: the seven services under the
# load generator, with faults injected through the chaos API so that error
# paths log too. Every line carries the statement that wrote it
# (SHOP_LOG_CALLSITE=1); `aiops-eval record-logs` moves that truth out of
# the lines into a Loghub-layout structured CSV, then `aiops-eval logs`
# scores the miner on it.
#
#   benches/scripts/record-shop-logs.sh [OUT_DIR]
#
# OUT_DIR defaults to $AIOPS_DATA/shop (AIOPS_DATA: ~/.cache/aiops-bench).
# PHASE (seconds per phase, default 20) and RATE (journeys per second,
# default 40) set the size: 9 phases. The shop runs in a network namespace
# of its own (unshare, as root), so its fixed ports 8080-8086 never meet
# another shop on this machine; only its loopback is used.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -z "${RECORD_IN_NETNS:-}" ]; then
  cargo build --release -q -p shop -p aiops-eval --bin shop --bin aiops-eval --manifest-path "$root/Cargo.toml"
  exec unshare --net env RECORD_IN_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
data="${AIOPS_DATA:-$HOME/.cache/aiops-bench}"
out="${1:-$data/shop}"
phase="${PHASE:-20}"
rate="${RATE:-40}"
mkdir -p "$out"
raw="$out/shop-up.out"

bin="$root/target/release"

token="record-$RANDOM$RANDOM$RANDOM"
SHOP_LOG_CALLSITE=1 SHOP_ADMIN_TOKEN="$token" "$bin/shop" up --load --rate "$rate" --users 40 --seed 7 >"$raw" 2>&1 &
shop_pid=$!
stop() { kill -INT "$shop_pid" 2>/dev/null || true; wait "$shop_pid" 2>/dev/null || true; }
trap stop EXIT

for _ in $(seq 1 120); do
  curl -fs -o /dev/null http://127.0.0.1:8080/readyz && break
  sleep 0.5
done

port() {
  case "$1" in
    frontend) echo 8080 ;; catalog) echo 8081 ;; cart) echo 8082 ;; orders) echo 8083 ;;
    checkout) echo 8084 ;; payments) echo 8085 ;; recommendation) echo 8086 ;;
  esac
}
fault() {
  curl -fs -o /dev/null -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "$2" "http://127.0.0.1:$(port "$1")/admin/chaos" || echo "fault on $1 not accepted: $2" >&2
}
clear_faults() {
  for s in frontend catalog cart orders checkout payments recommendation; do
    curl -fs -o /dev/null -X DELETE -H "Authorization: Bearer $token" "http://127.0.0.1:$(port "$s")/admin/chaos" || true
  done
}
during() {
  echo "phase: $1" >&2
  shift
  for f in "$@"; do fault ${f%%=*} "${f#*=}"; done
  sleep "$phase"
  clear_faults
}

during "steady"
during "payments answers 500 to half" 'payments={"kind":"errors","status":500,"rate":0.5}'
during "steady"
during "checkout cannot reach payments" 'checkout={"kind":"peer","name":"payments","mode":"error"}'
during "catalog slow" 'catalog={"kind":"latency","ms":2500,"jitter_ms":200,"rate":0.5}'
during "orders answers 503" 'orders={"kind":"errors","status":503,"rate":0.6}'
during "cart and recommendation lose catalog" 'cart={"kind":"peer","name":"catalog","mode":"error"}' \
  'recommendation={"kind":"peer","name":"catalog","mode":"timeout"}'
during "recommendation crashes (the supervisor restarts it)" 'recommendation={"kind":"crash","after_requests":50}'
during "steady"
stop
trap - EXIT

"$bin/aiops-eval" record-logs --from "$raw" --dir "$out" --name shop
echo "one miner, a true group per statement:"
"$bin/aiops-eval" logs --log "$out/shop.log" --truth "$out/shop.log_structured.csv" --out "$out/shop.mined.csv"
echo "one miner per service as in the engine, a true group per service and statement:"
"$bin/aiops-eval" logs --by-service --log "$out/shop.log" --truth "$out/shop.log_structured.csv" --out "$out/shop.mined-by-service.csv"
