#!/usr/bin/env bash
# The first README command: installs what building and running need (no test
# tools, no PostgreSQL server), builds the daemon, and archives the
# shipped sample data on the embedded default store under ./cybexp-data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release -DCYBEXP_BUILD_TESTS=OFF -DCYBEXP_BUILD_BENCH=OFF >/dev/null  # the daemon only: no test dependencies
cmake --build --preset release --target cybexp-archive -j"$(nproc)"
bin=build/release/apps/cybexp-archive/cybexp-archive
export CYBEXP_HOME="${CYBEXP_HOME:-$PWD/cybexp-data}"
[ -f "$CYBEXP_HOME/priv.pem" ] || "$bin" keygen
"$bin" submit --typetag unr-honeypot --orgid identity--example-org --timezone US/Pacific sample-data/honeypot-event.json
"$bin" submit --typetag openphish_feed --orgid identity--example-org sample-data/openphish-feed.txt
"$bin" submit --typetag email --orgid identity--example-org sample-data/phishing-email.eml
"$bin" submit --typetag sighting --orgid identity--example-org sample-data/sighting.json
"$bin" run --once
"$bin" status
echo
echo "Archived documents ($bin export):"
"$bin" export | cut -c1-160
