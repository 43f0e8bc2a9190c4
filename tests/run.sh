#!/usr/bin/env bash
# The whole test suite: installs dependencies, then
#   1. unit tests and fuzz-corpus replays under ASan + UBSan (build-asan/, ctest),
#   2. the optimised build (build/stet),
#   3. end-to-end tests: build/stet driven by real Restate TypeScript SDK 1.17.2 services,
#   4. the 3-node compose setup brought up by a real Docker engine (tests/docker/compose.sh; root).
# Ends with one line "N passed, N failed". Exit status 0 only when nothing failed.
# tests/run.sh --quick runs only step 1 (unit tests and fuzz replays) and ends with the same line.
# tests/run.sh --long adds the tier outside CI: the seeded consensus harness with 5000 seeds, the
# compose setup with the prebuilt binary in its image, and the 3-node cluster tests five times over
# (about 20 more minutes).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=0
long=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --long) long=1 ;;
    *) echo "usage: tests/run.sh [--quick | --long]" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }
passed=0
failed=0
log_dir=$(mktemp -d)

echo "== unit tests (ASan + UBSan)"
if cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSTET_SANITIZE=ON >"$log_dir/cmake-asan.log" 2>&1 &&
   cmake --build build-asan -j"$(nproc)" >"$log_dir/build-asan.log" 2>&1; then
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j2 2>&1) | tee "$log_dir/ctest.log"
  p=$(grep -Eo '[0-9]+ tests passed' "$log_dir/ctest.log" | tail -1 | grep -Eo '^[0-9]+' || true)
  f=$(grep -Eo 'tests passed, [0-9]+ tests failed' "$log_dir/ctest.log" | tail -1 | grep -Eo '[0-9]+' || true)
  if [ -z "$p" ]; then
    t=$(grep -Eo 'out of [0-9]+' "$log_dir/ctest.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
    p=$((t - ${f:-0}))
  fi
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
else
  cat "$log_dir"/cmake-asan.log "$log_dir"/build-asan.log | tail -50
  echo "sanitized build failed"; failed=$((failed + 1))
fi

if [ "$quick" -eq 1 ]; then
  rm -rf "$log_dir"
  echo "$passed passed, $failed failed"
  exit $((failed == 0 ? 0 : 1))
fi

echo "== optimised build"
if ! scripts/build.sh >"$log_dir/build.log" 2>&1; then
  tail -50 "$log_dir/build.log"; echo "build failed"; failed=$((failed + 1))
else
  echo "== end-to-end tests"
  if (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error >"$log_dir/npm.log" 2>&1); then
    # single-node files first, then the 3-node cluster files on their own: their failover bounds
    # (seconds) assume no unrelated test floods the disk meanwhile (an fsync stall of several
    # seconds on a shared disk is not a failover)
    for part in single cluster; do
      if [ "$part" = single ]; then files=$(cd tests/e2e && ls *.test.mjs); else files=$(cd tests/e2e && ls cluster/*.test.mjs); fi
      # shellcheck disable=SC2086
      (cd tests/e2e && STET_BIN="$root/build/stet" node --test --test-reporter=tap --test-concurrency=2 $files 2>&1) \
        | tee "$log_dir/e2e-$part.log" | grep -E '^# (Subtest|pass|fail)|^not ok|^ok' || true
      p=$(grep -E '^# pass [0-9]+' "$log_dir/e2e-$part.log" | tail -1 | awk '{print $3}')
      f=$(grep -E '^# fail [0-9]+' "$log_dir/e2e-$part.log" | tail -1 | awk '{print $3}')
      if [ -z "$p" ]; then echo "e2e runner produced no summary ($part)"; tail -40 "$log_dir/e2e-$part.log"; failed=$((failed + 1)); fi
      if [ "${f:-0}" != 0 ]; then
        echo "--- e2e failures ($part):"; grep -B2 -A30 '^not ok' "$log_dir/e2e-$part.log" | head -300
      fi
      passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    done
  else
    tail -30 "$log_dir/npm.log"; echo "npm ci failed"; failed=$((failed + 1))
  fi
fi
echo "== the compose setup with a real Docker engine (tests/docker/compose.sh)"
if [ "$(id -u)" -eq 0 ]; then
  tests/docker/compose.sh 2>&1 | grep -v "deploy sub-keys are not supported" | tee "$log_dir/compose.log"
  p=$(grep -Eo '^compose: [0-9]+ checks passed' "$log_dir/compose.log" | grep -Eo '[0-9]+' | head -1)
  f=$(grep -Eo 'checks passed, [0-9]+ failed' "$log_dir/compose.log" | grep -Eo '[0-9]+' | head -1)
  [ -z "$p" ] && f=${f:-1}
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
else
  echo "skipped: needs root (dockerd, debootstrap)"
fi

if [ "$long" -eq 1 ]; then
  echo "== long tier: seeded consensus harness, 5000 seeds"
  if (cd build-asan && STET_TEST_SEEDS=5000 ./test_consensus >"$log_dir/long-consensus.log" 2>&1); then
    passed=$((passed + 1))
  else
    tail -30 "$log_dir/long-consensus.log"; failed=$((failed + 1))
  fi
  if [ "$(id -u)" -eq 0 ]; then
    echo "== long tier: the compose setup around this checkout's build/stet"
    if tests/docker/compose.sh --prebuilt 2>&1 | grep -v "deploy sub-keys" | tee "$log_dir/compose-pre.log" | tail -3 &&
       grep -q ' 0 failed$' "$log_dir/compose-pre.log"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  fi
  echo "== long tier: 3-node cluster tests x5"
  for i in 1 2 3 4 5; do
    (cd tests/e2e && STET_BIN="$root/build/stet" node --test --test-reporter=tap --test-concurrency=2 cluster/*.test.mjs 2>&1) \
      >"$log_dir/long-cluster-$i.log"
    p=$(grep -E '^# pass [0-9]+' "$log_dir/long-cluster-$i.log" | tail -1 | awk '{print $3}')
    f=$(grep -E '^# fail [0-9]+' "$log_dir/long-cluster-$i.log" | tail -1 | awk '{print $3}')
    [ "${f:-0}" != 0 ] && grep -B2 -A30 '^not ok' "$log_dir/long-cluster-$i.log" | head -100
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
  done
fi
rm -rf "$log_dir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
