#!/usr/bin/env bash
# The second README command: builds everything and runs every test
# (unit, SQLite, a real PostgreSQL server started by the tests, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build test
cmake --preset release -DCYBEXP_BUILD_TESTS=ON -DCYBEXP_BUILD_BENCH=ON >/dev/null  # quickstart.sh may have left them off
cmake --build --preset release -j"$(nproc)"
ctest --preset release
