#!/usr/bin/env bash
# Wake-up latency (issue 16), called by `scripts/bench.sh --latency`:
#
#   scripts/bench-latency.sh BIN PROBE FILL RSA WORKDIR
#
# For SQLite here, and for PostgreSQL through scripts/bench-postgres.sh (a
# throwaway server), starts `run --workers 1` as a daemon on an empty cache,
# lets it idle into the 64 s sleep upstream's backoff reaches after about a
# minute, and with cybexp-bench-latency (bench/latency_probe.cpp) submits 20
# entries one at a time: the first in that sleep (55 s or more left), each
# later one once the daemon has slept a second and has 2 s or more left, so
# that without a wake-up every sample would wait at least that long. Each
# sample is timed from the upload's commit (the entry exists from then on;
# the commit's own time is printed apart) to the entry reading processed. Prints a Markdown row
# per store: median and max submit-to-processed, beside the targets (median
# under 100 ms, every sample under 1 s). Sourced (by bench-postgres.sh), it
# only defines latency_row.
set -euo pipefail

# latency_row LABEL BIN PROBE CONFIG CACHE_URL PUB RUN_DIR LOG
latency_row() {
  local label=$1 bin=$2 probe=$3 config=$4 url=$5 pub=$6 run_dir=$7 log=$8
  "$bin" -c "$config" --log-level info run --workers 1 2>"$log" &
  local daemon=$!
  local result
  if ! result=$("$probe" "$url" "$pub" "$run_dir" 20 55 2 | tee -a "$log.samples" | tail -n 1); then
    kill "$daemon"; wait "$daemon" || true
    echo "bench-latency: $label: the probe failed; daemon log:" >&2
    tail -n 20 "$log" >&2
    return 1
  fi
  kill -TERM "$daemon"; wait "$daemon" || true
  sed "s/^/bench-latency: $label: /" "$log.samples" >&2
  read -r median max <<<"$result"
  awk -v l="$label" -v m="$median" -v x="$max" 'BEGIN {
    printf "| %s | 20 | %.1f ms | %.1f ms | median < 100 ms: %s; every sample < 1 s: %s |\n",
      l, m, x, (m < 100 ? "met" : "MISSED"), (x < 1000 ? "met" : "MISSED") }'
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then return 0; fi

if [ $# -ne 5 ]; then
  echo "usage: $0 BIN PROBE FILL RSA WORKDIR" >&2
  exit 2
fi
bin=$1; probe=$2; fill=$3; rsa=$4; work=$5
dir=$work/latency-sqlite
mkdir -p "$dir"
CYBEXP_HOME=$dir "$bin" keygen >/dev/null
cat >"$dir/config.json" <<JSON
{"cache": {"url": "sqlite:$dir/cache.db", "private_key": "$dir/priv.pem"},
 "archive": {"url": "sqlite:$dir/cache.db"},
 "public_key": "$dir/pub.pem", "run_dir": "$dir"}
JSON
echo "| store | samples | median | max | targets |"
echo "|---|---|---|---|---|"
latency_row "SQLite" "$bin" "$probe" "$dir/config.json" "sqlite:$dir/cache.db" "$dir/pub.pem" "$dir" "$dir/daemon.log"
scripts/bench-postgres.sh "$bin" "$fill" 0 "$rsa" "$work" --latency "$probe"
