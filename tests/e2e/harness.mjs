// E2E harness: starts the server under test (build/stet, or the real restate-server 1.7.12 as the
// oracle) and the SDK services process, and gives tests small HTTP helpers.
//
// Design:
// - One Env per test file: a fresh temp directory holding the server's base dir and the logs, a
//   server on freshly picked loopback ports, one services process (services.mjs), and the
//   deployment registered once. Test files never share anything, so node --test may run them in
//   any order or in parallel.
// - Which server runs is chosen by env STET_E2E_SERVER: "stet" (default; binary STET_BIN or
//   <repo>/build/stet) or "restate" (binary STET_E2E_RESTATE_BIN, required). Both get the same
//   RESTATE_* environment (base dir, node name, three bind addresses); restate additionally gets
//   what keeps it local and quiet (no telemetry, TCP only, plain log lines).
// - Every child process is tracked in one set; a process "exit" hook (and SIGINT/SIGTERM) kills
//   whatever is still alive, so a failing or interrupted test never leaks servers.
// - Every wait is bounded: server start (admin /health 200 within 20 s), services start, process
//   exit after SIGTERM (then SIGKILL), each HTTP request, and waitUntil().
// - Server and services output go to files in the Env directory; when a test fails, env.test()
//   appends the tail of both logs to the assertion message. The directory is removed at exit
//   unless a test failed or STET_E2E_KEEP=1.
// - HTTP goes through node:http with a fresh connection per request (agent: false): no pooled
//   connection survives a server restart, and no header is added behind the test's back.
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { test as nodeTest } from "node:test";
import { fileURLToPath } from "node:url";

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = path.resolve(E2E_DIR, "..", "..");
export const SERVER_KIND = (process.env.STET_E2E_SERVER || "stet").toLowerCase();
if (SERVER_KIND !== "stet" && SERVER_KIND !== "restate") {
  throw new Error(`STET_E2E_SERVER must be "stet" or "restate", not "${SERVER_KIND}"`);
}
export const IS_RESTATE = SERVER_KIND === "restate";

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Child process bookkeeping

const live = new Set();

function killAllNow() {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}
process.on("exit", killAllNow);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    killAllNow();
    process.exit(128 + (os.constants.signals[sig] ?? 1));
  });
}

/** Every child started through track() is SIGKILLed at exit or on a signal. */
export function track(child) {
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

export function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves with {code, signal} once the child has exited, or null after timeoutMs. */
export function waitExit(child, timeoutMs) {
  if (exited(child)) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(null);
    }, timeoutMs);
    const onExit = (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    };
    child.once("exit", onExit);
  });
}

// ---------------------------------------------------------------------------------------------
// Small utilities

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A loopback TCP port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Distinct free ports. */
export async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/**
 * Calls fn() until it returns a truthy value (which is returned) or timeoutMs passes (then
 * throws, naming `what` and the last value or error seen). An error thrown by fn() is retried
 * unless it has a truthy `fatal` property.
 */
export async function waitUntil(fn, { timeout = 10_000, interval = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      lastErr = undefined;
      if (last) return last;
    } catch (e) {
      if (e && e.fatal) throw e;
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const detail = lastErr ? `last error: ${lastErr.message}` : `last value: ${JSON.stringify(last)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (${detail})`);
    }
    await sleep(interval);
  }
}

export function tailOf(file, lines = 60) {
  try {
    const text = fs.readFileSync(file, "utf8");
    return text.split("\n").slice(-lines - 1).join("\n");
  } catch (e) {
    return `(cannot read ${file}: ${e.message})`;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * One HTTP/1.1 request on a fresh connection.
 * opts: method, headers, body (string | Buffer | Uint8Array | other value → JSON with
 * content-type application/json unless given), json (value, always sent as JSON), timeout (ms).
 * Returns {status, headers (lower-case names), body (Buffer), text, json (parsed or undefined)}.
 */
export function request(url, opts = {}) {
  const method = opts.method || "GET";
  const headers = { ...(opts.headers || {}) };
  let payload;
  const hasContentType = Object.keys(headers).some((h) => h.toLowerCase() === "content-type");
  if (opts.json !== undefined) {
    payload = Buffer.from(JSON.stringify(opts.json));
    if (!hasContentType) headers["content-type"] = "application/json";
  } else if (opts.body !== undefined && opts.body !== null) {
    if (typeof opts.body === "string") payload = Buffer.from(opts.body);
    else if (opts.body instanceof Uint8Array) payload = Buffer.from(opts.body);
    else {
      payload = Buffer.from(JSON.stringify(opts.body));
      if (!hasContentType) headers["content-type"] = "application/json";
    }
  }
  if (payload) headers["content-length"] = String(payload.length);
  const timeout = opts.timeout ?? REQUEST_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        const text = body.toString("utf8");
        let parsed;
        if (text.length > 0) {
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
        }
        resolve({ status: res.statusCode, headers: res.headers, body, text, json: parsed });
      });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${url}: no complete response within ${timeout} ms`));
    }, timeout);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(payload);
  });
}

// ---------------------------------------------------------------------------------------------
// Server under test

function serverBinary() {
  if (IS_RESTATE) {
    const bin = process.env.STET_E2E_RESTATE_BIN;
    if (!bin) throw new Error("STET_E2E_SERVER=restate needs STET_E2E_RESTATE_BIN=<path to the restate-server binary>");
    return bin;
  }
  return process.env.STET_BIN || path.join(REPO_DIR, "build", "stet");
}

export class Server {
  /**
   * dir: working directory (base dir and log live inside it). extraEnv: more environment for
   * the server process (both kinds get it; e.g. RESTATE_WORKER__CLEANUP_INTERVAL).
   */
  constructor(dir, ports, extraEnv = {}) {
    this.extraEnv = extraEnv;
    this.kind = SERVER_KIND;
    this.bin = serverBinary();
    this.dir = dir;
    this.baseDir = path.join(dir, "data");
    this.logFile = path.join(dir, "server.log");
    this.nodeName = "e2e";
    [this.ingressPort, this.adminPort, this.nodePort] = ports;
    this.ingressUrl = `http://127.0.0.1:${this.ingressPort}`;
    this.adminUrl = `http://127.0.0.1:${this.adminPort}`;
    this.child = null;
    this.starts = 0;
  }

  env() {
    const env = {
      ...process.env,
      RESTATE_BASE_DIR: this.baseDir,
      RESTATE_NODE_NAME: this.nodeName,
      RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${this.ingressPort}`,
      RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${this.adminPort}`,
      RESTATE_BIND_ADDRESS: `127.0.0.1:${this.nodePort}`,
      ...this.extraEnv,
    };
    if (IS_RESTATE) {
      Object.assign(env, {
        RESTATE_ADVERTISED_ADDRESS: `http://127.0.0.1:${this.nodePort}/`,
        RESTATE_DISABLE_TELEMETRY: "true",
        RESTATE_LISTEN_MODE: "tcp",
        RESTATE_LOG_FILTER: process.env.RESTATE_LOG_FILTER || "warn,restate=info",
        RESTATE_LOG_DISABLE_ANSI_CODES: "true",
      });
    }
    return env;
  }

  /** Spawns the server on the same base dir and ports, waits for admin /health 200. */
  async start() {
    if (this.child && !exited(this.child)) throw new Error("server already running");
    if (!fs.existsSync(this.bin)) throw new Error(`server binary not found: ${this.bin}`);
    fs.mkdirSync(this.baseDir, { recursive: true });
    const fd = fs.openSync(this.logFile, "a");
    fs.writeSync(fd, `\n===== e2e: start #${++this.starts} of ${this.bin} at ${new Date().toISOString()} =====\n`);
    const args = IS_RESTATE ? ["--no-logo"] : [];
    const child = spawn(this.bin, args, { cwd: this.dir, env: this.env(), stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    track(child);
    this.child = child;
    let spawnError = null;
    child.once("error", (e) => {
      spawnError = e;
    });
    await waitUntil(
      async () => {
        if (spawnError) throw Object.assign(new Error(`spawn failed: ${spawnError.message}`), { fatal: true });
        if (exited(child)) {
          throw Object.assign(new Error(`server exited during startup (code ${child.exitCode}, signal ${child.signalCode})`), { fatal: true });
        }
        const r = await request(`${this.adminUrl}/health`, { timeout: 2000 });
        return r.status === 200;
      },
      { timeout: START_TIMEOUT_MS, interval: 100, what: `${this.kind} admin /health 200` },
    );
    // The ingress listener may come up a moment after admin: wait until it answers at all.
    await waitUntil(
      async () => {
        const r = await request(`${this.ingressUrl}/restate/health`, { timeout: 2000 });
        return r.status > 0;
      },
      { timeout: START_TIMEOUT_MS, interval: 100, what: `${this.kind} ingress to accept connections` },
    );
    return this;
  }

  get running() {
    return this.child !== null && !exited(this.child);
  }

  get pid() {
    return this.child?.pid;
  }

  /** SIGTERM, wait for exit (SIGKILL after 20 s). Returns {code, signal, forced}. */
  async stop() {
    const child = this.child;
    if (!child || exited(child)) return child ? { code: child.exitCode, signal: child.signalCode, forced: false } : null;
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
    if (!r) throw new Error(`server pid ${child.pid} did not die after SIGKILL`);
  }

  async restart() {
    await this.stop();
    return this.start();
  }

  ingress(method, p, opts = {}) {
    return request(this.ingressUrl + p, { ...opts, method });
  }

  admin(method, p, opts = {}) {
    return request(this.adminUrl + p, { ...opts, method });
  }

  /** POST a JSON value to an ingress path (e.g. "/Greeter/greet"). */
  call(p, value, opts = {}) {
    return this.ingress("POST", p, value === undefined ? opts : { ...opts, json: value });
  }

  tail(lines = 60) {
    return tailOf(this.logFile, lines);
  }
}

// ---------------------------------------------------------------------------------------------
// Services process

export class Services {
  /**
   * script: the services file in tests/e2e (default services.mjs; keyed_services.mjs).
   * args: extra command-line arguments for it. logName: its log file (default services.log).
   */
  constructor(dir, { inactivityTimeout, script = "services.mjs", args = [], logName = "services.log" } = {}) {
    this.logFile = path.join(dir, logName);
    this.inactivityTimeout = inactivityTimeout;
    this.script = script;
    this.extraArgs = args;
    this.child = null;
    this.port = 0;
    this.sidePort = 0;
  }

  get uri() {
    return `http://127.0.0.1:${this.port}`;
  }

  get sideUrl() {
    return `http://127.0.0.1:${this.sidePort}`;
  }

  async start() {
    const args = ["--import", path.join(E2E_DIR, "polyfill.mjs"), path.join(E2E_DIR, this.script)];
    if (this.inactivityTimeout !== undefined) args.push("--inactivity-timeout", String(this.inactivityTimeout));
    args.push(...this.extraArgs);
    const log = fs.createWriteStream(this.logFile, { flags: "a" });
    const child = spawn(process.execPath, args, { cwd: E2E_DIR, env: { ...process.env }, stdio: ["ignore", "pipe", "pipe"] });
    track(child);
    this.child = child;
    child.stderr.on("data", (c) => log.write(c));
    const ready = new Promise((resolve, reject) => {
      let buf = "";
      const onData = (c) => {
        log.write(c);
        buf += c.toString("utf8");
        const m = buf.match(/^READY (\{.*\})$/m);
        if (m) {
          child.stdout.off("data", onData);
          child.stdout.on("data", (d) => log.write(d));
          resolve(JSON.parse(m[1]));
        }
      };
      child.stdout.on("data", onData);
      child.once("exit", (code, signal) => reject(new Error(`services exited during startup (code ${code}, signal ${signal})`)));
      child.once("error", reject);
    });
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("services did not print READY within 20 s")), START_TIMEOUT_MS);
    });
    try {
      const { port, sidePort } = await Promise.race([ready, timeout]);
      this.port = port;
      this.sidePort = sidePort;
    } finally {
      clearTimeout(timer);
    }
    return this;
  }

  async stop() {
    const child = this.child;
    if (!child || exited(child)) return;
    child.kill("SIGTERM");
    if (!(await waitExit(child, 5000))) {
      child.kill("SIGKILL");
      await waitExit(child, 5000);
    }
  }

  async counts() {
    const r = await request(`${this.sideUrl}/counts`, { timeout: 5000 });
    if (r.status !== 200) throw new Error(`side channel /counts answered ${r.status}`);
    return r.json;
  }

  async count(name) {
    return (await this.counts())[name] ?? 0;
  }

  /** GET /events (keyed_services.mjs only): {"<log>": [value, ...]}, or one log. */
  async events(name) {
    const r = await request(`${this.sideUrl}/events`, { timeout: 5000 });
    if (r.status !== 200) throw new Error(`side channel /events answered ${r.status}`);
    return name === undefined ? r.json : r.json[name] ?? [];
  }

  async times(name) {
    const r = await request(`${this.sideUrl}/times`, { timeout: 5000 });
    if (r.status !== 200) throw new Error(`side channel /times answered ${r.status}`);
    return name === undefined ? r.json : r.json[name] ?? [];
  }

  async release(name) {
    const r = await request(`${this.sideUrl}/release/${encodeURIComponent(name)}`, { method: "POST", timeout: 5000 });
    if (r.status !== 200) throw new Error(`side channel /release answered ${r.status}`);
  }

  async reset() {
    const r = await request(`${this.sideUrl}/reset`, { method: "POST", timeout: 5000 });
    if (r.status !== 200) throw new Error(`side channel /reset answered ${r.status}`);
  }

  /** Waits until counter `name` is at least n; returns its value. */
  waitCount(name, n, timeout = 10_000) {
    return waitUntil(
      async () => {
        const v = await this.count(name);
        return v >= n ? v : false;
      },
      { timeout, what: `service counter ${name} >= ${n}` },
    );
  }

  tail(lines = 40) {
    return tailOf(this.logFile, lines);
  }
}

// ---------------------------------------------------------------------------------------------
// Per-file environment

const envDirs = [];
let anyFailure = false;
process.on("exit", () => {
  if (anyFailure || process.env.STET_E2E_KEEP === "1") {
    for (const d of envDirs) process.stderr.write(`e2e: kept ${d}\n`);
    return;
  }
  for (const d of envDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
});

export class Env {
  /**
   * name: used in the temp directory name.
   * opts: services (default true), register (default true), inactivityTimeout (services flag),
   * servicesScript (the services file, default services.mjs), servicesArgs (extra arguments for
   * it), registerBody (extra fields of the registration request, e.g. {use_http_11: true}),
   * serverEnv (extra environment for the server process, see Server).
   */
  constructor(name, opts = {}) {
    this.name = name;
    this.opts = { services: true, register: true, ...opts };
    this.server = null;
    this.services = null;
    this.deployment = null;
    this.dir = null;
  }

  /** Creates the directory, starts server (and services, and registers them). */
  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `stet-e2e-${this.name}-`));
    envDirs.push(this.dir);
    try {
      const ports = await freePorts(3);
      this.server = new Server(this.dir, ports, this.opts.serverEnv);
      if (this.opts.services) {
        this.services = new Services(this.dir, {
          inactivityTimeout: this.opts.inactivityTimeout,
          script: this.opts.servicesScript,
          args: this.opts.servicesArgs,
        });
        await this.services.start();
      }
      await this.server.start();
      if (this.opts.services && this.opts.register) this.deployment = await this.register();
    } catch (e) {
      anyFailure = true;
      e.message += this.diagnostics();
      throw e;
    }
    return this;
  }

  /** POST /deployments for the services process; asserts 200/201; returns the JSON body. */
  async register(uri = this.services.uri, extra = this.opts.registerBody) {
    const r = await this.server.admin("POST", "/deployments", { json: { uri, ...(extra || {}) } });
    if (r.status !== 201 && r.status !== 200) {
      throw new Error(`registering ${uri} failed: ${r.status} ${r.text}`);
    }
    return r.json;
  }

  async close() {
    const errors = [];
    for (const p of [this.server, this.services]) {
      if (!p) continue;
      try {
        await p.stop();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw errors[0];
  }

  diagnostics() {
    let out = `\n\n----- e2e diagnostics (${SERVER_KIND}, dir ${this.dir}) -----`;
    if (this.server) out += `\n--- server log tail (${this.server.logFile}) ---\n${this.server.tail()}`;
    if (this.services) out += `\n--- services log tail (${this.services.logFile}) ---\n${this.services.tail()}`;
    return out;
  }

  /** node:test `test()` whose failures carry the log tails. Default timeout 30 s. */
  test(name, fn, { timeout = 30_000 } = {}) {
    return nodeTest(name, { timeout }, async (t) => {
      try {
        await fn(t);
      } catch (e) {
        anyFailure = true;
        if (e && typeof e === "object") {
          try {
            e.message = `${e.message}${this.diagnostics()}`;
          } catch {
            // non-writable message: fall back to stderr
            process.stderr.write(this.diagnostics());
          }
        }
        throw e;
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Shared expectations

export const INVOCATION_ID_RE = /^inv_1[0-9a-zA-Z]{33}$/;
export const DEPLOYMENT_ID_RE = /^dp_1[0-9a-zA-Z]{22}$/;
