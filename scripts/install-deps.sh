#!/usr/bin/env bash
# Installs the Debian 12 packages cybexp-archive needs, those that are missing
# only. Needs root (or sudo). Groups (default: build):
#   build         building and running the daemon (scripts/quickstart.sh)
#   test          the test suite, sanitizers, fuzzing and static checks,
#                 with a real PostgreSQL server (scripts/test.sh, .ci/run)
#   package       building and checking the .deb (scripts/package.sh)
#   package-test  booting it under systemd in a container
#                 (tests/package/systemd_test.sh)
# e.g. scripts/install-deps.sh build test
set -euo pipefail
build=(
  build-essential cmake g++ pkg-config
  libssl-dev          # OpenSSL 3: RSA-OAEP, AES-CTR, CMAC, SHA-256
  libsodium-dev       # SipHash-2-4 for hash tables of hostile keys (keyed_hash.h)
  libsqlite3-dev      # the embedded store
  libpq-dev           # the PostgreSQL store (the client library; no server)
  libmongoc-dev       # the MongoDB store (libmongoc 1.23, libbson)
  rapidjson-dev       # JSON parsing (SAX)
  libcpp-httplib-dev  # the /metrics endpoint
  libsystemd-dev      # sd_notify: Type=notify, STATUS, watchdog
  ca-certificates
)
test=(
  libgtest-dev libbenchmark-dev
  clang libclang-rt-14-dev  # the libFuzzer targets (scripts/fuzz.sh)
  clang-tidy cppcheck       # scripts/static-checks.sh
  postgresql          # a real server for the PostgreSQL tests
)
package=(
  dpkg-dev debhelper fakeroot devscripts lintian
)
package_test=(
  debootstrap systemd-container  # systemd-nspawn
)
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(build)
packages=()
for g in "${groups[@]}"; do
  case "$g" in
    build) packages+=("${build[@]}") ;;
    test) packages+=("${test[@]}") ;;
    package) packages+=("${package[@]}") ;;
    package-test) packages+=("${package_test[@]}") ;;
    *) echo "install-deps: unknown group '$g' (build, test, package, package-test)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed (${groups[*]})"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
