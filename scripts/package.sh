#!/usr/bin/env bash
# Builds the Debian package: installs what building it needs (the build
# dependencies in debian/control and the packaging tools), runs
# `dpkg-buildpackage -us -uc -b`, checks the result with lintian, and leaves
# cybexp-archive_VERSION_ARCH.deb in dist/. Then, as root:
#   apt install ./dist/cybexp-archive_*.deb
# (docs/PACKAGING.md). Options:
#   --version V   build it as version V (a local rebuild: the changelog gets a
#                 temporary entry, restored afterwards), e.g. for upgrade tests
#   --reuse-build reuse the objects of the previous build in this tree
#                 (dpkg-buildpackage -nc): only the packaging steps run again
#   --out DIR     leave the .deb in DIR instead of dist/
#   --no-lintian  skip the lintian check
# DEB_BUILD_OPTIONS (e.g. parallel=2) is honoured; CMAKE_CXX_COMPILER_LAUNCHER
# (e.g. ccache) is passed to CMake through the environment when set.
set -euo pipefail
cd "$(dirname "$0")/.."
version="" lintian=1 out=dist nc=()
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --reuse-build) nc=(-nc); shift ;;
    --out) out="$2"; shift 2 ;;
    --no-lintian) lintian=0; shift ;;
    *) echo "package.sh: unknown option '$1' (--version V, --reuse-build, --out DIR, --no-lintian)" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh build package
# Whatever else debian/control names (normally nothing beyond the above).
if ! dpkg-checkbuilddeps >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get build-dep -y -qq ./
fi

export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}"
if [ -n "$version" ]; then
  cp debian/changelog debian/changelog.package-sh
  trap 'mv -f debian/changelog.package-sh debian/changelog' EXIT
  DEBFULLNAME="cybexp-archive package.sh" DEBEMAIL="root@localhost" \
    dch --newversion "$version" --distribution bookworm --force-distribution \
        --force-bad-version "Local rebuild as $version (scripts/package.sh --version)."
fi
pkgver=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb="cybexp-archive_${pkgver}_${arch}.deb"

# dpkg-buildpackage writes its results next to the source tree; they are
# moved to dist/.
rm -f "../$deb" "../cybexp-archive_${pkgver}_${arch}".{buildinfo,changes}
start=$(date +%s)
dpkg-buildpackage -us -uc -b "${nc[@]}"
mkdir -p "$out"
mv -f "../$deb" "$out/"
rm -f "../cybexp-archive_${pkgver}_${arch}".{buildinfo,changes} ../cybexp-archive-dbgsym_"${pkgver}"_*.deb ../cybexp-archive-dbgsym_"${pkgver}"_*.ddeb
echo "package.sh: built $out/$deb in $(( $(date +%s) - start )) s"

if [ "$lintian" = 1 ]; then
  # No errors; each warning is overridden with its reason in
  # debian/cybexp-archive.lintian-overrides. --fail-on warning makes a new
  # one fail the build until it is fixed or explained there.
  lintian --fail-on error,warning --info "$out/$deb"
  echo "package.sh: lintian: no errors or unexplained warnings"
fi
dpkg-deb --info "$out/$deb" | sed -n '/Package:/,/Description:/p'
