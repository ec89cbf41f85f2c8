#!/usr/bin/env bash
# The package as an operator meets it, under a real systemd: a fresh Debian 12
# (debootstrap, minbase + systemd), the .deb installed with apt-get in a
# chroot, then booted with systemd-nspawn. A oneshot probe unit
# (tests/package/probe.sh) checks the service (enabled and active after boot,
# sample uploads archived, systemd-analyze security exposure <= 2.0, watchdog
# restart of a SIGSTOPped daemon, a clean stop), an upgrade to a rebuilt
# package (data, keys and an edited config kept, service restarted), remove
# and purge (data kept and its place named unless CYBEXP_PURGE_DATA=yes), and
# powers off. Each assertion's result is printed; any failure exits 1.
#
#   tests/package/systemd_test.sh prepare   only make the cached Debian tree
#   tests/package/systemd_test.sh [DEB]     the test (default: the newest dist/*.deb)
#
# The debootstrapped tree is cached as build/package-test/bookworm-minbase.tar
# (remove it to start afresh). The mirror is the one in this machine's apt
# sources (override: CYBEXP_TEST_MIRROR). Needs root, debootstrap and
# systemd-nspawn (scripts/install-deps.sh package-test). The host need not
# run systemd: nspawn is started with --register=no --keep-unit.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
work=$repo/build/package-test
cache=$work/bookworm-minbase.tar
root=$work/root
results=$work/results
start=$SECONDS
say() { echo "systemd_test: $* ($((SECONDS - start)) s)"; }
die() { echo "systemd_test: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, systemd-nspawn)"

mirror() {
  if [ -n "${CYBEXP_TEST_MIRROR:-}" ]; then echo "$CYBEXP_TEST_MIRROR"; return; fi
  local m=""
  # deb822 sources: the URIs of the stanza whose Suites has bookworm.
  m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk '/^$/ { u = "" } /^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm" && u != "") { print u; exit } }')
  [ -n "$m" ] || m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" && $0 !~ /\[/ && $3 == "bookworm" { print $2; exit }')
  [ -n "$m" ] || die "no bookworm mirror in this machine's apt sources: set CYBEXP_TEST_MIRROR"
  echo "$m"
}

prepare() {
  [ -f "$cache" ] && { say "cached Debian tree: $cache"; return; }
  local tmp=$work/debootstrap.tmp m
  m=$(mirror)
  say "debootstrap bookworm from $m into the cache"
  rm -rf "$tmp"; mkdir -p "$tmp"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$tmp" "$m" \
    >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; die "debootstrap failed (log: $work/debootstrap.log)"; }
  tar -C "$tmp" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
  rm -rf "$tmp"
  say "cached the Debian tree as $cache ($(du -h "$cache" | cut -f1))"
}

mkdir -p "$work"
if [ "${1:-}" = prepare ]; then prepare; exit 0; fi

deb=${1:-$(ls -t dist/cybexp-archive_*.deb 2>/dev/null | head -1)}
[ -n "$deb" ] && [ -f "$deb" ] || die "no package: build it with scripts/package.sh (or name the .deb)"
deb=$(realpath "$deb")
version=$(dpkg-deb -f "$deb" Version)
prepare

# The upgrade: the same tree built again by dpkg-buildpackage with a bumped
# version (scripts/package.sh --version; it reuses the compiled objects).
upgrade_version="$version+upgradetest1"
say "building the upgrade package $upgrade_version"
scripts/package.sh --version "$upgrade_version" --reuse-build --no-lintian --out "$work" >"$work/upgrade-build.log" 2>&1 ||
  { tail -30 "$work/upgrade-build.log"; die "building the upgrade package failed (log: $work/upgrade-build.log)"; }
upgrade_deb=$(ls "$work"/cybexp-archive_"$upgrade_version"_*.deb)
[ "$(dpkg-deb -f "$upgrade_deb" Version)" = "$upgrade_version" ] || die "upgrade package has the wrong version"

say "fresh Debian 12 tree from the cache"
rm -rf "$root" "$results"; mkdir -p "$root" "$results"
tar -C "$root" -xf "$cache"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$upgrade_deb" "$root/root/"

say "chroot: apt-get install ./$(basename "$deb")"
if ! chroot "$root" sh -c "cd /root && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y ./$(basename "$deb")" \
     >"$work/install.log" 2>&1; then
  tail -30 "$work/install.log"; die "installing the package in the chroot failed (log: $work/install.log)"
fi
grep 'cybexp-archive:' "$work/install.log" || true

# The probe: runs once the system is up, then powers off.
install -m 0755 tests/package/probe.sh "$root/usr/local/sbin/cybexp-probe"
cat >"$root/etc/systemd/system/cybexp-probe.service" <<UNIT
[Unit]
Description=cybexp-archive package probe (tests/package/systemd_test.sh)
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/cybexp-probe /root/$(basename "$upgrade_deb")
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
UNIT
ln -s /etc/systemd/system/cybexp-probe.service "$root/etc/systemd/system/multi-user.target.wants/cybexp-probe.service"
echo cybexp-test >"$root/etc/hostname"
rm -f "$root/etc/resolv.conf"  # --private-network: nothing to resolve

say "booting it: systemd-nspawn -b (the probe powers it off)"
set +e
timeout 360 systemd-nspawn --register=no --keep-unit --private-network --quiet \
  --console=pipe -D "$root" --bind="$results:/results" -b </dev/null >"$work/boot.log" 2>&1
rc=$?
set -e
say "container exited ($rc)"

echo
echo "=== package test: $(basename "$deb") -> $(basename "$upgrade_deb")"
expected=17
passed=0 failed=0
if [ -f "$results/results.txt" ]; then
  while IFS= read -r line; do
    case "$line" in
      PASS*) passed=$((passed + 1)); echo "$line" ;;
      FAIL*) failed=$((failed + 1)); echo "$line" ;;
    esac
  done <"$results/results.txt"
fi
done_marker=no; grep -qx DONE "$results/results.txt" 2>/dev/null && done_marker=yes
if [ "$failed" -gt 0 ] || [ "$passed" -ne "$expected" ] || [ "$done_marker" != yes ]; then
  echo "--- probe log (tail)"; tail -40 "$results/probe.log" 2>/dev/null || true
  echo "--- boot log (tail)"; tail -40 "$work/boot.log" || true
  [ "$done_marker" = yes ] || echo "the probe did not finish (container exit $rc)"
  [ "$passed" -eq "$expected" ] || echo "expected $expected assertions to pass, $passed did"
  missing=$((expected - passed - failed)); [ "$missing" -ge 0 ] || missing=0
  echo "package-test: $passed passed, $((failed + missing)) failed"
  exit 1
fi
echo "systemd_test: all assertions passed in $((SECONDS - start)) s"
echo "package-test: $passed passed, 0 failed"
