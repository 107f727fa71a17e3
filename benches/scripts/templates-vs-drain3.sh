#!/usr/bin/env bash
# Template mining speed, ours against drain3, on the SAME lines in one run:
# the shop's labelled corpus (and every Loghub 2k sample found), mined by
# `aiops-eval logs` (a fresh miner per pass, CPU time from getrusage) and by
# drain3 from PyPI (benches/scripts/drain3_mine.py: masking configured like
# ours, CPU time from time.process_time). Prints lines per CPU-second for
# both, the ratio, and each one's GA/PA on the same truth, scored by the same
# code (`aiops-eval logs --score`).
#
#   benches/scripts/templates-vs-drain3.sh [SHOP_DIR] [LOGHUB_DIR]
#
# SHOP_DIR holds shop.log and shop.log_structured.csv (from
# `aiops-eval record-logs`; see benches/scripts/record-shop-logs.sh);
# default $AIOPS_DATA/shop, AIOPS_DATA defaulting to ~/.cache/aiops-bench.
# LOGHUB_DIR holds <System>_2k.log_structured.csv files (their Content
# column is mined); default $AIOPS_DATA/loghub. Missing ones are skipped.
# Each corpus is mined in as many passes (a fresh miner each) as it takes to
# reach OURS_LINES (default 400000) lines for us and DRAIN3_LINES (default
# 20000) for drain3, which is far slower: small samples get many passes.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
data="${AIOPS_DATA:-$HOME/.cache/aiops-bench}"
shop_dir="${1:-$data/shop}"
loghub_dir="${2:-$data/loghub}"
ours_lines="${OURS_LINES:-400000}"
drain3_lines="${DRAIN3_LINES:-20000}"
venv="$data/venv-drain3"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# without `rca` (polars): mining needs none of it
cargo build --release -q -p aiops-eval --no-default-features --bin aiops-eval --manifest-path "$root/Cargo.toml"
ours="$root/target/release/aiops-eval"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q drain3
fi
drain3="$venv/bin/python $root/benches/scripts/drain3_mine.py"

# name, then the aiops-eval/drain3 source arguments
corpora=()
if [ -f "$shop_dir/shop.log" ] && [ -f "$shop_dir/shop.log_structured.csv" ]; then
  corpora+=("shop|--log $shop_dir/shop.log|--truth $shop_dir/shop.log_structured.csv")
else
  echo "no shop corpus in $shop_dir (record one with benches/scripts/record-shop-logs.sh)" >&2
fi
for csv in "$loghub_dir"/*_2k.log_structured*.csv; do
  [ -f "$csv" ] || continue
  head -1 "$csv" | grep -q Content || continue
  name="$(basename "$csv" | sed 's/_2k.log_structured.*//')"
  corpora+=("$name|--content|--truth $csv")
done
if [ ${#corpora[@]} -eq 0 ]; then
  echo "nothing to mine" >&2
  exit 1
fi

rate() { sed -n 's/.* \([0-9][0-9]*\) lines per CPU-second.*/\1/p' | tail -1; }
scores() { sed -n 's/^GA \([0-9.]*\)  PA \([0-9.]*\)  FGA \([0-9.]*\)  FTA \([0-9.]*\)$/GA \1 PA \2 FGA \3 FTA \4/p'; }

printf '%-10s %8s %14s %14s %7s %16s %7s   %-40s %s\n' corpus lines "ours lines/s" "drain3 lines/s" ratio "drain3 unmasked" ratio "ours" "drain3"
for entry in "${corpora[@]}"; do
  IFS='|' read -r name ours_src drain3_src <<<"$entry"
  truth="${drain3_src#--truth }"
  rows="$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], newline=""))))' "$truth")"
  repeat=$(( (ours_lines + rows - 1) / rows - 1 ))
  drain3_repeat=$(( (drain3_lines + rows - 1) / rows - 1 ))
  # shellcheck disable=SC2086
  ours_out="$("$ours" logs $ours_src --truth "$truth" --out "$work/$name.ours.csv" --repeat "$repeat")"
  # shellcheck disable=SC2086
  if [ "$ours_src" = "--content" ]; then
    d3_out="$($drain3 $drain3_src --out "$work/$name.drain3.csv" --repeat "$drain3_repeat")"
  else
    d3_out="$($drain3 ${ours_src} --out "$work/$name.drain3.csv" --repeat "$drain3_repeat")"
  fi
  # drain3 as it comes (no masking), for speed only
  # shellcheck disable=SC2086
  if [ "$ours_src" = "--content" ]; then
    d3_plain="$($drain3 $drain3_src --masking none --repeat "$drain3_repeat")"
  else
    d3_plain="$($drain3 ${ours_src} --masking none --repeat "$drain3_repeat")"
  fi
  d3_scores="$("$ours" logs --score "$work/$name.drain3.csv" --truth "$truth" | scores)"
  ours_rate="$(rate <<<"$ours_out")"
  d3_rate="$(rate <<<"$d3_out")"
  lines="$(sed -n 's/^lines \([0-9]*\).*/\1/p' <<<"$ours_out")"
  d3_plain_rate="$(rate <<<"$d3_plain")"
  ratio="$(python3 -c "print(f'{$ours_rate / $d3_rate:.1f}x')")"
  plain_ratio="$(python3 -c "print(f'{$ours_rate / $d3_plain_rate:.1f}x')")"
  printf '%-10s %8s %14s %14s %7s %16s %7s   %-40s %s\n' "$name" "$lines" "$ours_rate" "$d3_rate" "$ratio" \
    "$d3_plain_rate" "$plain_ratio" "$(scores <<<"$ours_out")" "$d3_scores"
done
echo "(lines/s = lines per CPU-second of the mining loop over about $ours_lines lines for ours and $drain3_lines for drain3, a fresh miner per pass; scores from the first pass)"
