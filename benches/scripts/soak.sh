#!/usr/bin/env bash
# Soak under overload: the engine is measured for its capacity (remote-write
# and Loki push at once), then offered FACTOR times that for DURATION, while a
# real Prometheus remote-writes a scraped exporter to it through the overload,
# retrying 429s. See benches/src/bin/soak.rs for what is checked; the
# report's "held" says which promises held, and the script exits 1 when one
# did not.
#
# The engine runs in a memory cgroup of MEMORY_LIMIT (the compose and
# Kubernetes budget of the engine, 1 GiB) when the machine lets us make one
# (cgroup v1 or v2, as root): going over it is an OOM kill, a crash. Its
# CPU is capped at CPU_LIMIT cores the same way: on two shared cores an
# uncapped engine outruns any sender that must encode what it sends, and
# an engine's deployment caps it anyway (Kubernetes: 1 CPU). Its store is
# bounded as a deployment would bound it: retention 30m, max_active_series
# 100000.
#
# Usage: bash benches/scripts/soak.sh
# Environment (defaults): DURATION=10m CAPACITY_FOR=60s FACTOR=2
#   MEMORY_LIMIT=1073741824 CPU_LIMIT=0.5 ENGINE_ADDR=127.0.0.1:19800 PROM_ADDR=127.0.0.1:19091
#   EXPORTER_ADDR=127.0.0.1:19101 PROBE_SERIES=2000 PROMETHEUS=prometheus
#   RESULTS_DIR=<new temporary directory> (report, configs and logs stay there)
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION="${DURATION:-10m}"
CAPACITY_FOR="${CAPACITY_FOR:-60s}"
FACTOR="${FACTOR:-2}"
MEMORY_LIMIT="${MEMORY_LIMIT:-1073741824}"
CPU_LIMIT="${CPU_LIMIT:-0.5}"
ENGINE_ADDR="${ENGINE_ADDR:-127.0.0.1:19800}"
PROM_ADDR="${PROM_ADDR:-127.0.0.1:19091}"
EXPORTER_ADDR="${EXPORTER_ADDR:-127.0.0.1:19101}"
PROBE_SERIES="${PROBE_SERIES:-2000}"
PROMETHEUS="${PROMETHEUS:-prometheus}"
RESULTS_DIR="${RESULTS_DIR:-$(mktemp -d -t soak.XXXXXX)}"
mkdir -p "$RESULTS_DIR"

for tool in jq curl "$PROMETHEUS"; do
  command -v "$tool" >/dev/null || { echo "soak: $tool not found" >&2; exit 1; }
done
for addr in "$ENGINE_ADDR" "$PROM_ADDR" "$EXPORTER_ADDR"; do
  if curl -s -o /dev/null --max-time 1 "http://$addr/"; then
    echo "soak: something already listens on $addr" >&2; exit 1
  fi
done

echo "== build (release)"
cargo build --release -q -p aiops-server -p benches --bin aiops --bin soak
BIN="${CARGO_TARGET_DIR:-target}/release"

PIDS="" CGROUP="" CPU_CGROUP=""
stop() {
  for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $PIDS; do wait "$pid" 2>/dev/null || true; done
  for group in $CGROUP $CPU_CGROUP; do rmdir "$group" 2>/dev/null; done
  return 0
}
trap stop EXIT
trap 'exit 130' INT TERM

NAME=soak
# shellcheck source=benches/scripts/lib.sh
. benches/scripts/lib.sh

# Memory and CPU cgroups for the engine, when we may make them.
CGROUP_PROCS="" CPU_CGROUP=""
QUOTA_US="$(awk -v c="$CPU_LIMIT" 'BEGIN { printf "%d", c * 100000 }')"
if [ -d /sys/fs/cgroup/memory ] && mkdir "/sys/fs/cgroup/memory/aiops-soak-$$" 2>/dev/null; then
  CGROUP="/sys/fs/cgroup/memory/aiops-soak-$$"
  echo "$MEMORY_LIMIT" >"$CGROUP/memory.limit_in_bytes"
  CGROUP_PROCS="$CGROUP/cgroup.procs"
  if [ -d /sys/fs/cgroup/cpu ] && mkdir "/sys/fs/cgroup/cpu/aiops-soak-$$" 2>/dev/null; then
    CPU_CGROUP="/sys/fs/cgroup/cpu/aiops-soak-$$"
    echo 100000 >"$CPU_CGROUP/cpu.cfs_period_us"
    echo "$QUOTA_US" >"$CPU_CGROUP/cpu.cfs_quota_us"
  fi
elif [ -f /sys/fs/cgroup/cgroup.controllers ] && mkdir "/sys/fs/cgroup/aiops-soak-$$" 2>/dev/null; then
  CGROUP="/sys/fs/cgroup/aiops-soak-$$"
  echo "$MEMORY_LIMIT" >"$CGROUP/memory.max"
  echo "$QUOTA_US 100000" >"$CGROUP/cpu.max" 2>/dev/null || echo "soak: no cpu controller; the engine is not capped"
  CGROUP_PROCS="$CGROUP/cgroup.procs"
else
  echo "soak: no cgroup could be made; the memory limit is checked against RSS only, the CPU is not capped"
fi

# a viewer's token: the console's pages need a session or a token
VIEWER_TOKEN="soak-viewer-token-0123456789"
cat >"$RESULTS_DIR/aiops.yaml" <<EOF
listen: $ENGINE_ADDR
auth:
  api_tokens:
    - {name: soak, role: viewer, token: $VIEWER_TOKEN}
store:
  retention: 30m
  max_active_series: 100000
incidents:
  database: sqlite:$RESULTS_DIR/incidents.db
  rules: $PWD/rules/detectors.yaml
EOF
cat >"$RESULTS_DIR/prometheus.yml" <<EOF
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: soak-probe
    static_configs: [{targets: ["$EXPORTER_ADDR"]}]
remote_write:
  - url: http://$ENGINE_ADDR/api/v1/write
    queue_config:
      # without it Prometheus drops a batch answered 429
      retry_on_http_429: true
      batch_send_deadline: 1s
      max_samples_per_send: 2000
EOF

echo "== start the engine on $ENGINE_ADDR${CGROUP:+ (cgroup $CGROUP: memory limit $MEMORY_LIMIT bytes, $CPU_LIMIT cores)}"
AIOPS_LOG="${AIOPS_LOG:-warn}" sh -c 'for f in "$1" "$2"; do [ -n "$f" ] && echo $$ >"$f"; done; shift 2; exec "$@"' \
  soak "$CGROUP_PROCS" "${CPU_CGROUP:+$CPU_CGROUP/cgroup.procs}" \
  "$BIN/aiops" serve --config "$RESULTS_DIR/aiops.yaml" >"$RESULTS_DIR/engine.log" 2>&1 &
ENGINE_PID=$!
PIDS="$ENGINE_PID"
wait_ready engine "$ENGINE_PID" "http://$ENGINE_ADDR/readyz"

echo "== start the exporter ($PROBE_SERIES counters) and Prometheus (scrapes it every 1s, remote-writes to the engine)"
"$BIN/soak" exporter --listen "$EXPORTER_ADDR" --series "$PROBE_SERIES" >"$RESULTS_DIR/exporter.log" 2>&1 &
PIDS="$PIDS $!"
PROM_DATA="$RESULTS_DIR/prometheus-data"
"$PROMETHEUS" --storage.tsdb.path="$PROM_DATA" --config.file="$RESULTS_DIR/prometheus.yml" \
  --web.listen-address="$PROM_ADDR" --log.level=warn >"$RESULTS_DIR/prometheus.log" 2>&1 &
PROM_PID=$!
PIDS="$PIDS $PROM_PID"
wait_ready prometheus "$PROM_PID" "http://$PROM_ADDR/-/ready"

echo "== an incident to open in the console meanwhile"
curl -fsS -o /dev/null -H 'content-type: application/json' "http://$ENGINE_ADDR/api/v1/alerts/alertmanager" --data @- <<'EOF'
{"version":"4","groupKey":"{}:{alertname=\"CheckoutErrors\"}","truncatedAlerts":0,"status":"firing","receiver":"aiops",
 "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
 "alerts":[{"status":"firing","labels":{"alertname":"CheckoutErrors","service":"checkout","severity":"critical"},
 "annotations":{"summary":"checkout answers 5xx"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z",
 "generatorURL":"http://prom","fingerprint":"5eed5eed5eed5eed"}]}
EOF
for _ in $(seq 60); do
  [ "$(curl -fs "http://$ENGINE_ADDR/api/v1/incidents" | jq '.data | length')" -gt 0 ] && break
  sleep 1
done

echo "== soak: $(nproc) cores, $(uptime)"
"$BIN/soak" run --engine "http://$ENGINE_ADDR" --pid "$ENGINE_PID" --prometheus "http://$PROM_ADDR" \
  --memory-limit-bytes "$MEMORY_LIMIT" --capacity-for "$CAPACITY_FOR" --duration "$DURATION" \
  --factor "$FACTOR" --token "$VIEWER_TOKEN" >"$RESULTS_DIR/soak.json" && held=0 || held=$?
if [ -n "$CGROUP" ]; then
  peak_file="$CGROUP/memory.max_usage_in_bytes"; [ -f "$peak_file" ] || peak_file="$CGROUP/memory.peak"
  echo "cgroup peak (RSS and page cache): $(cat "$peak_file" 2>/dev/null || echo unknown) bytes"
fi
kill -0 "$ENGINE_PID" 2>/dev/null || echo "soak: the engine is gone"
echo "report: $RESULTS_DIR/soak.json"
jq '{held, capacity: {samples_per_second: .capacity.samples_per_second, lines_per_second: .capacity.lines_per_second},
     overload: (.overload | del(.remote_write, .loki)),
     refused_429_requests: [.overload.remote_write.refused_429_requests, .overload.loki.refused_429_requests],
     not_offered_requests: [.overload.remote_write.not_offered_requests, .overload.loki.not_offered_requests],
     memory: (.memory | del(.rss_every_5s)), latency_ms, prometheus}' "$RESULTS_DIR/soak.json"
exit "$held"
