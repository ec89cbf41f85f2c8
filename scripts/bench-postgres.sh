#!/usr/bin/env bash
# The PostgreSQL rows of the end-to-end benchmark (called by scripts/bench.sh):
#
#   scripts/bench-postgres.sh BIN FILL COUNT RSA WORKDIR [--latency PROBE]
#
# BIN: cybexp-archive; FILL: cybexp-bench-fill; COUNT: entries of 500 bytes;
# RSA: this machine's `openssl speed rsa2048` sign/s per core; WORKDIR:
# bench.sh's scratch directory, not used: it is root's 0700 directory, so the
# server's own goes beside it in /tmp, where the server user can reach it.
#
# Starts a throwaway PostgreSQL server on 127.0.0.1 (as user cybexp-test when
# run as root, since PostgreSQL refuses to run as root), fills a template
# database once, and for 1 and 2 workers times `run --once --workers N` on a
# fresh copy of it. The server keeps its default durability (fsync on,
# synchronous_commit on): the figures are what an operator would see on this
# disk, not the test harness's fsync-off speed. Prints Markdown rows in the
# format of bench.sh's table; everything else goes to stderr. The server is
# stopped and its directory removed on exit, whatever happens.
# --latency PROBE: instead of the throughput rows, the wake-up latency row of
# scripts/bench-latency.sh on this server (PROBE: cybexp-bench-latency).
set -euo pipefail
if [ $# -ne 5 ] && { [ $# -ne 7 ] || [ "$6" != --latency ]; }; then
  echo "usage: $0 BIN FILL COUNT RSA WORKDIR [--latency PROBE]" >&2
  exit 2
fi
bin=$1; fill=$2; count=$3; rsa=$4; probe=${7:-}
size=500
label="500 B, PostgreSQL"

bindir=${CYBEXP_PG_BINDIR:-}
if [ -z "$bindir" ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
  echo "bench-postgres: no PostgreSQL server binaries: apt-get install postgresql (or set CYBEXP_PG_BINDIR)" >&2
  exit 1
fi

# as_server CMD...: runs CMD as the user that owns the server.
if [ "$(id -u)" = 0 ]; then
  if ! id cybexp-test >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cybexp-test
  fi
  as_server() { runuser -u cybexp-test -- "$@"; }
else
  as_server() { "$@"; }
fi

# Not under WORKDIR: mktemp made that 0700 for root, and the server user must
# be able to reach its data and socket directory.
pgdir=$(mktemp -d /tmp/cybexp-bench-pg.XXXXXX)
data=$pgdir/data
cleanup() {
  if [ -f "$data/postmaster.pid" ]; then
    as_server "$bindir/pg_ctl" stop -D "$data" -m fast -w >/dev/null 2>&1 ||
      as_server "$bindir/pg_ctl" stop -D "$data" -m immediate -w >/dev/null 2>&1 || true
  fi
  rm -rf "$pgdir"
}
trap cleanup EXIT
if [ "$(id -u)" = 0 ]; then chown cybexp-test "$pgdir"; fi

as_server "$bindir/initdb" -D "$data" -U cybexp --auth=trust --encoding=UTF8 --locale=C \
  --no-instructions >"$pgdir/initdb.log" 2>&1 || { cat "$pgdir/initdb.log" >&2; exit 1; }

# A free port: try a few random ones (pg_ctl fails at once if it is taken).
port=
for _ in 1 2 3 4 5; do
  try=$((20000 + RANDOM % 40000))
  cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $try
unix_socket_directories = '$pgdir'
shared_buffers = 128MB
max_connections = 50
EOF
  if as_server "$bindir/pg_ctl" start -D "$data" -l "$pgdir/server.log" -w -t 60 >/dev/null 2>&1; then
    port=$try
    break
  fi
done
if [ -z "$port" ]; then
  echo "bench-postgres: the server did not start:" >&2
  tail -n 20 "$pgdir/server.log" >&2 || true
  exit 1
fi
base=postgresql://cybexp@127.0.0.1:$port

psql_admin() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$base/postgres" -c "$1" >/dev/null; }

# Keys of our own, so the script does not depend on bench.sh's layout.
keys=$pgdir/keys
mkdir -p "$keys"
CYBEXP_HOME=$keys "$bin" keygen >/dev/null

if [ -n "$probe" ]; then
  . "$(dirname "$0")/bench-latency.sh"
  psql_admin "CREATE DATABASE latency"
  cat >"$pgdir/config.json" <<EOF
{"cache": {"url": "$base/latency", "private_key": "$keys/priv.pem"},
 "archive": {"url": "$base/latency"},
 "public_key": "$keys/pub.pem", "run_dir": "$pgdir"}
EOF
  latency_row "PostgreSQL" "$bin" "$probe" "$pgdir/config.json" "$base/latency" "$keys/pub.pem" \
    "$pgdir" "$pgdir/daemon.log"
  exit 0
fi

psql_admin "CREATE DATABASE tpl"
start=$(date +%s.%N)
"$fill" "$base/tpl" "$keys/pub.pem" "$count" "$size"
echo "bench-postgres: filled $count entries in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" >&2

for workers in 1 2; do
  db=run$workers
  # A file-level copy of the filled template: every run starts from the same state.
  psql_admin "CREATE DATABASE $db TEMPLATE tpl"
  cat >"$pgdir/config.json" <<EOF
{"cache": {"url": "$base/$db", "private_key": "$keys/priv.pem"},
 "archive": {"url": "$base/$db"},
 "public_key": "$keys/pub.pem", "lease_seconds": 300}
EOF
  /usr/bin/time -f '%e %M' -o "$pgdir/time" "$bin" -c "$pgdir/config.json" --log-level warning run --once \
    --workers "$workers" >"$pgdir/out"
  echo "bench-postgres: $workers worker(s): $(cat "$pgdir/out")" >&2
  read -r secs rss_kb <"$pgdir/time"
  # The same arithmetic and format as bench.sh's report().
  awk -v l="$label" -v w="$workers" -v n="$count" -v s="$size" -v t="$secs" -v r="$rss_kb" -v rsa="$rsa" 'BEGIN {
    eps = n / t; mbs = n * s / t / 1e6; limit = rsa * w;
    printf "| %s | %d | %d | %.2f | %.0f | %.1f | %.0f | %.0f | %.1f%% |\n", l, w, n, t, eps, mbs, r / 1024, limit, 100 * eps / limit }'
  psql_admin "DROP DATABASE $db"
done
