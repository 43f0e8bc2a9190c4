#!/usr/bin/env bash
# Builds libraft 0.22.1 (the cowsql fork of canonical/raft, used through its step API: see
# design/cluster.md section 1) as a static library WITH ITS ASSERTS ON and installs it into
# third_party/raft/install/{include,lib} (git-ignored), where CMakeLists.txt finds it.
#
# Where the source comes from: Debian 13 ("trixie") packages it (source package `raft`). Debian 12
# does not (its libraft-dev is canonical's 0.15, which must not be used), so this script fetches
# trixie's source package with apt-get through a private apt configuration: its own sources file
# (one `deb-src` line for trixie), lists and cache under third_party/raft/apt/. The system's apt
# sources, lists and cache are never touched; Debian 12's archive keyring verifies trixie's
# Release file. Any 0.22.1-* Debian revision is accepted, but the upstream tarball must match the
# sha256 below.
#
# Idempotent and fast when already done (a stamp records version, checksum and build flags).
# Needs no root (apt runs on private directories) and no stdin. Build tools (autoconf, automake,
# libtool, pkg-config, make, cc) come from scripts/install-deps.sh, which calls this script.
# Environment: STET_RAFT_JOBS (make -j, default nproc), STET_DEBIAN_MIRROR (default: the mirror
# the system's apt uses for the Debian archive, else http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

RAFT_VERSION=0.22.1
RAFT_SHA256=7e45b6f24f3671c9bfd5b146814493f87cb2e560712bd469c1f5969a4b94291a
RAFT_SUITE=trixie
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# Only the core (step API) is needed: no libuv raft_io backend (hence no lz4), no test fixture
# (legacy raft_io based), no example or benchmark programs. The legacy v0 API stays compiled in
# (configure's default, as Debian ships it); Stet calls raft_init(r, NULL, NULL, ...) and never
# uses it. Configure adds -DNDEBUG unless --enable-debug (which also adds -Werror): -UNDEBUG in
# CFLAGS comes after it on the command line and keeps assert() live.
CONFIGURE_FLAGS=(--enable-static --disable-shared --with-pic --disable-uv --without-lz4
                 --disable-fixture --disable-example --disable-benchmark)
RAFT_CFLAGS="-O2 -g -UNDEBUG"

base=$root/third_party/raft
prefix=$base/install
dist=$base/dist
tarball=$dist/raft_${RAFT_VERSION}.orig.tar.gz
stamp_want="raft ${RAFT_VERSION} sha256 ${RAFT_SHA256} configure ${CONFIGURE_FLAGS[*]} cflags ${RAFT_CFLAGS}"

die() { echo "install-raft.sh: $*" >&2; exit 1; }
log() { echo "install-raft.sh: $*"; }

is_installed() {
  [ -f "$prefix/lib/libraft.a" ] && [ -f "$prefix/include/raft.h" ] &&
    [ "$(cat "$prefix/.stet-stamp" 2>/dev/null)" = "$stamp_want" ]
}

if is_installed; then
  log "libraft ${RAFT_VERSION} already installed in $prefix"
  exit 0
fi

mkdir -p "$base"
# One run at a time (CI, a developer and a build may start it together).
exec 9>"$base/.lock"
flock 9
if is_installed; then
  log "libraft ${RAFT_VERSION} already installed in $prefix"
  exit 0
fi

start=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$RAFT_SHA256" ]; }

# ---- 1. fetch the upstream tarball from Debian 13's source package (isolated apt) ----------------
if ! sha_ok "$tarball"; then
  command -v apt-get >/dev/null || die "apt-get is needed to fetch raft's source package (Debian only)"
  [ -f "$KEYRING" ] || die "$KEYRING is missing: install the debian-archive-keyring package"
  mirror=${STET_DEBIAN_MIRROR:-}
  if [ -z "$mirror" ]; then
    # The URI the system's apt uses for the main Debian archive of this release (read only).
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    if [ -n "$codename" ]; then
      mirror=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
                 awk -v c="$codename" '$2 == c { print $1; exit }')
    fi
    mirror=${mirror:-http://deb.debian.org/debian}
  fi
  apt_dir=$base/apt
  rm -rf "$apt_dir"
  mkdir -p "$apt_dir/etc/sources.list.d" "$apt_dir/etc/preferences.d" "$apt_dir/lists/partial" \
           "$apt_dir/cache/archives/partial" "$dist"
  echo "deb-src [signed-by=$KEYRING] ${mirror%/} $RAFT_SUITE main" >"$apt_dir/etc/sources.list"
  # A private configuration read after the system's (so proxies set there still apply): it
  # replaces every path apt reads sources from or writes state to, and drops the system's
  # post-update hooks (they refresh the system's own caches).
  cat >"$apt_dir/apt.conf" <<EOF
Dir::Etc::SourceList "$apt_dir/etc/sources.list";
Dir::Etc::SourceParts "$apt_dir/etc/sources.list.d";
Dir::Etc::Preferences "$apt_dir/etc/preferences";
Dir::Etc::PreferencesParts "$apt_dir/etc/preferences.d";
Dir::State::Lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
Acquire::Languages "none";
APT::Sandbox::User "$(id -un)";
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
EOF
  apt_opts=(-q -c "$apt_dir/apt.conf")
  log "fetching the source index of Debian $RAFT_SUITE from $mirror (private apt dirs in $apt_dir)"
  apt-get "${apt_opts[@]}" update >"$apt_dir/update.log" 2>&1 ||
    { cat "$apt_dir/update.log" >&2; die "apt-get update of the private trixie deb-src list failed"; }
  # Any Debian revision of upstream 0.22.1; the highest if several are listed.
  version=$(apt-cache "${apt_opts[@]}" showsrc raft 2>/dev/null | awk '/^Version: / { print $2 }' |
              grep -E "^${RAFT_VERSION//./\\.}-[^-]+$" | sort -V | tail -1 || true)
  [ -n "$version" ] || die "Debian $RAFT_SUITE has no raft ${RAFT_VERSION}-* source package (it lists: $(apt-cache "${apt_opts[@]}" showsrc raft 2>/dev/null | awk '/^Version: / { printf "%s ", $2 }'))"
  log "downloading source package raft=$version"
  (cd "$dist" && apt-get "${apt_opts[@]}" source --download-only "raft=$version" >"$apt_dir/source.log" 2>&1) ||
    { cat "$apt_dir/source.log" >&2; die "apt-get source raft=$version failed"; }
  [ -f "$tarball" ] || die "apt-get source raft=$version did not produce $(basename "$tarball")"
  if ! sha_ok "$tarball"; then
    got=$(sha256sum "$tarball" | cut -d' ' -f1)
    mv -f "$tarball" "$tarball.rejected"
    die "CHECKSUM MISMATCH for raft_${RAFT_VERSION}.orig.tar.gz from Debian $RAFT_SUITE (raft=$version):
  expected sha256 $RAFT_SHA256
  got      sha256 $got
  The file was moved to $tarball.rejected and nothing was built. Do not bypass this check:
  find out why the upstream tarball changed before trusting it."
  fi
  rm -rf "$apt_dir" # the lists (~20 MB) are only needed for the download
  fetched=$(date +%s.%N)
  log "fetched $(basename "$tarball") (sha256 ok) in $(elapsed "$start" "$fetched") s"
else
  log "using cached $(basename "$tarball") (sha256 ok)"
fi

# ---- 2. build a static library with asserts on ---------------------------------------------------
for tool in autoreconf automake libtoolize pkg-config make cc; do
  command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-deps.sh (it installs autoconf, automake, libtool, pkg-config, build-essential)"
done
build=$base/build
rm -rf "$build"
mkdir -p "$build"
tar -xzf "$tarball" -C "$build"
src=$build/raft-${RAFT_VERSION}
[ -f "$src/configure.ac" ] || die "unexpected tarball layout: no raft-${RAFT_VERSION}/configure.ac"
jobs=${STET_RAFT_JOBS:-$(nproc)}
log "building libraft ${RAFT_VERSION}: configure ${CONFIGURE_FLAGS[*]} CFLAGS='$RAFT_CFLAGS', make -j$jobs"
(
  cd "$src"
  autoreconf -i >"$build/autoreconf.log" 2>&1 || { cat "$build/autoreconf.log" >&2; exit 1; }
  ./configure --prefix="$prefix" "${CONFIGURE_FLAGS[@]}" CFLAGS="$RAFT_CFLAGS" \
    >"$build/configure.log" 2>&1 || { tail -40 "$build/configure.log" >&2; exit 1; }
  make -j"$jobs" >"$build/make.log" 2>&1 || { tail -60 "$build/make.log" >&2; exit 1; }
  make install DESTDIR="$build/stage" >"$build/install.log" 2>&1 || { tail -40 "$build/install.log" >&2; exit 1; }
) || die "building libraft failed (logs in $build)"
staged=$build/stage$prefix
[ -f "$staged/lib/libraft.a" ] && [ -f "$staged/include/raft.h" ] || die "make install did not produce lib/libraft.a and include/raft.h"
# The asserts must be in: a build whose assert() compiled to nothing would not call __assert_fail.
n_assert_refs=$(nm "$staged/lib/libraft.a" 2>/dev/null | grep -c ' U __assert_fail$' || true)
[ "${n_assert_refs:-0}" -gt 0 ] ||
  die "libraft.a was built without its asserts (no reference to __assert_fail): refusing to install it"
rm -f "$staged/lib/libraft.la"
find "$staged" -type d -empty -delete
echo "$stamp_want" >"$staged/.stet-stamp"
rm -rf "$prefix"
mv "$staged" "$prefix"
rm -rf "$build"
end=$(date +%s.%N)
log "installed libraft ${RAFT_VERSION} (static, asserts on) in $prefix: include/raft.h, lib/libraft.a ($(elapsed "$start" "$end") s)"
