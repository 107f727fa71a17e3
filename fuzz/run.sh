#!/usr/bin/env bash
# Builds the fuzz targets with stable Rust and runs each for a fixed time.
#
#   bash fuzz/run.sh [seconds per target] [target ...]
#
# Coverage comes from LLVM's sanitizer-coverage pass, which stable rustc
# runs with `-Cpasses=sancov-module` (the flags cargo-fuzz passes, minus
# the nightly-only AddressSanitizer: the targets are safe Rust, where a
# panic, an overflow or a failed debug assertion is the bug, and each
# aborts the run). libFuzzer itself comes from the libfuzzer-sys crate.
#
# Each target starts from its committed corpus (fuzz/corpus/<target>);
# what the run finds new goes to a scratch directory, not the repository
# (FUZZ_KEEP=1 merges it into the committed corpus). A crash stops the
# run with status 1 and leaves the input in fuzz/artifacts/<target>/.
# Seconds run per target are appended to fuzz/hours.tsv when FUZZ_LOG=1.
# FUZZ_PROFILE=ci builds less optimised targets, sooner (CI's short runs).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(remote_write loki_push loki_json alertmanager exposition selector detector_rules chaos_scenario notify templates)
fi
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
profile="${FUZZ_PROFILE:-release}"
cargo build --profile "$profile" --target "$triple" --bins
bin="$CARGO_TARGET_DIR/$triple/$profile"
scratch="$(mktemp -d /tmp/aiops-fuzz.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
failed=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target" "$scratch/$target"
  echo "== fuzz $target for ${seconds}s"
  # new inputs go to the first directory (scratch); the corpus is only read
  if ! "$bin/$target" "$scratch/$target" "corpus/$target" \
      -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="artifacts/$target/" -print_final_stats=1 2>"$scratch/$target.log"; then
    tail -40 "$scratch/$target.log"
    echo "FUZZ CRASH: $target (input in fuzz/artifacts/$target/)"
    failed=1
    continue
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added)' "$scratch/$target.log" | tr '\n' ' '; echo
  if [ "${FUZZ_KEEP:-0}" = 1 ]; then
    "$bin/$target" -merge=1 "corpus/$target" "$scratch/$target" 2>/dev/null
  fi
  if [ "${FUZZ_LOG:-0}" = 1 ]; then
    printf '%s\t%s\t%s\n' "$(date -u +%F)" "$target" "$seconds" >> hours.tsv
  fi
done
exit "$failed"
