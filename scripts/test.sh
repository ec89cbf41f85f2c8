#!/usr/bin/env bash
# The second README command: builds everything and runs every test
# (unit, SQLite, a real PostgreSQL server started by the tests, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
ctest --preset release
