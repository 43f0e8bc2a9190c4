// 3-node cluster harness: starts N server processes (build/stet, or the real restate-server 1.7.12
// as the oracle, chosen like ../harness.mjs does) on loopback with the settings of the 3-node
// compose setup, plus one SDK services process (Services from ../harness.mjs).
//
// Design:
// - One Cluster per test file: a fresh temp directory holding one shared RESTATE_BASE_DIR (each
//   node keeps <base>/<node-name>, as the compose file's shared volume does), one log file per
//   node (restate-k.log, appended across restarts), and the services log.
// - Node k (1-based) gets RESTATE_NODE_NAME=restate-k, RESTATE_FORCE_NODE_ID=k,
//   RESTATE_AUTO_PROVISION=true on node 1 only, RESTATE_CLUSTER_NAME (default restate-cluster),
//   RESTATE_DEFAULT_REPLICATION=2, RESTATE_METADATA_CLIENT__ADDRESSES listing every node port,
//   RESTATE_ADVERTISED_ADDRESS / RESTATE_BIND_ADDRESS (node port), RESTATE_ADMIN__BIND_ADDRESS,
//   RESTATE_INGRESS__BIND_ADDRESS, each on a fresh free port that stays the node's for the
//   whole file (restarts reuse it). restate-server also gets what ../harness.mjs gives it
//   (--no-logo, no telemetry, TCP only, plain log lines).
// - Per-node overrides (env: {...}) replace any of those for one start, e.g. a different
//   cluster name or node id for the refusal tests; addNode() makes extra processes (a 4th node,
//   an impostor) that share the base dir and the metadata addresses of the first N.
// - Every child is tracked; a process "exit" hook (and SIGINT/SIGTERM/SIGHUP) SIGKILLs whatever is
//   still alive, stopped (SIGSTOP) ones included. The services process is tracked by
//   ../harness.mjs, which does the same.
// - Every wait is bounded. HTTP helpers use ../harness.mjs request() (fresh connection, a
//   timeout). cluster.test() appends the tails of every node log (and the services log) to a
//   failing test's message and keeps the directory; it is removed at exit otherwise (unless
//   STET_E2E_KEEP=1).
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test as nodeTest } from "node:test";
import {
  IS_RESTATE,
  REPO_DIR,
  SERVER_KIND,
  Services,
  exited,
  freePorts,
  request,
  sleep,
  tailOf,
  track,
  waitExit,
  waitUntil,
} from "../harness.mjs";

export { IS_RESTATE, SERVER_KIND, request, sleep, waitExit, waitUntil };

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;
const HTTP_TIMEOUT_MS = 15_000;

// Child processes are tracked by ../harness.mjs (track: SIGKILLed at exit and on signals; a
// stopped one too: SIGKILL needs no SIGCONT).

function serverBinary() {
  if (IS_RESTATE) {
    const bin = process.env.STET_E2E_RESTATE_BIN;
    if (!bin) throw new Error("STET_E2E_SERVER=restate needs STET_E2E_RESTATE_BIN=<path to the restate-server binary>");
    return bin;
  }
  return process.env.STET_BIN || path.join(REPO_DIR, "build", "stet");
}

const dirs = [];
let anyFailure = false;
process.on("exit", () => {
  if (anyFailure || process.env.STET_E2E_KEEP === "1") {
    for (const d of dirs) process.stderr.write(`e2e cluster: kept ${d}\n`);
    return;
  }
  for (const d of dirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
});

// ---------------------------------------------------------------------------------------------
// One node process

export class Node {
  constructor(cluster, k, ports, overrides = {}) {
    this.cluster = cluster;
    this.k = k;
    [this.ingressPort, this.adminPort, this.nodePort] = ports;
    this.ingressUrl = `http://127.0.0.1:${this.ingressPort}`;
    this.adminUrl = `http://127.0.0.1:${this.adminPort}`;
    this.nodeUrl = `http://127.0.0.1:${this.nodePort}`;
    // Settings that stay with the node (extra processes made by addNode carry theirs here).
    this.overrides = overrides;
    this.child = null;
    this.paused = false;
    this.starts = 0;
    this.logFile = path.join(cluster.dir, `node${k}.log`);
  }

  /** The environment of the next start; `once` overrides it for that start only. */
  env(once = {}) {
    const c = this.cluster;
    const k = this.k;
    const env = {
      ...process.env,
      RESTATE_BASE_DIR: c.baseDir,
      RESTATE_NODE_NAME: `restate-${k}`,
      RESTATE_FORCE_NODE_ID: String(k),
      RESTATE_AUTO_PROVISION: k === 1 ? "true" : "false",
      RESTATE_CLUSTER_NAME: c.clusterName,
      RESTATE_DEFAULT_REPLICATION: "2",
      RESTATE_METADATA_CLIENT__ADDRESSES: JSON.stringify(c.nodes.slice(0, c.size).map((n) => n.nodeUrl)),
      RESTATE_ADVERTISED_ADDRESS: this.nodeUrl,
      RESTATE_BIND_ADDRESS: `127.0.0.1:${this.nodePort}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${this.adminPort}`,
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${this.ingressPort}`,
      ...c.extraEnv,
      ...this.overrides,
      ...once,
    };
    if (IS_RESTATE) {
      Object.assign(env, {
        RESTATE_DISABLE_TELEMETRY: "true",
        RESTATE_LISTEN_MODE: "tcp",
        RESTATE_LOG_FILTER: process.env.RESTATE_LOG_FILTER || "warn,restate=info",
        RESTATE_LOG_DISABLE_ANSI_CODES: "true",
      });
    }
    for (const [key, v] of Object.entries(env)) if (v === undefined || v === null) delete env[key];
    return env;
  }

  get name() {
    return this.overrides.RESTATE_NODE_NAME || `restate-${this.k}`;
  }

  /** This node's data directory: <base>/<node name>. */
  get dataDir() {
    return path.join(this.overrides.RESTATE_BASE_DIR || this.cluster.baseDir, this.name);
  }

  get running() {
    return this.child !== null && !exited(this.child);
  }

  get pid() {
    return this.child?.pid;
  }

  /** Spawns the process without waiting for anything. env: overrides for this start only. */
  spawn(env = {}) {
    if (this.running) throw new Error(`node ${this.k} already running (pid ${this.child.pid})`);
    const bin = this.cluster.bin;
    if (!fs.existsSync(bin)) throw new Error(`server binary not found: ${bin}`);
    const e = this.env(env);
    fs.mkdirSync(e.RESTATE_BASE_DIR, { recursive: true });
    const fd = fs.openSync(this.logFile, "a");
    fs.writeSync(
      fd,
      `\n===== e2e: start #${++this.starts} of node ${this.k} (${e.RESTATE_NODE_NAME}, id ${e.RESTATE_FORCE_NODE_ID}, ` +
        `cluster ${e.RESTATE_CLUSTER_NAME}, auto-provision ${e.RESTATE_AUTO_PROVISION}) at ${new Date().toISOString()} =====\n`,
    );
    const args = IS_RESTATE ? ["--no-logo"] : [];
    const child = spawn(bin, args, { cwd: this.cluster.dir, env: e, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    track(child);
    child.once("error", (err) => {
      child.spawnError = err;
    });
    this.child = child;
    this.paused = false;
    return child;
  }

  /** Spawns and waits for admin /health 200 and the ingress port to answer. */
  async start(env = {}) {
    const child = this.spawn(env);
    await this.waitHealthy({ child });
    await waitUntil(
      async () => {
        this.checkAlive(child);
        const r = await request(`${this.ingressUrl}/restate/health`, { timeout: 2000 });
        return r.status > 0;
      },
      { timeout: START_TIMEOUT_MS, interval: 100, what: `node ${this.k} ingress to accept connections` },
    );
    return this;
  }

  checkAlive(child = this.child) {
    if (child?.spawnError) throw Object.assign(new Error(`node ${this.k}: spawn failed: ${child.spawnError.message}`), { fatal: true });
    if (!child || exited(child)) {
      throw Object.assign(new Error(`node ${this.k} exited (code ${child?.exitCode}, signal ${child?.signalCode})`), { fatal: true });
    }
  }

  /** Waits until admin GET /health answers 200 (fails at once if the process exits). */
  waitHealthy({ timeout = START_TIMEOUT_MS, child = this.child } = {}) {
    return waitUntil(
      async () => {
        this.checkAlive(child);
        const r = await request(`${this.adminUrl}/health`, { timeout: 2000 });
        return r.status === 200;
      },
      { timeout, interval: 100, what: `node ${this.k} admin /health 200` },
    );
  }

  /** SIGTERM (after SIGCONT if paused), wait for exit; SIGKILL after 20 s. Returns {code, signal, forced}. */
  async stop() {
    const child = this.child;
    if (!child || exited(child)) return child ? { code: child.exitCode, signal: child.signalCode, forced: false } : null;
    if (this.paused) this.resume();
    child.kill("SIGTERM");
    const r = await waitExit(child, STOP_TIMEOUT_MS);
    if (r) return { ...r, forced: false };
    child.kill("SIGKILL");
    const r2 = await waitExit(child, 5000);
    return { ...(r2 || {}), forced: true };
  }

  /** SIGKILL (a crash), wait for exit. */
  async kill() {
    const child = this.child;
    if (!child || exited(child)) return;
    child.kill("SIGKILL");
    const r = await waitExit(child, 5000);
    if (!r) throw new Error(`node ${this.k} pid ${child.pid} did not die after SIGKILL`);
    this.paused = false;
  }

  pause() {
    this.checkAlive();
    this.child.kill("SIGSTOP");
    this.paused = true;
  }

  resume() {
    if (this.child && !exited(this.child)) this.child.kill("SIGCONT");
    this.paused = false;
  }

  async restart(env = {}) {
    await this.stop();
    return this.start(env);
  }

  /** rm -rf <base>/<node name> (the node must not run). */
  wipe() {
    if (this.running) throw new Error(`node ${this.k} is running; stop it before wiping its data`);
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  tail(lines = 40) {
    return tailOf(this.logFile, lines);
  }

  /** The log of this node's latest start (from the harness's start marker on). */
  lastLog() {
    const all = this.log();
    const i = all.lastIndexOf("\n===== e2e: start #");
    return i < 0 ? all : all.slice(i);
  }

  /** The whole log of this node (all starts). */
  log() {
    try {
      return fs.readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster

function httpOpts(method, body, opts) {
  const o = { timeout: HTTP_TIMEOUT_MS, ...opts, method };
  if (body !== undefined) o.json = body;
  return o;
}

export class Cluster {
  /**
   * name: used in the temp directory name. opts: size (3), clusterName ("restate-cluster"),
   * extraEnv (for every node), services (start one services process, default true),
   * servicesScript (its file, relative to tests/e2e; default ../services.mjs).
   */
  constructor(name, { size = 3, clusterName = "restate-cluster", extraEnv = {}, services = true, servicesScript } = {}) {
    this.name = name;
    this.size = size;
    this.clusterName = clusterName;
    this.extraEnv = extraEnv;
    this.withServices = services;
    this.servicesScript = servicesScript;
    this.bin = serverBinary();
    this.kind = SERVER_KIND;
    this.nodes = []; // index k-1
    this.services = null;
    this.dir = null;
    this.baseDir = null;
  }

  /** Creates the directory, picks ports, starts the services process (no server yet). */
  async init() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `stet-e2e-cluster-${this.name}-`));
    dirs.push(this.dir);
    this.baseDir = path.join(this.dir, "data");
    fs.mkdirSync(this.baseDir, { recursive: true });
    const ports = await freePorts(3 * this.size);
    for (let k = 1; k <= this.size; k++) this.nodes.push(new Node(this, k, ports.slice(3 * (k - 1), 3 * k)));
    if (this.withServices) {
      this.services = new Services(this.dir, { script: this.servicesScript });
      await this.services.start();
    }
    return this;
  }

  /**
   * start(k[, env]): starts node k (see Node.start) and waits for its admin /health.
   * start(): init() + every node started (all spawned at once; nodes 2..N wait for node 1 to
   * provision) + waitQuorum().
   */
  async start(k, env) {
    if (k !== undefined) return this.node(k).start(env);
    try {
      await this.init();
      await this.startAll();
      await this.waitQuorum();
    } catch (e) {
      anyFailure = true;
      e.message += this.diagnostics();
      throw e;
    }
    return this;
  }

  node(k) {
    const n = this.nodes[k - 1];
    if (!n) throw new Error(`no node ${k}`);
    return n;
  }

  /** Indices 1..size. */
  get ks() {
    return this.nodes.slice(0, this.size).map((n) => n.k);
  }

  running() {
    return this.nodes.filter((n) => n.running && !n.paused).map((n) => n.k);
  }

  /** Starts the given nodes (default: all not running) concurrently. */
  async startAll(ks = this.ks.filter((k) => !this.node(k).running)) {
    for (const k of ks) this.node(k).spawn();
    await Promise.all(
      ks.map(async (k) => {
        const n = this.node(k);
        await n.waitHealthy();
        await waitUntil(
          async () => {
            n.checkAlive();
            return (await request(`${n.ingressUrl}/restate/health`, { timeout: 2000 })).status > 0;
          },
          { timeout: START_TIMEOUT_MS, interval: 100, what: `node ${k} ingress to accept connections` },
        );
      }),
    );
  }

  async stopAll(ks = this.ks) {
    return Promise.all(ks.map((k) => this.node(k).stop()));
  }

  stop(k) {
    return this.node(k).stop();
  }
  kill(k) {
    return this.node(k).kill();
  }
  pause(k) {
    return this.node(k).pause();
  }
  resume(k) {
    return this.node(k).resume();
  }
  restart(k, env) {
    return this.node(k).restart(env);
  }
  wipe(k) {
    return this.node(k).wipe();
  }
  waitHealthy(k, opts) {
    return this.node(k).waitHealthy(opts);
  }

  /**
   * An extra process sharing the base dir and metadata addresses (k = size+1, ...), with its own
   * ports; `overrides` (e.g. RESTATE_NODE_NAME, RESTATE_FORCE_NODE_ID, RESTATE_CLUSTER_NAME,
   * RESTATE_BASE_DIR) stay with it. Not started.
   */
  async addNode(overrides = {}) {
    const k = this.nodes.length + 1;
    const n = new Node(this, k, await freePorts(3), { RESTATE_NODE_NAME: `restate-${k}`, ...overrides });
    this.nodes.push(n);
    return n;
  }

  // ---- HTTP helpers: body (a JSON value) is sent as JSON when given; opts as request() ----

  admin(k, method, p, body, opts = {}) {
    return request(this.node(k).adminUrl + p, httpOpts(method, body, opts));
  }

  ingress(k, method, p, body, opts = {}) {
    return request(this.node(k).ingressUrl + p, httpOpts(method, body, opts));
  }

  nodePort(k, p, opts = {}) {
    return request(this.node(k).nodeUrl + p, httpOpts(opts.method || "GET", undefined, opts));
  }

  /** POST /deployments through node k; returns the response (no assertion). */
  register(k, uri = this.services.uri, extra = {}, opts = {}) {
    return this.admin(k, "POST", "/deployments", { uri, ...extra }, opts);
  }

  /** GET /cluster (Stet only): the parsed view, or throws. */
  async clusterView(k, opts = {}) {
    const r = await this.admin(k, "GET", "/cluster", undefined, { timeout: 5000, ...opts });
    if (r.status !== 200 || !r.json) throw new Error(`GET /cluster on node ${k}: ${r.status} ${r.text.slice(0, 200)}`);
    return r.json;
  }

  /**
   * Stet only: the partitions of node k's GET /cluster, normalized by partitionsOf() (the one
   * place that knows the document's partition fields).
   */
  async partitions(k, opts = {}) {
    return partitionsOf(await this.clusterView(k, opts));
  }

  /**
   * Stet only: partition id -> {leader (plain node id or null), term, via}, asking every node of
   * `ks` (default: the running ones) and keeping, per partition, the claim with the highest term
   * (a node that calls itself leader wins a tie). Nodes that do not answer are skipped; null
   * when none answered.
   */
  async partitionLeaders({ ks = this.running(), timeout = 3000 } = {}) {
    const views = await Promise.all(ks.map((k) => this.partitions(k, { timeout }).then((ps) => [k, ps], () => null)));
    const out = new Map();
    let answered = false;
    for (const v of views) {
      if (!v) continue;
      answered = true;
      const [k, ps] = v;
      for (const p of ps) {
        if (p.leader == null) continue;
        const cur = out.get(p.id);
        const term = p.term ?? -1;
        const self = p.leader === k;
        if (!cur || term > cur.term || (term === cur.term && self && !cur.self)) out.set(p.id, { leader: p.leader, term, via: k, self });
      }
    }
    return answered ? out : null;
  }

  /**
   * Readiness without registering anything. Stet: GET /cluster on every given node shows
   * metadata.quorum true and a metadata leader. Restate (it has no /cluster): GET /cluster-health
   * answers 200 with `size` metadata members and GET /deployments answers 200, on every given node.
   */
  async waitQuorum({ ks = this.running(), timeout = START_TIMEOUT_MS } = {}) {
    await Promise.all(
      ks.map((k) =>
        waitUntil(
          async () => {
            this.node(k).checkAlive();
            if (IS_RESTATE) {
              const h = await this.admin(k, "GET", "/cluster-health", undefined, { timeout: 3000 });
              if (h.status !== 200 || h.json?.metadata_cluster_health?.members?.length !== this.size) return false;
              const d = await this.admin(k, "GET", "/deployments", undefined, { timeout: 3000 });
              return d.status === 200;
            }
            // Stet: quorum, this node registered (node-port /health "Alive" with its N<k>:<gen>),
            // and its /cluster lists every node of `ks` alive under its name (their
            // registrations reached this node's copy of the nodes configuration).
            const v = await this.clusterView(k, { timeout: 3000 });
            if (v.metadata?.quorum !== true || v.metadata?.leader == null) return false;
            const h = await this.nodePort(k, "/health", { timeout: 3000 });
            if (h.json?.status !== "Alive") return false;
            for (const j of ks) {
              const n = (v.nodes || []).find((x) => x.id === `N${j}`);
              if (!n || n.status !== "alive" || !n.name) return false;
            }
            return true;
          },
          { timeout, interval: 200, what: `node ${k}: metadata quorum` },
        ),
      ),
    );
  }

  /** Starts whatever of 1..size is not running (resumes paused ones) and waits for quorum. */
  async ensureAllRunning() {
    for (const k of this.ks) if (this.node(k).paused) this.resume(k);
    const down = this.ks.filter((k) => !this.node(k).running);
    if (down.length) await this.startAll(down);
    await this.waitQuorum({ ks: this.ks });
  }

  // ---- diagnostics ----

  diagnostics(lines = 30) {
    let out = `\n\n----- e2e cluster diagnostics (${SERVER_KIND}, dir ${this.dir}) -----`;
    for (const n of this.nodes) out += `\n--- node ${n.k} log tail (${n.logFile}) ---\n${n.tail(lines)}`;
    if (this.services) out += `\n--- services log tail (${this.services.logFile}) ---\n${this.services.tail(15)}`;
    return out;
  }

  /** node:test `test()` whose failures carry the log tails and keep the directory. Default timeout 60 s. */
  test(name, fn, { timeout = 60_000, skip } = {}) {
    return nodeTest(name, { timeout, skip }, async (t) => {
      try {
        await fn(t);
      } catch (e) {
        anyFailure = true;
        if (e && typeof e === "object") {
          try {
            e.message = `${e.message}${this.diagnostics()}`;
          } catch {
            process.stderr.write(this.diagnostics());
          }
        }
        throw e;
      }
    });
  }

  async close() {
    for (const n of this.nodes) {
      if (n.paused) n.resume();
    }
    await Promise.all(this.nodes.map((n) => n.kill().catch(() => {})));
    if (this.services) await this.services.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers for assertions

/** "N2", "N2:5", 2 -> 2 (or null). */
export function nodeIdNum(v) {
  if (typeof v === "number") return v;
  if (typeof v !== "string") return null;
  const m = v.match(/^N(\d+)(?::\d+)?$/);
  return m ? Number(m[1]) : null;
}

/** The generation of a /cluster node entry ("generation", or the suffix of "generational_id"). */
export function generationOf(n) {
  if (typeof n.generation === "number") return n.generation;
  const m = typeof n.generational_id === "string" && n.generational_id.match(/^N\d+:(\d+)$/);
  return m ? Number(m[1]) : null;
}

/** The /cluster node entry of node k (by id "Nk"). */
export function viewNode(view, k) {
  return (view.nodes || []).find((n) => nodeIdNum(n.id ?? n.generational_id) === k);
}

/**
 * The "partitions" array of a GET /cluster document as
 * [{id, leader (plain node id or null), term, mode, appliedLsn, durableLsn, commitLsn, raw}], sorted
 * by id. term: the partition's raft term ("term", else "epoch"; null if neither). appliedLsn and
 * durableLsn: this node's replica ("replica": {...}; null when it has none), else the top-level
 * fields. Every test that needs partition leadership goes through here, so a change of the
 * document shape is adapted once.
 */
export function partitionsOf(view) {
  const ps = Array.isArray(view?.partitions) ? view.partitions : [];
  const num = (x) => (typeof x === "number" ? x : typeof x === "string" && /^\d+$/.test(x) ? Number(x) : null);
  return ps
    .map((p) => ({
      id: num(p.id ?? p.partition_id),
      leader: p.leader == null ? null : nodeIdNum(p.leader),
      term: num(p.term ?? p.leader_term ?? p.epoch),
      mode: p.mode ?? null,
      appliedLsn: p.replica === null ? null : num(p.replica?.applied_lsn ?? p.applied_lsn),
      durableLsn: p.replica === null ? null : num(p.replica?.durable_lsn ?? p.durable_lsn),
      commitLsn: num(p.commit_lsn),
      raw: p,
    }))
    .sort((a, b) => a.id - b.id);
}

/** Sorted deployment ids and uris from a GET /deployments answer. */
export function deploymentsOf(r) {
  if (r.status !== 200 || !Array.isArray(r.json?.deployments)) throw new Error(`GET /deployments: ${r.status} ${r.text.slice(0, 200)}`);
  return r.json.deployments;
}

export function elapsed(t0) {
  return Date.now() - t0;
}
