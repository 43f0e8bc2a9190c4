// E2E services for keyed state: virtual objects, workflows, idempotency and keys. A second SDK
// endpoint next to services.mjs (which keeps its fixed service list for admin.test.mjs); test
// files select it with `new Env(name, { servicesScript: "keyed_services.mjs" })`.
//
// Like services.mjs: Restate TypeScript SDK 1.17.2, HTTP/2 cleartext, BIDI_STREAM, loopback only,
// plus an HTTP/1.1 side channel. Everything the tests know about what really ran is recorded HERE,
// in the service process, never asked of the server under test:
//   GET  /counts          -> {"<counter>": n, ...}    executions, attempts, max concurrency
//   GET  /events          -> {"<log>": [value, ...]}  per-key execution order
//   POST /release/<name>  -> unblocks every ctx.run waiting on <name> (and later ones), 200 "ok"
//   POST /reset           -> clears counters, events and releases, 200 "ok"
// Counter and log names are "<Service>.<what>:<object or workflow key | tag>".
//
// Concurrency is measured per key: an exclusive handler increments "<Service>.inflight:<key>" on
// entry and decrements it on exit, and "<Service>.maxInflight:<key>" keeps the highest value seen.
// Counter.add reads the state, waits PAUSE_MS of real time, then writes: two executions that
// overlapped on one key would both show in maxInflight and lose an update.
//
// Usage: node --import ./polyfill.mjs keyed_services.mjs [--port N] [--side-port N]
// Prints READY {"port":<sdk port>,"sidePort":<side channel port>} once both listen.
import "./polyfill.mjs";
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

const PAUSE_MS = 5;

// ---------------------------------------------------------------------------------------------
// Side-channel state
const counts = new Map();
const events = new Map();
const released = new Set();
const waiters = new Map(); // name -> [resolve, ...]

function bump(name, by = 1) {
  const n = (counts.get(name) ?? 0) + by;
  counts.set(name, n);
  return n;
}
function record(name, value) {
  if (!events.has(name)) events.set(name, []);
  events.get(name).push(value);
}
function enter(service, key) {
  const n = bump(`${service}.inflight:${key}`);
  const maxName = `${service}.maxInflight:${key}`;
  if (n > (counts.get(maxName) ?? 0)) counts.set(maxName, n);
}
function leave(service, key) {
  bump(`${service}.inflight:${key}`, -1);
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
const pause = (ms) => new Promise((r) => setTimeout(r, ms));

function tagOf(input) {
  if (typeof input === "string") return input;
  if (input && typeof input.tag === "string") return input.tag;
  return "default";
}

const shared = restate.handlers.object.shared;
const wfShared = restate.handlers.workflow.shared;

// ---------------------------------------------------------------------------------------------
// Virtual objects

// Counter: exclusive read-modify-write, an append log, a lock holder, shared readers.
const counter = restate.object({
  name: "Counter",
  handlers: {
    // count += n, with a real-time pause between the read and the write. Returns the new count.
    add: async (ctx, n) => {
      const key = ctx.key;
      bump(`Counter.add:${key}`);
      enter("Counter", key);
      try {
        const cur = (await ctx.get("count")) ?? 0;
        await pause(PAUSE_MS);
        const next = cur + n;
        ctx.set("count", next);
        record(`Counter.add:${key}`, n);
        return next;
      } finally {
        leave("Counter", key);
      }
    },
    // list.push(v); the per-key execution order is logged too. Returns the new length.
    append: async (ctx, v) => {
      const key = ctx.key;
      bump(`Counter.append:${key}`);
      enter("Counter", key);
      try {
        const list = (await ctx.get("list")) ?? [];
        await pause(1);
        list.push(v);
        ctx.set("list", list);
        record(`Counter.append:${key}`, v);
        return list.length;
      } finally {
        leave("Counter", key);
      }
    },
    // Holds the key's lock: sets count to `value` (if given) and "held" to the tag, makes sure
    // both are journaled (a ctx.run round trip), then blocks in a second ctx.run until
    // POST /release/<tag>. Returns the tag.
    hold: async (ctx, input) => {
      const key = ctx.key;
      const tag = tagOf(input);
      bump(`Counter.hold:${key}`);
      enter("Counter", key);
      try {
        if (typeof input?.value === "number") ctx.set("count", input.value);
        ctx.set("held", tag);
        await ctx.run("journaled", () => "ok");
        await ctx.run("blocked", async () => {
          bump(`Counter.blocked:${tag}`);
          await waitRelease(tag);
          return "released";
        });
        ctx.clear("held");
        return tag;
      } finally {
        leave("Counter", key);
      }
    },
    // Sets count to `value`, journals it (a ctx.run round trip), then fails with a terminal
    // error 409: the state change was journaled before the failure.
    boom: async (ctx, value) => {
      const key = ctx.key;
      bump(`Counter.boom:${key}`);
      enter("Counter", key);
      try {
        ctx.set("count", value);
        await ctx.run("journaled", () => "ok");
        throw new restate.TerminalError(`boom on ${key}`, { errorCode: 409 });
      } finally {
        leave("Counter", key);
      }
    },
    get: shared(async (ctx) => {
      bump(`Counter.get:${ctx.key}`);
      return (await ctx.get("count")) ?? 0;
    }),
    list: shared(async (ctx) => (await ctx.get("list")) ?? []),
    // Everything the object holds: {keys, count, list, held}.
    dump: shared(async (ctx) => {
      const keys = (await ctx.stateKeys()).sort();
      const out = { keys };
      for (const k of ["count", "list", "held"]) out[k] = (await ctx.get(k)) ?? null;
      return out;
    }),
  },
});

// Caller: sends or calls Counter.append on one key in program order.
const caller = restate.service({
  name: "Caller",
  handlers: {
    // {key, n, mode}: appends 0..n-1 to Counter/<key>. mode "send": one-way sends; "call": calls,
    // each awaited; "calls": all calls issued first, then awaited together; "mixed": sends for
    // the even values, awaited calls for the odd ones.
    sequence: async (ctx, { key, n, mode }) => {
      bump(`Caller.sequence:${key}`);
      const pending = [];
      for (let i = 0; i < n; i++) {
        const target = { service: "Counter", method: "append", key, parameter: i, inputSerde: restate.serde.json };
        if (mode === "send" || (mode === "mixed" && i % 2 === 0)) ctx.genericSend(target);
        else if (mode === "calls") pending.push(ctx.genericCall({ ...target, outputSerde: restate.serde.json }));
        else await ctx.genericCall({ ...target, outputSerde: restate.serde.json });
      }
      if (pending.length) await restate.RestatePromise.all(pending);
      return n;
    },
  },
});

// State operations, with eager state (the default) and with lazy state.
function stateHandlers(service) {
  return {
    // {name, value}: sets one entry.
    put: async (ctx, { name, value }) => {
      bump(`${service}.put:${ctx.key}`);
      ctx.set(name, value);
    },
    // {entries: {name: value, ...}}: sets several entries.
    putMany: async (ctx, { entries }) => {
      for (const [name, value] of Object.entries(entries)) ctx.set(name, value);
    },
    get: shared(async (ctx, name) => ({ value: (await ctx.get(name)) ?? null })),
    keys: shared(async (ctx) => (await ctx.stateKeys()).sort()),
    clear: async (ctx, name) => {
      ctx.clear(name);
    },
    clearAll: async (ctx) => {
      ctx.clearAll();
    },
    // Raw bytes in, stored under "bin" as bytes.
    putBin: restate.handlers.object.exclusive({ input: restate.serde.binary }, async (ctx, bytes) => {
      ctx.set("bin", bytes, restate.serde.binary);
    }),
    getBin: shared({ output: restate.serde.binary }, async (ctx) => {
      return (await ctx.get("bin", restate.serde.binary)) ?? new Uint8Array(0);
    }),
    // One invocation that reads its own writes: every step's view is returned.
    script: async (ctx, { name }) => {
      const seen = {};
      seen.before = (await ctx.get(name)) ?? null;
      ctx.set(name, "one");
      seen.afterSet = (await ctx.get(name)) ?? null;
      ctx.clear(name);
      seen.afterClear = (await ctx.get(name)) ?? null;
      ctx.set(name, "two");
      seen.keys = (await ctx.stateKeys()).sort();
      return seen;
    },
    // Reads the state (eagerly sent or lazily fetched), then sets `name` only if it was absent.
    setIfAbsent: async (ctx, { name, value }) => {
      const cur = await ctx.get(name);
      if (cur !== null && cur !== undefined) return { set: false, value: cur };
      ctx.set(name, value);
      return { set: true, value };
    },
  };
}
const stateObj = restate.object({ name: "State", handlers: stateHandlers("State") });
const lazyStateObj = restate.object({ name: "LazyState", handlers: stateHandlers("LazyState"), options: { enableLazyState: true } });

// Keys: echoes the key the handler received, and keeps one state entry per key.
const keys = restate.object({
  name: "Keys",
  handlers: {
    whoami: shared(async (ctx) => {
      bump(`Keys.whoami:${ctx.key}`);
      return ctx.key;
    }),
    remember: async (ctx, v) => {
      bump(`Keys.remember:${ctx.key}`);
      ctx.set("v", v);
      return ctx.key;
    },
    recall: shared(async (ctx) => ({ key: ctx.key, v: (await ctx.get("v")) ?? null })),
  },
});

// ---------------------------------------------------------------------------------------------
// Workflows

function signupHandlers(service) {
  return {
    // Sets status "waiting" and journals it with a ctx.run ("<service>.waiting:<key>" counts the
    // closure, "<service>.journaled:<key>" the acknowledged result), then fails at once if
    // input.fail, else waits for the "approval" promise, sets status "done" and returns
    // {key, input, approval}.
    run: async (ctx, input) => {
      const key = ctx.key;
      bump(`${service}.run:${key}`);
      ctx.set("status", "waiting");
      await ctx.run("waiting", () => {
        bump(`${service}.waiting:${key}`);
        return "ok";
      });
      // The SDK resolves ctx.run once the server acknowledged the journaled result.
      bump(`${service}.journaled:${key}`);
      if (input && input.fail) {
        throw new restate.TerminalError(`signup of ${key} failed`, { errorCode: 422 });
      }
      const approval = await ctx.promise("approval");
      ctx.set("status", "done");
      return { key, input: input ?? null, approval };
    },
    approve: wfShared(async (ctx, v) => {
      bump(`${service}.approve:${ctx.key}`);
      await ctx.promise("approval").resolve(v);
      return "approved";
    }),
    deny: wfShared(async (ctx, msg) => {
      bump(`${service}.deny:${ctx.key}`);
      await ctx.promise("approval").reject(msg);
      return "denied";
    }),
    peek: wfShared(async (ctx) => {
      const v = await ctx.promise("approval").peek();
      return v === undefined ? { done: false } : { done: true, value: v };
    }),
    // A shared handler that waits on the same promise as run.
    wait: wfShared(async (ctx) => {
      bump(`${service}.wait:${ctx.key}`);
      return await ctx.promise("approval").get();
    }),
    status: wfShared(async (ctx) => (await ctx.get("status")) ?? null),
  };
}
const signup = restate.workflow({ name: "Signup", handlers: signupHandlers("Signup") });
// The same workflow with a 2 s workflow retention.
const shortSignup = restate.workflow({
  name: "ShortSignup",
  handlers: signupHandlers("ShortSignup"),
  options: { workflowRetention: 2000 },
});

// ---------------------------------------------------------------------------------------------
// Idempotency

function idemHandlers(service) {
  return {
    // {tag, block}: counts the execution; with block, waits in a ctx.run for POST /release/<tag>.
    // The answer names the execution number, so a second execution could not hide.
    work: async (ctx, input) => {
      const tag = tagOf(input);
      const n = bump(`${service}.work:${tag}`);
      if (input && input.block) {
        await ctx.run("blocked", async () => {
          bump(`${service}.blocked:${tag}`);
          await waitRelease(tag);
          return "released";
        });
      }
      return `${tag} #${n}`;
    },
    // Always a terminal failure 422.
    fail: async (ctx, tag) => {
      const n = bump(`${service}.fail:${tag}`);
      throw new restate.TerminalError(`idem failure ${tag} #${n}`, { errorCode: 422 });
    },
  };
}
const idem = restate.service({ name: "Idem", handlers: idemHandlers("Idem") });
const shortIdem = restate.service({ name: "ShortIdem", handlers: idemHandlers("ShortIdem"), options: { idempotencyRetention: 2000 } });

// Idempotent calls and sends issued from inside a handler.
const idemCaller = restate.service({
  name: "IdemCaller",
  handlers: {
    // {tag, ikey}: two calls to Idem.work with the same idempotency key.
    callTwice: async (ctx, { tag, ikey }) => {
      const target = { service: "Idem", method: "work", parameter: { tag }, idempotencyKey: ikey, inputSerde: restate.serde.json, outputSerde: restate.serde.json };
      const first = ctx.genericCall(target);
      const firstId = await first.invocationId;
      const a = await first;
      const second = ctx.genericCall(target);
      const secondId = await second.invocationId;
      const b = await second;
      return { results: [a, b], ids: [firstId, secondId] };
    },
    // {tag, ikey}: two one-way sends with the same idempotency key.
    sendTwice: async (ctx, { tag, ikey }) => {
      const target = { service: "Idem", method: "work", parameter: { tag }, idempotencyKey: ikey, inputSerde: restate.serde.json };
      const h1 = ctx.genericSend(target);
      const h2 = ctx.genericSend(target);
      return { ids: [await h1.invocationId, await h2.invocationId] };
    },
  },
});

// ---------------------------------------------------------------------------------------------
// Endpoint and listeners
const handler = restate.endpoint()
  .bind(counter).bind(caller).bind(stateObj).bind(lazyStateObj).bind(keys)
  .bind(signup).bind(shortSignup).bind(idem).bind(shortIdem).bind(idemCaller)
  .http2Handler();

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
  if (req.method === "GET" && url.pathname === "/events") return json(res, 200, Object.fromEntries(events));
  if (req.method === "GET" && url.pathname === "/times") return json(res, 200, {});
  if (req.method === "POST" && url.pathname.startsWith("/release/")) {
    release(decodeURIComponent(url.pathname.slice("/release/".length)));
    return json(res, 200, "ok");
  }
  if (req.method === "POST" && url.pathname === "/reset") {
    counts.clear();
    events.clear();
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
