#!/usr/bin/env bash
# The second README command: builds everything and runs every test
# (unit, SQLite, a real PostgreSQL server started by the tests, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build test
# CI sets CYBEXP_WARNINGS_AS_ERRORS=1: there, any compiler warning fails the build.
# Tests and benchmarks on: quickstart.sh may have left them off.
cmake --preset release -DCYBEXP_BUILD_TESTS=ON -DCYBEXP_BUILD_BENCH=ON \
  -DCMAKE_COMPILE_WARNING_AS_ERROR="$([ -n "${CYBEXP_WARNINGS_AS_ERRORS:-}" ] && echo ON || echo OFF)" \
  >/dev/null
cmake --build --preset release -j"$(nproc)"
ctest --preset release
