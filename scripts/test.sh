#!/usr/bin/env bash
# The second README command: builds everything and runs every test
# (unit, SQLite, a real PostgreSQL server started by the tests, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# CI sets CYBEXP_WARNINGS_AS_ERRORS=1: there, any compiler warning fails the build.
cmake --preset release \
  -DCMAKE_COMPILE_WARNING_AS_ERROR="$([ -n "${CYBEXP_WARNINGS_AS_ERRORS:-}" ] && echo ON || echo OFF)" \
  >/dev/null
cmake --build --preset release -j"$(nproc)"
ctest --preset release
