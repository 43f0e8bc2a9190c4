#!/usr/bin/env bash
# Builds build/stet (optimised, with debug info), and nothing else: unit tests, fuzz drivers
# and micro benchmarks (and what they need: cmocka, libraft) are for tests/run.sh, which builds
# them in build-asan/, and bench/run.sh, which turns STET_BUILD_TESTS back on for its targets.
# Usage: scripts/build.sh [cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTET_BUILD_TESTS=OFF "$@" >/dev/null
cmake --build build -j"$(nproc)" --target stet
