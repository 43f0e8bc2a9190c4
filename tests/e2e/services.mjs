// E2E test services: one Restate TypeScript SDK (1.17.2) endpoint, served as HTTP/2 cleartext in
// BIDI_STREAM mode (the handler `restate.endpoint().listen()` uses, bound to loopback only), plus
// a plain HTTP/1.1 "side channel" through which tests observe and steer the handlers.
//
// Everything a test needs to know about what the handlers really did is counted HERE, in the
// service process, never in the server under test: how often a ctx.run closure ran, how many
// attempts an invocation saw and when each started. The side channel serves
//   GET  /counts          -> {"<counter>": n, ...}
//   GET  /times           -> {"<series>": [epoch ms, ...], ...}
//   POST /release/<name>  -> unblocks every Slow.run waiting on <name> (and later ones), 200 "ok"
//   POST /reset           -> clears counters, times and releases, 200 "ok"
// Counter and series names are "<Service>.<what>:<tag>", the tag coming from the handler input, so
// tests that share one services process never see each other's numbers.
//
// Usage: node --import ./polyfill.mjs services.mjs [--port N] [--side-port N] [--inactivity-timeout MS]
// SERVICES_HOST: the address to bind (default 127.0.0.1; the Docker test binds the bridge). Ports default to 0 (ephemeral; env SERVICES_PORT / SIDE_PORT also work). When both listeners are
// up, one line is printed on stdout: READY {"port":<sdk port>,"sidePort":<side channel port>}.
// --inactivity-timeout sets the service-level inactivityTimeout (ms) of every service, so the
// server suspends invocations that wait on something (sleep, awakeable) almost at once.
import "./polyfill.mjs";
import * as restate from "@restatedev/restate-sdk";
import http from "node:http";
import http2 from "node:http2";

function parseArgs(argv) {
  const out = {
    port: Number(process.env.SERVICES_PORT ?? 0),
    sidePort: Number(process.env.SIDE_PORT ?? 0),
    inactivityTimeout: process.env.INACTIVITY_TIMEOUT_MS ? Number(process.env.INACTIVITY_TIMEOUT_MS) : undefined,
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return Number(argv[++i]);
    };
    if (a === "--port") out.port = val();
    else if (a === "--side-port") out.sidePort = val();
    else if (a === "--inactivity-timeout") out.inactivityTimeout = val();
    else throw new Error(`unknown argument ${a}`);
  }
  return out;
}
const args = parseArgs(process.argv);

// ---------------------------------------------------------------------------------------------
// Side-channel state
const counts = new Map();
const times = new Map();
const released = new Set();
const waiters = new Map(); // name -> [resolve, ...]

function bump(name) {
  const n = (counts.get(name) ?? 0) + 1;
  counts.set(name, n);
  return n;
}
function stamp(name) {
  if (!times.has(name)) times.set(name, []);
  times.get(name).push(Date.now());
}
function waitRelease(name) {
  if (released.has(name)) return Promise.resolve();
  return new Promise((resolve) => {
    if (!waiters.has(name)) waiters.set(name, []);
    waiters.get(name).push(resolve);
  });
}
function release(name) {
  released.add(name);
  for (const r of waiters.get(name) ?? []) r();
  waiters.delete(name);
}

// Keep local paths out of error messages the server records.
function plainError(message) {
  const e = new Error(message);
  e.stack = `Error: ${message}\n    at services.mjs`;
  return e;
}

function tagOf(input) {
  if (typeof input === "string") return input;
  if (input && typeof input.tag === "string") return input.tag;
  return "default";
}

// ---------------------------------------------------------------------------------------------
// Services
const serviceOptions = args.inactivityTimeout !== undefined ? { inactivityTimeout: args.inactivityTimeout } : undefined;
const withOptions = (def) => (serviceOptions ? { ...def, options: serviceOptions } : def);

// Plain handlers. greet counts its executions per name so /send tests can poll for it.
const greeter = restate.service(withOptions({
  name: "Greeter",
  handlers: {
    greet: async (ctx, name) => {
      bump(`Greeter.greet:${name}`);
      return `Hello ${name}`;
    },
    noop: async (ctx) => {
      bump("Greeter.noop");
    },
  },
}));

// ctx.run: each closure execution is counted; the journaled results make up the output.
const runner = restate.service(withOptions({
  name: "Runner",
  handlers: {
    run: async (ctx, tag) => {
      bump(`Runner.attempt:${tag}`);
      const a = await ctx.run("first", () => {
        bump(`Runner.first:${tag}`);
        return `first-${tag}`;
      });
      const b = await ctx.run("second", () => {
        bump(`Runner.second:${tag}`);
        return a.length;
      });
      return { a, b };
    },
  },
}));

// Terminal errors: a custom code with metadata, and the default code.
const failer = restate.service(withOptions({
  name: "Failer",
  handlers: {
    teapot: async (ctx) => {
      bump("Failer.teapot");
      throw new restate.TerminalError("I am a teapot", { errorCode: 418, metadata: { why: "test", kind: "teapot" } });
    },
    plain: async (ctx) => {
      bump("Failer.plain");
      throw new restate.TerminalError("plain terminal failure");
    },
  },
}));

// Retryable errors: a plain Error on the first `failures` attempts (default 2), then success.
// Attempts are counted and time-stamped here; `limited` has a handler retry policy
// (maxAttempts 2, then kill) and always fails.
const flaky = restate.service(withOptions({
  name: "Flaky",
  handlers: {
    fail: async (ctx, input) => {
      const tag = tagOf(input);
      const failures = typeof input?.failures === "number" ? input.failures : 2;
      const n = bump(`Flaky.attempt:${tag}`);
      stamp(`Flaky.attempt:${tag}`);
      if (n <= failures) throw plainError(`transient failure ${n} of ${failures}`);
      return `ok after ${n} attempts`;
    },
    limited: restate.handlers.handler(
      { retryPolicy: { maxAttempts: 2, onMaxAttempts: "kill", initialInterval: 100 } },
      async (ctx, tag) => {
        const n = bump(`Flaky.limited:${tag}`);
        stamp(`Flaky.limited:${tag}`);
        throw plainError(`always failing, attempt ${n}`);
      },
    ),
  },
}));

// A ctx.run, then a second ctx.run that blocks until POST /release/<tag>. Tests use it to kill the
// server while the invocation is in the middle of its journal.
const slow = restate.service(withOptions({
  name: "Slow",
  handlers: {
    run: async (ctx, tag) => {
      bump(`Slow.attempt:${tag}`);
      const a = await ctx.run("step1", () => {
        bump(`Slow.step1:${tag}`);
        return `step1-${tag}`;
      });
      const b = await ctx.run("step2", async () => {
        bump(`Slow.step2:${tag}`);
        await waitRelease(tag);
        return `step2-${tag}`;
      });
      return `${a} ${b}`;
    },
  },
}));

// Raw bytes in and out (application/octet-stream): answers the input bytes reversed.
const bin = restate.service(withOptions({
  name: "Bin",
  handlers: {
    reverse: restate.handlers.handler(
      { input: restate.serde.binary, output: restate.serde.binary },
      async (ctx, bytes) => {
        bump("Bin.reverse");
        return Uint8Array.from(bytes).reverse();
      },
    ),
  },
}));

// ctx.sleep, for suspension tests with --inactivity-timeout.
const sleeper = restate.service(withOptions({
  name: "Sleeper",
  handlers: {
    sleep: async (ctx, ms) => {
      bump("Sleeper.attempt");
      await ctx.sleep(typeof ms === "number" ? ms : 100);
      return "slept";
    },
  },
}));

const handler = restate.endpoint()
  .bind(greeter).bind(runner).bind(failer).bind(flaky).bind(slow).bind(bin).bind(sleeper)
  .http2Handler(); // BIDI_STREAM, the same handler endpoint().listen() installs

// ---------------------------------------------------------------------------------------------
// Listeners
function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, process.env.SERVICES_HOST ?? "127.0.0.1", () => resolve(server.address().port));
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
  if (req.method === "GET" && url.pathname === "/times") return json(res, 200, Object.fromEntries(times));
  if (req.method === "POST" && url.pathname.startsWith("/release/")) {
    release(decodeURIComponent(url.pathname.slice("/release/".length)));
    return json(res, 200, "ok");
  }
  if (req.method === "POST" && url.pathname === "/reset") {
    counts.clear();
    times.clear();
    released.clear();
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
