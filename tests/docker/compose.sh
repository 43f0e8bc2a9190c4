#!/usr/bin/env bash
# The 3-node compose setup (deploy/restate-cluster) brought up by a real Docker engine (issue 14).
#
#   tests/docker/compose.sh [--prebuilt]
#
# What it does, all on this machine (no registry: Debian's archive only):
#   1. installs docker.io, docker-compose (1.29) and debootstrap when missing;
#   2. starts its own dockerd (data and exec roots in a temp dir, its own socket) unless one
#      already answers on DOCKER_HOST / the default socket;
#   3. makes the base image debian:bookworm from `debootstrap --variant=minbase` + `docker import`
#      (the root filesystem is cached in /var/tmp/stet-docker for a week);
#   4. builds the Stet image from the Dockerfile's default target, which compiles libraft and Stet
#      in the image (about a minute here), or with --prebuilt the target `prebuilt` around the
#      build/stet of this checkout (same Debian 12 ABI; scripts/build.sh runs when it is missing);
#   5. brings the compose file up with an override: MinIO (not pullable here) is replaced by the
#      test S3 server (tests/s3/moto_s3.py, moto with authentication) on the host, and a stand-in
#      container keeps the file's `depends_on: minio`; the SDK test service runs on the host too;
#      both bind the Docker bridge's address and the nodes reach them through host-gateway;
#      host ports are free ports, not 8080/9070/...;
#   6. checks: three healthy containers, /cluster-health on each lists three members, a deployment
#      registered on node 2 is listed by nodes 1 and 3 and invoked through node 3's ingress, the
#      memory limit (2G) is applied and Stet sized its cache from it, `stop restate-2` leaves a
#      cluster that registers and invokes, then `down -v`;
#   7. removes what it made: containers, network, volumes, images (its own daemon and its
#      data root entirely), the services process.
# Prints "compose: N checks passed" and exits 0, or the failed check and the nodes' logs, exit 1.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
from_source=1
[ "${1:-}" = "--prebuilt" ] && from_source=0

tmp=$(mktemp -d /tmp/stet-docker-XXXXXX)
project=stetci$$
compose_dir=$root/deploy/restate-cluster
own_dockerd_pid=""
svc_pid=""
s3_pid=""
checks=0
log() { echo "[compose $(date +%H:%M:%S)] $*"; }

dc() { docker-compose --compatibility -p "$project" --env-file "$tmp/env" -f "$compose_dir/docker-compose.yaml" -f "$tmp/override.yaml" "$@"; }

# Docker's own network state (the docker0 bridge, its iptables chains and rules) stays behind when
# dockerd exits: removed when this script's daemon made it (there was no docker0 before).
had_docker0=0
ip link show docker0 >/dev/null 2>&1 && had_docker0=1
engine_net_cleanup() {
  local t
  for t in filter nat; do
    iptables -t "$t" -S 2>/dev/null | grep -E '^-A (FORWARD|PREROUTING|OUTPUT|POSTROUTING|INPUT) .*([Dd]ocker|DOCKER|172\.17\.)' |
      sed 's/^-A /-D /' | while read -r rule; do eval iptables -t "$t" "$rule" 2>/dev/null; done
    for c in DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER; do
      iptables -t "$t" -F "$c" 2>/dev/null
    done
    for c in DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER; do
      iptables -t "$t" -X "$c" 2>/dev/null
    done
  done
  ip link delete docker0 2>/dev/null
}

cleanup() {
  set +e
  if [ -f "$tmp/override.yaml" ] && docker info >/dev/null 2>&1; then
    dc down -v --remove-orphans >/dev/null 2>&1
    docker image rm -f "stet:ci-$project" >/dev/null 2>&1
  fi
  [ -n "$svc_pid" ] && kill "$svc_pid" 2>/dev/null
  [ -n "$s3_pid" ] && kill "$s3_pid" 2>/dev/null
  if [ -n "$own_dockerd_pid" ]; then
    kill "$own_dockerd_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$own_dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$own_dockerd_pid" 2>/dev/null
    # containerd shims of our daemon, if any survived it
    pkill -f "containerd-shim.*$tmp" 2>/dev/null
    umount -R "$tmp/docker" 2>/dev/null
    [ "$had_docker0" -eq 0 ] && engine_net_cleanup
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "compose: FAILED: $*"
  if [ -f "$tmp/override.yaml" ]; then
    for s in restate-1 restate-2 restate-3; do echo "--- $s"; dc logs --no-color --tail=40 "$s" 2>&1 | tail -40; done
  fi
  echo "compose: $checks checks passed, 1 failed"
  exit 1
}
ok() { checks=$((checks + 1)); log "ok: $*"; }

# ---- 1. tools ----------------------------------------------------------------------------------
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >"$tmp/apt.log" 2>&1 ||
    { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >"$tmp/apt.log" 2>&1; } ||
    { tail -20 "$tmp/apt.log"; fail "cannot install ${need[*]}"; }
fi
# Debian's client (20.10) matches Debian's daemon; another docker earlier on PATH may not
[ -x /usr/bin/docker ] && docker() { /usr/bin/docker "$@"; }

# ---- 2. the engine -------------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  mkdir -p "$tmp/docker" "$tmp/exec"
  export DOCKER_HOST="unix://$tmp/docker.sock"
  log "starting dockerd (data root $tmp/docker)"
  dockerd --data-root "$tmp/docker" --exec-root "$tmp/exec" --pidfile "$tmp/dockerd.pid" \
    -H "$DOCKER_HOST" >"$tmp/dockerd.log" 2>&1 &
  own_dockerd_pid=$!
  for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.1; done
  docker info >/dev/null 2>&1 || { tail -30 "$tmp/dockerd.log"; fail "dockerd did not start"; }
fi
ok "docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null)"

# ---- 3. the base image -----------------------------------------------------------------------------
cache=/var/tmp/stet-docker
rootfs_tar=$cache/bookworm-minbase.tar
if ! docker image inspect debian:bookworm >/dev/null 2>&1; then
  mkdir -p "$cache"
  if [ ! -s "$rootfs_tar" ] || [ -n "$(find "$rootfs_tar" -mtime +7 2>/dev/null)" ]; then
    log "debootstrap --variant=minbase bookworm"
    debootstrap --variant=minbase bookworm "$tmp/rootfs" http://deb.debian.org/debian >"$tmp/debootstrap.log" 2>&1 ||
      { tail -20 "$tmp/debootstrap.log"; fail "debootstrap failed"; }
    tar -C "$tmp/rootfs" -cf "$rootfs_tar.new" . && mv "$rootfs_tar.new" "$rootfs_tar"
    rm -rf "$tmp/rootfs"
  fi
  docker import "$rootfs_tar" debian:bookworm >/dev/null || fail "docker import of the base image failed"
fi
ok "base image debian:bookworm"

# ---- 4. the Stet image -------------------------------------------------------------------------------
image="stet:ci-$project"
if [ "$from_source" -eq 1 ]; then
  log "docker build (from source)"
  docker build -q -t "$image" . >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log"; fail "docker build failed"; }
else
  [ -x build/stet ] || scripts/build.sh >"$tmp/stet-build.log" 2>&1 || { tail -30 "$tmp/stet-build.log"; fail "scripts/build.sh failed"; }
  log "docker build --target prebuilt"
  docker build -q --target prebuilt -t "$image" . >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log"; fail "docker build failed"; }
fi
docker run --rm "$image" --help >"$tmp/help.txt" 2>&1 && grep -qi "restate" "$tmp/help.txt" || fail "stet --help does not run in the image"
[ "$(docker run --rm --entrypoint id "$image" -u)" != 0 ] || fail "the image runs as root"
ok "image $image builds, runs stet --help as a non-root user"

# ---- 5. up ------------------------------------------------------------------------------------------
gw=$(docker network inspect bridge --format '{{(index .IPAM.Config 0).Gateway}}' 2>/dev/null)
[ -n "$gw" ] || gw=172.17.0.1
(cd tests/e2e && [ -d node_modules/@restatedev/restate-sdk ] || npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1)
# the SDK service on the host, reachable from the containers at the bridge's address
(cd tests/e2e && SERVICES_HOST=$gw exec node --import ./polyfill.mjs services.mjs >"$tmp/svc.out" 2>"$tmp/svc.err") &
svc_pid=$!
for _ in $(seq 1 100); do grep -q '^READY' "$tmp/svc.out" 2>/dev/null && break; sleep 0.1; done
svc_port=$(sed -n 's/^READY {"port":\([0-9]*\).*/\1/p' "$tmp/svc.out")
[ -n "$svc_port" ] || fail "the SDK services did not start: $(cat "$tmp/svc.err")"
# eleven distinct free host ports (all sockets held open until every port is chosen)
read -r -a ports <<<"$(python3 -c '
import socket
ss = [socket.socket() for _ in range(11)]
for s in ss: s.bind(("0.0.0.0", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')"
# the test S3 server on the host (MinIO's place)
PY=python3; $PY -c 'import moto' 2>/dev/null || PY=/root/.pyenv/shims/python3
$PY -c 'import moto' 2>/dev/null || fail "moto (the machine image's Python) is missing: no test S3 server"
$PY tests/s3/moto_s3.py --host "$gw" --port 0 --bucket restate >"$tmp/s3.out" 2>"$tmp/s3.err" </dev/null &
s3_pid=$!
for _ in $(seq 1 100); do grep -q '^READY' "$tmp/s3.out" 2>/dev/null && break; sleep 0.1; done
read -r _ s3_port s3_key s3_secret <<<"$(grep '^READY' "$tmp/s3.out")"
[ -n "${s3_port:-}" ] || fail "the test S3 server did not start: $(tail -5 "$tmp/s3.err")"
{
  cp "$compose_dir/.env.example" "$tmp/env"
  echo "RESTATE_WORKER__SNAPSHOTS__AWS_ENDPOINT_URL=http://host.docker.internal:$s3_port"
  echo "MINIO_ROOT_USER=$s3_key"
  echo "MINIO_ROOT_PASSWORD=$s3_secret"
  echo "STET_VERSION=ci-$project"
  i=0
  for k in 1 2 3; do
    echo "NODE${k}_INGRESS_PORT_OVERRIDE=${ports[i]}"
    echo "NODE${k}_ADMIN_PORT_OVERRIDE=${ports[i + 1]}"
    echo "NODE${k}_NODE_PORT_OVERRIDE=${ports[i + 2]}"
    i=$((i + 3))
  done
  echo "MINIO_API_PORT_OVERRIDE=${ports[9]}"
  echo "MINIO_CONSOLE_PORT_OVERRIDE=${ports[10]}"
} >>"$tmp/env"
port() { sed -n "s/^$1=//p" "$tmp/env" | tail -1; }
cat >"$tmp/override.yaml" <<EOF
# MinIO cannot be pulled here: a container of the base image stands in for it (healthy at once);
# the nodes reach the host (the SDK service) through host-gateway.
version: "3.8"
services:
  minio:
    image: debian:bookworm
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
      retries: 3
  restate-1: &node
    extra_hosts: ["host.docker.internal:host-gateway"]
  restate-2: *node
  restate-3: *node
EOF
log "compose up"
t0=$(date +%s.%N)
dc up -d --no-build >"$tmp/up.log" 2>&1 || { cat "$tmp/up.log"; fail "docker-compose up failed"; }
health() { docker inspect --format '{{.State.Health.Status}}' "$(dc ps -q "$1" 2>/dev/null)" 2>/dev/null; }
for _ in $(seq 1 300); do
  [ "$(health restate-1)" = healthy ] && [ "$(health restate-2)" = healthy ] && [ "$(health restate-3)" = healthy ] && break
  sleep 0.2
done
for s in restate-1 restate-2 restate-3; do [ "$(health $s)" = healthy ] || fail "$s is not healthy: $(health $s)"; done
ok "three healthy nodes $(python3 -c "import time; print(f'{time.time()-$t0:.1f}')") s after up"

admin() { echo "http://127.0.0.1:$(port NODE$1_ADMIN_PORT_OVERRIDE)"; }
ingress() { echo "http://127.0.0.1:$(port NODE$1_INGRESS_PORT_OVERRIDE)"; }
for k in 1 2 3; do
  curl -sf "$(admin $k)/health" >/dev/null || fail "node $k: admin /health"
done
# one cluster: every node lists the three metadata members (once the nodes registered)
for _ in $(seq 1 100); do
  all=1
  for k in 1 2 3; do
    curl -sf "$(admin $k)/cluster" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["metadata"]["quorum"] and sorted(n["id"] for n in d["nodes"] if n["status"]=="alive")==["N1","N2","N3"] else 1)' 2>/dev/null || all=0
  done
  [ $all = 1 ] && break
  sleep 0.2
done
for k in 1 2 3; do
  m=$(curl -sf "$(admin $k)/cluster-health" | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)["metadata_cluster_health"]["members"]))')
  [ "$m" = "[1, 2, 3]" ] || fail "node $k /cluster-health members: $m"
done
ok "one cluster: /cluster-health on every node lists members 1, 2, 3; /cluster shows three alive nodes"
# the S3 endpoint the nodes are configured with answers from inside a node, signed with its keys
c1=$(dc ps -q restate-1 2>/dev/null)
env1=$(docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$c1")
ep=$(echo "$env1" | sed -n 's/^RESTATE_WORKER__SNAPSHOTS__AWS_ENDPOINT_URL=//p')
ak=$(echo "$env1" | sed -n 's/^RESTATE_WORKER__SNAPSHOTS__AWS_ACCESS_KEY_ID=//p')
sk=$(echo "$env1" | sed -n 's/^RESTATE_WORKER__SNAPSHOTS__AWS_SECRET_ACCESS_KEY=//p')
docker exec "$c1" curl -sf --aws-sigv4 "aws:amz:local:s3" --user "$ak:$sk" \
  -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
  "$ep/restate?list-type=2" 2>&1 | grep -q '<Name>restate</Name>' || fail "the S3 endpoint $ep is not reachable from restate-1"
ok "the S3 endpoint of the snapshot settings ($ep, bucket restate) answers from inside restate-1"

# ---- 6. a deployment registered on node 2 is seen by all -------------------------------------------------
reg=$(curl -s -w '\n%{http_code}' -X POST "$(admin 2)/deployments" -H 'content-type: application/json' \
  -d "{\"uri\":\"http://host.docker.internal:$svc_port\"}")
code=$(echo "$reg" | tail -1)
{ [ "$code" = 201 ] || [ "$code" = 200 ]; } || fail "register through node 2: $reg"
dep=$(echo "$reg" | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for k in 1 3; do
  curl -sf "$(admin $k)/deployments" | grep -q "$dep" || fail "node $k does not list $dep"
done
out=$(curl -sf -X POST "$(ingress 3)/Greeter/greet" -H 'content-type: application/json' -d '"docker"') || fail "call through node 3"
[ "$out" = '"Hello docker"' ] || fail "call through node 3 answered $out"
ok "a deployment registered on node 2 is listed by nodes 1 and 3 and invoked through node 3"

# ---- the memory limit ----------------------------------------------------------------------------------
mem=$(docker inspect --format '{{.HostConfig.Memory}}' "$(dc ps -q restate-1 2>/dev/null)")
[ "$mem" = $((2 * 1024 * 1024 * 1024)) ] || fail "restate-1 memory limit: $mem"
dc logs --no-color restate-1 2>/dev/null | grep -q "memory limit 2048 MiB (cgroup)" || fail "Stet did not size its cache from the cgroup limit"
ok "memory limit 2G applied; Stet sized its cache from it"

# ---- stop one node: the others go on ---------------------------------------------------------------------
t0=$(date +%s%N)
dc stop restate-2 >/dev/null 2>&1 || fail "docker-compose stop restate-2"
stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
code=$(docker inspect --format '{{.State.ExitCode}}' "$(dc ps -q restate-2 2>/dev/null)")
[ "$code" = 0 ] || fail "restate-2 exited with $code after SIGTERM (a clean stop exits 0)"
[ "$stop_ms" -lt 10000 ] || fail "restate-2 took $stop_ms ms to stop after SIGTERM"
ok "restate-2 stopped cleanly on SIGTERM in $stop_ms ms"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$(admin 1)/deployments" -H 'content-type: application/json' \
  -d "{\"uri\":\"http://host.docker.internal:$svc_port\",\"force\":true}")
{ [ "$code" = 200 ] || [ "$code" = 201 ]; } || fail "register through node 1 with restate-2 stopped: $code"
out=$(curl -sf -X POST "$(ingress 3)/Greeter/greet" -H 'content-type: application/json' -d '"again"') || fail "call through node 3 with restate-2 stopped"
ok "with restate-2 stopped, node 1 registers and node 3 invokes"

# ---- down ------------------------------------------------------------------------------------------------
dc down -v >/dev/null 2>&1 || fail "docker-compose down"
[ -z "$(docker ps -aq --filter "label=com.docker.compose.project=$project")" ] || fail "containers left after down"
ok "down -v removes the containers, network and volumes"
echo "compose: $checks checks passed, 0 failed"
