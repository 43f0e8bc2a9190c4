// Benchmark suite: Stet against restate-server 1.7.12, same ports, same SDK services, same load.
//
// Design:
// - One server at a time. For each server (--servers order), on the same loopback ports with a
//   fresh data directory under bench/out/<run>/: start a fresh services process (services.mjs),
//   start the server and time its cold start (spawn -> admin /health 200 -> deployment
//   registered -> first successful invocation), stop it (SIGTERM), start it again on the same
//   data directory and time the restart (spawn -> /health 200 -> first successful invocation, no
//   registration needed), let it idle (idle RSS and idle CPU), then for each workload: a warm-up
//   run at the highest concurrency, then --runs measured runs at each concurrency. After the
//   last workload it idles again (RSS after the suite), and is stopped.
// - Load: wrk (closed loop; each connection sends its next request when the previous answer
//   arrived), one thread by default, keep-alive HTTP/1.1 to the ingress, POST bodies from
//   wrk.lua, which also prints wrk's percentiles as one JSON line.
// - Resources, all from /proc, sampled just before and just after each run:
//     server CPU = utime+stime of /proc/<pid>/stat (all threads; clock ticks, 10 ms); the
//       busiest thread from /proc/<pid>/task/*/stat (a saturated event-loop thread shows here)
//     server peak RSS = VmHWM of /proc/<pid>/status, reset before each run by writing 5 to
//       /proc/<pid>/clear_refs; if that is refused, the max of VmRSS sampled every 50 ms
//     SDK CPU = the services process, and its main (JavaScript) thread separately
//     generator CPU = cutime+cstime of this process: wrk is our only child that exits, and
//       libuv reaps it, so the delta across a run is exactly wrk's CPU
//     machine CPU = /proc/stat; "other" = machine minus all of the above (other users of the
//       machine: on a shared box this says how clean a run was)
//   From these, each run names its bottleneck: the SDK's JS thread (>= 90% of a core), the
//   generator, a saturated server thread, all cores busy, or none (latency-bound).
// - `send`: the body carries wrk's send time; the service keeps now - t per invocation. After
//   wrk ends, we wait (bounded) until every accepted /send has executed, and only then take the
//   "after" CPU sample, so the server's CPU includes executing what it accepted.
// - Cluster (--cluster): the same suite against 3 nodes of each server on loopback (Restate's
//   env: RESTATE_METADATA_CLIENT__ADDRESSES, RESTATE_DEFAULT_REPLICATION=2, auto-provision on
//   node 1, RESTATE_FORCE_NODE_ID). The cluster "exists" when a deployment registered on node 1
//   is listed by node 2 and node 3 and an invocation through node 3's ingress succeeds; when a
//   server cannot form one, its cluster column says why and the suite goes on. Load goes to
//   node 1's ingress; CPU and RSS are summed over the 3 processes.
// - Results: every measured number goes to bench/out/<run>/results.json; the report (console
//   and bench/RESULTS.md) takes medians over runs. --report <results.json> re-renders a report.
// - Flood (--flood, instead of the suite): per server, on a fresh data directory, bench/flood.mjs
//   holds --flood-connections (512) connections busy for --flood-duration (15) s with
//   POST /Bench/flood/send, body {"id":n}, n unique, and keeps every id's HTTP status (it stops
//   sending at the deadline and waits for the answers in flight, so the accepted set is exact).
//   The Bench.flood handler records, per id, the invocation ids that ran it (bench/services.mjs,
//   read back over its side channel). We wait until every accepted id has run (up to
//   --flood-drain-timeout, 300 s), then compare id by id: lost (accepted, never ran),
//   duplicates (one id run by two invocations), refused sends that ran anyway. Server RSS is
//   sampled every 50 ms (and VmHWM, reset before the flood) over the flood and the drain. The
//   report goes to bench/RESULTS-flood.md, never to bench/RESULTS.md.
// - Every wait is bounded (server start, registration, first invocation, wrk (duration + 30 s),
//   send drain, flood drain, SIGTERM -> SIGKILL), and every child is killed when this process
//   exits.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_DIR = path.resolve(BENCH_DIR, "..");
const CLK_TCK = 100; // USER_HZ; Linux exports 100 on every architecture we run on
const PAGE_KB = 4;

// ---------------------------------------------------------------------------------------------
// Workloads

const WORKLOADS = {
  noop: { path: "/Bench/noop", body: "1", what: "handler returns a string" },
  run3: { path: "/Bench/run3", body: "1", what: "3 sequential ctx.run" },
  "object-hot": { path: "/Counter/hot/add", body: "1", what: "exclusive add on one object key" },
  "object-spread": { path: "/Counter/{key}/add", body: "1", keys: 1000, what: "exclusive add on 1000 keys (random)" },
  sleep: { path: "/Bench/sleep", body: "1", what: "ctx.sleep(100 ms)", sleepMs: 100 },
  "call-chain": { path: "/Chain/hop", body: "3", what: "3 nested service calls (4 invocations)" },
  send: { path: "/Bench/stamp/send", body: '{"t":{now}}', what: "/send; time until the handler ran", send: true },
};
const WORKLOAD_NAMES = Object.keys(WORKLOADS);

// Flood mode
const FLOOD_DEFAULTS = { connections: 512, duration: 15, drainTimeout: 300 };
const FLOOD_PATH = "/Bench/flood/send";
const FLOOD_RSS_TARGET_MB = 128;

// ---------------------------------------------------------------------------------------------
// Options

const HELP = `Usage: bench/run.sh [options]     (or: node bench/run.mjs [options])

  --servers LIST        servers to run, in order (default stet,restate)
  --workloads LIST      ${WORKLOAD_NAMES.join(",")} (default all)
  --concurrency LIST    closed-loop connections (default 1,32)
  --duration S          seconds per measured run (default 6)
  --runs N              measured runs per workload and concurrency (default 3; medians reported)
  --warmup S            warm-up seconds per workload, at the highest concurrency (default 2)
  --threads N           wrk threads (default 1)
  --wait-quiet S        before each measured run, wait up to S seconds until the rest of the
                        machine (not the server, SDK or this runner) uses < 0.25 cores (default 0)
  --quick               --duration 3 --runs 1 --warmup 1, 50 requests in the fsync check
                        (about 2.5 minutes for both servers)
  --cluster             also run the suite on a 3-node cluster of each server
  --cluster-only        only the 3-node cluster suite
  --stet-bin PATH       Stet binary (default <repo>/build/stet)
  --restate-bin PATH    restate-server binary (default the one bench/node_modules installed)
  --micro-dir DIR       directory with bench_protocol, bench_log, bench_store (default <repo>/build)
  --no-micro            skip the micro benchmarks
  --no-fsync-check      skip counting each server's fsync/fdatasync calls per request (strace)
  --keep-data           keep the servers' data directories under --out (removed by default)
  --port-base N         ports N..N+11 (single node) and N+100..N+122 (cluster) (default 27000)
  --out DIR             raw output directory (default bench/out)
  --results FILE        report file (default bench/RESULTS.md); --no-results to skip writing it
  --report JSON         only render the report from a results.json of an earlier run
  -h, --help            this text

Flood mode (only the flood; no suite, micro benchmarks or fsync check):
  --flood               per server: ${FLOOD_DEFAULTS.connections} connections for ${FLOOD_DEFAULTS.duration} s of POST /Bench/flood/send (unique
                        id per send, bench/flood.mjs), then the drain; reports accepted (202),
                        refused by status, executed / unique / duplicates, lost, drain time,
                        peak server RSS, and the targets (Stet peak RSS <= ${FLOOD_RSS_TARGET_MB} MB, every accepted
                        send executed exactly once). Writes bench/RESULTS-flood.md (--results
                        overrides); raw data in bench/out/flood-<time>/
  --flood-connections N connections (default ${FLOOD_DEFAULTS.connections})
  --flood-duration S    seconds of flood (default ${FLOOD_DEFAULTS.duration})
  --flood-drain-timeout S  how long to wait after the flood for every accepted send to run
                        (default ${FLOOD_DEFAULTS.drainTimeout}; then the drain is reported as a timeout)
`;

function parseOptions(argv) {
  const o = {
    servers: ["stet", "restate"],
    workloads: WORKLOAD_NAMES,
    concurrency: [1, 32],
    duration: 6,
    runs: 3,
    warmup: 2,
    threads: 1,
    waitQuiet: 0,
    quick: false,
    cluster: false,
    single: true,
    stetBin: process.env.STET_BIN || path.join(REPO_DIR, "build", "stet"),
    restateBin: process.env.RESTATE_BIN || "",
    microDir: path.join(REPO_DIR, "build"),
    micro: true,
    fsyncCheck: true,
    keepData: false,
    portBase: 27000,
    out: path.join(BENCH_DIR, "out"),
    results: path.join(BENCH_DIR, "RESULTS.md"),
    resultsGiven: false,
    report: "",
    flood: false,
    floodConnections: FLOOD_DEFAULTS.connections,
    floodDuration: FLOOD_DEFAULTS.duration,
    floodDrainTimeout: FLOOD_DEFAULTS.drainTimeout,
  };
  const list = (v) => v.split(",").map((s) => s.trim()).filter(Boolean);
  const num = (name, v, min, max) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name}: expected a number in [${min}, ${max}], got "${v}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case "--servers":
        o.servers = list(val());
        for (const s of o.servers) if (s !== "stet" && s !== "restate") throw new Error(`--servers: unknown server "${s}" (stet, restate)`);
        break;
      case "--workloads":
        o.workloads = list(val());
        for (const w of o.workloads) if (!WORKLOADS[w]) throw new Error(`--workloads: unknown workload "${w}" (${WORKLOAD_NAMES.join(", ")})`);
        break;
      case "--concurrency":
        o.concurrency = list(val()).map((c) => num("--concurrency", c, 1, 10000));
        break;
      case "--duration": o.duration = num(a, val(), 1, 3600); break;
      case "--runs": o.runs = num(a, val(), 1, 100); break;
      case "--warmup": o.warmup = num(a, val(), 0, 600); break;
      case "--threads": o.threads = num(a, val(), 1, 64); break;
      case "--wait-quiet": o.waitQuiet = num(a, val(), 0, 600); break;
      case "--quick": o.quick = true; break;
      case "--cluster": o.cluster = true; break;
      case "--cluster-only": o.cluster = true; o.single = false; break;
      case "--stet-bin": o.stetBin = path.resolve(val()); break;
      case "--restate-bin": o.restateBin = path.resolve(val()); break;
      case "--micro-dir": o.microDir = path.resolve(val()); break;
      case "--no-micro": o.micro = false; break;
      case "--no-fsync-check": o.fsyncCheck = false; break;
      case "--keep-data": o.keepData = true; break;
      case "--port-base": o.portBase = num(a, val(), 1024, 65000); break;
      case "--out": o.out = path.resolve(val()); break;
      case "--results": o.results = path.resolve(val()); o.resultsGiven = true; break;
      case "--no-results": o.results = ""; o.resultsGiven = true; break;
      case "--flood": o.flood = true; break;
      case "--flood-connections": o.floodConnections = num(a, val(), 1, 20000); break;
      case "--flood-duration": o.floodDuration = num(a, val(), 1, 3600); break;
      case "--flood-drain-timeout": o.floodDrainTimeout = num(a, val(), 1, 86400); break;
      case "--report": o.report = path.resolve(val()); break;
      case "-h":
      case "--help":
        process.stdout.write(HELP);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  if (o.quick) Object.assign(o, { duration: 3, runs: 1, warmup: 1 });
  // A later explicit option wins over --quick.
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--duration") o.duration = Number(argv[i + 1]);
    if (argv[i] === "--runs") o.runs = Number(argv[i + 1]);
    if (argv[i] === "--warmup") o.warmup = Number(argv[i + 1]);
  }
  o.concurrency = [...new Set(o.concurrency)].sort((x, y) => x - y);
  // A partial run must not overwrite the committed full-suite report.
  if (o.flood && !o.resultsGiven) o.results = path.join(BENCH_DIR, "RESULTS-flood.md");
  return o;
}

// ---------------------------------------------------------------------------------------------
// Small utilities

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => performance.now();

function log(msg) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function median(values) {
  const v = values.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** One HTTP/1.1 request on a fresh connection; resolves {status, text} or rejects. */
function request(url, { method = "GET", body, headers = {}, timeout = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    let payload;
    if (body !== undefined) {
      payload = Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
      h["content-type"] ??= "application/json";
      h["content-length"] = String(payload.length);
    }
    const req = http.request(url, { method, headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        clearTimeout(timer);
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, text: buf.toString("utf8"), buf });
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${url}: no answer within ${timeout} ms`)), timeout);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(payload);
  });
}

/** Calls fn until it returns a truthy value, every intervalMs; throws after timeoutMs. */
async function pollUntil(fn, { timeout, interval, what }) {
  const deadline = nowMs() + timeout;
  let last = "";
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e.fatal) throw e;
      last = e.message;
    }
    if (nowMs() >= deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
    await sleep(interval);
  }
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------------------------------------
// /proc readers

function readProcStat(pid) {
  const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state): field n is rest[n - 3]
  return { utime: Number(rest[11]), stime: Number(rest[12]), cutime: Number(rest[13]), cstime: Number(rest[14]) };
}

/** CPU seconds (all threads) of a live process, or null if it is gone. */
function cpuSeconds(pid) {
  try {
    const s = readProcStat(pid);
    return (s.utime + s.stime) / CLK_TCK;
  } catch {
    return null;
  }
}

function childrenCpuSeconds() {
  const s = readProcStat("self");
  return (s.cutime + s.cstime) / CLK_TCK;
}

/** {tid: {name, cpu seconds}} for every thread of pid. */
function threadCpu(pid) {
  const out = {};
  let tids = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = text.slice(text.indexOf("(") + 1, text.lastIndexOf(")"));
      const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
      out[tid] = { name, cpu: (Number(rest[11]) + Number(rest[12])) / CLK_TCK };
    } catch {
      // thread ended
    }
  }
  return out;
}

/** {rssKb, hwmKb} of a live process, or null. */
function memKb(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const get = (k) => {
      const m = text.match(new RegExp(`^${k}:\\s+(\\d+) kB`, "m"));
      return m ? Number(m[1]) : null;
    };
    return { rssKb: get("VmRSS"), hwmKb: get("VmHWM") };
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current RSS; false if the kernel refused. */
function resetPeakRss(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** Busy and total clock ticks of the whole machine. */
function machineTicks() {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = f[3] + f[4];
  return { busy: total - idle, total };
}

// ---------------------------------------------------------------------------------------------
// Children: every spawned process is tracked and killed when we exit

const live = new Set();
function killAll() {
  for (const c of live) {
    try {
      c.kill("SIGKILL");
    } catch {
      // gone
    }
  }
  live.clear();
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    log(`${sig}: stopping every child`);
    killAll();
    process.exit(130);
  });
}

function track(child) {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

const exited = (c) => c.exitCode !== null || c.signalCode !== null;

function waitExit(child, timeoutMs) {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off("exit", on);
      resolve(false);
    }, timeoutMs);
    const on = () => {
      clearTimeout(t);
      resolve(true);
    };
    child.once("exit", on);
  });
}

/** SIGTERM, then SIGKILL after graceMs. Returns ms until exit and whether it was forced. */
async function stopChild(child, graceMs = 20_000) {
  if (!child || exited(child)) return { ms: 0, forced: false };
  const t0 = nowMs();
  child.kill("SIGTERM");
  if (await waitExit(child, graceMs)) return { ms: nowMs() - t0, forced: false };
  child.kill("SIGKILL");
  await waitExit(child, 5000);
  return { ms: nowMs() - t0, forced: true };
}

// ---------------------------------------------------------------------------------------------
// Services process

class Services {
  constructor(dir, port, sidePort) {
    this.logFile = path.join(dir, "services.log");
    this.port = port;
    this.sidePort = sidePort;
    this.child = null;
  }
  get uri() {
    return `http://127.0.0.1:${this.port}`;
  }
  get pid() {
    return this.child.pid;
  }
  async start() {
    const fd = fs.openSync(this.logFile, "a");
    const args = ["--import", path.join(BENCH_DIR, "polyfill.mjs"), path.join(BENCH_DIR, "services.mjs"), "--port", String(this.port), "--side-port", String(this.sidePort)];
    // RESTATE_LOGGING=WARN: the SDK's per-invocation INFO lines would cost SDK CPU (the
    // bottleneck on small machines) without telling anything about the server.
    const env = { ...process.env, RESTATE_LOGGING: "WARN" };
    const child = track(spawn(process.execPath, args, { cwd: BENCH_DIR, env, stdio: ["ignore", "pipe", fd] }));
    fs.closeSync(fd);
    this.child = child;
    const ready = new Promise((resolve, reject) => {
      let buf = "";
      const onData = (c) => {
        buf += c.toString("utf8");
        if (/^READY /m.test(buf)) {
          // From now on stdout goes straight to the log, not through a growing string here.
          child.stdout.off("data", onData);
          child.stdout.pipe(fs.createWriteStream(this.logFile, { flags: "a" }));
          resolve();
        }
      };
      child.stdout.on("data", onData);
      child.once("exit", (code, sig) => reject(new Error(`services exited during startup (code ${code}, signal ${sig}); see ${this.logFile}`)));
    });
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`services did not start within 20 s; see ${this.logFile}`)), 20_000);
    });
    try {
      await Promise.race([ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
  async stamps(timeout = 10_000) {
    const r = await request(`http://127.0.0.1:${this.sidePort}/stamps`, { timeout });
    if (r.status !== 200) throw new Error(`services /stamps answered ${r.status}`);
    return JSON.parse(r.text);
  }
  /** stamps(), retried until deadline: while a send backlog executes, the SDK's loop is busy. */
  async stampsBy(deadline) {
    for (;;) {
      try {
        return await this.stamps(Math.max(1000, deadline - nowMs()));
      } catch (e) {
        if (nowMs() >= deadline) throw e;
        await sleep(100);
      }
    }
  }
  /** GET <side>/<what>, retried until deadline (the SDK's loop is busy while a backlog runs). */
  async sideBy(what, deadline) {
    for (;;) {
      try {
        const r = await request(`http://127.0.0.1:${this.sidePort}${what}`, { timeout: Math.max(1000, deadline - nowMs()) });
        if (r.status !== 200) throw Object.assign(new Error(`services ${what} answered ${r.status}`), { fatal: true });
        return r;
      } catch (e) {
        if (e.fatal || nowMs() >= deadline) throw e;
        await sleep(100);
      }
    }
  }
  async floodStats(deadline) {
    return JSON.parse((await this.sideBy("/flood", deadline)).text);
  }
  /** Per-id invocation counts (Uint8Array) or first-run times (Float64Array), index = id. */
  async floodArray(which, deadline) {
    const { buf } = await this.sideBy(`/flood/${which}`, deadline);
    if (which === "counts") return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    const copy = new Float64Array(buf.length / 8);
    new Uint8Array(copy.buffer).set(buf);
    return copy;
  }
  async floodReset() {
    const r = await request(`http://127.0.0.1:${this.sidePort}/flood/reset`, { method: "POST", timeout: 5000 });
    if (r.status !== 200) throw new Error(`services /flood/reset answered ${r.status}`);
  }
  async resetStamps() {
    const r = await request(`http://127.0.0.1:${this.sidePort}/stamps/reset`, { method: "POST", timeout: 5000 });
    if (r.status !== 200) throw new Error(`services /stamps/reset answered ${r.status}`);
  }
  stop() {
    return stopChild(this.child, 5000);
  }
}

// ---------------------------------------------------------------------------------------------
// Server nodes

/** One server process: kind "stet" or "restate"; ports {ingress, admin, node}. */
class ServerNode {
  /** wrapper: argv prefix (e.g. strace ...) the server runs under; pid is then the wrapper's. */
  constructor({ kind, bin, dir, ports, nodeName, extraEnv = {}, wrapper = [] }) {
    Object.assign(this, { kind, bin, dir, ports, nodeName, extraEnv, wrapper });
    this.baseDir = path.join(dir, "data");
    this.logFile = path.join(dir, "server.log");
    this.child = null;
    this.starts = 0;
  }
  get ingressUrl() {
    return `http://127.0.0.1:${this.ports.ingress}`;
  }
  get adminUrl() {
    return `http://127.0.0.1:${this.ports.admin}`;
  }
  get pid() {
    return this.child?.pid;
  }
  get running() {
    return this.child !== null && !exited(this.child);
  }
  /** Exactly what the server is given; both servers get the same RESTATE_* settings. */
  env() {
    const env = {
      RESTATE_BASE_DIR: this.baseDir,
      RESTATE_NODE_NAME: this.nodeName,
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${this.ports.ingress}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${this.ports.admin}`,
      RESTATE_BIND_ADDRESS: `127.0.0.1:${this.ports.node}`,
      RESTATE_ADVERTISED_ADDRESS: `http://127.0.0.1:${this.ports.node}/`,
      RESTATE_LOG_FILTER: "warn",
      ...this.extraEnv,
    };
    if (this.kind === "restate") {
      Object.assign(env, {
        RESTATE_DISABLE_TELEMETRY: "true",
        RESTATE_LISTEN_MODE: "tcp",
        RESTATE_LOG_DISABLE_ANSI_CODES: "true",
      });
    }
    return env;
  }
  args() {
    return this.kind === "restate" ? ["--no-logo"] : [];
  }
  /** Spawns; returns the spawn time (performance.now()). */
  spawn() {
    if (this.running) throw new Error(`${this.kind} ${this.nodeName} already running`);
    fs.mkdirSync(this.baseDir, { recursive: true });
    const fd = fs.openSync(this.logFile, "a");
    fs.writeSync(fd, `\n===== bench: start #${++this.starts} of ${this.bin} at ${new Date().toISOString()} =====\n`);
    const env = { PATH: process.env.PATH, HOME: process.env.HOME || "/tmp", ...this.env() };
    const t0 = nowMs();
    const [cmd, ...argv] = [...this.wrapper, this.bin, ...this.args()];
    const child = spawn(cmd, argv, { cwd: this.dir, env, stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    track(child);
    this.child = child;
    this.spawnError = null;
    child.once("error", (e) => {
      this.spawnError = e;
    });
    return t0;
  }
  checkAlive() {
    if (this.spawnError) throw Object.assign(new Error(`spawn ${this.bin} failed: ${this.spawnError.message}`), { fatal: true });
    if (exited(this.child)) {
      throw Object.assign(new Error(`${this.kind} ${this.nodeName} exited (code ${this.child.exitCode}, signal ${this.child.signalCode}); log tail:\n${this.tail()}`), { fatal: true });
    }
  }
  /** Polls admin /health every intervalMs until 200; returns performance.now() of the 200. */
  async waitHealthy(timeout = 60_000, interval = 2) {
    await pollUntil(
      async () => {
        this.checkAlive();
        const r = await request(`${this.adminUrl}/health`, { timeout: 2000 });
        return r.status === 200;
      },
      { timeout, interval, what: `${this.kind} ${this.nodeName} admin /health 200` },
    );
    return nowMs();
  }
  /** Polls a noop invocation until it answers 200; returns performance.now() of the 200. */
  async waitFirstInvocation(timeout = 60_000, interval = 2) {
    await pollUntil(
      async () => {
        this.checkAlive();
        const r = await request(`${this.ingressUrl}/Bench/noop`, { method: "POST", body: "1", timeout: 10_000 });
        return r.status === 200;
      },
      { timeout, interval, what: `${this.kind} ${this.nodeName} first successful invocation` },
    );
    return nowMs();
  }
  async register(uri) {
    const r = await request(`${this.adminUrl}/deployments`, { method: "POST", body: { uri }, timeout: 30_000 });
    if (r.status !== 200 && r.status !== 201) throw new Error(`registering ${uri} at ${this.kind} ${this.nodeName}: ${r.status} ${r.text}`);
    return JSON.parse(r.text);
  }
  stop() {
    return stopChild(this.child, 30_000);
  }
  tail(lines = 30) {
    try {
      return fs.readFileSync(this.logFile, "utf8").split("\n").slice(-lines - 1).join("\n");
    } catch (e) {
      return `(cannot read ${this.logFile}: ${e.message})`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring one run

function snapshot(target, services) {
  return {
    t: nowMs(),
    server: target.pids().map((pid) => cpuSeconds(pid)),
    threads: target.pids().map((pid) => threadCpu(pid)),
    sdk: cpuSeconds(services.pid),
    sdkMain: threadCpu(services.pid)[String(services.pid)]?.cpu ?? null,
    gen: childrenCpuSeconds(),
    self: process.cpuUsage(),
    machine: machineTicks(),
  };
}

function busiestThread(beforeList, afterList) {
  let best = { name: "", cpu: 0 };
  afterList.forEach((after, i) => {
    const before = beforeList[i] || {};
    for (const [tid, a] of Object.entries(after)) {
      const d = a.cpu - (before[tid]?.cpu ?? 0);
      if (d > best.cpu) best = { name: a.name, cpu: d };
    }
  });
  return best;
}

function runWrk(url, wl, connections, durationS, threads) {
  const args = [
    `-t${Math.min(threads, connections)}`,
    `-c${connections}`,
    `-d${durationS}s`,
    "--timeout", "10s",
    "-s", path.join(BENCH_DIR, "wrk.lua"),
    url,
    "--",
    wl.path,
    wl.body,
    String(wl.keys ?? 1000),
  ];
  return new Promise((resolve, reject) => {
    const child = track(spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] }));
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (err += c));
    const killer = setTimeout(() => child.kill("SIGKILL"), (durationS + 30) * 1000);
    child.once("error", (e) => {
      clearTimeout(killer);
      reject(new Error(`cannot run wrk: ${e.message}`));
    });
    child.once("exit", (code, sig) => {
      clearTimeout(killer);
      const m = out.match(/^WRK_JSON (\{.*\})$/m);
      if (!m) return reject(new Error(`wrk ${args.join(" ")} gave no result (code ${code}, signal ${sig}): ${(out + err).trim().slice(-500)}`));
      resolve({ ...JSON.parse(m[1]), cmd: `wrk ${args.map((a) => (/[\s{}"]/.test(a) ? `'${a}'` : a)).join(" ")}` });
    });
  });
}

// Log lines that say something went wrong: "<timestamp>Z WARN|ERROR ..." (both servers' plain
// format at RESTATE_LOG_FILTER=warn) and the SDK's "[restate][...] ERROR|WARN:" lines.
const SERVER_PROBLEM_RE = /^\S+Z\s+(WARN|ERROR)\b/gm;
const SDK_PROBLEM_RE = /^\[restate\]\S* (ERROR|WARN):/gm;

function fileSize(file) {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function logSizes(target, services) {
  return { server: target.nodes.map((n) => fileSize(n.logFile)), sdk: fileSize(services.logFile) };
}

function readFrom(file, offset) {
  const size = fileSize(file);
  if (size <= offset) return "";
  const fd = fs.openSync(file, "r");
  try {
    const buf = Buffer.alloc(size - offset);
    fs.readSync(fd, buf, 0, buf.length, offset);
    return buf.toString("utf8");
  } finally {
    fs.closeSync(fd);
  }
}

/** WARN/ERROR lines the server(s) and the SDK logged since `before`, with one example each. */
function countLogProblems(target, services, before) {
  let serverProblems = 0;
  let serverExample = "";
  target.nodes.forEach((n, i) => {
    const text = readFrom(n.logFile, before.server[i]);
    for (const m of text.matchAll(SERVER_PROBLEM_RE)) {
      serverProblems++;
      if (!serverExample) serverExample = text.slice(m.index, text.indexOf("\n", m.index + 1) >>> 0).slice(0, 300);
    }
  });
  const sdkText = readFrom(services.logFile, before.sdk);
  let sdkProblems = 0;
  let sdkExample = "";
  for (const m of sdkText.matchAll(SDK_PROBLEM_RE)) {
    sdkProblems++;
    if (!sdkExample) sdkExample = sdkText.slice(m.index, sdkText.indexOf("\n", m.index + 1) >>> 0).slice(0, 300);
  }
  return { serverLogProblems: serverProblems, serverLogExample: serverExample, sdkLogProblems: sdkProblems, sdkLogExample: sdkExample };
}

/**
 * Waits up to limitS seconds until the machine's busy time, minus what the server(s), the SDK
 * process and this runner used, stays below 0.25 cores over a 500 ms window. Returns the last
 * window's foreign load and how long we waited.
 */
async function waitQuiet(target, services, limitS) {
  const t0 = nowMs();
  for (;;) {
    const a = snapshot(target, services);
    await sleep(500);
    const b = snapshot(target, services);
    const wallS = (b.t - a.t) / 1000;
    const ours =
      b.server.reduce((s, v, i) => s + ((v ?? 0) - (a.server[i] ?? 0)), 0) +
      (b.sdk - a.sdk) +
      (b.self.user - a.self.user + b.self.system - a.self.system) / 1e6;
    const foreign = Math.max(0, (b.machine.busy - a.machine.busy) / CLK_TCK - ours) / wallS;
    if (foreign < 0.25 || nowMs() - t0 >= limitS * 1000) return { foreignCores: foreign, waitedMs: nowMs() - t0 };
  }
}

/** One measured (or warm-up) run of workload `name` at `connections`. */
async function measure(target, services, name, connections, durationS, threads, quietS = 0) {
  const wl = WORKLOADS[name];
  const quiet = quietS > 0 ? await waitQuiet(target, services, quietS) : null;
  if (wl.send) await services.resetStamps();
  for (const pid of target.pids()) if (!resetPeakRss(pid)) target.hwmResetFailed = true;
  let sampledPeakKb = 0;
  const sampler = setInterval(() => {
    const total = target.pids().reduce((s, pid) => s + (memKb(pid)?.rssKb ?? 0), 0);
    sampledPeakKb = Math.max(sampledPeakKb, total);
  }, 50);
  const logsBefore = logSizes(target, services);
  const before = snapshot(target, services);
  let wrk;
  try {
    wrk = await runWrk(target.ingressUrl, wl, connections, durationS, threads);
  } finally {
    clearInterval(sampler);
  }
  const wrkEnd = nowMs();
  const statusErrors = wrk.errors.status;
  const ok = wrk.requests - statusErrors;
  const result = { workload: name, connections, durationS, cmd: wrk.cmd, quiet };
  if (wl.send) {
    // Wait (bounded) until every accepted /send has executed.
    const deadline = nowMs() + SEND_DRAIN_LIMIT_MS;
    let st = await services.stampsBy(deadline);
    while (st.count < ok && nowMs() < deadline) {
      await sleep(20);
      st = await services.stampsBy(deadline);
    }
    const wallNow = performance.timeOrigin + nowMs();
    result.send = {
      accepted: ok,
      executed: st.count,
      untilExecutedMs: { p50: st.p50, p90: st.p90, p99: st.p99, max: st.max },
      // how long after the last answer the last accepted send ran (the backlog's drain time)
      drainMs: st.count ? Math.max(0, st.lastMs - (performance.timeOrigin + wrkEnd)) : null,
      waitedMs: wallNow - (performance.timeOrigin + wrkEnd),
    };
  }
  const after = snapshot(target, services);
  const wallS = (after.t - before.t) / 1000;
  const serverCpu = after.server.reduce((s, v, i) => s + ((v ?? 0) - (before.server[i] ?? 0)), 0);
  const hwmKb = target.pids().reduce((s, pid) => s + (memKb(pid)?.hwmKb ?? 0), 0);
  const m = after.machine.busy - before.machine.busy;
  const machineCores = m / CLK_TCK / wallS;
  const selfCpu = (after.self.user - before.self.user + after.self.system - before.self.system) / 1e6;
  const sdkCpu = after.sdk - before.sdk;
  const genCpu = after.gen - before.gen;
  const busiest = busiestThread(before.threads, after.threads);
  Object.assign(result, {
    requests: wrk.requests,
    ok,
    rps: wrk.requests / (wrk.duration_us / 1e6),
    okRps: ok / (wrk.duration_us / 1e6),
    latencyMs: Object.fromEntries(Object.entries(wrk.latency_us).map(([k, v]) => [k, v / 1000])),
    errors: wrk.errors,
    errorCount: wrk.errors.connect + wrk.errors.read + wrk.errors.write + wrk.errors.status + wrk.errors.timeout,
    wallS,
    serverCpuS: serverCpu,
    serverCpuUsPerReq: ok > 0 ? (serverCpu * 1e6) / ok : null,
    serverBusiestThread: { name: busiest.name, cores: busiest.cpu / wallS },
    serverPeakRssKb: target.hwmResetFailed ? sampledPeakKb : Math.max(hwmKb, sampledPeakKb),
    sdkCpuS: sdkCpu,
    sdkMainThreadCores: after.sdkMain !== null && before.sdkMain !== null ? (after.sdkMain - before.sdkMain) / wallS : null,
    genCpuS: genCpu,
    machineCores,
    otherCores: Math.max(0, machineCores - (serverCpu + sdkCpu + genCpu + selfCpu) / wallS),
  });
  Object.assign(result, countLogProblems(target, services, logsBefore));
  result.bottleneck = bottleneck(result, threads);
  return result;
}

const NCPU = os.cpus().length;
const SEND_DRAIN_LIMIT_MS = 120_000;

/** Names what limited a run, from the CPU each party used. */
function bottleneck(r, threads) {
  const found = [];
  const sdkCores = r.sdkMainThreadCores ?? r.sdkCpuS / r.wallS;
  if (sdkCores >= 0.9) found.push(`SDK JS thread ${sdkCores.toFixed(2)} cores`);
  const genCores = r.genCpuS / r.wallS;
  if (genCores >= 0.9 * Math.min(threads, r.connections)) found.push(`wrk ${genCores.toFixed(2)} cores`);
  if (r.serverBusiestThread.cores >= 0.9) found.push(`server thread "${r.serverBusiestThread.name}" ${r.serverBusiestThread.cores.toFixed(2)} cores`);
  if (r.machineCores >= 0.9 * NCPU) {
    found.push(
      `all ${NCPU} cores busy (server ${(r.serverCpuS / r.wallS).toFixed(2)}, SDK ${(r.sdkCpuS / r.wallS).toFixed(2)}, wrk ${genCores.toFixed(2)}, other ${r.otherCores.toFixed(2)})`,
    );
  }
  return found.length ? found.join("; ") : "none saturated (latency-bound)";
}

// ---------------------------------------------------------------------------------------------
// Targets: a single node, or a 3-node cluster

class Single {
  constructor(kind, bin, dir, ports) {
    this.kind = kind;
    this.shape = "single";
    this.node = new ServerNode({ kind, bin, dir, ports, nodeName: "bench" });
    this.nodes = [this.node];
  }
  get ingressUrl() {
    return this.node.ingressUrl;
  }
  pids() {
    return [this.node.pid];
  }
}

class Cluster {
  constructor(kind, bin, dir, portsList) {
    this.kind = kind;
    this.shape = "cluster";
    const metadata = JSON.stringify(portsList.map((p) => `http://127.0.0.1:${p.node}/`));
    this.nodes = portsList.map((ports, i) => {
      const ndir = path.join(dir, `n${i + 1}`);
      fs.mkdirSync(ndir, { recursive: true });
      return new ServerNode({
        kind,
        bin,
        dir: ndir,
        ports,
        nodeName: `bench-${i + 1}`,
        extraEnv: {
          RESTATE_CLUSTER_NAME: "bench-cluster",
          RESTATE_FORCE_NODE_ID: String(i + 1),
          RESTATE_DEFAULT_REPLICATION: "2",
          RESTATE_METADATA_CLIENT__ADDRESSES: metadata,
          RESTATE_AUTO_PROVISION: i === 0 ? "true" : "false",
        },
      });
    });
  }
  get ingressUrl() {
    return this.nodes[0].ingressUrl;
  }
  pids() {
    return this.nodes.map((n) => n.pid);
  }
}

// ---------------------------------------------------------------------------------------------
// The suite for one server

function rssTotalKb(target) {
  return target.pids().reduce((s, pid) => s + (memKb(pid)?.rssKb ?? 0), 0);
}

async function idle(target, ms) {
  const cpu0 = target.pids().map(cpuSeconds);
  const t0 = nowMs();
  await sleep(ms);
  const cpu1 = target.pids().map(cpuSeconds);
  const cpu = cpu1.reduce((s, v, i) => s + (v - cpu0[i]), 0);
  return { rssKb: rssTotalKb(target), cpuCores: cpu / ((nowMs() - t0) / 1000) };
}

async function runWorkloads(opts, target, services, out) {
  const maxC = Math.max(...opts.concurrency);
  out.workloads = {};
  for (const name of opts.workloads) {
    const wres = { runs: {} };
    out.workloads[name] = wres;
    try {
      if (opts.warmup > 0) {
        log(`${target.kind}/${target.shape} ${name}: warm-up ${opts.warmup}s at c=${maxC}`);
        wres.warmup = await measure(target, services, name, maxC, opts.warmup, opts.threads);
        await sleep(300);
      }
      for (const c of opts.concurrency) {
        wres.runs[c] = [];
        for (let i = 0; i < opts.runs; i++) {
          let r;
          try {
            r = await measure(target, services, name, c, opts.duration, opts.threads, opts.waitQuiet);
          } catch (e) {
            // One failed run does not end the workload, unless the server is gone.
            for (const n of target.nodes) n.checkAlive();
            (wres.runErrors ??= []).push(`c=${c} run ${i + 1}: ${e.message.split("\n")[0]}`);
            log(`${target.kind}/${target.shape} ${name} c=${c} run ${i + 1}/${opts.runs}: FAILED: ${e.message.split("\n")[0]}`);
            await sleep(1000);
            continue;
          }
          wres.runs[c].push(r);
          log(
            `${target.kind}/${target.shape} ${name} c=${c} run ${i + 1}/${opts.runs}: ${r.okRps.toFixed(0)} ok req/s, ` +
              `p50 ${r.latencyMs.p50.toFixed(2)} p99 ${r.latencyMs.p99.toFixed(2)} ms, errors ${r.errorCount}, ` +
              `server ${r.serverCpuUsPerReq?.toFixed(0)} us/req, bottleneck: ${r.bottleneck}`,
          );
          await sleep(300);
        }
      }
    } catch (e) {
      wres.error = e.message;
      log(`${target.kind}/${target.shape} ${name}: FAILED: ${e.message}`);
      for (const n of target.nodes) n.checkAlive?.();
    }
  }
}

/**
 * Durability check: runs the server under `strace -f -ttt -e trace=fsync,fdatasync` on a fresh
 * data directory and counts the calls made while `n` sequential object-spread requests run
 * (startup and registration excluded by the timestamps). Shows that the server syncs its log
 * before answering, and how many syncs a request costs.
 */
async function fsyncCheck(kind, bin, dir, ports, services, n = 100) {
  const traceFile = path.join(dir, "fsync.strace");
  const node = new ServerNode({
    kind,
    bin,
    dir,
    ports,
    nodeName: "bench",
    wrapper: ["strace", "-f", "-qq", "-ttt", "-e", "trace=fsync,fdatasync", "-o", traceFile],
  });
  try {
    node.spawn();
    await node.waitHealthy(120_000, 20);
    await node.register(services.uri);
    await node.waitFirstInvocation(120_000, 20);
    await sleep(1000); // let start-up flushes settle
    const t1 = Date.now() / 1000;
    for (let i = 0; i < n; i++) {
      const r = await request(`${node.ingressUrl}/Counter/f${i}/add`, { method: "POST", body: "1", timeout: 30_000 });
      if (r.status !== 200) throw new Error(`request ${i} answered ${r.status}: ${r.text.slice(0, 200)}`);
    }
    const t2 = Date.now() / 1000;
    await stopTraced(node);
    let calls = 0;
    for (const line of fs.readFileSync(traceFile, "utf8").split("\n")) {
      const m = line.match(/^\d+\s+(\d+\.\d+)\s+(fsync|fdatasync)\(/);
      if (m && Number(m[1]) >= t1 && Number(m[1]) <= t2) calls++;
    }
    return { requests: n, syncCalls: calls, perRequest: calls / n };
  } catch (e) {
    return { error: e.message.split("\n")[0] };
  } finally {
    await stopTraced(node);
  }
}

/** strace detaches on SIGTERM and leaves the server running: signal the traced server itself. */
async function stopTraced(node) {
  const child = node.child;
  if (!child || exited(child)) return;
  let tracee = null;
  try {
    tracee = Number(fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/)[0]) || null;
  } catch {
    // no children file: fall back to signalling strace
  }
  if (tracee) {
    try {
      process.kill(tracee, "SIGTERM");
    } catch {
      // already gone
    }
    if (await waitExit(child, 30_000)) return;
    try {
      process.kill(tracee, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await stopChild(child, 5000);
}

function haveStrace() {
  return spawnSync("strace", ["-V"], { encoding: "utf8" }).status === 0;
}

async function benchSingle(opts, kind, bin, runDir, ports) {
  const dir = path.join(runDir, `${kind}-single`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const res = { kind, shape: "single", bin, dir };
  const services = new Services(dir, ports.sdk, ports.side);
  const target = new Single(kind, bin, dir, ports);
  const node = target.node;
  try {
    await services.start();
    // Cold start on a fresh data directory.
    log(`${kind}: cold start (fresh data dir ${node.baseDir})`);
    let t0 = node.spawn();
    const tHealth = await node.waitHealthy();
    await node.register(services.uri);
    const tReg = nowMs();
    const tFirst = await node.waitFirstInvocation();
    res.coldStart = { healthMs: tHealth - t0, registeredMs: tReg - t0, firstInvocationMs: tFirst - t0 };
    res.stop1 = await node.stop();
    // Restart on the same data directory: the deployment is already registered.
    log(`${kind}: restart on the same data dir`);
    t0 = node.spawn();
    const tHealth2 = await node.waitHealthy();
    const tFirst2 = await node.waitFirstInvocation();
    res.restart = { healthMs: tHealth2 - t0, firstInvocationMs: tFirst2 - t0 };
    res.idle = await idle(target, 3000);
    log(`${kind}: cold start ${res.coldStart.firstInvocationMs.toFixed(0)} ms, restart ${res.restart.firstInvocationMs.toFixed(0)} ms, idle RSS ${(res.idle.rssKb / 1024).toFixed(1)} MB`);
    const cpuBefore = cpuSeconds(node.pid);
    await runWorkloads(opts, target, services, res);
    res.suiteServerCpuS = cpuSeconds(node.pid) - cpuBefore;
    res.after = await idle(target, 3000);
    res.peakRssKb = memKb(node.pid)?.hwmKb ?? null; // reset per run: peak of the last run
    res.hwmResetFailed = !!target.hwmResetFailed;
    res.stop = await node.stop();
    if (opts.fsyncCheck) {
      if (haveStrace()) {
        log(`${kind}: counting fsync/fdatasync per request under strace`);
        res.fsync = await fsyncCheck(kind, bin, path.join(dir, "fsync-check"), ports, services, opts.quick ? 50 : 100);
      } else {
        res.fsync = { error: "strace is not installed (apt-get install strace)" };
      }
    }
  } catch (e) {
    res.error = e.message;
    log(`${kind}: FAILED: ${e.message}`);
  } finally {
    if (node.running) res.stop = await node.stop();
    await services.stop();
    if (!opts.keepData) {
      fs.rmSync(node.baseDir, { recursive: true, force: true });
      fs.rmSync(path.join(dir, "fsync-check", "data"), { recursive: true, force: true });
    }
  }
  return res;
}

async function benchCluster(opts, kind, bin, runDir, clusterPorts, ports) {
  const dir = path.join(runDir, `${kind}-cluster`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const res = { kind, shape: "cluster", bin, dir };
  const services = new Services(dir, ports.sdk, ports.side);
  const target = new Cluster(kind, bin, dir, clusterPorts);
  try {
    await services.start();
    log(`${kind}: starting a 3-node cluster`);
    const t0 = target.nodes[0].spawn();
    await sleep(500);
    for (const n of target.nodes.slice(1)) n.spawn();
    await Promise.all(target.nodes.map((n) => n.waitHealthy(90_000, 20)));
    res.healthMs = nowMs() - t0;
    await target.nodes[0].register(services.uri);
    // The cluster exists when the other nodes see the deployment and route invocations.
    for (const n of target.nodes.slice(1)) {
      await pollUntil(
        async () => {
          n.checkAlive();
          const r = await request(`${n.adminUrl}/deployments`, { timeout: 5000 });
          return r.status === 200 && r.text.includes(services.uri);
        },
        { timeout: 30_000, interval: 100, what: `node ${n.nodeName} to list the deployment registered on node 1 (no shared metadata: not a cluster)` },
      );
    }
    await target.nodes[2].waitFirstInvocation(90_000, 20);
    await target.nodes[0].waitFirstInvocation(90_000, 20);
    res.firstInvocationMs = nowMs() - t0;
    res.idle = await idle(target, 3000);
    log(`${kind}: cluster up in ${res.firstInvocationMs.toFixed(0)} ms, idle RSS (3 nodes) ${(res.idle.rssKb / 1024).toFixed(1)} MB`);
    const cpuBefore = target.pids().map(cpuSeconds);
    await runWorkloads(opts, target, services, res);
    res.suiteServerCpuS = target.pids().map(cpuSeconds).reduce((s, v, i) => s + v - cpuBefore[i], 0);
    res.after = await idle(target, 3000);
    res.hwmResetFailed = !!target.hwmResetFailed;
  } catch (e) {
    res.error = e.message;
    log(`${kind} cluster: FAILED: ${e.message}`);
  } finally {
    res.stop = [];
    for (const n of [...target.nodes].reverse()) if (n.child) res.stop.push(await n.stop());
    await services.stop();
    if (!opts.keepData) for (const n of target.nodes) fs.rmSync(n.baseDir, { recursive: true, force: true });
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// Flood mode

/** Runs bench/flood.mjs; resolves its FLOOD_JSON summary plus the per-id statuses. */
function runFloodGenerator(url, connections, durationS, statusFile) {
  const answerTimeoutS = 30;
  const args = [
    path.join(BENCH_DIR, "flood.mjs"),
    "--url", url,
    "--path", FLOOD_PATH,
    "--connections", String(connections),
    "--duration", String(durationS),
    "--answer-timeout", String(answerTimeoutS),
    "--statuses", statusFile,
  ];
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] }));
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (err += c));
    const killer = setTimeout(() => child.kill("SIGKILL"), (durationS + answerTimeoutS + 30) * 1000);
    child.once("error", (e) => {
      clearTimeout(killer);
      reject(new Error(`cannot run bench/flood.mjs: ${e.message}`));
    });
    child.once("exit", (code, sig) => {
      clearTimeout(killer);
      const m = out.match(/^FLOOD_JSON (\{.*\})$/m);
      if (!m) return reject(new Error(`bench/flood.mjs gave no result (code ${code}, signal ${sig}): ${(out + err).trim().slice(-500)}`));
      const buf = fs.readFileSync(statusFile);
      const statuses = new Uint16Array(buf.length / 2);
      new Uint8Array(statuses.buffer).set(buf);
      resolve({ gen: JSON.parse(m[1]), statuses, cmd: `node bench/flood.mjs ${args.slice(1).map((a) => (a === statusFile ? path.basename(a) : a)).join(" ")}` });
    });
  });
}

function dirSizeKb(dir) {
  const r = spawnSync("du", ["-sk", dir], { encoding: "utf8", timeout: 30_000 });
  const n = parseInt(r.stdout || "", 10);
  return Number.isFinite(n) ? n : null;
}

/** Compares the accepted ids (from the generator) with the ids the handler ran. */
function compareFlood(statuses, counts) {
  const c = { accepted: 0, refused: 0, noAnswer: 0, ranOnce: 0, lost: 0, duplicatedAccepted: 0, extraRunsAccepted: 0, refusedRan: 0, unansweredRan: 0, unknownIdsRan: 0 };
  for (let id = 0; id < statuses.length; id++) {
    const st = statuses[id];
    const n = id < counts.length ? counts[id] : 0;
    if (st >= 200 && st < 300) {
      c.accepted++;
      if (n === 0) c.lost++;
      else if (n === 1) c.ranOnce++;
      else {
        c.ranOnce++;
        c.duplicatedAccepted++;
        c.extraRunsAccepted += n - 1;
      }
    } else if (st === 0) {
      c.noAnswer++;
      if (n > 0) c.unansweredRan++;
    } else {
      c.refused++;
      if (n > 0) c.refusedRan++;
    }
  }
  for (let id = statuses.length; id < counts.length; id++) if (counts[id] > 0) c.unknownIdsRan++;
  return c;
}

async function benchFlood(opts, kind, bin, runDir, ports) {
  const dir = path.join(runDir, `${kind}-flood`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const res = { kind, shape: "flood", bin, dir, connections: opts.floodConnections, durationS: opts.floodDuration, drainTimeoutS: opts.floodDrainTimeout };
  const services = new Services(dir, ports.sdk, ports.side);
  const target = new Single(kind, bin, dir, ports);
  const node = target.node;
  let sampler = null;
  try {
    await services.start();
    log(`${kind}: flood: starting on a fresh data dir (${node.baseDir})`);
    node.spawn();
    await node.waitHealthy();
    await node.register(services.uri);
    await node.waitFirstInvocation();
    res.idle = await idle(target, 2000);
    if (opts.waitQuiet > 0) res.quiet = await waitQuiet(target, services, opts.waitQuiet);
    await services.floodReset();
    const pid = node.pid;

    // RSS: VmHWM reset now and read at the end, and VmRSS every 50 ms (max, and one point a second).
    res.hwmReset = resetPeakRss(pid);
    const mem = { peakKb: 0, floodPeakKb: 0, timeline: [] };
    let phase = "flood";
    const tStart = nowMs();
    sampler = setInterval(() => {
      const m = memKb(pid);
      if (!m || m.rssKb == null) return;
      mem.peakKb = Math.max(mem.peakKb, m.rssKb);
      if (phase === "flood") mem.floodPeakKb = Math.max(mem.floodPeakKb, m.rssKb);
      const sec = Math.floor((nowMs() - tStart) / 1000);
      const last = mem.timeline[mem.timeline.length - 1];
      if (!last || last[0] !== sec) mem.timeline.push([sec, m.rssKb, phase]);
      else last[1] = Math.max(last[1], m.rssKb);
    }, 50);

    const logsBefore = logSizes(target, services);
    const before = snapshot(target, services);
    log(`${kind}: flood: ${opts.floodConnections} connections, ${opts.floodDuration} s of POST ${FLOOD_PATH}`);
    const { gen, statuses, cmd } = await runFloodGenerator(node.ingressUrl, opts.floodConnections, opts.floodDuration, path.join(dir, "flood-statuses.u16"));
    phase = "drain";
    const afterFlood = snapshot(target, services);
    const tFloodEnd = nowMs();
    res.cmd = cmd;
    res.gen = gen;
    res.rssAtFloodEndKb = memKb(pid)?.rssKb ?? null;
    const accepted = Object.entries(gen.statuses).reduce((s, [k, v]) => s + (k >= 200 && k < 300 ? v : 0), 0);
    const floodWallS = (afterFlood.t - before.t) / 1000;
    const fServerCpu = (afterFlood.server[0] ?? 0) - (before.server[0] ?? 0);
    const fSdk = afterFlood.sdk - before.sdk;
    const fGen = afterFlood.gen - before.gen;
    const fSelf = (afterFlood.self.user - before.self.user + afterFlood.self.system - before.self.system) / 1e6;
    const fMachine = (afterFlood.machine.busy - before.machine.busy) / CLK_TCK / floodWallS;
    res.flood = {
      wallS: floodWallS,
      serverCpuS: fServerCpu,
      sdkCpuS: fSdk,
      genCpuS: fGen,
      machineCores: fMachine,
      otherCores: Math.max(0, fMachine - (fServerCpu + fSdk + fGen + fSelf) / floodWallS),
    };
    const busiest = busiestThread(before.threads, afterFlood.threads);
    res.flood.bottleneck = bottleneck(
      {
        ...res.flood,
        connections: opts.floodConnections,
        sdkMainThreadCores: afterFlood.sdkMain !== null && before.sdkMain !== null ? (afterFlood.sdkMain - before.sdkMain) / floodWallS : null,
        serverBusiestThread: { name: busiest.name, cores: busiest.cpu / floodWallS },
      },
      1,
    ).replace(/\bwrk\b/g, "generator");
    const statusText = Object.entries(gen.statuses).map(([k, v]) => `${k}: ${v}`).join(", ");
    log(`${kind}: flood: sent ${gen.sent}, answers {${statusText}}, no answer ${gen.noAnswer}; RSS ${(res.rssAtFloodEndKb / 1024).toFixed(1)} MB; draining (up to ${opts.floodDrainTimeout} s)`);

    // Drain: until every accepted id has run, or the timeout.
    const deadline = tFloodEnd + opts.floodDrainTimeout * 1000;
    let reached = false;
    let lastFull = 0;
    let lastLog = nowMs();
    let st = null;
    for (;;) {
      node.checkAlive();
      st = await services.floodStats(Math.max(deadline, nowMs() + 10_000));
      if (st.unique >= accepted && nowMs() - lastFull >= 1000) {
        lastFull = nowMs();
        const counts = await services.floodArray("counts", nowMs() + 30_000);
        if (compareFlood(statuses, counts).lost === 0) {
          reached = true;
          break;
        }
      }
      if (nowMs() >= deadline) break;
      if (nowMs() - lastLog >= 10_000) {
        lastLog = nowMs();
        log(`${kind}: drain: ${st.unique} of ${accepted} accepted sends ran, RSS ${(memKb(pid)?.rssKb / 1024).toFixed(1)} MB`);
      }
      await sleep(100);
    }
    const tDrainEnd = nowMs();
    res.rssAtDrainEndKb = memKb(pid)?.rssKb ?? null;
    // Late duplicates would show up now.
    await sleep(2000);
    phase = "settle";
    node.checkAlive();
    const afterDrain = snapshot(target, services);
    clearInterval(sampler);
    sampler = null;
    const hwm = memKb(pid)?.hwmKb ?? null;
    st = await services.floodStats(nowMs() + 30_000);
    const counts = await services.floodArray("counts", nowMs() + 30_000);
    const times = await services.floodArray("times", nowMs() + 30_000);
    const cmp = compareFlood(statuses, counts);
    let lastAcceptedRunMs = 0;
    let ranByFloodEnd = 0;
    for (let id = 0; id < statuses.length; id++) {
      if (!(statuses[id] >= 200 && statuses[id] < 300) || id >= times.length || times[id] === 0) continue;
      lastAcceptedRunMs = Math.max(lastAcceptedRunMs, times[id]);
      if (times[id] <= gen.endMs) ranByFloodEnd++;
    }
    res.handler = st;
    res.compare = cmp;
    res.accepted = accepted;
    res.drain = {
      reached,
      // from the last answer of the flood until the last accepted send ran (exact, from the
      // handler's clock); if no accepted send was still pending at the end of the flood, 0
      ms: reached ? Math.max(0, lastAcceptedRunMs - gen.endMs) : null,
      observedMs: tDrainEnd - tFloodEnd,
      ranByFloodEnd,
      backlogAtFloodEnd: accepted - ranByFloodEnd,
      serverCpuS: (afterDrain.server[0] ?? 0) - (afterFlood.server[0] ?? 0),
      sdkCpuS: afterDrain.sdk - afterFlood.sdk,
      wallS: (afterDrain.t - afterFlood.t) / 1000,
    };
    res.exactlyOnce = reached && cmp.lost === 0 && cmp.duplicatedAccepted === 0 && st.duplicates === 0;
    res.peakRssKb = Math.max(mem.peakKb, hwm ?? 0);
    res.floodPeakRssKb = mem.floodPeakKb;
    res.hwmKb = hwm;
    res.rssTimeline = mem.timeline;
    res.dataDirKb = dirSizeKb(node.baseDir);
    Object.assign(res, countLogProblems(target, services, logsBefore));
    res.after = await idle(target, 5000);
    log(
      `${kind}: flood: accepted ${accepted}, executed ${st.executed} (unique ${st.unique}, duplicates ${st.duplicates}), lost ${cmp.lost}, ` +
        `drain ${reached ? `${(res.drain.ms / 1000).toFixed(1)} s` : `timeout (${opts.floodDrainTimeout} s)`}, peak RSS ${(res.peakRssKb / 1024).toFixed(1)} MB`,
    );
    res.stop = await node.stop();
  } catch (e) {
    res.error = e.message;
    log(`${kind}: flood FAILED: ${e.message}`);
  } finally {
    if (sampler) clearInterval(sampler);
    if (node.running) res.stop = await node.stop();
    await services.stop();
    if (!opts.keepData) fs.rmSync(node.baseDir, { recursive: true, force: true });
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// Micro benchmarks

function runMicro(dir) {
  const out = [];
  for (const name of ["bench_protocol", "bench_log", "bench_store"]) {
    const bin = path.join(dir, name);
    if (!fs.existsSync(bin)) {
      out.push({ name, error: `${bin} not found (build it: cmake --build <dir> --target ${name})` });
      continue;
    }
    log(`micro: ${name}`);
    const t0 = nowMs();
    const r = spawnSync(bin, [], { encoding: "utf8", timeout: 300_000, cwd: os.tmpdir() });
    out.push({
      name,
      seconds: (nowMs() - t0) / 1000,
      status: r.status,
      signal: r.signal,
      output: ((r.stdout || "") + (r.stderr || "")).trimEnd(),
      error: r.error ? r.error.message : r.status !== 0 ? `exit status ${r.status}${r.signal ? `, signal ${r.signal}` : ""}` : undefined,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Machine and versions

function sh(cmd, args) {
  try {
    const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 10_000 });
    return ((r.stdout || "") + (r.stderr || "")).trim();
  } catch {
    return "";
  }
}

function machineInfo(dataDir) {
  const cpu = os.cpus()[0]?.model?.trim() || "?";
  let fsType = "";
  const df = sh("df", ["-T", dataDir]).split("\n")[1];
  if (df) {
    const f = df.split(/\s+/);
    fsType = `${f[1]} on ${f[0]}`;
  }
  let debian = "";
  try {
    debian = fs.readFileSync("/etc/debian_version", "utf8").trim();
  } catch {
    // not Debian
  }
  return {
    cpu,
    cores: NCPU,
    memGiB: os.totalmem() / 2 ** 30,
    kernel: os.release(),
    debian,
    node: process.version,
    wrk: sh("wrk", ["--version"]).split("\n")[0].replace(/\s+Copyright.*$/, ""),
    gcc: sh("gcc", ["--version"]).split("\n")[0],
    fs: fsType,
    hostname: os.hostname(),
    loadavg: os.loadavg(),
  };
}

function gitInfo() {
  const commit = sh("git", ["-C", REPO_DIR, "rev-parse", "--short=12", "HEAD"]);
  const dirty = sh("git", ["-C", REPO_DIR, "status", "--porcelain", "--untracked-files=no", "--", "src", "CMakeLists.txt"]);
  return { commit, dirty: dirty.length > 0 };
}

function restateBinary(opts) {
  if (opts.restateBin) return opts.restateBin;
  const arch = { x64: "x64", arm64: "arm64" }[process.arch];
  const pkg = path.join(BENCH_DIR, "node_modules", "@restatedev", `restate-server-${process.platform}-${arch}`);
  return path.join(pkg, "bin", "restate-server");
}

function versionOf(bin) {
  return sh(bin, ["--version"]).split("\n")[0];
}

function sdkVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(BENCH_DIR, "node_modules", "@restatedev", "restate-sdk", "package.json"), "utf8")).version;
  } catch {
    return "?";
  }
}

/** The durability-relevant settings restate-server reports for its defaults. */
function restateDurability(bin) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-dump-"));
  try {
    const r = spawnSync(bin, ["--dump-config"], { encoding: "utf8", timeout: 20_000, cwd: tmp, env: { PATH: process.env.PATH, RESTATE_DISABLE_TELEMETRY: "true" } });
    const text = r.stdout || "";
    const want = ["default-provider", "rocksdb-disable-wal", "rocksdb-disable-wal-fsync", "writer-batch-commit-count", "writer-batch-commit-duration", "default-num-partitions", "default-replication", "rocksdb-total-memory-size"];
    const lines = [];
    let section = "";
    for (const line of text.split("\n")) {
      const s = line.match(/^\[(.+)\]$/);
      if (s) section = s[1];
      const k = line.match(/^([a-z0-9-]+)\s*=/);
      if (k && want.includes(k[1])) lines.push(`${section ? `[${section}] ` : ""}${line.trim()}`);
    }
    return lines;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = {
  rps: (v) => (v == null ? "–" : v >= 100 ? v.toFixed(0) : v.toFixed(1)),
  ms: (v) => (v == null ? "–" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)),
  s: (v) => (v == null ? "–" : v.toFixed(2)),
  us: (v) => (v == null ? "–" : v.toFixed(0)),
  mb: (kb) => (kb == null ? "–" : (kb / 1024).toFixed(1)),
  int: (v) => (v == null ? "–" : String(Math.round(v))),
  ratio: (a, b) => (a == null || b == null || b === 0 ? "–" : `${(a / b).toFixed(2)}`),
  cores: (v) => (v == null ? "–" : v.toFixed(2)),
};

/** Medians over the runs of one workload at one concurrency. */
function summarize(runs) {
  if (!runs || runs.length === 0) return null;
  const pick = (f) => median(runs.map(f));
  const s = {
    n: runs.length,
    rps: pick((r) => r.okRps),
    p50: pick((r) => r.latencyMs.p50),
    p90: pick((r) => r.latencyMs.p90),
    p99: pick((r) => r.latencyMs.p99),
    max: pick((r) => r.latencyMs.max),
    errors: pick((r) => r.errorCount),
    serverCpuS: pick((r) => r.serverCpuS),
    usPerReq: pick((r) => r.serverCpuUsPerReq),
    peakRssKb: pick((r) => r.serverPeakRssKb),
    sdkCores: pick((r) => r.sdkCpuS / r.wallS),
    genCores: pick((r) => r.genCpuS / r.wallS),
    serverCores: pick((r) => r.serverCpuS / r.wallS),
    otherCores: pick((r) => r.otherCores),
    serverLogProblems: pick((r) => r.serverLogProblems),
    sdkLogProblems: pick((r) => r.sdkLogProblems),
    serverLogExample: runs.map((r) => r.serverLogExample).find(Boolean) || "",
    sdkLogExample: runs.map((r) => r.sdkLogExample).find(Boolean) || "",
    bottleneck: runs.map((r) => r.bottleneck).sort((a, b) => runs.filter((r) => r.bottleneck === b).length - runs.filter((r) => r.bottleneck === a).length)[0],
  };
  if (runs[0].send) {
    s.send = {
      p50: pick((r) => r.send.untilExecutedMs.p50),
      p90: pick((r) => r.send.untilExecutedMs.p90),
      p99: pick((r) => r.send.untilExecutedMs.p99),
      max: pick((r) => r.send.untilExecutedMs.max),
      accepted: pick((r) => r.send.accepted),
      executed: pick((r) => r.send.executed),
      drainMs: pick((r) => r.send.drainMs),
    };
  }
  return s;
}

function table(headers, rows) {
  return [`| ${headers.join(" | ")} |`, `|${headers.map((h, i) => (i === 0 ? "---" : "---:")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

/** Plain-text rendering of a Markdown table, for the console (left: every column flush left). */
function plain(md, left = false) {
  const rows = md.split("\n").filter((l) => !/^\|[-:|]+\|$/.test(l)).map((l) => l.slice(2, -2).split(" | "));
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === 0 || left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd()).join("\n");
}

function findResult(results, kind, shape) {
  return results.servers.find((s) => s.kind === kind && s.shape === shape);
}

function render(results) {
  const { opts } = results;
  const md = [];
  const con = [];
  const both = (title, tbl) => {
    md.push(`### ${title}\n\n${tbl}\n`);
    con.push(`\n${title}\n${plain(tbl)}`);
  };
  const m = results.machine;
  md.push(`# Benchmark results\n`);
  md.push(`Generated by \`bench/run.sh\` on ${results.startedAt} (took ${(results.elapsedS / 60).toFixed(1)} min). Stet commit \`${results.git.commit}\`${results.git.dirty ? " (with uncommitted changes in src/)" : ""}.\n`);
  md.push(`## How this was measured\n`);
  md.push(`Command: \`${results.command}\`\n`);
  md.push(
    [
      `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB.toFixed(1)} GiB RAM, Linux ${m.kernel}, Debian ${m.debian || "?"}; data directories on ${m.fs || "?"}; load average before the run ${m.loadavg.map((x) => x.toFixed(2)).join(" ")}.`,
      `- Servers: Stet \`${results.versions.stet || "-"}\` (${results.bins.stet}); restate-server \`${results.versions.restate || "-"}\` (${results.bins.restate}). SDK: @restatedev/restate-sdk ${results.versions.sdk} on Node ${m.node} (\`RESTATE_LOGGING=WARN\`: no per-invocation log lines). Generator: ${m.wrk}.`,
      `- One server at a time, same loopback ports (ingress ${results.ports.ingress}, admin ${results.ports.admin}, node ${results.ports.node}, SDK endpoint ${results.ports.sdk}), fresh data directory, fresh services process (\`bench/services.mjs\`, h2c BIDI_STREAM), deployment registered through the admin API.`,
      `- Both servers get the same environment: \`RESTATE_BASE_DIR\`, \`RESTATE_NODE_NAME=bench\`, \`RESTATE_INGRESS__BIND_ADDRESS\`, \`RESTATE_ADMIN__BIND_ADDRESS\`, \`RESTATE_BIND_ADDRESS\`, \`RESTATE_ADVERTISED_ADDRESS\`, \`RESTATE_LOG_FILTER=warn\`; restate-server also \`--no-logo\`, \`RESTATE_DISABLE_TELEMETRY=true\`, \`RESTATE_LISTEN_MODE=tcp\`, \`RESTATE_LOG_DISABLE_ANSI_CODES=true\`. Everything else is each server's default (24 partitions).`,
      `- Load: \`wrk\` closed loop, ${opts.threads} thread(s), keep-alive HTTP/1.1, POST with a JSON body (\`bench/wrk.lua\`), ${opts.runs} run(s) of ${opts.duration} s per workload and concurrency (${opts.concurrency.join(", ")}) after a ${opts.warmup} s warm-up at c=${Math.max(...opts.concurrency)}; medians over the runs; req/s counts successful (2xx) answers only, latencies are wrk's (all answers). Example: \`${results.exampleCmd || "wrk ..."}\`.`,
      `- Server CPU: utime+stime of \`/proc/<pid>/stat\` (all threads) across each run; µs/req = server CPU / successful requests. Peak RSS: \`VmHWM\` of \`/proc/<pid>/status\`, reset before each run (\`clear_refs\`). SDK CPU: the services process; generator CPU: wrk (cutime of the runner); "other": the rest of the machine's busy time (other users of this shared machine).`,
    ].join("\n") + "\n",
  );
  md.push(`### Durability\n`);
  md.push(
    [
      `Both servers run with their default durability, which is equivalent: every acknowledged record is fsynced.`,
      `- Stet: the local log fsyncs every group commit (one fdatasync of the store's write-ahead log per batch of records appended in one loop iteration) before anything is acknowledged or applied; the partition store is written without a WAL and rebuilt from the log after a crash.`,
      `- restate-server 1.7.12 (defaults, from \`restate-server --dump-config\`): the log is the replicated loglet served by the node's own log-server, whose RocksDB WAL is fsynced on each write batch; the partition store's WAL is off (it is rebuilt from the log). Relevant keys:`,
      "",
      "```",
      ...(results.restateDurability?.length ? results.restateDurability : ["(not captured)"]),
      "```",
      "(`[bifrost.local]` configures the local loglet, which 1.7 does not use by default.)",
    ].join("\n") + "\n",
  );
  const fsyncRows = results.servers
    .filter((s) => s.shape === "single" && s.fsync)
    .map((s) => [s.kind === "stet" ? "Stet" : "Restate", ...(s.fsync.error ? [`error: ${s.fsync.error}`, "", ""] : [String(s.fsync.requests), String(s.fsync.syncCalls), s.fsync.perRequest.toFixed(2)])]);
  if (fsyncRows.length) {
    md.push(
      `Checked, not assumed: each server ran once more under \`strace -f -e trace=fsync,fdatasync\` on a fresh data directory, and the sync calls made while sequential \`Counter/<new key>/add\` requests ran (each answered only after its records were durable) were counted:\n\n` +
        table(["server", "requests", "fsync + fdatasync calls", "per request"], fsyncRows) +
        "\n",
    );
    con.push(`\nfsync check (strace, sequential requests)\n${plain(table(["server", "requests", "fsync+fdatasync", "per request"], fsyncRows))}`);
  }

  // Machine noise: other processes on a shared machine slow both servers down.
  const allRuns = results.servers.flatMap((s) => Object.values(s.workloads || {}).flatMap((w) => Object.values(w.runs || {}).flat()));
  const noisy = allRuns.filter((r) => r.otherCores > 0.25);
  if (noisy.length) {
    const worst = Math.max(...noisy.map((r) => r.otherCores));
    const note = `**Machine noise:** in ${noisy.length} of ${allRuns.length} measured runs, processes outside the benchmark used more than 0.25 cores (up to ${worst.toFixed(2)} of ${NCPU}); those runs understate the server that was measured then. Compare the "other" columns, and rerun on a quiet machine (or with \`--wait-quiet 30\`) before drawing conclusions from small differences.`;
    md.push(`${note}\n`);
    con.push(`\n${note.replace(/\*\*/g, "").replace(/`/g, "")}`);
  }

  const kinds = opts.servers;
  const [A, B] = kinds.includes("stet") && kinds.includes("restate") ? ["stet", "restate"] : [kinds[0], null];
  const label = (k) => (k === "stet" ? "Stet" : "Restate");

  for (const shape of ["single", "cluster"]) {
    const ra = findResult(results, A, shape);
    const rb = B ? findResult(results, B, shape) : null;
    if (!ra && !rb) continue;
    md.push(`## ${shape === "single" ? "Single node" : "3-node cluster"}\n`);
    con.push(`\n===== ${shape === "single" ? "Single node" : "3-node cluster"} =====`);
    for (const r of [ra, rb]) if (r?.error) {
      md.push(`**${label(r.kind)} did not complete: ${r.error.split("\n")[0]}**\n`);
      con.push(`${label(r.kind)} did not complete: ${r.error.split("\n")[0]}`);
    }
    // Start-up and memory
    const srows = [];
    const val = (r, f) => (r ? f(r) : null);
    const row = (name, f, format, ratio = true) => {
      const a = val(ra, f);
      const b = val(rb, f);
      srows.push([name, format(a), ...(B ? [format(b), ratio ? fmt.ratio(a, b) : ""] : [])]);
    };
    if (shape === "single") {
      row("cold start: spawn → /health 200 (ms)", (r) => r.coldStart?.healthMs, fmt.ms);
      row("cold start: → deployment registered (ms)", (r) => r.coldStart?.registeredMs, fmt.ms);
      row("cold start: → first successful invocation (ms)", (r) => r.coldStart?.firstInvocationMs, fmt.ms);
      row("restart: spawn → /health 200 (ms)", (r) => r.restart?.healthMs, fmt.ms);
      row("restart: spawn → first successful invocation (ms)", (r) => r.restart?.firstInvocationMs, fmt.ms);
      row("SIGTERM → exit (ms)", (r) => r.stop1?.ms, fmt.ms);
    } else {
      row("3 nodes: spawn → all /health 200 (ms)", (r) => r.healthMs, fmt.ms);
      row("3 nodes: spawn → invocations through nodes 1 and 3 (ms)", (r) => r.firstInvocationMs, fmt.ms);
    }
    row("idle RSS (MB)", (r) => r.idle?.rssKb, fmt.mb);
    row("idle CPU (cores)", (r) => r.idle?.cpuCores, fmt.cores);
    row("RSS after the suite, 3 s idle (MB)", (r) => r.after?.rssKb, fmt.mb);
    row("server CPU over the suite (s)", (r) => r.suiteServerCpuS, fmt.s);
    const failures = [ra, rb].filter(Boolean).flatMap((r) =>
      Object.entries(r.workloads || {}).flatMap(([w, wr]) => [
        ...(wr.error ? [`${label(r.kind)} ${w}: ${wr.error.split("\n")[0]}`] : []),
        ...(wr.runErrors || []).map((e) => `${label(r.kind)} ${w} ${e}`),
      ]),
    );
    if (failures.length) {
      md.push(`**Failed runs (left out of the medians):**\n\n${failures.map((f) => `- ${f}`).join("\n")}\n`);
      con.push(`Failed runs (left out of the medians):\n${failures.map((f) => `  ${f}`).join("\n")}`);
    }
    both(`Start-up and memory${shape === "cluster" ? " (sums over 3 nodes)" : ""}`, table(["", label(A), ...(B ? [label(B), `${label(A)}/${label(B)}`] : [])], srows));

    for (const c of [...opts.concurrency].reverse()) {
      const rowsT = [];
      const rowsR = [];
      for (const w of opts.workloads) {
        const sa = summarize(ra?.workloads?.[w]?.runs?.[c]);
        const sb = summarize(rb?.workloads?.[w]?.runs?.[c]);
        const g = (s, k) => (s ? s[k] : null);
        const pair = (k, f) => [f(g(sa, k)), ...(B ? [f(g(sb, k))] : [])];
        const rat = (k) => (B ? [fmt.ratio(g(sa, k), g(sb, k))] : []);
        rowsT.push([w, ...pair("rps", fmt.rps), ...rat("rps"), ...pair("p50", fmt.ms), ...pair("p90", fmt.ms), ...pair("p99", fmt.ms), ...rat("p99"), ...pair("max", fmt.ms), ...pair("errors", fmt.int)]);
        rowsR.push([w, ...pair("serverCpuS", fmt.s), ...pair("usPerReq", fmt.us), ...rat("usPerReq"), ...pair("peakRssKb", fmt.mb), ...pair("sdkCores", fmt.cores), ...pair("genCores", fmt.cores), ...pair("otherCores", fmt.cores)]);
      }
      const h2 = (name) => (B ? [`${name} ${label(A)}`, `${name} ${label(B)}`] : [name]);
      const hr = (name) => (B ? [`${name} ${label(A)}/${label(B)}`] : []);
      const n = opts.runs;
      both(
        `Throughput and latency, c=${c} (median of ${n} run${n > 1 ? "s" : ""}; ms)`,
        table(["workload", ...h2("req/s"), ...hr("req/s"), ...h2("p50"), ...h2("p90"), ...h2("p99"), ...hr("p99"), ...h2("max"), ...h2("errors")], rowsT),
      );
      both(
        `Server resources, c=${c} (CPU s per run, µs of server CPU per request, peak RSS MB; SDK/wrk/other in cores)`,
        table(["workload", ...h2("CPU s"), ...h2("µs/req"), ...hr("µs/req"), ...h2("peak RSS"), ...h2("SDK"), ...h2("wrk"), ...h2("other")], rowsR),
      );
      // sleep: latency above the 100 ms timer
      if (opts.workloads.includes("sleep")) {
        const rows = [];
        for (const k of [A, B].filter(Boolean)) {
          const s = summarize(findResult(results, k, shape)?.workloads?.sleep?.runs?.[c]);
          const over = (v) => (v == null ? "–" : fmt.ms(v - WORKLOADS.sleep.sleepMs));
          rows.push([label(k), over(s?.p50), over(s?.p90), over(s?.p99), over(s?.max)]);
        }
        both(`sleep, c=${c}: latency above the 100 ms timer (ms)`, table(["server", "p50", "p90", "p99", "max"], rows));
      }
      if (opts.workloads.includes("send")) {
        const rows = [];
        for (const k of [A, B].filter(Boolean)) {
          const s = summarize(findResult(results, k, shape)?.workloads?.send?.runs?.[c]);
          rows.push([label(k), fmt.rps(s?.rps), fmt.ms(s?.send?.p50), fmt.ms(s?.send?.p90), fmt.ms(s?.send?.p99), fmt.ms(s?.send?.max), `${fmt.int(s?.send?.executed)}/${fmt.int(s?.send?.accepted)}`, fmt.ms(s?.send?.drainMs)]);
        }
        both(
          `send, c=${c}: accepted /send per second and time from sending the request until the handler ran (ms)`,
          table(["server", "accepted/s", "p50", "p90", "p99", "max", "executed/accepted", "backlog drained after the load (ms)"], rows),
        );
      }
      // problems the logs show (retries, resets, timeouts)
      const prow = [];
      const examples = [];
      for (const w of opts.workloads) {
        const ss = [A, B].filter(Boolean).map((k) => [k, summarize(findResult(results, k, shape)?.workloads?.[w]?.runs?.[c])]);
        prow.push([w, ...ss.map(([, s]) => fmt.int(s?.serverLogProblems)), ...ss.map(([, s]) => fmt.int(s?.sdkLogProblems))]);
        for (const [k, s2] of ss) {
          if (s2?.serverLogExample) examples.push(`${label(k)} ${w}: ${s2.serverLogExample}`);
          if (s2?.sdkLogExample) examples.push(`${label(k)} ${w} (SDK): ${s2.sdkLogExample}`);
        }
      }
      if (prow.some((r) => r.slice(1).some((v) => v !== "0" && v !== "–"))) {
        const ks = [A, B].filter(Boolean).map(label);
        both(
          `WARN/ERROR log lines per run, c=${c} (median; failed attempts that were retried show up here, not as HTTP errors)`,
          table(["workload", ...ks.map((k) => `server ${k}`), ...ks.map((k) => `SDK ${k}`)], prow),
        );
        md.push(`First such line per workload:\n\n\`\`\`\n${examples.join("\n")}\n\`\`\`\n`);
        con.push(examples.map((e) => `  ${e.slice(0, 200)}`).join("\n"));
      }
      // bottlenecks
      const brows = [];
      for (const w of opts.workloads) {
        brows.push([w, ...[A, B].filter(Boolean).map((k) => summarize(findResult(results, k, shape)?.workloads?.[w]?.runs?.[c])?.bottleneck ?? "–")]);
      }
      both(`What limited each run, c=${c} (≥ 90% of a core: SDK JS thread, wrk, a server thread; or every core busy)`, table(["workload", ...[A, B].filter(Boolean).map(label)], brows));
    }
  }

  // Targets (single node, highest concurrency)
  const stet = findResult(results, "stet", "single");
  const rest = findResult(results, "restate", "single");
  if (stet) {
    const c = Math.max(...opts.concurrency);
    const rows = [];
    const check = (name, value, pass) => rows.push([name, value, pass == null ? "n/a" : pass ? "PASS" : "FAIL"]);
    for (const w of opts.workloads) {
      const a = summarize(stet.workloads?.[w]?.runs?.[c]);
      const b = rest ? summarize(rest.workloads?.[w]?.runs?.[c]) : null;
      const need = w === "object-hot" ? 2 : 1;
      check(`${w}: req/s ≥ ${need === 2 ? "2× " : ""}Restate's`, `${fmt.rps(a?.rps)} vs ${fmt.rps(b?.rps)} (${fmt.ratio(a?.rps, b?.rps)}×)`, a && b ? a.rps >= need * b.rps : null);
      check(`${w}: p99 ≤ Restate's`, `${fmt.ms(a?.p99)} vs ${fmt.ms(b?.p99)} ms`, a && b ? a.p99 <= b.p99 : null);
      check(`${w}: server CPU/req ≤ 0.25× Restate's`, `${fmt.us(a?.usPerReq)} vs ${fmt.us(b?.usPerReq)} µs (${fmt.ratio(a?.usPerReq, b?.usPerReq)}×)`, a?.usPerReq != null && b?.usPerReq != null ? a.usPerReq <= 0.25 * b.usPerReq : null);
    }
    check("idle RSS ≤ 20 MB", `${fmt.mb(stet.idle?.rssKb)} MB`, stet.idle ? stet.idle.rssKb <= 20 * 1024 : null);
    check("restart: spawn → first successful invocation ≤ 100 ms", `${fmt.ms(stet.restart?.firstInvocationMs)} ms`, stet.restart ? stet.restart.firstInvocationMs <= 100 : null);
    check("cold start (fresh dir, incl. registration): spawn → first successful invocation ≤ 100 ms", `${fmt.ms(stet.coldStart?.firstInvocationMs)} ms`, stet.coldStart ? stet.coldStart.firstInvocationMs <= 100 : null);
    check("RSS after the suite ≤ 2× idle", `${fmt.mb(stet.after?.rssKb)} vs ${fmt.mb(stet.idle?.rssKb)} MB`, stet.after && stet.idle ? stet.after.rssKb <= 2 * stet.idle.rssKb : null);
    both(`Targets (single node, c=${c}, medians of ${opts.runs} run${opts.runs > 1 ? "s" : ""})`, table(["target", "Stet vs Restate", "result"], rows));
  }

  if (results.micro) {
    md.push(`## Micro benchmarks\n`);
    con.push(`\n===== Micro benchmarks =====`);
    for (const mb of results.micro) {
      const head = `${mb.name}${mb.seconds != null ? ` (${mb.seconds.toFixed(1)} s)` : ""}${mb.error ? `: ${mb.error}` : ""}`;
      md.push(`\`${head}\`\n\n\`\`\`\n${mb.output || ""}\n\`\`\`\n`);
      con.push(`-- ${head}\n${mb.output || ""}`);
    }
  }

  // The optimisation log is written by hand (bench/OPTIMISATIONS.md: what changed, measured
  // before and after); it is copied in so RESULTS.md carries it with the numbers.
  const optPath = path.join(BENCH_DIR, "OPTIMISATIONS.md");
  if (fs.existsSync(optPath)) {
    md.push(fs.readFileSync(optPath, "utf8").trimEnd() + "\n");
  }

  // Raw runs, for anyone who wants to check a median.
  md.push(`## Every run\n`);
  md.push(`<details><summary>All measured runs (req/s, p50/p99 ms, errors, server µs/req, bottleneck)</summary>\n`);
  const all = [];
  for (const s of results.servers) {
    for (const [w, wr] of Object.entries(s.workloads || {})) {
      if (wr.error) all.push([`${s.kind}/${s.shape}`, w, "", `error: ${wr.error.split("\n")[0]}`, "", "", "", "", ""]);
      for (const e of wr.runErrors || []) all.push([`${s.kind}/${s.shape}`, w, "", `failed: ${e}`, "", "", "", "", ""]);
      for (const [c, runs] of Object.entries(wr.runs || {})) {
        runs.forEach((r, i) => all.push([`${s.kind}/${s.shape}`, w, c, String(i + 1), fmt.rps(r.okRps), `${fmt.ms(r.latencyMs.p50)}/${fmt.ms(r.latencyMs.p99)}`, String(r.errorCount), fmt.us(r.serverCpuUsPerReq), r.bottleneck]));
      }
    }
  }
  md.push(table(["server", "workload", "c", "run", "req/s", "p50/p99", "errors", "µs/req", "bottleneck"], all));
  md.push(`\n</details>\n`);
  return { markdown: md.join("\n"), console: con.join("\n") };
}

/** The flood report (bench/RESULTS-flood.md and the console). */
function renderFlood(results) {
  const { opts } = results;
  const md = [];
  const con = [];
  const both = (title, tbl) => {
    md.push(`### ${title}\n\n${tbl}\n`);
    con.push(`\n${title}\n${plain(tbl, true)}`);
  };
  const m = results.machine;
  const label = (k) => (k === "stet" ? "Stet" : "Restate");
  const floods = results.servers.filter((s) => s.shape === "flood");
  md.push(`# Flood results\n`);
  md.push(`Generated by \`bench/run.sh --flood\` on ${results.startedAt} (took ${(results.elapsedS / 60).toFixed(1)} min). Stet commit \`${results.git.commit}\`${results.git.dirty ? " (with uncommitted changes in src/)" : ""}.\n`);
  md.push(`## How this was measured\n`);
  md.push(`Command: \`${results.command}\`\n`);
  md.push(
    [
      `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB.toFixed(1)} GiB RAM, Linux ${m.kernel}, Debian ${m.debian || "?"}; data directories on ${m.fs || "?"}; load average before the run ${m.loadavg.map((x) => x.toFixed(2)).join(" ")}.`,
      `- Servers: Stet \`${results.versions.stet || "-"}\` (${results.bins.stet}); restate-server \`${results.versions.restate || "-"}\` (${results.bins.restate}). SDK: @restatedev/restate-sdk ${results.versions.sdk} on Node ${m.node}. One server at a time, same loopback ports, fresh data directory, fresh services process, each server's default configuration (as in \`bench/RESULTS.md\`).`,
      `- Flood: \`bench/flood.mjs\` (Node, raw sockets), ${opts.floodConnections} keep-alive HTTP/1.1 connections, closed loop, ${opts.floodDuration} s of \`POST ${FLOOD_PATH}\` with the body \`{"id":<n>}\`, n unique per send; after ${opts.floodDuration} s no new request is sent and the answers in flight are awaited, so every send's HTTP status is known. Example: \`${floods.find((s) => s.cmd)?.cmd || "node bench/flood.mjs ..."}\`.`,
      `- Executions: the handler \`Bench.flood\` (\`bench/services.mjs\`) records, per id, the invocation ids that ran it and when it first ran; the runner reads them back and compares id by id with the statuses. A second invocation id for the same id is a duplicate; the same invocation running again (a retried attempt) is counted apart, as a retry.`,
      `- Drain: from the flood's last answer until the last accepted send first ran (handler clock), waited for up to ${opts.floodDrainTimeout} s; then 2 s more for late duplicates.`,
      `- Server RSS: \`VmRSS\` of \`/proc/<pid>/status\` every 50 ms and \`VmHWM\` (reset through \`clear_refs\` before the flood) over the flood and the drain.`,
    ].join("\n") + "\n",
  );

  const kinds = floods.map((s) => s.kind);
  for (const s of floods) if (s.error) {
    md.push(`**${label(s.kind)} did not complete: ${s.error.split("\n")[0]}**\n`);
    con.push(`${label(s.kind)} did not complete: ${s.error.split("\n")[0]}`);
  }
  const rows = [];
  const row = (name, f) => rows.push([name, ...floods.map((s) => {
    try {
      const v = f(s);
      return v == null ? "–" : String(v);
    } catch {
      return "–";
    }
  })]);
  const is2xx = (k) => Number(k) >= 200 && Number(k) < 300;
  const mb = (kb) => fmt.mb(kb);
  row("sends (ids sent)", (s) => s.gen.sent);
  row("accepted (2xx)", (s) => `${s.accepted}${Object.keys(s.gen.statuses).filter(is2xx).length ? ` (${Object.entries(s.gen.statuses).filter(([k]) => is2xx(k)).map(([k, v]) => `${k}: ${v}`).join(", ")})` : ""}`);
  row("refused (non-2xx), by status", (s) => {
    const r = Object.entries(s.gen.statuses).filter(([k]) => !is2xx(k));
    return r.length ? `${r.reduce((a, [, v]) => a + v, 0)} (${r.map(([k, v]) => `${k}: ${v}`).join(", ")})` : "0";
  });
  row("no answer (connection failed, or in flight 30 s after the flood)", (s) => `${s.gen.noAnswer} (connect errors ${s.gen.connectErrors}, socket errors ${s.gen.socketErrors})`);
  row("accepted per second during the flood", (s) => fmt.rps(s.accepted / ((s.gen.endMs - s.gen.startMs) / 1000)));
  row("answer latency p50 / p99 / max (ms)", (s) => `${fmt.ms(s.gen.latencyMs.p50)} / ${fmt.ms(s.gen.latencyMs.p99)} / ${fmt.ms(s.gen.latencyMs.max)}`);
  row("accepted sends that ran by the end of the flood", (s) => `${s.drain.ranByFloodEnd} (backlog ${s.drain.backlogAtFloodEnd})`);
  row("executed (distinct invocations that ran Bench.flood)", (s) => s.handler.executed);
  row("executed-unique (distinct ids)", (s) => s.handler.unique);
  row("duplicates (ids run by more than one invocation)", (s) => `${s.handler.duplicates} (${s.handler.duplicateIds} ids)`);
  row("retried attempts (same invocation run again)", (s) => s.handler.retries);
  row("lost (accepted, never ran)", (s) => s.compare.lost);
  row("refused or unanswered sends that ran anyway", (s) => `${s.compare.refusedRan} refused, ${s.compare.unansweredRan} unanswered`);
  row("drain: end of flood → executed == accepted (s)", (s) => (s.drain.reached ? (s.drain.ms / 1000).toFixed(1) : `timeout (${s.drainTimeoutS} s): ${s.accepted - s.compare.lost} of ${s.accepted} ran`));
  row("every accepted send executed exactly once", (s) => (s.exactlyOnce ? "yes" : "no"));
  row("idle RSS before the flood (MB)", (s) => mb(s.idle?.rssKb));
  row("peak RSS during the flood (MB)", (s) => mb(s.floodPeakRssKb));
  row("RSS at the end of the flood (MB)", (s) => mb(s.rssAtFloodEndKb));
  row("peak RSS, flood + drain (MB)", (s) => mb(s.peakRssKb));
  row("RSS at the end of the drain (MB)", (s) => mb(s.rssAtDrainEndKb));
  row("RSS 5 s after the drain (MB)", (s) => mb(s.after?.rssKb));
  row("data directory after the drain (MB)", (s) => mb(s.dataDirKb));
  row("server CPU: flood / drain (s)", (s) => `${fmt.s(s.flood.serverCpuS)} / ${fmt.s(s.drain.serverCpuS)}`);
  row("during the flood: SDK / generator / other (cores)", (s) => `${fmt.cores(s.flood.sdkCpuS / s.flood.wallS)} / ${fmt.cores(s.flood.genCpuS / s.flood.wallS)} / ${fmt.cores(s.flood.otherCores)}`);
  row("what limited the flood", (s) => s.flood.bottleneck);
  row("server WARN/ERROR log lines (flood + drain)", (s) => s.serverLogProblems);
  row("SIGTERM → exit after the drain (ms)", (s) => `${fmt.ms(s.stop?.ms)}${s.stop?.forced ? " (SIGKILL)" : ""}`);
  md.push(`## Flood: ${opts.floodConnections} connections, ${opts.floodDuration} s of POST ${FLOOD_PATH}\n`);
  con.push(`\n===== Flood: ${opts.floodConnections} connections, ${opts.floodDuration} s of POST ${FLOOD_PATH} =====`);
  both("Per server", table(["", ...kinds.map(label)], rows));
  const examples = floods.filter((s) => s.serverLogExample).map((s) => `${label(s.kind)}: ${s.serverLogExample}`);
  if (examples.length) {
    md.push(`First WARN/ERROR line:\n\n\`\`\`\n${examples.join("\n")}\n\`\`\`\n`);
    con.push(examples.map((e) => `  ${e.slice(0, 200)}`).join("\n"));
  }

  const trows = [];
  const check = (name, value, pass) => trows.push([name, value, pass == null ? "n/a" : pass ? "PASS" : "FAIL"]);
  const stet = floods.find((s) => s.kind === "stet");
  const rest = floods.find((s) => s.kind === "restate");
  if (stet) {
    check(`Stet: peak RSS (flood + drain) ≤ ${FLOOD_RSS_TARGET_MB} MB`, `${mb(stet.peakRssKb)} MB${rest?.peakRssKb ? ` (Restate ${mb(rest.peakRssKb)} MB)` : ""}`, stet.peakRssKb ? stet.peakRssKb <= FLOOD_RSS_TARGET_MB * 1024 : null);
    const eo = (s) => (s.handler ? `${s.accepted} accepted, ${s.handler.unique} ran, ${s.compare.lost} lost, ${s.handler.duplicates} duplicates${s.drain?.reached ? "" : ", drain timed out"}` : "–");
    check("Stet: every accepted send executed exactly once (no loss, no duplicates)", eo(stet), stet.handler ? stet.exactlyOnce : null);
    if (rest) check("Restate (reference): every accepted send executed exactly once", eo(rest), rest.handler ? rest.exactlyOnce : null);
    both("Targets", table(["target", "value", "result"], trows));
  }

  // RSS over time
  const series = floods.filter((s) => s.rssTimeline?.length);
  if (series.length) {
    const maxSec = Math.max(...series.map((s) => s.rssTimeline[s.rssTimeline.length - 1][0]));
    const trow = [];
    for (let sec = 0; sec <= maxSec; sec++) {
      trow.push([String(sec), ...series.map((s) => {
        const p = s.rssTimeline.find((x) => x[0] === sec);
        return p ? `${mb(p[1])}${p[2] === "flood" ? "" : p[2] === "drain" ? " d" : " s"}` : "";
      })]);
    }
    md.push(`### Server RSS over time\n`);
    md.push(`<details><summary>Peak VmRSS per second since the flood started (MB; "d": draining, "s": the 2 s after the drain)</summary>\n`);
    md.push(table(["s", ...series.map((s) => label(s.kind))], trow));
    md.push(`\n</details>\n`);
  }
  return { markdown: md.join("\n"), console: con.join("\n") };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.report) {
    const results = JSON.parse(fs.readFileSync(opts.report, "utf8"));
    if (results.mode === "flood" && !opts.resultsGiven) opts.results = path.join(BENCH_DIR, "RESULTS-flood.md");
    const { markdown, console: text } = results.mode === "flood" ? renderFlood(results) : render(results);
    process.stdout.write(`${text}\n`);
    if (opts.results) fs.writeFileSync(opts.results, markdown);
    return;
  }
  const t0 = nowMs();
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const runDir = path.join(opts.out, `${opts.flood ? "flood" : "run"}-${startedAt.replace(/[:]/g, "")}`);
  fs.mkdirSync(runDir, { recursive: true });
  const bins = { stet: opts.stetBin, restate: restateBinary(opts) };
  for (const k of opts.servers) {
    if (!fs.existsSync(bins[k])) throw new Error(`${k} binary not found: ${bins[k]}${k === "restate" ? " (run `npm ci` in bench/, or pass --restate-bin)" : " (build it, or pass --stet-bin)"}`);
  }
  const B = opts.portBase;
  const ports = { ingress: B, admin: B + 1, node: B + 2, sdk: B + 10, side: B + 11 };
  const clusterPorts = [0, 1, 2].map((i) => ({ ingress: B + 100 + 10 * i, admin: B + 101 + 10 * i, node: B + 102 + 10 * i }));
  const needed = [...Object.values(ports), ...(opts.cluster && !opts.flood ? clusterPorts.flatMap((p) => Object.values(p)) : [])];
  for (const p of needed) if (!(await portFree(p))) throw new Error(`port ${p} on 127.0.0.1 is in use; pick other ports with --port-base`);

  const results = {
    mode: opts.flood ? "flood" : "suite",
    startedAt,
    command: process.env.BENCH_COMMAND || `node bench/run.mjs ${process.argv.slice(2).join(" ")}`,
    opts,
    machine: machineInfo(runDir),
    git: gitInfo(),
    bins,
    versions: {
      stet: opts.servers.includes("stet") ? versionOf(bins.stet) : "",
      restate: opts.servers.includes("restate") ? versionOf(bins.restate) : "",
      sdk: sdkVersion(),
    },
    restateDurability: opts.servers.includes("restate") && !opts.flood ? restateDurability(bins.restate) : [],
    ports,
    servers: [],
  };
  const save = () => fs.writeFileSync(path.join(runDir, "results.json"), JSON.stringify(results, null, 1));
  log(`run directory ${runDir}`);

  if (opts.flood) {
    for (const kind of opts.servers) {
      results.servers.push(await benchFlood(opts, kind, bins[kind], runDir, ports));
      save();
    }
    results.elapsedS = (nowMs() - t0) / 1000;
    save();
    const { markdown, console: text } = renderFlood(results);
    process.stdout.write(`${text}\n`);
    fs.writeFileSync(path.join(runDir, "RESULTS-flood.md"), markdown);
    if (opts.results) {
      fs.writeFileSync(opts.results, markdown);
      log(`wrote ${opts.results}`);
    }
    log(`raw results: ${path.join(runDir, "results.json")} (took ${(results.elapsedS / 60).toFixed(1)} min)`);
    return;
  }
  if (opts.micro) {
    results.micro = runMicro(opts.microDir);
    save();
  }
  if (opts.single) {
    for (const kind of opts.servers) {
      results.servers.push(await benchSingle(opts, kind, bins[kind], runDir, ports));
      save();
    }
  }
  if (opts.cluster) {
    for (const kind of opts.servers) {
      results.servers.push(await benchCluster(opts, kind, bins[kind], runDir, clusterPorts, ports));
      save();
    }
  }
  for (const s of results.servers) {
    for (const w of Object.values(s.workloads || {})) {
      const r = Object.values(w.runs || {})[0]?.[0];
      if (r && !results.exampleCmd) results.exampleCmd = r.cmd;
    }
  }
  results.elapsedS = (nowMs() - t0) / 1000;
  save();
  const { markdown, console: text } = render(results);
  process.stdout.write(`${text}\n`);
  fs.writeFileSync(path.join(runDir, "RESULTS.md"), markdown);
  if (opts.results) {
    fs.writeFileSync(opts.results, markdown);
    log(`wrote ${opts.results}`);
  }
  log(`raw results: ${path.join(runDir, "results.json")} (took ${(results.elapsedS / 60).toFixed(1)} min)`);
}

main().catch((e) => {
  log(`error: ${e.stack || e.message}`);
  killAll();
  process.exit(1);
});
