# Stet's image: the same role as restatedev/restate's in the 3-node compose setup
# (docker-compose.yaml). Multi-stage on Debian 12 ("bookworm"):
#   runtime-base  Debian 12 + the runtime libraries + curl (healthchecks) + a non-root user
#   prebuilt      runtime-base + a build/stet made on a Debian 12 host (tests/docker/compose.sh
#                 uses it with --target prebuilt: the binary CI already built, same ABI)
#   build         the toolchain, libraft 0.22.1 from Debian 13's source package with its asserts
#                 on (scripts/install-raft.sh, as on a developer machine), then build/stet
#   (default)     runtime-base + the stet built in `build`
# The legacy builder builds every stage before the target, so `prebuilt` comes before `build`.
# Build:  docker build -t stet:1.7.12 .          (from source, a few minutes on 2 cores)
# Run:    docker run -p 8080:8080 -p 9070:9070 -p 5122:5122 stet:1.7.12
ARG BASE_IMAGE=debian:bookworm

FROM ${BASE_IMAGE} AS runtime-base
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      libuv1 libnghttp2-14 librocksdb7.8 libssl3 libsqlite3-0 libxxhash0 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /restate-data --no-create-home stet \
 && mkdir -p /restate-data && chown stet:stet /restate-data
# the data of node <name> lives in /restate-data/<name> (RESTATE_BASE_DIR defaults to ./restate-data
# and the working directory is /, as in Restate's image)
WORKDIR /
VOLUME /restate-data
EXPOSE 8080 9070 5122
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -sf http://localhost:9070/health || exit 1

FROM runtime-base AS prebuilt
COPY build/stet /usr/local/bin/stet
USER stet
ENTRYPOINT ["/usr/local/bin/stet"]

FROM ${BASE_IMAGE} AS build
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      build-essential cmake pkg-config autoconf automake libtool ca-certificates \
      libuv1-dev libnghttp2-dev librocksdb-dev libssl-dev libsqlite3-dev libxxhash-dev
WORKDIR /src
COPY scripts/install-raft.sh scripts/
RUN scripts/install-raft.sh
COPY CMakeLists.txt ./
COPY src/ src/
COPY scripts/build.sh scripts/
RUN scripts/build.sh && strip --strip-debug build/stet

FROM runtime-base
COPY --from=build /src/build/stet /usr/local/bin/stet
USER stet
ENTRYPOINT ["/usr/local/bin/stet"]
