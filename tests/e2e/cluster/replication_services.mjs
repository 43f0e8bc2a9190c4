// E2E services for the partition replication tests (cluster/replication.test.mjs): a counter
// object, an object that sleeps before it writes, and a workflow that waits on a durable promise.
// Chosen with `new Cluster(name, { servicesScript: "cluster/replication_services.mjs" })`.
//
// Like ../services.mjs and ../keyed_services.mjs: Restate TypeScript SDK 1.17.2, HTTP/2 cleartext,
// BIDI_STREAM, loopback only, plus an HTTP/1.1 side channel. What really ran is recorded HERE, in
// the service process, never asked of the servers under test:
//   GET  /counts   -> {"<counter>": n, ...}   handler attempts, per object or workflow key
//   GET  /times    -> {}                      (harness compatibility)
//   POST /reset    -> clears the counters, 200 "ok"
// Counter names are "<Service>.<what>:<key>". The authoritative effect of every handler is its
// object or workflow state ("count"), which the tests read back through the ingress: an attempt
// counted here may have been aborted (a node killed under it) and replayed.
//
// Usage: node --import ../polyfill.mjs replication_services.mjs [--port N] [--side-port N]
// Prints READY {"port":<sdk port>,"sidePort":<side channel port>} once both listen.
import "../polyfill.mjs";
import * as restate from "@restatedev/restate-sdk";
import http from "node:http";
import http2 from "node:http2";

function parseArgs(argv) {
  const out = { port: Number(process.env.SERVICES_PORT ?? 0), sidePort: Number(process.env.SIDE_PORT ?? 0) };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
    if (a === "--port") out.port = Number(argv[++i]);
    else if (a === "--side-port") out.sidePort = Number(argv[++i]);
    else if (a === "--inactivity-timeout") i++; // accepted for harness compatibility, unused
    else throw new Error(`unknown argument ${a}`);
  }
  return out;
}
const args = parseArgs(process.argv);

const counts = new Map();
function bump(name, by = 1) {
  const n = (counts.get(name) ?? 0) + by;
  counts.set(name, n);
  return n;
}

const shared = restate.handlers.object.shared;
const wfShared = restate.handlers.workflow.shared;

// Counter: count += n (exclusive), returns the new count; get (shared) reads it.
const counter = restate.object({
  name: "Counter",
  handlers: {
    add: async (ctx, n) => {
      bump(`Counter.add:${ctx.key}`);
      const cur = (await ctx.get("count")) ?? 0;
      const next = cur + (typeof n === "number" ? n : 1);
      ctx.set("count", next);
      return next;
    },
    get: shared(async (ctx) => (await ctx.get("count")) ?? 0),
    // busy for ms milliseconds without a journal entry: the invocation stays "running"
    hold: shared(async (ctx, ms) => {
      await new Promise((r) => setTimeout(r, typeof ms === "number" ? ms : 1000));
      return "held";
    }),
  },
});

// Napper: {ms, n}: a durable sleep of ms, then count += n; returns the new count. "attempt" counts
// handler starts, "woke" the attempts that got past the sleep.
const napper = restate.object({
  name: "Napper",
  handlers: {
    nap: async (ctx, input) => {
      const key = ctx.key;
      bump(`Napper.attempt:${key}`);
      await ctx.sleep(typeof input?.ms === "number" ? input.ms : 1000);
      bump(`Napper.woke:${key}`);
      const cur = (await ctx.get("count")) ?? 0;
      const next = cur + (typeof input?.n === "number" ? input.n : 1);
      ctx.set("count", next);
      return next;
    },
    get: shared(async (ctx) => (await ctx.get("count")) ?? 0),
  },
});

// Waiter: wait creates an awakeable, keeps its id in state "awk" and returns what it is resolved
// with; awk (shared) reads the id.
const waiter = restate.object({
  name: "Waiter",
  handlers: {
    wait: async (ctx) => {
      const { id, promise } = ctx.awakeable();
      ctx.set("awk", id);
      const v = await promise;
      ctx.set("awk", null);
      return v;
    },
    awk: shared(async (ctx) => (await ctx.get("awk")) ?? null),
  },
});

// Flow: run sets status "waiting", waits for the "go" promise, sets status "done" and returns
// {key, input, go}; go (shared) resolves the promise.
const flow = restate.workflow({
  name: "Flow",
  handlers: {
    run: async (ctx, input) => {
      const key = ctx.key;
      bump(`Flow.run:${key}`);
      ctx.set("status", "waiting");
      const go = await ctx.promise("go");
      ctx.set("status", "done");
      bump(`Flow.done:${key}`);
      return { key, input: input ?? null, go };
    },
    go: wfShared(async (ctx, v) => {
      bump(`Flow.go:${ctx.key}`);
      await ctx.promise("go").resolve(v);
      return "ok";
    }),
    status: wfShared(async (ctx) => (await ctx.get("status")) ?? null),
  },
});

const handler = restate.endpoint().bind(counter).bind(napper).bind(flow).bind(waiter).http2Handler();

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
  if (req.method === "GET" && url.pathname === "/counts") return json(res, 200, Object.fromEntries(counts));
  if (req.method === "GET" && url.pathname === "/times") return json(res, 200, {});
  if (req.method === "POST" && url.pathname === "/reset") {
    counts.clear();
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
