#!/usr/bin/env bash
# Runs the MongoDB store's live tests, and the store contract suite's MongoDB
# configurations, against a server started here: CongoDB,
# the small in-memory MongoDB-wire server in the npm package
# @push.rocks/smartmongo 2.2.0 (no real MongoDB server can be installed on
# these machines).
#
#   scripts/mongo-smoke.sh [BUILD_DIR]     default build/release
#
# Installs CongoDB outside the repository ($CYBEXP_CONGO_DIR, default
# /tmp/cybexp-congo), builds mongo_live_tests and store_contract_tests,
# starts the server on 127.0.0.1:$CYBEXP_CONGO_PORT (default 27117), runs
# the tests with CYBEXP_TEST_MONGODB_URI set, and stops the server, whatever
# happened.
#
# CongoDB only smoke-tests the store: it keeps numbers as JavaScript does (a
# whole double comes back as an int32), handles GridFS files up to 16 MiB and
# scans whole collections, so the tests that need a real server say so and
# shrink or skip. To run them all against a real MongoDB instead:
#   CYBEXP_TEST_MONGODB_URI=mongodb://HOST:27017 ctest --test-dir build/release -R '^Mongo'
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
congo_dir=${CYBEXP_CONGO_DIR:-/tmp/cybexp-congo}
port=${CYBEXP_CONGO_PORT:-27117}

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "mongo-smoke: $tool is missing: install Node.js 20 and npm"; exit 1; }
done

# CongoDB without what it does not use: the package also depends on
# mongodb-memory-server (which would download a mongod binary), mongodump and
# smartdata, used only by its SmartMongo class; npm overrides swap them for
# an empty local package.
mkdir -p "$congo_dir/stub"
cat >"$congo_dir/stub/package.json" <<'EOF'
{"name": "cybexp-congo-stub", "version": "0.0.0", "main": "index.js"}
EOF
echo "module.exports = {};" >"$congo_dir/stub/index.js"
cat >"$congo_dir/package.json" <<'EOF'
{
  "name": "cybexp-congo",
  "private": true,
  "dependencies": {"@push.rocks/smartmongo": "2.2.0"},
  "overrides": {
    "mongodb-memory-server": "file:./stub",
    "@push.rocks/mongodump": "file:./stub",
    "@push.rocks/smartdata": "file:./stub"
  }
}
EOF
cat >"$congo_dir/start.mjs" <<'EOF'
// Starts CongoDB on 127.0.0.1:PORT (argv[2]) until SIGTERM/SIGINT.
import { CongoServer } from '@push.rocks/smartmongo/dist_ts/congodb/index.js';
const server = new CongoServer({ port: Number(process.argv[2]), host: '127.0.0.1' });
await server.start();
console.log(`congodb listening on 127.0.0.1:${process.argv[2]}`);
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, async () => { await server.stop(); process.exit(0); });
}
EOF
if [ ! -d "$congo_dir/node_modules/@push.rocks/smartmongo" ]; then
  echo "mongo-smoke: installing @push.rocks/smartmongo 2.2.0 into $congo_dir"
  (cd "$congo_dir" && npm install --no-audit --no-fund --loglevel=error)
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target mongo_live_tests store_contract_tests -j"$(nproc)"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "mongo-smoke: something already listens on 127.0.0.1:$port: set CYBEXP_CONGO_PORT"
  exit 1
fi
node "$congo_dir/start.mjs" "$port" >"$congo_dir/congodb.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "mongo-smoke: CongoDB did not start:"
    cat "$congo_dir/congodb.log"
    exit 1
  fi
  sleep 0.1
done

echo "mongo-smoke: live tests against CongoDB on 127.0.0.1:$port"
CYBEXP_TEST_MONGODB_URI="mongodb://127.0.0.1:$port/?serverSelectionTimeoutMS=5000" \
  ctest --test-dir "$build" -R '^Mongo(Cache|Archive)Live\.|StoreContract.*/Mongo' --output-on-failure
