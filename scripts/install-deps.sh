#!/usr/bin/env bash
# Installs the Debian 12 packages cybexp-archive builds and tests with, those
# that are missing only. Needs root (or sudo).
set -euo pipefail
packages=(
  build-essential cmake g++ pkg-config
  libssl-dev          # OpenSSL 3: RSA-OAEP, AES-CTR, CMAC, SHA-256
  libsodium-dev       # SipHash-2-4 for hash tables of hostile keys (keyed_hash.h)
  libsqlite3-dev      # the embedded store
  libpq-dev           # the PostgreSQL store
  libmongoc-dev       # the MongoDB store (libmongoc 1.23, libbson)
  rapidjson-dev       # JSON parsing (SAX)
  libcpp-httplib-dev  # the /metrics endpoint
  libsystemd-dev      # sd_notify: Type=notify, STATUS, watchdog
  libgtest-dev libbenchmark-dev
  clang libclang-rt-14-dev  # the libFuzzer targets (scripts/fuzz.sh)
  clang-tidy cppcheck       # scripts/static-checks.sh
  postgresql          # a real server for the PostgreSQL tests
  ca-certificates
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
