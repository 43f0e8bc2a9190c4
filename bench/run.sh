#!/usr/bin/env bash
# The benchmark suite's one command. From a checkout on Debian 12:
#   1. checks node >= 20, npm, cmake, and installs wrk from Debian if it is missing;
#   2. installs the pinned @restatedev/restate-server 1.7.12 and @restatedev/restate-sdk 1.17.2
#      from npm into bench/node_modules (npm ci against bench/package-lock.json; skipped when
#      exactly those versions are already there; install scripts are not run);
#   3. builds Stet and the micro benchmarks (cmake, RelWithDebInfo without sanitizers, in
#      build/ unless --build-dir DIR);
#   4. runs bench/run.mjs, which benchmarks Stet and then restate-server on the same loopback
#      ports, runs the micro benchmarks, prints the side-by-side tables and writes
#      bench/RESULTS.md. Raw data goes to bench/out/ (ignored by git).
#   With --flood, step 4 runs only the flood instead (per server: 512 connections for 15 s of
#      POST /Bench/flood/send with a unique id per send, then the drain; accepted/refused by
#      status, executed/unique/duplicates/lost, drain time, peak server RSS, and the targets
#      Stet peak RSS <= 128 MB and every accepted send executed exactly once), builds only stet,
#      and writes bench/RESULTS-flood.md (bench/RESULTS.md is left alone).
#   With --failover, step 4 runs only bench/failover.mjs instead (metadata-leader SIGKILL and
#      SIGSTOP in a 3-node cluster, per server; its options, e.g. --rounds N, are passed on),
#      builds only stet, and writes bench/RESULTS-failover.md.
#
# Usage: bench/run.sh [--build-dir DIR] [--skip-build] [run.mjs options...]
#   e.g. bench/run.sh --quick
#        bench/run.sh --servers stet --workloads noop,run3 --duration 5
#        bench/run.sh --flood                   # Stet and restate-server, ~2 min + drains
#        bench/run.sh --flood --servers stet --flood-duration 30
#        bench/run.sh --failover --rounds 10      # Stet and restate-server, ~2 + ~5 min
# `bench/run.sh --help` lists run.mjs's options. The whole command is bounded by
# BENCH_TIMEOUT seconds (default 3600).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
command_line="bench/run.sh"
for a in "$@"; do command_line+=" $(printf '%q' "$a")"; done

build_dir=build
skip_build=0
flood=0
failover=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --flood) flood=1; args+=("$1"); shift ;;
    --failover) failover=1; shift ;;
    --build-dir)
      [ $# -ge 2 ] || { echo "bench/run.sh: --build-dir needs a directory" >&2; exit 2; }
      build_dir=$2; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    -h|--help)
      sed -n '2,28p' "$root/bench/run.sh" | sed 's/^# \{0,1\}//'
      echo
      exec node bench/run.mjs --help ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac

say() { printf '[bench.sh] %s\n' "$*" >&2; }

# 1. Tools
command -v node >/dev/null || { echo "bench/run.sh: node (>= 20) is needed: scripts/install-deps.sh installs it" >&2; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "bench/run.sh: node >= 20 is needed, found $(node --version)" >&2; exit 1; }
command -v npm >/dev/null || { echo "bench/run.sh: npm is needed: scripts/install-deps.sh installs it" >&2; exit 1; }
if [ "$skip_build" -eq 0 ]; then
  command -v cmake >/dev/null || { echo "bench/run.sh: cmake is needed: run scripts/install-deps.sh" >&2; exit 1; }
fi
if ! command -v wrk >/dev/null; then
  say "installing wrk (Debian package)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends wrk >/dev/null ||
    { DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q >/dev/null &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends wrk >/dev/null; }
fi

# 2. Pinned npm packages
installed() {
  node -e '
    const fs = require("fs");
    const v = (p) => JSON.parse(fs.readFileSync(`bench/node_modules/${p}/package.json`, "utf8")).version;
    const arch = { x64: "x64", arm64: "arm64" }[process.arch];
    const ok = v("@restatedev/restate-sdk") === "1.17.2" && v("@restatedev/restate-server") === "1.7.12" &&
      v(`@restatedev/restate-server-${process.platform}-${arch}`) === "1.7.12";
    process.exit(ok ? 0 : 1);
  ' 2>/dev/null
}
if ! installed; then
  say "npm ci in bench/ (@restatedev/restate-server 1.7.12, @restatedev/restate-sdk 1.17.2)"
  (cd bench && SCARF_ANALYTICS=false timeout 600 npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
  installed || { echo "bench/run.sh: npm ci did not install the pinned versions" >&2; exit 1; }
fi

# 3. Build
if [ "$skip_build" -eq 0 ]; then
  say "building stet and the micro benchmarks in $build_dir"
  scripts/install-raft.sh >/dev/null # the test section of CMakeLists.txt needs libraft (fast when installed)
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTET_SANITIZE=OFF -DSTET_BUILD_TESTS=ON >/dev/null
  targets=(stet bench_protocol bench_log bench_store)
  [ "$flood" -eq 0 ] || targets=(stet)
  [ "$failover" -eq 0 ] || targets=(stet)
  cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]}" >/dev/null
fi

# 4. Run
export BENCH_COMMAND="$command_line"
if [ "$failover" -eq 1 ]; then
  exec timeout --signal=TERM --kill-after=30 "${BENCH_TIMEOUT:-3600}" \
    node bench/failover.mjs --stet-bin "$build_dir/stet" ${args[@]+"${args[@]}"}
fi
exec timeout --signal=TERM --kill-after=30 "${BENCH_TIMEOUT:-3600}" \
  node bench/run.mjs --stet-bin "$build_dir/stet" --micro-dir "$build_dir" ${args[@]+"${args[@]}"}
