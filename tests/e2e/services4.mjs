// E2E test services for timers, suspension, service-to-service calls, awakeables/signals,
// cancellation, request/response deployments and deployment versioning. One Restate TypeScript
// SDK (1.17.2) endpoint plus a plain HTTP/1.1 side channel, like services.mjs, but kept in its own
// file so that the tests using it (timers, calls4, awakeables, cancel, suspend4, rr, versioning,
// durable) do not share an edit point with the object/workflow tests.
//
// The endpoint is HTTP/2 cleartext in BIDI_STREAM mode (http2Handler()), or, with --http1, the
// SDK's HTTP/1.1 handler in REQUEST_RESPONSE mode (http1Handler(); register it with
// "use_http_11": true).
//
// Everything a test asserts about what the handlers did is recorded HERE, never asked of the
// server: counters, time stamps and "notes" (values a handler hands out, e.g. an awakeable id or
// its own invocation id). Side channel:
//   GET  /counts          -> {"<counter>": n, ...}
//   GET  /times           -> {"<series>": [epoch ms, ...], ...}
//   GET  /notes           -> {"<name>": [value, ...], ...}   (values in the order they were noted)
//   POST /release/<name>  -> unblocks every wait on <name> (and later ones), 200 "ok"
//   POST /reset           -> clears counters, times, notes and releases, 200 "ok"
// Names look like "<Service>.<what>:<tag>", the tag coming from the handler input.
//
// Usage: node --import ./polyfill.mjs services4.mjs [--port N] [--side-port N]
//          [--inactivity-timeout MS] [--abort-timeout MS] [--http1] [--version STR]
// Ports default to 0 (ephemeral). When both listeners are up, one line is printed on stdout:
// READY {"port":<sdk port>,"sidePort":<side channel port>}.
// --inactivity-timeout / --abort-timeout set those service options on every service.
// --version is what Versioned.which answers, so two processes can stand for two deployments.
import "./polyfill.mjs";
import * as restate from "@restatedev/restate-sdk";
import http from "node:http";
import http2 from "node:http2";

function parseArgs(argv) {
  const out = { port: 0, sidePort: 0, inactivityTimeout: undefined, abortTimeout: undefined, http1: false, version: "v1" };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === "--port") out.port = Number(val());
    else if (a === "--side-port") out.sidePort = Number(val());
    else if (a === "--inactivity-timeout") out.inactivityTimeout = Number(val());
    else if (a === "--abort-timeout") out.abortTimeout = Number(val());
    else if (a === "--http1") out.http1 = true;
    else if (a === "--version") out.version = val();
    else throw new Error(`unknown argument ${a}`);
  }
  return out;
}
const args = parseArgs(process.argv);

// ---------------------------------------------------------------------------------------------
// Side-channel state
const counts = new Map();
const times = new Map();
const notes = new Map();
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
function note(name, value) {
  if (!notes.has(name)) notes.set(name, []);
  notes.get(name).push(value);
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
  e.stack = `Error: ${message}\n    at services4.mjs`;
  return e;
}

function tagOf(input) {
  if (typeof input === "string") return input;
  if (input && typeof input.tag === "string") return input.tag;
  return "default";
}

const isCancel = (e) => e instanceof restate.TerminalError && e.code === 409;

// ---------------------------------------------------------------------------------------------
// Services
const serviceOptions = {};
if (args.inactivityTimeout !== undefined) serviceOptions.inactivityTimeout = args.inactivityTimeout;
if (args.abortTimeout !== undefined) serviceOptions.abortTimeout = args.abortTimeout;
const withOptions = (def) => (Object.keys(serviceOptions).length ? { ...def, options: serviceOptions } : def);

const TimerApi = { name: "Timer" };
const ChainApi = { name: "Chain" };
const LockApi = { name: "Lock" };
const WaiterApi = { name: "Waiter" };
const TreeApi = { name: "Tree" };

// Durable timers and delayed sends.
const timer = restate.service(withOptions({
  name: "Timer",
  handlers: {
    // {tag, ms}: a ctx.run before the sleep (counted), the sleep, a ctx.run after it. Stamps the
    // start of every attempt ("Timer.attempt:<tag>") and the moment the sleep was over
    // ("Timer.woke:<tag>", in the closure of the second run, so once).
    sleep: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Timer.attempt:${tag}`);
      stamp(`Timer.attempt:${tag}`);
      await ctx.run("before", () => {
        bump(`Timer.before:${tag}`);
        stamp(`Timer.before:${tag}`);
      });
      await ctx.sleep(input.ms);
      await ctx.run("after", () => {
        bump(`Timer.after:${tag}`);
        stamp(`Timer.woke:${tag}`);
      });
      return `slept ${input.ms}`;
    },
    // {tag, n, ms}: n sleeps of ms each, one after the other. Counts each sleep the handler got
    // past on its first pass only (a replay passes them again from the journal, counted apart).
    many: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Timer.attempt:${tag}`);
      for (let i = 0; i < input.n; i++) await ctx.sleep(input.ms);
      await ctx.run("done", () => bump(`Timer.done:${tag}`));
      return input.n;
    },
    // {tag, n, ms}: n sleeps at once (ms + i), awaited together.
    parallel: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Timer.attempt:${tag}`);
      const sleeps = [];
      for (let i = 0; i < input.n; i++) sleeps.push(ctx.sleep(input.ms + (i % 50)));
      await restate.RestatePromise.all(sleeps);
      await ctx.run("done", () => bump(`Timer.done:${tag}`));
      return input.n;
    },
    // {tag, delayMs}: a delayed one-way send to Timer.target from a handler; answers the id of the
    // sent invocation.
    delayedSend: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Timer.delayedSend:${tag}`);
      const handle = ctx.serviceSendClient(TimerApi).target(tag, restate.rpc.sendOpts({ delay: input.delayMs }));
      return await handle.invocationId;
    },
    // The target of delayed sends: counted and stamped.
    target: async (ctx, tag) => {
      bump(`Timer.target:${tag}`);
      stamp(`Timer.target:${tag}`);
      return `target ${tag}`;
    },
  },
}));

// Service-to-service calls.
const chain = restate.service(withOptions({
  name: "Chain",
  handlers: {
    // a -> b -> c, three deep, each a request/response call through the server.
    a: async (ctx, tag) => {
      bump(`Chain.a:${tag}`);
      const r = await ctx.serviceClient(ChainApi).b(tag);
      return `a(${r})`;
    },
    b: async (ctx, tag) => {
      bump(`Chain.b:${tag}`);
      const r = await ctx.serviceClient(ChainApi).c(tag);
      return `b(${r})`;
    },
    c: async (ctx, tag) => {
      bump(`Chain.c:${tag}`);
      if (tag.startsWith("fail")) {
        throw new restate.TerminalError(`c failed for ${tag}`, { errorCode: 418 });
      }
      return `c(${tag})`;
    },
    // A call whose invocation id is read from the handle: answers {id, result}.
    callWithId: async (ctx, tag) => {
      bump(`Chain.callWithId:${tag}`);
      const p = ctx.serviceClient(ChainApi).c(tag);
      const id = await p.invocationId;
      const result = await p;
      return { id, result };
    },
    // A one-way send of c; answers the sent invocation's id without waiting for it.
    sendC: async (ctx, tag) => {
      bump(`Chain.sendC:${tag}`);
      return await ctx.serviceSendClient(ChainApi).c(tag).invocationId;
    },
    // A terminal failure three calls down, caught in the middle: {tag} -> "caught <code> <message>".
    catchDeep: async (ctx, tag) => {
      bump(`Chain.catchDeep:${tag}`);
      try {
        await ctx.serviceClient(ChainApi).b(tag);
        return "no failure";
      } catch (e) {
        if (!(e instanceof restate.TerminalError)) throw e;
        return `caught ${e.code} ${e.message}`;
      }
    },
    // {tag, ms}: calls Timer.sleep({tag, ms}) and answers its result.
    viaTimer: async (ctx, input) => {
      bump(`Chain.viaTimer:${input.tag}`);
      return await ctx.serviceClient(TimerApi).sleep(input);
    },
    // {tag, keys: [..]}: calls Lock/<key>/add(1) for each key concurrently (keys land on
    // different partitions), answers the sum of what they returned.
    fanout: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Chain.fanout:${tag}`);
      const calls = input.keys.map((k) => ctx.objectClient(LockApi, k).add(1));
      const results = await restate.RestatePromise.all(calls);
      return results.reduce((s, v) => s + v, 0);
    },
  },
}));

// A virtual object: exclusive handlers hold the key's lock.
const lock = restate.object(withOptions({
  name: "Lock",
  handlers: {
    // Adds n to the "sum" state, answers the new sum.
    add: async (ctx, n) => {
      bump(`Lock.add:${ctx.key}`);
      const sum = ((await ctx.get("sum")) ?? 0) + n;
      ctx.set("sum", sum);
      return sum;
    },
    // {tag, ms}: sleeps while holding the lock. Notes its own invocation id; counts a cancel.
    hold: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Lock.hold:${tag}`);
      note(`Lock.hold:${tag}`, ctx.request().id);
      try {
        await ctx.sleep(input.ms);
      } catch (e) {
        if (isCancel(e)) bump(`Lock.cancelled:${tag}`);
        throw e;
      }
      return `held ${tag}`;
    },
    get: restate.handlers.object.shared(async (ctx) => (await ctx.get("sum")) ?? 0),
  },
}));

// Awakeables, named signals, orTimeout, races.
const waiter = restate.service(withOptions({
  name: "Waiter",
  handlers: {
    // Notes an awakeable id under "Waiter.awake:<tag>" and answers what it is resolved with. A
    // rejection fails the invocation with that terminal error.
    awake: async (ctx, tag) => {
      bump(`Waiter.attempt:${tag}`);
      const { id, promise } = ctx.awakeable();
      note(`Waiter.awake:${tag}`, id);
      const v = await promise;
      await ctx.run("done", () => bump(`Waiter.done:${tag}`));
      return v;
    },
    // Same, but a rejection is caught and answered as {code, message}.
    awakeCatch: async (ctx, tag) => {
      bump(`Waiter.attempt:${tag}`);
      const { id, promise } = ctx.awakeable();
      note(`Waiter.awake:${tag}`, id);
      try {
        return { value: await promise };
      } catch (e) {
        if (!(e instanceof restate.TerminalError)) throw e;
        return { code: e.code, message: e.message };
      }
    },
    // {id, value}: resolves an awakeable from a handler.
    resolve: async (ctx, input) => {
      bump(`Waiter.resolve`);
      ctx.resolveAwakeable(input.id, input.value);
    },
    // {id, reason}: rejects an awakeable from a handler.
    reject: async (ctx, input) => {
      bump(`Waiter.reject`);
      ctx.rejectAwakeable(input.id, input.reason);
    },
    // Notes its own invocation id under "Waiter.signal:<tag>", waits for the named signal "go".
    signal: async (ctx, tag) => {
      bump(`Waiter.attempt:${tag}`);
      note(`Waiter.signal:${tag}`, ctx.request().id);
      try {
        return { value: await ctx.signal("go") };
      } catch (e) {
        if (!(e instanceof restate.TerminalError)) throw e;
        return { code: e.code, message: e.message };
      }
    },
    // {id, name, value | reason}: sends a named signal to another invocation.
    sendSignal: async (ctx, input) => {
      bump(`Waiter.sendSignal`);
      const ref = ctx.invocation(input.id).signal(input.name);
      if (input.reason !== undefined) ref.reject(input.reason);
      else ref.resolve(input.value);
    },
    // {tag, ms}: an awakeable with orTimeout(ms): {value} or {timeout: code}.
    timeout: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Waiter.attempt:${tag}`);
      const { id, promise } = ctx.awakeable();
      note(`Waiter.awake:${tag}`, id);
      try {
        return { value: await promise.orTimeout(input.ms) };
      } catch (e) {
        if (!(e instanceof restate.TerminalError)) throw e;
        return { timeout: e.code, message: e.message };
      }
    },
    // {tag, ms}: race of an awakeable against a sleep: "awakeable:<value>" or "sleep".
    race: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Waiter.attempt:${tag}`);
      const { id, promise } = ctx.awakeable();
      note(`Waiter.awake:${tag}`, id);
      const winner = await restate.RestatePromise.race([
        promise.map((v) => `awakeable:${v}`),
        ctx.sleep(input.ms).map(() => "sleep"),
      ]);
      return winner;
    },
    // {tag, ms}: two awakeables (ids noted as "Waiter.first:<tag>" and "Waiter.second:<tag>");
    // races them, notes the winner seen by this attempt under "Waiter.winner:<tag>", then sleeps ms
    // (with a short inactivity timeout this suspends, and the next attempt replays the race), then
    // awaits both and answers {winner, all}.
    order: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Waiter.attempt:${tag}`);
      const a = ctx.awakeable();
      const b = ctx.awakeable();
      note(`Waiter.first:${tag}`, a.id);
      note(`Waiter.second:${tag}`, b.id);
      const winner = await restate.RestatePromise.race([
        a.promise.map((v) => `first:${v}`),
        b.promise.map((v) => `second:${v}`),
      ]);
      note(`Waiter.winner:${tag}`, winner);
      await ctx.sleep(input.ms);
      const all = await restate.RestatePromise.all([a.promise, b.promise]);
      return { winner, all };
    },
  },
}));

// Call trees for cancel/kill: root -> Tree.mid -> Lock/<key>/hold (a long sleep). Every level
// notes its own invocation id and counts a cancellation it saw.
const tree = restate.service(withOptions({
  name: "Tree",
  handlers: {
    root: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Tree.root:${tag}`);
      note(`Tree.root:${tag}`, ctx.request().id);
      try {
        return await ctx.serviceClient(TreeApi).mid(input);
      } catch (e) {
        if (isCancel(e)) bump(`Tree.rootCancelled:${tag}`);
        throw e;
      }
    },
    mid: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Tree.mid:${tag}`);
      note(`Tree.mid:${tag}`, ctx.request().id);
      try {
        return await ctx.objectClient(LockApi, input.key).hold({ tag, ms: input.ms });
      } catch (e) {
        if (isCancel(e)) bump(`Tree.midCancelled:${tag}`);
        throw e;
      }
    },
    // {tag, ms}: a sleep that counts its cancellation (signal 1 delivered to the handler).
    sleep: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Tree.sleep:${tag}`);
      note(`Tree.sleep:${tag}`, ctx.request().id);
      try {
        await ctx.sleep(input.ms);
      } catch (e) {
        if (isCancel(e)) bump(`Tree.sleepCancelled:${tag}`);
        throw e;
      }
      return "woke";
    },
    // {tag}: blocked in a ctx.run until POST /release/<tag> (for pause/resume and kill tests).
    block: async (ctx, tag) => {
      bump(`Tree.block:${tag}`);
      note(`Tree.block:${tag}`, ctx.request().id);
      await ctx.run("wait", async () => {
        bump(`Tree.blockRun:${tag}`);
        await waitRelease(tag);
      });
      return `released ${tag}`;
    },
  },
}));

// Deployment versioning.
const versioned = restate.service(withOptions({
  name: "Versioned",
  handlers: {
    // Answers this process' --version.
    which: async (ctx, tag) => {
      bump(`Versioned.which:${tag}`);
      return args.version;
    },
    // A ctx.run, then waits on an awakeable (id noted as "Versioned.wait:<tag>"); answers
    // "<version>:<value>".
    wait: async (ctx, tag) => {
      bump(`Versioned.wait:${tag}`);
      // A journaled command first: restate-server pins the deployment of an invocation when its
      // first entry from the deployment is stored (an awakeable alone writes none).
      await ctx.run("pin", () => args.version);
      const { id, promise } = ctx.awakeable();
      note(`Versioned.wait:${tag}`, id);
      const v = await promise;
      return `${args.version}:${v}`;
    },
    // The same without the ctx.run: nothing is journaled before the awakeable is awaited.
    waitUnpinned: async (ctx, tag) => {
      bump(`Versioned.waitUnpinned:${tag}`);
      const { id, promise } = ctx.awakeable();
      note(`Versioned.waitUnpinned:${tag}`, id);
      const v = await promise;
      return `${args.version}:${v}`;
    },
    // Non-deterministic: the first attempt journals a ctx.run and then fails with a retryable
    // error; every later attempt issues a sleep where the journal has that run, which the SDK
    // reports as a journal mismatch ("SDK.error570:<invocation id>"). Every attempt is counted and
    // stamped.
    nondet: async (ctx, tag) => {
      const n = bump(`Versioned.nondet:${tag}`);
      stamp(`Versioned.nondet:${tag}`);
      if (n === 1) {
        await ctx.run("step", () => "journaled");
        throw plainError("first attempt fails after journaling a run");
      }
      await ctx.sleep(10); // the SDK aborts the attempt here (counted by the logger below)
      return "unreachable";
    },
  },
}));

// A chain of ctx.runs: in REQUEST_RESPONSE mode each run ends an attempt.
const steps = restate.service(withOptions({
  name: "Steps",
  handlers: {
    // {tag, n}: n ctx.runs, each counted; answers their results joined.
    run: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Steps.attempt:${tag}`);
      const out = [];
      for (let i = 0; i < input.n; i++) {
        out.push(await ctx.run(`step${i}`, () => {
          bump(`Steps.run${i}:${tag}`);
          return `r${i}`;
        }));
      }
      return out.join(",");
    },
    // {tag, ms}: a ctx.run that takes ms milliseconds (longer than a short inactivity timeout),
    // then its result is awaited.
    // Attempts are stamped as "Steps.attempt:<tag>", the end of the closure as "Steps.runEnd:<tag>".
    slowRun: async (ctx, input) => {
      const tag = tagOf(input);
      bump(`Steps.attempt:${tag}`);
      stamp(`Steps.attempt:${tag}`);
      const v = await ctx.run("slow", async () => {
        bump(`Steps.slowRun:${tag}`);
        await new Promise((r) => setTimeout(r, input.ms));
        stamp(`Steps.runEnd:${tag}`);
        return `ran ${input.ms}`;
      });
      return v;
    },
    // {tag}: a ctx.run that never finishes until POST /release/<tag>; each execution counted.
    stuck: async (ctx, tag) => {
      bump(`Steps.attempt:${tag}`);
      stamp(`Steps.attempt:${tag}`);
      return await ctx.run("stuck", async () => {
        bump(`Steps.stuckRun:${tag}`);
        await waitRelease(tag);
        return `unstuck ${tag}`;
      });
    },
  },
}));

// The SDK's log lines go to stdout as usual; errors it reports with a code are also counted per
// invocation: "SDK.error<code>:<invocation id>" (570 = journal mismatch).
function logger(meta, message, ...rest) {
  if (meta.level === "trace" || meta.level === "debug") return;
  const ctx = meta.context;
  const where = ctx ? `[${ctx.invocationTarget}][${ctx.invocationId}]` : "";
  console.log(`[restate][${new Date().toISOString()}]${where} ${meta.level.toUpperCase()}:`, message, ...rest);
  for (const v of [message, ...rest]) {
    if (v instanceof Error && typeof v.code === "number" && ctx) bump(`SDK.error${v.code}:${ctx.invocationId}`);
  }
}

const endpoint = restate.endpoint()
  .bind(timer).bind(chain).bind(lock).bind(waiter).bind(tree).bind(versioned).bind(steps)
  .setLogger(logger);

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
  if (req.method === "GET" && url.pathname === "/counts") return json(res, 200, Object.fromEntries(counts));
  if (req.method === "GET" && url.pathname === "/times") return json(res, 200, Object.fromEntries(times));
  if (req.method === "GET" && url.pathname === "/notes") return json(res, 200, Object.fromEntries(notes));
  if (req.method === "POST" && url.pathname.startsWith("/release/")) {
    release(decodeURIComponent(url.pathname.slice("/release/".length)));
    return json(res, 200, "ok");
  }
  if (req.method === "POST" && url.pathname === "/reset") {
    counts.clear();
    times.clear();
    notes.clear();
    released.clear();
    return json(res, 200, "ok");
  }
  json(res, 404, { error: `no route ${req.method} ${url.pathname}` });
});

const sdkServer = args.http1
  ? http.createServer(endpoint.http1Handler()) // REQUEST_RESPONSE over HTTP/1.1
  : http2.createServer(endpoint.http2Handler()); // BIDI_STREAM over h2c
const [port, sidePort] = await Promise.all([listen(sdkServer, args.port), listen(side, args.sidePort)]);
console.log(`READY ${JSON.stringify({ port, sidePort })}`);

function shutdown() {
  sdkServer.close();
  side.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
