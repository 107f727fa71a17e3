#!/usr/bin/env bash
# Validates the shop's Prometheus rules and runs their unit tests:
#   promtool check rules  on recording.yml and alerts.yml (syntax, PromQL, templates);
#   promtool test rules   on every tests/*.yml.
# Exits non-zero on any failure. promtool comes with Debian's `prometheus` package.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v promtool >/dev/null 2>&1; then
  echo "rules/prometheus/check.sh: promtool not found; install it (Debian: apt-get install prometheus)" >&2
  exit 127
fi

rules=(recording.yml alerts.yml)
tests=(tests/*.yml)
if [ ! -e "${tests[0]}" ]; then
  echo "rules/prometheus/check.sh: no tests in $(pwd)/tests" >&2
  exit 1
fi

promtool check rules "${rules[@]}"
promtool test rules "${tests[@]}"
