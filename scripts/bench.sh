#!/usr/bin/env bash
# End-to-end throughput benchmark (issue: throughput). Builds the release
# binary, measures this machine's RSA-2048 private-key limit with
# `openssl speed`, fills cache stores with encrypted entries, times
# `cybexp-archive run --once` on them, and prints a Markdown table:
# entries/s, MB/s, peak RSS, and the ratio to the RSA limit for the workers used.
# The 500 B cases run three times, each right after `openssl speed -elapsed
# -multi WORKERS rsa2048` (wall-clock, as the runs are timed), and report the median ratio: on a shared machine the
# limit itself drifts by 10% or more within minutes.
# Large entries (1 MiB batches of honeypot events with nested fields,
# bench/honeypot_payload.h) are compared with the crypto floor measured in
# the same run (issue 15): per core, AES-256-CTR plus CMAC's AES pass
# (serial AES-256-CBC encryption) over the payload and SHA-256 over twice it
# (the canonical form), times the workers.
#
#   scripts/bench.sh [--quick] [--postgres]
#   scripts/bench.sh --latency
#
# --quick: smaller counts (a smoke run). --postgres: also against a throwaway
# local PostgreSQL server (needs the postgresql package). --latency: only the
# wake-up latency of an idle daemon on SQLite and PostgreSQL
# (scripts/bench-latency.sh; about five minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0; pg=0; latency=0
for a in "$@"; do
  case "$a" in --quick) quick=1 ;; --postgres) pg=1 ;; --latency) latency=1 ;;
    *) echo "unknown option $a" >&2; exit 2 ;; esac
done
small_n=20000; large_n=200; drain_n=100000
if [ $quick = 1 ]; then small_n=2000; large_n=20; drain_n=5000; fi

cmake --preset release -DCYBEXP_BUILD_TESTS=ON -DCYBEXP_BUILD_BENCH=ON >/dev/null  # quickstart.sh may have left them off
cmake --build --preset release --target cybexp-archive cybexp-bench-fill -j"$(nproc)" >/dev/null
bin=$PWD/build/release/apps/cybexp-archive/cybexp-archive
fill=$PWD/build/release/bench/cybexp-bench-fill
work=$(mktemp -d /tmp/cybexp-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CYBEXP_HOME=$work/home
"$bin" keygen >/dev/null

if [ $latency = 1 ]; then
  cmake --build --preset release --target cybexp-bench-latency -j"$(nproc)" >/dev/null
  echo "wake-up latency of an idle daemon (submit to processed; targets: median < 100 ms, max < 1 s):"
  scripts/bench-latency.sh "$bin" "$PWD/build/release/bench/cybexp-bench-latency" "$fill" 0 "$work"
  exit 0
fi

rsa=$(openssl speed -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}')
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "machine: $(nproc) cores, $cpu; openssl speed rsa2048: $rsa sign/s per core"
# 16 KiB blocks, in 1000s of bytes per second (the last column, "k" dropped).
evp_speed() { openssl speed -seconds 2 -evp "$1" 2>/dev/null | awk -v a="$1" 'tolower($1) == tolower(a) {v = $NF; sub(/k$/, "", v); print v * 1000}'; }
ctr=$(evp_speed aes-256-ctr); cbc=$(evp_speed aes-256-cbc); sha=$(evp_speed sha256)
floor=$(awk -v c="$ctr" -v b="$cbc" -v s="$sha" 'BEGIN { printf "%.0f", 1 / (1 / c + 1 / b + 2 / s) }')
echo "openssl speed (16 KiB blocks, MB/s per core): aes-256-ctr $(awk -v x="$ctr" 'BEGIN{printf "%.0f", x/1e6}')," \
  "aes-256-cbc $(awk -v x="$cbc" 'BEGIN{printf "%.0f", x/1e6}'), sha256 $(awk -v x="$sha" 'BEGIN{printf "%.0f", x/1e6}');" \
  "crypto floor $(awk -v x="$floor" 'BEGIN{printf "%.0f", x/1e6}') MB/s per core"
echo

# fill NAME COUNT SIZE: a template cache.db, copied for each run
fill_template() {
  mkdir -p "$work/tpl-$1"
  "$fill" "sqlite:$work/tpl-$1/cache.db" "$CYBEXP_HOME/pub.pem" "$2" "$3"
}

# run_once TEMPLATE WORKERS: one `run --once` on a fresh copy of the
# template; /usr/bin/time's "seconds peak-KiB" in $work/time
run_once() {
  rm -rf "$work/run"; mkdir -p "$work/run"
  cp "$work/tpl-$1/cache.db" "$work/run/cache.db"
  cp "$CYBEXP_HOME/priv.pem" "$CYBEXP_HOME/pub.pem" "$work/run/"
  /usr/bin/time -f '%e %M' -o "$work/time" env CYBEXP_HOME="$work/run" "$bin" run --once --workers "$2" >"$work/out"
}

# measure LABEL TEMPLATE WORKERS COUNT SIZE: one run, against the RSA limit
# measured at the start
measure() {
  local label=$1 tpl=$2 workers=$3 count=$4 size=$5
  run_once "$tpl" "$workers"
  read -r secs rss_kb <"$work/time"
  report "$label" "$workers" "$count" "$size" "$secs" "$rss_kb"
}

# measure_small LABEL TEMPLATE WORKERS COUNT SIZE: three runs, each right
# after `openssl speed -elapsed -multi WORKERS rsa2048` (the RSA limit of that many
# cores at that moment: a shared machine's speed drifts by 10% within
# minutes); reports the run with the median ratio, and prints all three.
measure_small() {
  local label=$1 tpl=$2 workers=$3 count=$4 size=$5 rounds=3 limit
  : >"$work/rounds"
  for _ in $(seq "$rounds"); do
    limit=$(openssl speed -elapsed -seconds 2 -multi "$workers" rsa2048 2>/dev/null | awk '/^rsa 2048/ {print $6}')
    run_once "$tpl" "$workers"
    read -r secs rss_kb <"$work/time"
    awk -v n="$count" -v t="$secs" -v l="$limit" -v r="$rss_kb" \
      'BEGIN { printf "%.4f %s %s %s\n", n / t / l, t, r, l }' >>"$work/rounds"
  done
  read -r _ secs rss_kb limit < <(sort -n "$work/rounds" | sed -n "$(( (rounds + 1) / 2 ))p")
  report "$label" "$workers" "$count" "$size" "$secs" "$rss_kb" "$limit"
  ratios+=("$label, $workers worker(s): $(sort -n "$work/rounds" | awk '{ printf "%s%.1f%% (%.0f/s)", (NR > 1 ? ", " : ""), 100 * $1, $4 }')")
}

# report LABEL WORKERS COUNT SIZE SECONDS PEAK_KIB [LIMIT]: LIMIT is the RSA
# limit of WORKERS cores in signs/s (default: the speed measured at the
# start, times WORKERS)
report() {
  local label=$1 workers=$2 count=$3 size=$4 secs=$5 rss_kb=$6 lim=${7:-}
  awk -v l="$label" -v w="$workers" -v n="$count" -v s="$size" -v t="$secs" -v r="$rss_kb" -v rsa="$rsa" -v lim="$lim" 'BEGIN {
    eps = n / t; mbs = n * s / t / 1e6; limit = lim != "" ? lim : rsa * w;
    # Large entries are bound by AES and parsing, not RSA: their line below
    # compares them with the crypto floor instead.
    if (s > 65536) { printf "| %s | %d | %d | %.2f | %.0f | %.1f | %.0f | - | - |\n", l, w, n, t, eps, mbs, r / 1024; exit }
    printf "| %s | %d | %d | %.2f | %.0f | %.1f | %.0f | %.0f | %.1f%% |\n", l, w, n, t, eps, mbs, r / 1024, limit, 100 * eps / limit }'
}

ratios=()
echo "| case | workers | entries | seconds | entries/s | MB/s | peak RSS MiB | RSA limit/s | of RSA limit |"
echo "|---|---|---|---|---|---|---|---|---|"
fill_template small "$small_n" 500
measure_small "500 B, SQLite" small 1 "$small_n" 500
measure_small "500 B, SQLite" small 2 "$small_n" 500
fill_template large "$large_n" 1048576
measure "1 MiB JSON, SQLite" large 2 "$large_n" 1048576
large_mbs=$(awk -v n="$large_n" -v t="$(cut -d' ' -f1 "$work/time")" 'BEGIN { printf "%.1f", n * 1048576 / t / 1e6 }')
fill_template drain "$drain_n" 500
measure "500 B drain, SQLite" drain 2 "$drain_n" 500

echo
echo "500 B rows: the median of three runs, each against the RSA limit measured just before it:"
printf '  %s\n' "${ratios[@]}"
awk -v m="$large_mbs" -v f="$floor" -v w=2 -v c="$(nproc)" 'BEGIN {
  cores = w < c ? w : c; fl = f * cores / 1e6;
  printf "1 MiB JSON, 2 workers: %.1f MB/s end to end; crypto floor %.0f MB/s (%d cores); %.0f%% of the floor\n", m, fl, cores, 100 * m / fl }'

if [ $pg = 1 ]; then
  scripts/bench-postgres.sh "$bin" "$fill" "$small_n" "$rsa" "$work"
fi

echo
echo "Stage benchmarks (one core each; Google Benchmark):"
cmake --build --preset release --target cybexp-bench-stages -j"$(nproc)" >/dev/null
build/release/bench/cybexp-bench-stages --benchmark_min_time=0.3 2>/dev/null | grep -E '^BM_'
