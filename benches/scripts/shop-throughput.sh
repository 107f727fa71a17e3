#!/usr/bin/env bash
# Frontend home-page throughput with all seven services running: starts
# `shop up` (release build), drives only the browse journey (GET /) with the
# load generator, prints the summary, stops the shop.
# Usage: bash benches/scripts/shop-throughput.sh [RATE] [USERS] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE="${1:-3000}"; USERS="${2:-64}"; DURATION="${3:-30s}"
cargo build --release -p shop >/dev/null
BIN="${CARGO_TARGET_DIR:-target}/release/shop"
LOG="$(mktemp)"
export SHOP_ADMIN_TOKEN="${SHOP_ADMIN_TOKEN:-throughput-bench-token}" SHOP_LOG_LEVEL=warn
ORDERS_DB_PATH="$(mktemp -d)/orders.db"; export ORDERS_DB_PATH
setsid "$BIN" up >"$LOG" 2>&1 &
SHOP_PID=$!
trap 'kill -TERM -- -$SHOP_PID 2>/dev/null || true; wait $SHOP_PID 2>/dev/null || true' EXIT
for port in 8080 8081 8082 8083 8084 8085 8086; do
  for _ in $(seq 120); do curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.5; done
done
curl -fs -o /dev/null http://127.0.0.1:8080/ || { echo "frontend not serving"; tail -20 "$LOG"; exit 1; }
echo "home page, ${DURATION} at up to ${RATE}/s with ${USERS} shoppers; $(nproc) cores shared by the shop and the load generator"
"$BIN" load --only browse --rate "$RATE" --users "$USERS" --duration "$DURATION" --timeout-ms 5000
