#!/usr/bin/env bash
# Installs the Debian packages Stet needs to build and test (Debian 12), then builds libraft
# (scripts/install-raft.sh). Idempotent: does nothing when everything is already installed. Runs
# apt-get through sudo when not root.
set -euo pipefail
# autoconf automake libtool: scripts/install-raft.sh builds libraft from its source package
pkgs=(build-essential cmake pkg-config autoconf automake libtool libuv1-dev libnghttp2-dev librocksdb-dev libssl-dev libcmocka-dev libsqlite3-dev
      libxxhash-dev nodejs npm curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere than Debian's packages: accept any node >= 20 on PATH
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
exec "$(dirname "$0")/install-raft.sh"
