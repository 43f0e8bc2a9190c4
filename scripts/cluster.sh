#!/usr/bin/env bash
# The 3-node layout of deploy/restate-cluster without Docker: three build/stet processes on this
# machine with the compose file's settings and host ports (node k: ingress 8080/28080/38080,
# admin 9070/29070/39070, node port 5122/25122/35122), so the compose README's curl examples work
# against it.
#
#   scripts/cluster.sh start [--base-dir DIR]   starts the nodes (data, logs and pids in DIR,
#                                               default ./restate-data), waits for a quorum
#   scripts/cluster.sh stop  [--base-dir DIR]   SIGTERM to each node, waits for them to exit
#   scripts/cluster.sh status [--base-dir DIR]  GET /cluster of the first node that answers
# Environment: STET_BIN (default build/stet), RESTATE_CLUSTER_NAME (restate-cluster),
# RESTATE_DEFAULT_REPLICATION (2), and any other RESTATE_* setting, passed to every node.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-}
shift || true
base=./restate-data
while [ $# -gt 0 ]; do
  case "$1" in
    --base-dir) base=$2; shift 2 ;;
    *) echo "usage: scripts/cluster.sh start|stop|status [--base-dir DIR]" >&2; exit 2 ;;
  esac
done
bin=${STET_BIN:-build/stet}
mkdir -p "$base"
base=$(cd "$base" && pwd)
prefix() { [ "$1" = 1 ] && echo "" || echo "$1"; } # 8080 / 28080 / 38080 ...
addresses='["http://127.0.0.1:5122","http://127.0.0.1:25122","http://127.0.0.1:35122"]'

case "$cmd" in
  start)
    [ -x "$bin" ] || { echo "cluster.sh: $bin is missing: run scripts/build.sh" >&2; exit 1; }
    for k in 1 2 3; do
      pidf="$base/restate-$k.pid"
      if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then echo "restate-$k is running (pid $(cat "$pidf"))"; continue; fi
      p=$(prefix $k)
      RESTATE_NODE_NAME=restate-$k RESTATE_FORCE_NODE_ID=$k \
      RESTATE_AUTO_PROVISION=$([ $k = 1 ] && echo true || echo false) \
      RESTATE_CLUSTER_NAME=${RESTATE_CLUSTER_NAME:-restate-cluster} \
      RESTATE_DEFAULT_REPLICATION=${RESTATE_DEFAULT_REPLICATION:-2} \
      RESTATE_METADATA_CLIENT__ADDRESSES=$addresses \
      RESTATE_BIND_ADDRESS=0.0.0.0:${p}5122 RESTATE_ADVERTISED_ADDRESS=http://127.0.0.1:${p}5122 \
      RESTATE_ADMIN__BIND_ADDRESS=0.0.0.0:${p}9070 RESTATE_INGRESS__BIND_ADDRESS=0.0.0.0:${p}8080 \
      RESTATE_BASE_DIR="$base" \
        nohup "$bin" >>"$base/restate-$k.log" 2>&1 </dev/null &
      echo $! >"$pidf"
      echo "restate-$k: pid $!, ingress :${p}8080, admin :${p}9070, node port :${p}5122, log $base/restate-$k.log"
    done
    for _ in $(seq 1 100); do
      curl -sf localhost:9070/cluster 2>/dev/null | grep -q '"quorum":true' && { echo "cluster ready"; exit 0; }
      sleep 0.1
    done
    echo "cluster.sh: no metadata quorum after 10 s; see the logs in $base" >&2
    exit 1
    ;;
  stop)
    for k in 1 2 3; do
      pidf="$base/restate-$k.pid"
      [ -f "$pidf" ] || continue
      pid=$(cat "$pidf")
      if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { echo "restate-$k did not stop in 30 s: SIGKILL"; kill -KILL "$pid"; }
        echo "restate-$k stopped"
      fi
      rm -f "$pidf"
    done
    ;;
  status)
    for p in 9070 29070 39070; do
      curl -sf "localhost:$p/cluster" && { echo; exit 0; }
    done
    echo "cluster.sh: no node answers" >&2
    exit 1
    ;;
  *) echo "usage: scripts/cluster.sh start|stop|status [--base-dir DIR]" >&2; exit 2 ;;
esac
