#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, the `fuzz` preset: clang 14 with ASan
# and UBSan), replays every kept crasher (fuzz/regressions), then fuzzes each
# target for SECONDS (default 60) and prints a table of what ran.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 3600 fuzz_json
#
# The corpus grows across runs in build/fuzz/corpus/<target> (seeded from the
# interoperability vectors by make_seeds). A finding is written to
# build/fuzz/artifacts/<target>-crash-*; the script then exits 1. After the
# fix, copy the file into fuzz/regressions/<target>/ so ctest replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_envelope fuzz_json fuzz_config fuzz_archive_one)
case "$seconds" in ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2;; esac

build=build/fuzz
if [ ! -f "$build/CMakeCache.txt" ]; then cmake --preset fuzz >/dev/null; fi
cmake --build "$build" --target fuzzers -j"$(nproc)" >/dev/null
ctest --test-dir "$build" --output-on-failure >/dev/null ||
  { echo "fuzz.sh: a kept crasher in fuzz/regressions fails again:" >&2;
    ctest --test-dir "$build" --output-on-failure | tail -40 >&2; exit 1; }

"$build/fuzz/make_seeds" "$build/seeds" >/dev/null
mkdir -p "$build/artifacts" "$build/logs"

dict_for() {
  case "$1" in
    fuzz_json|fuzz_archive_one) echo "-dict=fuzz/dict/json.dict" ;;
    fuzz_config) echo "-dict=fuzz/dict/config.dict" ;;
  esac
}

status=0
printf '%-18s %8s %12s %9s %8s  %s\n' target seconds executions exec/s corpus result
for t in "${targets[@]}"; do
  bin="$build/fuzz/$t"
  [ -x "$bin" ] || { echo "fuzz.sh: no target $t" >&2; exit 2; }
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  log="$build/logs/$t.log"
  start=$(date +%s)
  # -timeout: an input running 10 s is a hang (the per-entry budget is the
  # product's answer to slowness, but no stage may be that slow on 64 KiB).
  # -rss_limit_mb: memory must stay flat; 2 GiB means something is unbounded.
  rc=0
  # shellcheck disable=SC2046
  "$bin" "$corpus" "$build/seeds/$t" $(dict_for "$t") \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$build/artifacts/$t-" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  ran=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  files=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    result="ok, no finding"
  else
    status=1
    artifact=$(sed -n "s/.*Test unit written to \(.*\)$/\1/p" "$log" | tail -1)
    result="FOUND (exit $rc): ${artifact:-see $log}"
  fi
  printf '%-18s %8s %12s %9s %8s  %s\n' "$t" "$ran" "${execs:-?}" "${rate:-?}" "$files" "$result"
done
if [ "$status" -ne 0 ]; then
  echo "fuzz.sh: findings above; logs in $build/logs. Reproduce with: $build/fuzz/TARGET ARTIFACT" >&2
fi
exit "$status"
