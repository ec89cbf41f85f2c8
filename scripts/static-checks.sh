#!/usr/bin/env bash
# Static checks over the project's code: clang-tidy (.clang-tidy) and
# cppcheck (.cppcheck-suppressions) on every source under src/ and apps/
# except tests (*_test.cpp) and the headers they include from include/ and
# src/. Exits 1 on any finding, printing it.
#
# Both tools need the compile commands of a clang configuration: the `clang`
# preset (build/hardening) is configured for that, nothing is built.
#
#   scripts/static-checks.sh [--analyzer]
#
# The clang static analyzer (clang-analyzer-*, path-sensitive) costs about
# twice all the other checks together (11 s of CPU per file against 6 s), so
# it runs only with --analyzer: before a release and after changing memory or
# error handling, not in every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
analyzer=0
case "${1:-}" in
  --analyzer) analyzer=1 ;;
  "") ;;
  *) echo "static-checks: unknown option '$1' (--analyzer)" >&2; exit 2 ;;
esac
root=$(pwd)
build=build/hardening
cmake --preset clang >/dev/null

# The project's sources, from the compilation database.
mapfile -t files < <(grep -o '"file": "[^"]*"' "$build/compile_commands.json" |
  sed 's/"file": "//; s/"$//' | grep -E "^$root/(src|apps)/" | grep -v '_test\.cpp$' | sort -u)
[ ${#files[@]} -gt 0 ] || { echo "static-checks: no sources found in $build" >&2; exit 1; }
echo "static-checks: ${#files[@]} sources"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

# clang-tidy: one process per file, as many at once as there are cores.
checks=-clang-analyzer-*
[ $analyzer = 0 ] || checks=""
echo "static-checks: clang-tidy$([ $analyzer = 1 ] && echo ' with' || echo ' without') the clang static analyzer"
export build tmp checks
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -I{} sh -c '
  out="$tmp/$(echo "$1" | tr / _).tidy"
  clang-tidy -p "$build" --quiet ${checks:+--checks="$checks"} "$1" >"$out" 2>&1 ||
    echo "$1" >>"$tmp/tidy-failed"' _ {}
if [ -s "$tmp/tidy-failed" ]; then
  status=1
  echo "static-checks: clang-tidy findings:"
  # Only the diagnostics (a header's finding repeats for each includer).
  cat "$tmp"/*.tidy | grep -E '^/.*: (error|warning): ' | sort -u
  # A file clang could not even compile fails without such a line: show it.
  while read -r f; do
    out="$tmp/$(echo "$f" | tr / _).tidy"
    grep -qE '^/.*: (error|warning): ' "$out" || { echo "== $f"; grep -v 'warnings generated' "$out" | tail -5; }
  done <"$tmp/tidy-failed"
else
  echo "static-checks: clang-tidy clean"
fi

# cppcheck: the same files with the project's include paths. Its
# suppressions file takes no comments, so they are stripped here.
grep -v -e '^#' -e '^$' .cppcheck-suppressions >"$tmp/suppressions"
if ! cppcheck -q --std=c++20 --language=c++ -I include -I src -DCYBEXP_VERSION='"0"' \
    --enable=warning,performance,portability --inline-suppr \
    --suppressions-list="$tmp/suppressions" --error-exitcode=1 -j "$(nproc)" \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
    "${files[@]}" 2>"$tmp/cppcheck"; then
  status=1
  echo "static-checks: cppcheck findings:"
  cat "$tmp/cppcheck"
else
  echo "static-checks: cppcheck clean"
fi
exit "$status"
