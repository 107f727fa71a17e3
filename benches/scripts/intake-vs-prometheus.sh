#!/usr/bin/env bash
# Remote-write intake cost, the engine next to Prometheus, and the engine's
# Loki push intake: builds release, starts `aiops serve` and Prometheus
# (remote-write receiver, no scrape jobs, empty TSDB) on loopback, sends both
# the same pre-encoded remote-write 1.0 requests one after the other (so they
# never share the cores), then Loki pushes to the engine, and prints samples
# per CPU-second and resident memory per active series side by side.
# CPU is the target process' utime+stime while the requests were sent; RSS is
# read after a settle pause. Both servers are stopped on exit, also on failure.
#
# Usage: bash benches/scripts/intake-vs-prometheus.sh
# Sizes and addresses (environment, defaults):
#   SERIES=20000 SAMPLES_PER_SERIES=300 SAMPLES_PER_REQUEST=10
#   SERIES_PER_REQUEST=2000 CONCURRENCY=4 SETTLE=5s LOKI_LINES=2000000
#   LOKI_STREAMS=400 ENGINE_ADDR=127.0.0.1:19800 PROM_ADDR=127.0.0.1:19091
#   PROMETHEUS=prometheus ENGINE_CONFIG=aiops.example.yaml
#   RESULTS_DIR=<new temporary directory> (the JSON reports and server logs stay there)
set -euo pipefail
cd "$(dirname "$0")/../.."

SERIES="${SERIES:-20000}"
SAMPLES_PER_SERIES="${SAMPLES_PER_SERIES:-300}"
SAMPLES_PER_REQUEST="${SAMPLES_PER_REQUEST:-10}"
SERIES_PER_REQUEST="${SERIES_PER_REQUEST:-2000}"
CONCURRENCY="${CONCURRENCY:-4}"
SETTLE="${SETTLE:-5s}"
LOKI_LINES="${LOKI_LINES:-2000000}"
LOKI_STREAMS="${LOKI_STREAMS:-400}"
ENGINE_ADDR="${ENGINE_ADDR:-127.0.0.1:19800}"
PROM_ADDR="${PROM_ADDR:-127.0.0.1:19091}"
PROMETHEUS="${PROMETHEUS:-prometheus}"
ENGINE_CONFIG="${ENGINE_CONFIG:-aiops.example.yaml}"
RESULTS_DIR="${RESULTS_DIR:-$(mktemp -d -t intake-vs-prometheus.XXXXXX)}"
mkdir -p "$RESULTS_DIR"

for tool in jq curl "$PROMETHEUS"; do
  command -v "$tool" >/dev/null || { echo "intake-vs-prometheus: $tool not found" >&2; exit 1; }
done
for addr in "$ENGINE_ADDR" "$PROM_ADDR"; do
  if curl -s -o /dev/null --max-time 1 "http://$addr/"; then
    echo "intake-vs-prometheus: something already listens on $addr" >&2; exit 1
  fi
done

echo "== build (release)"
cargo build --release -p aiops-server -p benches
BIN="${CARGO_TARGET_DIR:-target}/release"

ENGINE_PID="" PROM_PID="" PROM_DATA=""
stop() {
  for pid in $ENGINE_PID $PROM_PID; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $ENGINE_PID $PROM_PID; do wait "$pid" 2>/dev/null || true; done
  [ -n "$PROM_DATA" ] && rm -rf "$PROM_DATA"
  return 0
}
trap stop EXIT
trap 'exit 130' INT TERM

NAME=intake-vs-prometheus
# shellcheck source=benches/scripts/lib.sh
. benches/scripts/lib.sh

echo "== start the engine on $ENGINE_ADDR and Prometheus on $PROM_ADDR"
AIOPS_LISTEN="$ENGINE_ADDR" AIOPS_LOG="${AIOPS_LOG:-warn}" \
  "$BIN/aiops" serve --config "$ENGINE_CONFIG" >"$RESULTS_DIR/engine.log" 2>&1 &
ENGINE_PID=$!
PROM_DATA="$(mktemp -d -t intake-vs-prometheus-tsdb.XXXXXX)"
cat >"$RESULTS_DIR/prometheus.yml" <<'EOF'
# No scrape jobs: the TSDB holds only what remote-write sends.
global:
  scrape_interval: 15s
scrape_configs: []
EOF
"$PROMETHEUS" --web.enable-remote-write-receiver \
  --storage.tsdb.path="$PROM_DATA" --storage.tsdb.retention.time=3h \
  --config.file="$RESULTS_DIR/prometheus.yml" --web.listen-address="$PROM_ADDR" \
  --log.level=warn >"$RESULTS_DIR/prometheus.log" 2>&1 &
PROM_PID=$!
wait_ready engine "$ENGINE_PID" "http://$ENGINE_ADDR/readyz"
wait_ready prometheus "$PROM_PID" "http://$PROM_ADDR/-/ready"
PROM_VERSION="$("$PROMETHEUS" --version 2>&1 | head -1)"

echo "== load: $(uptime)"
echo "   $(nproc) cores; $SERIES series x $SAMPLES_PER_SERIES samples ($SAMPLES_PER_REQUEST per request, $SERIES_PER_REQUEST series per request), concurrency $CONCURRENCY, settle $SETTLE"
remote_write() { # name pid addr
  "$BIN/intake-bench" remote-write --name "$1" --pid "$2" --url "http://$3/api/v1/write" \
    --series "$SERIES" --samples-per-series "$SAMPLES_PER_SERIES" \
    --samples-per-request "$SAMPLES_PER_REQUEST" --series-per-request "$SERIES_PER_REQUEST" \
    --concurrency "$CONCURRENCY" --settle "$SETTLE" >"$RESULTS_DIR/remote-write-$1.json"
}
echo "== remote-write -> engine"
remote_write engine "$ENGINE_PID" "$ENGINE_ADDR"
echo "== remote-write -> prometheus"
remote_write prometheus "$PROM_PID" "$PROM_ADDR"
echo "== loki push -> engine"
"$BIN/intake-bench" loki --name engine --pid "$ENGINE_PID" --url "http://$ENGINE_ADDR/loki/api/v1/push" \
  --lines "$LOKI_LINES" --streams "$LOKI_STREAMS" --concurrency "$CONCURRENCY" --settle "$SETTLE" \
  >"$RESULTS_DIR/loki-engine.json"
echo "== after: $(uptime)"

E="$RESULTS_DIR/remote-write-engine.json" P="$RESULTS_DIR/remote-write-prometheus.json" L="$RESULTS_DIR/loki-engine.json"
get() { jq -r "$2 // \"-\"" "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.2fx", a / b; else print "-" }'; }
num() { # thousands separators, whatever the locale
  awk -v x="$1" 'BEGIN {
    if (x == "-") { print "-"; exit }
    s = sprintf("%.0f", x); sign = ""
    if (substr(s, 1, 1) == "-") { sign = "-"; s = substr(s, 2) }
    out = ""
    while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
    print sign s out
  }'
}

echo
echo "remote-write 1.0, $SERIES series x $SAMPLES_PER_SERIES samples; $PROM_VERSION"
printf '%-34s %16s %16s %12s\n' "" engine prometheus engine/prom
row() { printf '%-34s %16s %16s %12s\n' "$1" "$(num "$(get "$E" "$2")")" "$(num "$(get "$P" "$2")")" "$(ratio "$(get "$E" "$2")" "$(get "$P" "$2")")"; }
row "samples per CPU-second" .samples_per_cpu_second
row "RSS bytes per active series" .rss_bytes_per_series
row "  (RSS growth per series)" .rss_delta_bytes_per_series
row "RSS bytes after settle" .rss_bytes
row "samples sent" .samples_sent
row "samples accepted (2xx)" .samples_accepted
row "samples stored (own metrics)" .samples_stored
row "active series (own metrics)" .active_series_reported
row "requests failed" .requests_failed
printf '%-34s %16s %16s %12s\n' "CPU seconds" "$(get "$E" .cpu_seconds)" "$(get "$P" .cpu_seconds)" "$(ratio "$(get "$E" .cpu_seconds)" "$(get "$P" .cpu_seconds)")"
printf '%-34s %16s %16s %12s\n' "wall seconds" "$(get "$E" .wall_seconds)" "$(get "$P" .wall_seconds)" "$(ratio "$(get "$E" .wall_seconds)" "$(get "$P" .wall_seconds)")"
echo
echo "Loki push (protobuf+snappy) -> engine: $(num "$(get "$L" .lines_accepted)") of $(num "$(get "$L" .lines_sent)") lines accepted, $(get "$L" .avg_line_bytes) bytes per line"
printf '%-34s %16s\n' "MB (1e6 bytes of lines) per CPU-s" "$(get "$L" .mb_per_cpu_second)"
printf '%-34s %16s\n' "lines per CPU-second" "$(num "$(get "$L" .lines_per_cpu_second)")"
printf '%-34s %16s\n' "CPU seconds / wall seconds" "$(get "$L" .cpu_seconds) / $(get "$L" .wall_seconds)"

for f in "$E" "$P" "$L"; do
  if [ "$(jq -r .requests_failed "$f")" != 0 ]; then
    echo "WARNING $(basename "$f"): $(jq -r '.requests_failed' "$f") requests failed, first: $(jq -r '.first_error' "$f")"
  fi
done
echo
echo "JSON reports and server logs: $RESULTS_DIR"
