#!/usr/bin/env bash
# One command for a newcomer on a fresh Debian 12 machine: installs the dependencies, builds
# Stet and starts it in the foreground (data in ./restate-data, ingress :8080, admin :9070).
# Pass --no-start to only install and build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
if [ "${1:-}" != "--no-start" ]; then
  exec build/stet
fi
