// Benchmark services: one Restate TypeScript SDK (1.17.2) endpoint, served as HTTP/2 cleartext
// in BIDI_STREAM mode (the handler `restate.endpoint().listen()` installs, bound to loopback),
// plus a plain HTTP/1.1 side channel for the `send` workload's and the flood's measurements.
//
// The handlers do as little as possible, so what a workload costs is the server's work:
//   Bench.noop        returns the string "ok"
//   Bench.run3        three sequential ctx.run steps, each journaling a small value
//   Bench.sleep       ctx.sleep(100 ms)
//   Bench.stamp       input {"t": <epoch ms>}: records now - t (time until executed), for /send
//   Bench.flood       input {"id": <n>}: records that send n ran, under which invocation id and
//                     when (the flood mode: bench/run.sh --flood, load from bench/flood.mjs)
//   Counter.add       virtual object, exclusive: state "n" += input (object-hot / object-spread)
//   Chain.hop         input d: d > 0 ? ctx.serviceClient(Chain).hop(d - 1) : "done"
//                     (a call with d = 3 makes 3 nested service calls, 4 invocations in all)
//
// `send` timing: the load generator puts its wall-clock send time into the body; Bench.stamp
// takes the wall clock when its handler starts and keeps the difference once per invocation id
// (a retried attempt does not count twice). Both clocks are CLOCK_REALTIME on one machine.
// The side channel serves
//   GET  /stamps        -> {"count": n, "p50": ms, "p90": ms, "p99": ms, "max": ms,
//                           "firstMs": epoch ms of the first execution, "lastMs": of the last}
//   POST /stamps/reset  -> clears them, 200 "ok"
//
// Flood accounting: for each id, the invocation ids that ran it. Another run of the same
// invocation id (a retried attempt) is a retry, not a second execution; a second invocation id
// for the same id is a duplicate (one send executed twice).
//   GET  /flood         -> {"runs": handler runs, "executed": distinct (id, invocation) pairs,
//                           "unique": distinct ids, "duplicateIds": ids run by > 1 invocation,
//                           "duplicates": executed - unique, "retries": runs - executed,
//                           "badInput": runs without a numeric id, "maxId",
//                           "firstMs"/"lastMs": epoch ms of the first/last new execution}
//   GET  /flood/counts  -> binary, one uint8 per id 0..maxId: invocations that ran it (max 255)
//   GET  /flood/times   -> binary, one float64 (LE) per id 0..maxId: epoch ms of its first run
//                          (0: never ran)
//   POST /flood/reset   -> clears them, 200 "ok"
//
// Usage: node --import ./polyfill.mjs services.mjs [--port N] [--side-port N]
// Ports default to 0 (ephemeral). When both listeners are up, one line is printed on stdout:
// READY {"port":<sdk port>,"sidePort":<side channel port>}.
import "./polyfill.mjs";
import * as restate from "@restatedev/restate-sdk";
import http from "node:http";
import http2 from "node:http2";
import { performance } from "node:perf_hooks";

function parseArgs(argv) {
  const out = { port: 0, sidePort: 0 };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
    const v = Number(argv[++i]);
    if (!Number.isInteger(v) || v < 0 || v > 65535) throw new Error(`bad port for ${a}`);
    if (a === "--port") out.port = v;
    else if (a === "--side-port") out.sidePort = v;
    else throw new Error(`unknown argument ${a}`);
  }
  return out;
}
const args = parseArgs(process.argv);

// Wall clock with sub-millisecond resolution (Date.now() only has milliseconds).
const nowMs = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// send measurements
let delays = []; // ms, one per invocation
let seen = new Set(); // invocation ids already counted
let firstMs = 0;
let lastMs = 0;

function recordStamp(id, t) {
  const now = nowMs();
  if (seen.has(id)) return;
  seen.add(id);
  delays.push(now - t);
  if (firstMs === 0) firstMs = now;
  lastMs = now;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

function stampStats() {
  const sorted = Float64Array.from(delays).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : null,
    firstMs,
    lastMs,
  };
}

// ---------------------------------------------------------------------------------------------
// flood accounting
function newFlood() {
  return {
    byId: new Map(), // id -> invocation id, or an array of them when more than one ran it
    counts: new Uint8Array(1 << 16),
    times: new Float64Array(1 << 16),
    runs: 0,
    executed: 0,
    unique: 0,
    duplicateIds: 0,
    retries: 0,
    badInput: 0,
    maxId: -1,
    firstMs: 0,
    lastMs: 0,
  };
}
let flood = newFlood();

function growTo(arr, n) {
  if (n < arr.length) return arr;
  let len = arr.length;
  while (len <= n) len *= 2;
  const bigger = new arr.constructor(len);
  bigger.set(arr);
  return bigger;
}

function recordFlood(id, inv) {
  const now = nowMs();
  const f = flood;
  f.runs++;
  if (!Number.isSafeInteger(id) || id < 0 || id > 1e8) {
    f.badInput++;
    return;
  }
  const prev = f.byId.get(id);
  if (prev === inv || (Array.isArray(prev) && prev.includes(inv))) {
    f.retries++;
    return;
  }
  if (prev === undefined) {
    f.byId.set(id, inv);
    f.unique++;
    f.counts = growTo(f.counts, id);
    f.times = growTo(f.times, id);
    f.times[id] = now;
    if (id > f.maxId) f.maxId = id;
  } else if (Array.isArray(prev)) {
    prev.push(inv);
  } else {
    f.byId.set(id, [prev, inv]);
    f.duplicateIds++;
  }
  f.counts[id] = Math.min(255, f.counts[id] + 1);
  f.executed++;
  if (f.firstMs === 0) f.firstMs = now;
  f.lastMs = now;
}

function floodStats() {
  const f = flood;
  return {
    runs: f.runs,
    executed: f.executed,
    unique: f.unique,
    duplicateIds: f.duplicateIds,
    duplicates: f.executed - f.unique,
    retries: f.retries,
    badInput: f.badInput,
    maxId: f.maxId,
    firstMs: f.firstMs,
    lastMs: f.lastMs,
  };
}

// ---------------------------------------------------------------------------------------------
// Services
const bench = restate.service({
  name: "Bench",
  handlers: {
    noop: async () => "ok",
    run3: async (ctx) => {
      const a = await ctx.run("one", () => 1);
      const b = await ctx.run("two", () => a + 1);
      const c = await ctx.run("three", () => b + 1);
      return c;
    },
    sleep: async (ctx) => {
      await ctx.sleep(100);
      return "slept";
    },
    stamp: async (ctx, input) => {
      const t = Number(input?.t);
      if (Number.isFinite(t)) recordStamp(ctx.request().id, t);
      return "ok";
    },
    flood: async (ctx, input) => {
      recordFlood(input?.id, ctx.request().id);
      return "ok";
    },
  },
});

const counter = restate.object({
  name: "Counter",
  handlers: {
    add: async (ctx, delta) => {
      const n = ((await ctx.get("n")) ?? 0) + (typeof delta === "number" ? delta : 1);
      ctx.set("n", n);
      return n;
    },
  },
});

const chain = restate.service({
  name: "Chain",
  handlers: {
    hop: async (ctx, depth) => {
      const d = typeof depth === "number" ? depth : 0;
      if (d <= 0) return "done";
      return ctx.serviceClient(chain).hop(d - 1);
    },
  },
});

const handler = restate.endpoint().bind(bench).bind(counter).bind(chain).http2Handler();

// ---------------------------------------------------------------------------------------------
// Listeners
function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server.address().port));
  });
}

function json(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const side = http.createServer((req, res) => {
  req.resume();
  const url = new URL(req.url, "http://localhost");
  if (req.method === "GET" && url.pathname === "/stamps") return json(res, 200, stampStats());
  if (req.method === "POST" && url.pathname === "/stamps/reset") {
    delays = [];
    seen = new Set();
    firstMs = 0;
    lastMs = 0;
    return json(res, 200, "ok");
  }
  if (req.method === "GET" && url.pathname === "/flood") return json(res, 200, floodStats());
  if (req.method === "GET" && (url.pathname === "/flood/counts" || url.pathname === "/flood/times")) {
    const n = flood.maxId + 1;
    const a = url.pathname === "/flood/counts" ? flood.counts : flood.times;
    const body = Buffer.from(a.buffer, a.byteOffset, n * a.BYTES_PER_ELEMENT);
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length });
    return res.end(body);
  }
  if (req.method === "POST" && url.pathname === "/flood/reset") {
    flood = newFlood();
    return json(res, 200, "ok");
  }
  json(res, 404, { error: `no route ${req.method} ${url.pathname}` });
});

const sdkServer = http2.createServer(handler);
const [port, sidePort] = await Promise.all([listen(sdkServer, args.port), listen(side, args.sidePort)]);
console.log(`READY ${JSON.stringify({ port, sidePort })}`);

function shutdown() {
  sdkServer.close();
  side.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
