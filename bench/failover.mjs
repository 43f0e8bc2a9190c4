// Metadata-leader failover benchmark (bench/run.sh --failover, or run directly):
//   node bench/failover.mjs [--servers stet,restate] [--rounds 10] [--scenarios kill,stop] ...
//
// Per server (Stet, then restate-server 1.7.12), one 3-node cluster on loopback with the
// settings of the 3-node compose setup (as tests/e2e/cluster/harness.mjs starts it: node k is
// restate-k with RESTATE_FORCE_NODE_ID=k, auto-provision on node 1 only, cluster
// restate-cluster, replication 2, the three node ports as metadata addresses, one shared base
// dir), plus one SDK services process (tests/e2e/services.mjs) registered as the deployment.
//
// Each round of a scenario:
//   1. ready: every node answers, the three nodes are alive with a metadata quorum and agree on
//      the metadata leader (Stet: GET /cluster on each node: metadata.quorum, metadata.leader,
//      three nodes "alive"; restate-server has no /cluster: node-port /health "Alive"/"Member"
//      on each node and the gauge restate_metadata_server_replicated_leader_id of node-port
//      /metrics, the same non-zero id on all three), and POST /deployments {"uri", "force":true}
//      succeeds (2xx) through each node's admin port.
//   2. a client loop starts on the admin port of a node that is not the leader (the lowest such
//      k): POST /deployments {"uri": <services>, "force": true}, back to back, one at a time,
//      each with a 5 s timeout (--request-timeout), a fresh connection per request.
//   3. after >= 3 successes and >= 500 ms of the loop, the leader is hit:
//      kill: SIGKILL;  stop: SIGSTOP, then SIGCONT --stop-seconds (5) later.
//      At the moment of the hit the loop starts a new request at once (a request in flight at
//      the hit keeps running and its outcome is recorded, but the loop does not wait for it), so
//      a request stuck on the dead leader does not add its timeout to the measurement.
//   4. failover = time from the hit to the completion of the first 2xx registration *started
//      after* the hit. The loop then keeps going for --tail (2 s) after that success (stop: and
//      at least until 2 s after the SIGCONT), and records the longest gap between the
//      completions of consecutive 2xx registrations over the whole loop (before and after the
//      hit). A round with no such success within --round-timeout (30 s) counts as failed (its
//      failover is reported as "> 30 s" and enters the statistics as the timeout).
//   5. kill: the node is restarted on its data; stop: it is resumed. Then step 1 again (the
//      next round's readiness), i.e. quorum with three alive nodes before the next hit.
// Reported per server and scenario: median / p90 / max of failover and of the longest gap, the
// per-round table (leader, new leader, client node, failures by status), and the design target
// (docs: /work/shared/design/cluster.md §7: median <= 1 s, max <= 2 s for Stet).
//
// Every child process is tracked; on exit, Ctrl-C, SIGTERM or an exception each one is resumed
// (SIGCONT) and SIGKILLed. Node logs and the raw per-request data go to bench/out/failover-<time>/
// (ignored by git); the data directories live in a temp dir removed at the end (--keep keeps it).
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_DIR = path.dirname(BENCH_DIR);
const E2E_DIR = path.join(REPO_DIR, "tests", "e2e");
const RESTATE_BIN_DEFAULT = path.join(BENCH_DIR, "node_modules", "@restatedev", `restate-server-linux-x64`, "bin", "restate-server");

const HELP = `Usage: node bench/failover.mjs [options]
  --servers LIST        stet,restate (default both; Stet first)
  --stet-bin PATH       Stet binary (default <repo>/build/stet)
  --restate-bin PATH    restate-server binary (default the pinned one in bench/node_modules)
  --rounds N            rounds per scenario (default 10)
  --scenarios LIST      kill,stop (default both): SIGKILL the metadata leader / SIGSTOP it
  --stop-seconds S      how long the leader stays stopped in the stop scenario (default 5)
  --request-timeout MS  timeout of each registration (default 5000)
  --tail MS             how long the loop keeps going after the first success (default 2000)
  --round-timeout S     a round without a success this long after the hit fails (default 30)
  --results FILE        report (default bench/RESULTS-failover.md; "-" = do not write)
  --out DIR             raw data and node logs (default bench/out/failover-<time>)
  --keep                keep the data directories
`;

function parseArgs(argv) {
  const o = {
    servers: ["stet", "restate"],
    stetBin: process.env.STET_BIN || path.join(REPO_DIR, "build", "stet"),
    restateBin: RESTATE_BIN_DEFAULT,
    rounds: 10,
    scenarios: ["kill", "stop"],
    stopSeconds: 5,
    requestTimeout: 5000,
    tail: 2000,
    roundTimeout: 30,
    results: path.join(BENCH_DIR, "RESULTS-failover.md"),
    out: null,
    keep: false,
  };
  const num = (a, v, lo, hi) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new Error(`${a}: expected a number in [${lo}, ${hi}], got ${v}`);
    return n;
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    switch (a) {
      case "--servers": o.servers = val().split(",").filter(Boolean); break;
      case "--stet-bin": o.stetBin = path.resolve(val()); break;
      case "--restate-bin": o.restateBin = path.resolve(val()); break;
      case "--rounds": o.rounds = num(a, val(), 1, 1000); break;
      case "--scenarios": o.scenarios = val().split(",").filter(Boolean); break;
      case "--stop-seconds": o.stopSeconds = num(a, val(), 0.1, 600); break;
      case "--request-timeout": o.requestTimeout = num(a, val(), 100, 600_000); break;
      case "--tail": o.tail = num(a, val(), 0, 600_000); break;
      case "--round-timeout": o.roundTimeout = num(a, val(), 1, 3600); break;
      case "--results": o.results = val(); break;
      case "--out": o.out = path.resolve(val()); break;
      case "--keep": o.keep = true; break;
      case "-h": case "--help": process.stdout.write(HELP); process.exit(0); break;
      default: throw new Error(`unknown argument ${a} (see --help)`);
    }
  }
  for (const s of o.servers) if (!["stet", "restate"].includes(s)) throw new Error(`--servers: unknown server ${s}`);
  for (const s of o.scenarios) if (!["kill", "stop"].includes(s)) throw new Error(`--scenarios: unknown scenario ${s}`);
  if (o.results !== "-") o.results = path.resolve(o.results);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Helpers

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => process.stderr.write(`[failover] ${a.join(" ")}\n`);

/** One HTTP/1.1 request on a fresh connection: {status, text, json} or {status: 0, error}. */
function request(url, { method = "GET", json, timeout = 5000 } = {}) {
  return new Promise((resolve) => {
    const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const headers = body ? { "content-type": "application/json", "content-length": body.length } : {};
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        finish({ status: res.statusCode, text, json: parsed });
      });
      res.on("error", (e) => finish({ status: 0, error: e.message }));
    });
    const timer = setTimeout(() => {
      req.destroy(new Error("timeout"));
      finish({ status: 0, error: `timeout ${timeout} ms` });
    }, timeout);
    req.on("error", (e) => finish({ status: 0, error: e.code || e.message }));
    req.end(body);
  });
}

async function waitUntil(fn, { timeout = 30_000, interval = 100, what = "condition" } = {}) {
  const deadline = now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      if (e && e.fatal) throw e;
      last = e.message;
    }
    if (now() >= deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    await sleep(interval);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** "N2", "N2:5", 2 -> 2 (or null). */
function nodeIdNum(v) {
  if (typeof v === "number") return v;
  if (typeof v !== "string") return null;
  const m = v.match(/^N(\d+)(?::\d+)?$/);
  return m ? Number(m[1]) : null;
}

function quantile(xs, q) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  // nearest rank
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}

const fmtS = (ms) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : "-");

// ---------------------------------------------------------------------------------------------
// Child processes: tracked, killed (after SIGCONT) on any exit

const live = new Set();
function killAll() {
  for (const c of live) {
    try {
      c.kill("SIGCONT");
    } catch {}
    try {
      c.kill("SIGKILL");
    } catch {}
  }
  live.clear();
}
const tempDirs = [];
let keepTemp = false;
process.on("exit", () => {
  killAll();
  if (!keepTemp) for (const d of tempDirs) try { fs.rmSync(d, { recursive: true, force: true }); } catch {}
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    log(`${sig}: killing every child`);
    process.exit(130);
  });
}
process.on("uncaughtException", (e) => {
  log(`uncaught exception: ${e.stack || e}`);
  process.exit(1);
});
process.on("unhandledRejection", (e) => {
  log(`unhandled rejection: ${e?.stack || e}`);
  process.exit(1);
});

function track(child) {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

const exited = (c) => c.exitCode !== null || c.signalCode !== null;

function waitExit(child, ms) {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The services process (tests/e2e/services.mjs)

async function startServices(logFile) {
  const out = fs.openSync(logFile, "a");
  const child = track(
    spawn(process.execPath, ["--import", path.join(E2E_DIR, "polyfill.mjs"), path.join(E2E_DIR, "services.mjs")], {
      cwd: E2E_DIR,
      env: { ...process.env },
      stdio: ["ignore", "pipe", out],
    }),
  );
  fs.closeSync(out);
  const info = await new Promise((resolve, reject) => {
    let buf = "";
    const t = setTimeout(() => reject(new Error("services did not print READY within 30 s")), 30_000);
    child.stdout.on("data", (c) => {
      buf += c.toString("utf8");
      const m = buf.match(/^READY (\{.*\})$/m);
      if (m) {
        clearTimeout(t);
        resolve(JSON.parse(m[1]));
      }
    });
    child.once("exit", (code, sig) => reject(new Error(`services exited (code ${code}, signal ${sig})`)));
  });
  child.stdout.resume();
  return { child, uri: `http://127.0.0.1:${info.port}` };
}

// ---------------------------------------------------------------------------------------------
// A 3-node cluster

class Node {
  constructor(cluster, k, [ingressPort, adminPort, nodePort]) {
    Object.assign(this, { cluster, k, ingressPort, adminPort, nodePort });
    this.adminUrl = `http://127.0.0.1:${adminPort}`;
    this.nodeUrl = `http://127.0.0.1:${nodePort}`;
    this.logFile = path.join(cluster.logDir, `node${k}.log`);
    this.child = null;
    this.paused = false;
    this.starts = 0;
  }

  env() {
    const c = this.cluster;
    const env = {
      ...process.env,
      RESTATE_NODE_NAME: `restate-${this.k}`,
      RESTATE_FORCE_NODE_ID: String(this.k),
      RESTATE_AUTO_PROVISION: this.k === 1 ? "true" : "false",
      RESTATE_CLUSTER_NAME: "restate-cluster",
      RESTATE_DEFAULT_REPLICATION: "2",
      RESTATE_METADATA_CLIENT__ADDRESSES: JSON.stringify(c.nodes.map((n) => n.nodeUrl)),
      RESTATE_ADVERTISED_ADDRESS: this.nodeUrl,
      RESTATE_BIND_ADDRESS: `127.0.0.1:${this.nodePort}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${this.adminPort}`,
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${this.ingressPort}`,
      RESTATE_BASE_DIR: c.baseDir,
    };
    if (c.kind === "restate") {
      // As tests/e2e/harness.mjs gives restate-server.
      Object.assign(env, {
        RESTATE_DISABLE_TELEMETRY: "true",
        RESTATE_LISTEN_MODE: "tcp",
        RESTATE_LOG_FILTER: process.env.RESTATE_LOG_FILTER || "warn,restate=info",
        RESTATE_LOG_DISABLE_ANSI_CODES: "true",
      });
    }
    return env;
  }

  get running() {
    return this.child !== null && !exited(this.child);
  }

  spawn() {
    if (this.running) throw new Error(`node ${this.k} already running`);
    const fd = fs.openSync(this.logFile, "a");
    fs.writeSync(fd, `\n===== failover bench: start #${++this.starts} of node ${this.k} at ${new Date().toISOString()} =====\n`);
    const args = this.cluster.kind === "restate" ? ["--no-logo"] : [];
    this.child = track(spawn(this.cluster.bin, args, { cwd: this.cluster.dir, env: this.env(), stdio: ["ignore", fd, fd] }));
    fs.closeSync(fd);
    this.paused = false;
  }

  checkAlive() {
    if (!this.running) {
      const c = this.child;
      throw Object.assign(new Error(`node ${this.k} exited (code ${c?.exitCode}, signal ${c?.signalCode}); log ${this.logFile}`), { fatal: true });
    }
  }

  async waitHealthy(timeout = 60_000) {
    await waitUntil(
      async () => {
        this.checkAlive();
        return (await request(`${this.adminUrl}/health`, { timeout: 2000 })).status === 200;
      },
      { timeout, what: `node ${this.k} admin /health 200` },
    );
  }

  async kill() {
    if (!this.running) return;
    this.child.kill("SIGKILL");
    if (!(await waitExit(this.child, 5000))) throw new Error(`node ${this.k} did not die after SIGKILL`);
    this.paused = false;
  }

  pause() {
    this.checkAlive();
    this.child.kill("SIGSTOP");
    this.paused = true;
  }

  resume() {
    if (this.running) this.child.kill("SIGCONT");
    this.paused = false;
  }
}

class Cluster {
  constructor(kind, bin, outDir) {
    this.kind = kind;
    this.bin = bin;
    this.logDir = path.join(outDir, kind);
    fs.mkdirSync(this.logDir, { recursive: true });
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `stet-bench-failover-${kind}-`));
    tempDirs.push(this.dir);
    this.baseDir = path.join(this.dir, "data");
    fs.mkdirSync(this.baseDir, { recursive: true });
    this.nodes = [];
    this.services = null;
  }

  async start() {
    const ports = await freePorts(9);
    for (let k = 1; k <= 3; k++) this.nodes.push(new Node(this, k, ports.slice(3 * (k - 1), 3 * k)));
    this.services = await startServices(path.join(this.logDir, "services.log"));
    for (const n of this.nodes) n.spawn();
    await Promise.all(this.nodes.map((n) => n.waitHealthy()));
  }

  node(k) {
    return this.nodes[k - 1];
  }

  register(k, timeout) {
    return request(`${this.node(k).adminUrl}/deployments`, {
      method: "POST",
      json: { uri: this.services.uri, force: true },
      timeout,
    });
  }

  /**
   * The metadata leader as every node sees it, if all three are alive with a quorum and agree
   * (else a string saying what is missing).
   */
  async leaderView() {
    const leaders = [];
    for (const n of this.nodes) {
      n.checkAlive();
      if (this.kind === "stet") {
        const r = await request(`${n.adminUrl}/cluster`, { timeout: 3000 });
        if (r.status !== 200 || !r.json) return `node ${n.k}: GET /cluster ${r.status} ${r.error || ""}`;
        const v = r.json;
        if (v.metadata?.quorum !== true) return `node ${n.k}: no quorum`;
        const alive = (v.nodes || []).filter((x) => x.status === "alive").length;
        if (alive !== 3) return `node ${n.k}: ${alive} alive`;
        leaders.push(nodeIdNum(v.metadata?.leader));
      } else {
        const h = await request(`${n.nodeUrl}/health`, { timeout: 3000 });
        if (h.status !== 200 || h.json?.status !== "Alive" || h.json?.metadata_server_status !== "Member") {
          return `node ${n.k}: node-port /health ${h.status} ${h.json?.status}/${h.json?.metadata_server_status}`;
        }
        leaders.push(await this.restateLeaderOf(n));
      }
    }
    if (leaders.some((l) => !(l >= 1 && l <= 3)) || new Set(leaders).size !== 1) return `leaders seen: ${JSON.stringify(leaders)}`;
    return leaders[0];
  }

  /** restate-server: node k's restate_metadata_server_replicated_leader_id (node-port /metrics). */
  async restateLeaderOf(n, timeout = 3000) {
    const m = await request(`${n.nodeUrl}/metrics`, { timeout });
    if (m.status !== 200) return null;
    const line = m.text.split("\n").find((l) => l.startsWith("restate_metadata_server_replicated_leader_id"));
    return line ? Number(line.trim().split(/\s+/).pop()) : null;
  }

  /**
   * The first metadata election won by a node other than `old` after wall time `since` (ms), from
   * the node logs (their UTC timestamps): Stet "metadata group: this node leads", restate-server
   * "Won metadata cluster leadership" (the line after its timestamp). {k, wall} or null.
   */
  electionAfter(since, old) {
    let best = null;
    const marker = this.kind === "stet" ? "metadata group: this node leads" : "Won metadata cluster leadership";
    for (const n of this.nodes) {
      if (n.k === old) continue;
      let text = "";
      try {
        text = fs.readFileSync(n.logFile, "utf8");
      } catch {
        continue;
      }
      let last = null;
      for (const line of text.split("\n")) {
        const m = line.match(/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)/);
        if (m) last = Date.parse(m[1].replace(/(\.\d{3})\d+Z$/, "$1Z"));
        if (line.includes(marker) && last !== null && last >= since && (!best || last < best.wall)) best = { k: n.k, wall: last };
      }
    }
    return best;
  }

  /** The leader as node k sees it now (for the report after a failover; null if unknown). */
  async leaderSeenBy(k, timeout = 3000) {
    const n = this.node(k);
    if (this.kind === "stet") {
      const r = await request(`${n.adminUrl}/cluster`, { timeout });
      return nodeIdNum(r.json?.metadata?.leader);
    }
    return this.restateLeaderOf(n, timeout);
  }

  /**
   * Ready for a round: all three alive with a quorum, agreeing on the leader, and a registration
   * succeeding through every node. Returns the leader.
   */
  async waitReady(timeout = 90_000) {
    const deadline = now() + timeout;
    return waitUntil(
      async () => {
        const leader = await this.leaderView();
        if (typeof leader !== "number") return false;
        for (const n of this.nodes) {
          const r = await this.register(n.k, Math.max(1000, Math.min(10_000, deadline - now())));
          if (!(r.status >= 200 && r.status < 300)) return false;
        }
        // The leader may have changed meanwhile: confirm.
        const again = await this.leaderView();
        return again === leader ? leader : false;
      },
      { timeout, interval: 200, what: `${this.kind}: 3 nodes alive, metadata quorum, registrations through every node` },
    );
  }

  async close() {
    for (const n of this.nodes) if (n.paused) n.resume();
    await Promise.all(this.nodes.map((n) => n.kill().catch(() => {})));
    if (this.services && !exited(this.services.child)) {
      this.services.child.kill("SIGKILL");
      await waitExit(this.services.child, 5000);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One round

/**
 * The client loop: back-to-back registrations through node k (chain 0). probe() starts a second
 * back-to-back chain at once (chain 1), next to chain 0, so one request is sent exactly at the
 * hit whatever chain 0 is doing. Every request: {t0, t1, status, error, chain}.
 */
function clientLoop(cluster, k, requestTimeout) {
  const results = [];
  let running = true;
  const chains = [];
  const run = async (id) => {
    while (running) {
      const t0 = now();
      const r = await cluster.register(k, requestTimeout);
      const t1 = now();
      results.push({ t0, t1, status: r.status, error: r.error || (r.status >= 300 ? (r.text || "").slice(0, 160) : undefined), chain: id });
      if (!(r.status >= 200 && r.status < 300) && r.status !== 0) await sleep(20); // a refusal: do not spin
    }
  };
  chains.push(run(0));
  return {
    results,
    probe() {
      chains.push(run(chains.length));
    },
    async stop() {
      running = false;
      await Promise.all(chains);
      return results;
    },
  };
}

async function round(cluster, scenario, i, opts) {
  const tReady0 = now();
  const leader = await cluster.waitReady();
  const readyMs = now() - tReady0;
  const clientK = [1, 2, 3].find((k) => k !== leader);
  const victim = cluster.node(leader);
  const loop = clientLoop(cluster, clientK, opts.requestTimeout);
  const ok = (r) => r.status >= 200 && r.status < 300;
  const loopStart = now();
  await waitUntil(() => loop.results.filter(ok).length >= 3 && now() - loopStart >= 500, {
    timeout: 30_000,
    interval: 10,
    what: "3 registrations before the hit",
  });

  let hitAt;
  let contAt = null;
  const hitWall = Date.now();
  if (scenario === "kill") {
    hitAt = now();
    victim.child.kill("SIGKILL");
  } else {
    hitAt = now();
    victim.pause();
  }
  loop.probe();
  // When the client's node first names another metadata leader (polled every 250 ms).
  let leaderChangeMs = null;
  let polling = true;
  const poller = (async () => {
    while (polling && leaderChangeMs === null && cluster.kind === "stet") {
      const t = now();
      const l = await cluster.leaderSeenBy(clientK, 1000).catch(() => null);
      if (l >= 1 && l <= 3 && l !== leader) leaderChangeMs = now() - hitAt;
      else await sleep(Math.max(0, 250 - (now() - t)));
    }
  })();
  if (scenario === "kill") await waitExit(victim.child, 5000);

  let firstOk = null;
  const deadline = hitAt + opts.roundTimeout * 1000;
  for (;;) {
    const t = now();
    if (scenario === "stop" && contAt === null && t - hitAt >= opts.stopSeconds * 1000) {
      victim.resume();
      contAt = now();
    }
    if (!firstOk) {
      const c = loop.results.filter((r) => ok(r) && r.t0 >= hitAt).sort((a, b) => a.t1 - b.t1)[0];
      if (c) firstOk = c;
    }
    const enough = firstOk && t - firstOk.t1 >= opts.tail && (scenario === "kill" || (contAt !== null && t - contAt >= 2000));
    if (enough || (t >= deadline && (scenario === "kill" || contAt !== null))) break;
    await sleep(5);
  }
  const results = await loop.stop();
  const loopEnd = now();
  polling = false;
  await poller;
  if (scenario === "stop" && contAt === null) {
    victim.resume();
    contAt = now();
  }

  // Longest gap between completions of consecutive successes (loop start and end count as edges).
  const oks = results.filter(ok).map((r) => r.t1).sort((a, b) => a - b);
  let maxGap = 0;
  let prev = loopStart;
  for (const t of [...oks, loopEnd]) {
    maxGap = Math.max(maxGap, t - prev);
    prev = t;
  }
  const after = results.filter((r) => r.t1 >= hitAt);
  const failures = {};
  for (const r of after.filter((r) => !ok(r))) {
    const key = r.status ? `${r.status}` : r.error?.startsWith("timeout") ? "timeout" : r.error || "error";
    failures[key] = (failures[key] || 0) + 1;
  }
  const newLeader = await cluster.leaderSeenBy(clientK).catch(() => null);
  const elected = cluster.electionAfter(hitWall, leader);
  const probe = results.filter((r) => r.chain === 1).sort((a, b) => a.t0 - b.t0)[0];
  const rec = {
    server: cluster.kind,
    scenario,
    round: i,
    leader,
    clientNode: clientK,
    newLeaderSeen: newLeader,
    leaderChangeMs,
    electedMs: elected ? elected.wall - hitWall : null,
    electedNode: elected ? elected.k : null,
    hitWall: new Date(hitWall).toISOString(),
    probeMs: probe ? probe.t1 - hitAt : null,
    probeStatus: probe ? probe.status || probe.error : null,
    readyMs,
    failoverMs: firstOk ? firstOk.t1 - hitAt : null,
    firstOkStartMs: firstOk ? firstOk.t0 - hitAt : null,
    firstOkBeforeCont: scenario === "stop" && firstOk ? firstOk.t1 < contAt : null,
    maxGapMs: maxGap,
    contAtMs: contAt !== null ? contAt - hitAt : null,
    requestsAfterHit: after.length,
    okAfterHit: after.filter(ok).length,
    failures,
    requests: results.map((r) => ({ t0: +(r.t0 - hitAt).toFixed(1), t1: +(r.t1 - hitAt).toFixed(1), status: r.status, error: r.error, chain: r.chain })),
  };

  // Back to three nodes.
  if (scenario === "kill") {
    victim.spawn();
    await victim.waitHealthy();
  }
  return rec;
}

// ---------------------------------------------------------------------------------------------
// Per server

async function runServer(kind, opts, outDir) {
  const bin = kind === "stet" ? opts.stetBin : opts.restateBin;
  if (!fs.existsSync(bin)) throw new Error(`${kind} binary not found: ${bin}`);
  const cluster = new Cluster(kind, bin, outDir);
  const t0 = now();
  const rounds = [];
  let version = "";
  try {
    await cluster.start();
    const leader0 = await cluster.waitReady();
    const startMs = now() - t0;
    const v = await request(`${cluster.node(1).adminUrl}/version`, { timeout: 3000 });
    version = v.json?.version || "";
    log(`${kind}: 3-node cluster ready in ${(startMs / 1000).toFixed(1)} s, metadata leader N${leader0} (logs in ${cluster.logDir})`);
    for (const scenario of opts.scenarios) {
      for (let i = 1; i <= opts.rounds; i++) {
        const r = await round(cluster, scenario, i, opts);
        rounds.push(r);
        const fail = Object.entries(r.failures).map(([k, v]) => `${k}x${v}`).join(" ");
        log(
          `${kind} ${scenario} #${i}: leader N${r.leader}, client N${r.clientNode}: failover ${r.failoverMs === null ? "none" : fmtS(r.failoverMs) + " s"}, ` +
            `probe ${fmtS(r.probeMs)} s (${r.probeStatus}), longest gap ${fmtS(r.maxGapMs)} s, new leader N${r.electedNode ?? "?"} elected after ${fmtS(r.electedMs)} s (logs), named by the client's node after ${fmtS(r.leaderChangeMs)} s` +
            (r.scenario === "stop" ? `, ${r.firstOkBeforeCont ? "before" : "after"} SIGCONT` : "") +
            (fail ? `, failed after the hit: ${fail}` : ""),
        );
      }
    }
    await cluster.waitReady();
  } finally {
    await cluster.close();
    fs.writeFileSync(path.join(outDir, `${kind}-rounds.json`), JSON.stringify(rounds, null, 1));
  }
  log(`${kind}: done in ${((now() - t0) / 1000).toFixed(0)} s`);
  return { kind, bin, version, rounds, seconds: (now() - t0) / 1000, mtime: fs.statSync(bin).mtime.toISOString().replace(/\.\d+Z$/, "Z") };
}

// ---------------------------------------------------------------------------------------------
// Report

function summarize(rounds, opts) {
  const fo = rounds.map((r) => (r.failoverMs === null ? opts.roundTimeout * 1000 : r.failoverMs));
  const gap = rounds.map((r) => r.maxGapMs);
  const lc = rounds.map((r) => r.leaderChangeMs).filter((x) => x !== null);
  const pr = rounds.map((r) => r.probeMs).filter((x) => x !== null);
  const el = rounds.map((r) => r.electedMs).filter((x) => x !== null);
  return {
    el: { med: quantile(el, 0.5), p90: quantile(el, 0.9), max: el.length ? Math.max(...el) : NaN, n: el.length },
    pr: { med: quantile(pr, 0.5), p90: quantile(pr, 0.9), max: pr.length ? Math.max(...pr) : NaN },
    lc: { med: quantile(lc, 0.5), p90: quantile(lc, 0.9), max: lc.length ? Math.max(...lc) : NaN, n: lc.length },
    n: rounds.length,
    failed: rounds.filter((r) => r.failoverMs === null).length,
    fo: { med: quantile(fo, 0.5), p90: quantile(fo, 0.9), max: Math.max(...fo), min: Math.min(...fo) },
    gap: { med: quantile(gap, 0.5), p90: quantile(gap, 0.9), max: Math.max(...gap), min: Math.min(...gap) },
    beforeCont: rounds.filter((r) => r.firstOkBeforeCont === true).length,
    failures: rounds.reduce((acc, r) => {
      for (const [k, v] of Object.entries(r.failures)) acc[k] = (acc[k] || 0) + v;
      return acc;
    }, {}),
  };
}

const SCEN_NAME = (opts) => ({
  kill: "SIGKILL of the metadata leader",
  stop: `SIGSTOP of the metadata leader for ${opts.stopSeconds} s`,
});

function report(servers, opts, meta) {
  const L = [];
  const names = { stet: "Stet", restate: "Restate 1.7.12" };
  L.push("# Metadata-leader failover results (3 nodes)");
  L.push("");
  L.push(`Generated by \`bench/failover.mjs\` on ${meta.date} (took ${(meta.seconds / 60).toFixed(1)} min). Stet commit \`${meta.commit}\`.`);
  L.push("");
  L.push("## How this was measured");
  L.push("");
  L.push(`Command: \`${meta.command}\``);
  L.push("");
  L.push(`- Machine: ${meta.machine}; load average before the run ${meta.load}. Noisy shared machine: the numbers move by a few hundred ms from run to run.`);
  for (const s of servers) L.push(`- ${names[s.kind]}: \`${s.bin}\` (version ${s.version || "?"}; binary modified ${s.mtime}).`);
  L.push(
    "- Cluster: 3 nodes on loopback, compose settings (restate-k, RESTATE_FORCE_NODE_ID=k, auto-provision on node 1 only, " +
      "RESTATE_DEFAULT_REPLICATION=2, the three node ports as RESTATE_METADATA_CLIENT__ADDRESSES, one shared base dir); " +
      "restate-server additionally gets the env tests/e2e/harness.mjs gives it (no telemetry, TCP, plain logs). " +
      "One SDK services process (tests/e2e/services.mjs) is the deployment.",
  );
  L.push(
    "- Metadata leader: Stet: `GET /cluster` on each node (`metadata.leader`, `metadata.quorum`, three nodes `alive`). " +
      "restate-server has no such route and restatectl is not installed: the leader is read from the gauge " +
      "`restate_metadata_server_replicated_leader_id` of each node's node-port `/metrics` (all three must agree), with node-port " +
      "`/health` `Alive`/`Member` on each node for readiness.",
  );
  L.push(
    `- Round: wait until the 3 nodes are alive with a quorum, agree on the leader, and \`POST /deployments {"uri":…,"force":true}\` succeeds through every node's admin port; ` +
      `start a client loop on the admin port of the lowest-numbered node that is not the leader (back-to-back POST /deployments with force, one at a time, ` +
      `${opts.requestTimeout / 1000} s timeout each, fresh connection per request); after >= 3 successes and >= 0.5 s, hit the leader ` +
      `(kill: SIGKILL; stop: SIGSTOP, SIGCONT ${opts.stopSeconds} s later). At the hit a second back-to-back loop (the *probe*) starts on the same node, next to the first, ` +
      `so one registration is sent exactly at the hit whatever the first loop is doing (its own request may be in flight). ` +
      `The new leader's election time comes from the node logs (UTC timestamps; Stet "metadata group: this node leads", restate-server "Won metadata cluster leadership"). ` +
      `Stet only: the client's node is also asked for the leader (/cluster) every 250 ms; "names another leader after" is the first answer naming another node ` +
      `(restate-server's leader gauge on a follower was seen to stay stale after a failover, so it is not used for this).`,
  );
  L.push(
    `- **failover** = from the hit to the completion of the first 2xx registration *started after* the hit (over both loops). **probe** = how long the registration sent at the hit took to be answered, and its status. ` +
      `**longest gap** = the longest time between completions of consecutive 2xx registrations of both loops ` +
      `(from the first loop's start, through the hit, to ${opts.tail / 1000} s after that first success; stop: and >= 2 s after the SIGCONT). ` +
      `Then the killed node is restarted on its data (stop: it was resumed) and the next round waits for readiness again. ` +
      `A round without success within ${opts.roundTimeout} s counts as failed and enters the statistics as ${opts.roundTimeout} s.`,
  );
  L.push(`- ${opts.rounds} rounds per scenario; median and p90 by nearest rank.`);
  L.push("");
  L.push("## Summary");
  L.push("");
  const cols = servers.map((s) => names[s.kind]);
  L.push(`| scenario | metric | ${cols.join(" | ")} |`);
  L.push(`|---|---|${cols.map(() => "---:").join("|")}|`);
  const sums = {};
  for (const sc of opts.scenarios) {
    for (const s of servers) sums[`${s.kind}:${sc}`] = summarize(s.rounds.filter((r) => r.scenario === sc), opts);
    const row = (label, f) => L.push(`| ${SCEN_NAME(opts)[sc]} | ${label} | ${servers.map((s) => f(sums[`${s.kind}:${sc}`], s.kind)).join(" | ")} |`);
    row("failover median / p90 / max (s)", (m) => `${fmtS(m.fo.med)} / ${fmtS(m.fo.p90)} / ${fmtS(m.fo.max)}`);
    row("longest gap median / p90 / max (s)", (m) => `${fmtS(m.gap.med)} / ${fmtS(m.gap.p90)} / ${fmtS(m.gap.max)}`);
    row("probe: the registration sent at the hit answered after: median / p90 / max (s)", (m) => `${fmtS(m.pr.med)} / ${fmtS(m.pr.p90)} / ${fmtS(m.pr.max)}`);
    row("new metadata leader elected after (node logs): median / p90 / max (s)", (m) => `${fmtS(m.el.med)} / ${fmtS(m.el.p90)} / ${fmtS(m.el.max)}${m.el.n < m.n ? ` (in ${m.el.n} of ${m.n} rounds)` : ""}`);
    row("client's node names a new leader after: median / p90 / max (s)", (m, kind) => kind !== "stet" ? "not measured" : `${fmtS(m.lc.med)} / ${fmtS(m.lc.p90)} / ${fmtS(m.lc.max)}${m.lc.n < m.n ? ` (in ${m.lc.n} of ${m.n} rounds)` : ""}`);
    row("rounds (failed: no success in time)", (m) => `${m.n} (${m.failed})`);
    if (sc === "stop") row("rounds served again before the SIGCONT", (m) => `${m.beforeCont} of ${m.n}`);
    row("failed registrations after the hit, by status", (m) => Object.entries(m.failures).map(([k, v]) => `${k}: ${v}`).join(", ") || "0");
  }
  L.push("");
  if (servers.some((s) => s.kind === "stet")) {
    L.push("## Targets (Stet; /work/shared/design/cluster.md §7)");
    L.push("");
    L.push("| target | value | result |");
    L.push("|---|---:|---:|");
    for (const sc of opts.scenarios) {
      const m = sums[`stet:${sc}`];
      if (!m) continue;
      L.push(`| ${SCEN_NAME(opts)[sc]}: failover median <= 1 s | ${fmtS(m.fo.med)} s | ${m.fo.med <= 1000 ? "PASS" : "FAIL"} |`);
      L.push(`| ${SCEN_NAME(opts)[sc]}: failover max <= 2 s | ${fmtS(m.fo.max)} s | ${m.fo.max <= 2000 ? "PASS" : "FAIL"} |`);
    }
    L.push("");
    L.push(
      "(§7 states the bounds for the longest gap per key of invocations; this benchmark applies them to metadata writes " +
        "(registrations), the operation that needs the metadata leader.)",
    );
    L.push("");
  }
  L.push("## Rounds");
  L.push("");
  for (const s of servers) {
    for (const sc of opts.scenarios) {
      const rs = s.rounds.filter((r) => r.scenario === sc);
      if (!rs.length) continue;
      L.push(`### ${names[s.kind]}: ${SCEN_NAME(opts)[sc]}`);
      L.push("");
      L.push(
        `| # | leader | client node | failover (s) | first ok started at (s) | probe answered after (s), status | longest gap (s) | elected (logs): node, after (s) | client's node names another leader after (s) | registrations after the hit: ok / failed |${sc === "stop" ? " served before SIGCONT |" : ""} ready before round (s) |`,
      );
      L.push(`|---:|---:|---:|---:|---:|---|---:|---:|---:|---|${sc === "stop" ? "---|" : ""}---:|`);
      for (const r of rs) {
        const failed = Object.entries(r.failures).map(([k, v]) => `${k}: ${v}`).join(", ");
        L.push(
          `| ${r.round} | N${r.leader} | N${r.clientNode} | ${r.failoverMs === null ? `> ${opts.roundTimeout}` : fmtS(r.failoverMs)} | ${fmtS(r.firstOkStartMs)} | ${fmtS(r.probeMs)}, ${r.probeStatus} | ${fmtS(r.maxGapMs)} | ` +
            `${r.electedNode ? `N${r.electedNode}, ${fmtS(r.electedMs)}` : "-"} | ${fmtS(r.leaderChangeMs)} | ${r.okAfterHit} / ${r.requestsAfterHit - r.okAfterHit}${failed ? ` (${failed})` : ""} |` +
            `${sc === "stop" ? ` ${r.firstOkBeforeCont ? "yes" : "no"} |` : ""} ${fmtS(r.readyMs)} |`,
        );
      }
      L.push("");
    }
  }
  L.push(`Raw per-request data: \`${path.relative(REPO_DIR, meta.outDir)}/<server>-rounds.json\` (times in ms relative to the hit); node logs next to it.`);
  L.push("");
  return L.join("\n");
}

function machineInfo() {
  const cpus = os.cpus();
  let distro = "";
  try {
    distro = fs.readFileSync("/etc/os-release", "utf8").match(/^PRETTY_NAME="?([^"\n]*)/m)?.[1] || "";
  } catch {}
  return `${cpus[0]?.model || "?"}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Linux ${os.release()}, ${distro}, Node ${process.version}`;
}

async function gitCommit() {
  return new Promise((resolve) => {
    const c = spawn("git", ["-C", REPO_DIR, "rev-parse", "--short=12", "HEAD"], { stdio: ["ignore", "pipe", "ignore"] });
    let s = "";
    c.stdout.on("data", (d) => (s += d));
    c.on("close", () => resolve(s.trim() || "?"));
    c.on("error", () => resolve("?"));
  });
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv);
  keepTemp = opts.keep;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const outDir = opts.out || path.join(BENCH_DIR, "out", `failover-${stamp}`);
  fs.mkdirSync(outDir, { recursive: true });
  const load = os.loadavg().map((x) => x.toFixed(2)).join(" ");
  const t0 = now();
  const servers = [];
  for (const kind of opts.servers) {
    log(`=== ${kind}: ${opts.scenarios.join(", ")} x ${opts.rounds} rounds`);
    servers.push(await runServer(kind, opts, outDir));
  }
  const meta = {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    seconds: (now() - t0) / 1000,
    commit: await gitCommit(),
    command: process.env.BENCH_COMMAND || ["node", path.relative(REPO_DIR, fileURLToPath(import.meta.url)), ...process.argv.slice(2)].join(" "),
    machine: machineInfo(),
    load,
    outDir,
  };
  const text = report(servers, opts, meta);
  // The summary to stdout.
  const i = text.indexOf("## Summary");
  const j = text.indexOf("## Rounds");
  process.stdout.write(text.slice(i, j) + "\n");
  if (opts.results !== "-") {
    fs.writeFileSync(opts.results, text);
    log(`wrote ${opts.results}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    log(`error: ${e.stack || e}`);
    process.exit(1);
  },
);
