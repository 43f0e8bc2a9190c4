// Durability of everything that waits: the server is SIGKILLed while sleeps, an awakeable, a call
// waiting on a sleeping callee and delayed sends (from the ingress and from a handler) are
// pending; after the restart each completes exactly once (counted in the services process). Then
// the same with timers that fall due while the server is down. Last, the deployment (the services
// process) is SIGKILLed in the middle of a sleep and restarted on the same port: the invocation
// completes and the ctx.run before the sleep is not executed again.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Services, sleep, waitExit, waitUntil } from "./harness.mjs";
import { env4, send, waitNote, waitOutput } from "./lib4.mjs";

const env = env4("durable");
before(() => env.start());
after(() => env.close());

/** Starts the pending work of one round; returns what to check afterwards. */
async function startPending(p, ms) {
  const { server, services } = env;
  const t0 = Date.now();
  const ids = {};
  ids.sleep = await send(server, "/Timer/sleep", { tag: `${p}-sleep`, ms });
  ids.call = await send(server, "/Chain/viaTimer", { tag: `${p}-call`, ms });
  ids.awk = await send(server, "/Waiter/awake", `${p}-awk`);
  ids.ingressDelayed = await send(server, "/Timer/target", `${p}-ingress-delayed`, `?delay=${ms}ms`);
  const hd = await server.call("/Timer/delayedSend", { tag: `${p}-handler-delayed`, delayMs: ms });
  assert.equal(hd.status, 200, hd.text);
  ids.handlerDelayed = hd.json;
  const awk = await waitNote(services, `Waiter.awake:${p}-awk`);
  // Wait until the sleeps have started (their first ctx.run is journaled).
  await services.waitCount(`Timer.before:${p}-sleep`, 1);
  await services.waitCount(`Timer.before:${p}-call`, 1);
  return { t0, ids, awk };
}

/** After the restart: resolves the awakeable, waits for every output, checks exactly-once. */
async function checkCompleted(p, ms, { t0, ids, awk }) {
  const { server, services } = env;
  const r = await server.ingress("POST", `/restate/a/${awk}/resolve`, { json: `${p} after restart` });
  assert.equal(r.status, 202, r.text);
  const expected = {
    sleep: `"slept ${ms}"`,
    call: `"slept ${ms}"`,
    awk: `"${p} after restart"`,
    ingressDelayed: `"target ${p}-ingress-delayed"`,
    handlerDelayed: `"target ${p}-handler-delayed"`,
  };
  for (const [what, id] of Object.entries(ids)) {
    const o = await waitOutput(server, id, 20_000);
    assert.equal(o.status, 200, `${what}: ${o.status} ${o.text}`);
    assert.equal(o.text, expected[what], what);
  }
  await sleep(1000); // room for duplicates to show up
  const c = await services.counts();
  const once = [
    `Timer.before:${p}-sleep`, `Timer.after:${p}-sleep`,
    `Timer.before:${p}-call`, `Timer.after:${p}-call`,
    `Waiter.done:${p}-awk`,
    `Timer.target:${p}-ingress-delayed`, `Timer.target:${p}-handler-delayed`,
    `Timer.delayedSend:${p}-handler-delayed`,
  ];
  for (const name of once) assert.equal(c[name], 1, `${name} ran ${c[name]} times`);
  for (const tag of [`${p}-ingress-delayed`, `${p}-handler-delayed`]) {
    const [ran] = await services.times(`Timer.target:${tag}`);
    assert.ok(ran - t0 >= ms - 50, `${tag} ran ${ran - t0} ms after it was sent, before its ${ms} ms delay`);
  }
  for (const tag of [`${p}-sleep`, `${p}-call`]) {
    const [b] = await services.times(`Timer.before:${tag}`);
    const [w] = await services.times(`Timer.woke:${tag}`);
    assert.ok(w - b >= ms, `${tag} woke ${w - b} ms after the sleep started`);
  }
}

env.test("SIGKILL with sleeps, an awakeable, a pending call and delayed sends: each completes once after restart", async () => {
  const ms = 4000;
  const pending = await startPending("k1", ms);
  await env.server.kill();
  await env.server.start();
  await checkCompleted("k1", ms, pending);
}, { timeout: 60_000 });

env.test("timers that fall due while the server is down fire after the restart, once", async () => {
  const ms = 1500;
  const pending = await startPending("k2", ms);
  await env.server.kill();
  await sleep(ms + 1000);
  await env.server.start();
  await checkCompleted("k2", ms, pending);
}, { timeout: 60_000 });

env.test("deployment SIGKILLed mid-sleep and restarted on the same port: completes, ctx.run not re-executed", async () => {
  const { server } = env;
  const old = env.services;
  const id = await send(server, "/Timer/sleep", { tag: "dk", ms: 3000 });
  await old.waitCount("Timer.before:dk", 1);
  const oldCounts = await old.counts();
  old.child.kill("SIGKILL");
  assert.ok(await waitExit(old.child, 5000), "the services process did not die");
  await sleep(1000);
  const fresh = new Services(env.dir, { script: "services4.mjs", args: ["--port", String(old.port)], logName: "services-restarted.log" });
  await fresh.start();
  env.services = fresh; // closed and shown in diagnostics from now on
  assert.equal(fresh.port, old.port);
  const o = await waitOutput(server, id, 30_000);
  assert.equal(o.status, 200, o.text);
  assert.equal(o.text, '"slept 3000"');
  const c = await fresh.counts();
  assert.equal(oldCounts["Timer.before:dk"], 1);
  assert.equal(oldCounts["Timer.after:dk"], undefined);
  assert.equal(c["Timer.before:dk"], undefined, "the journaled ctx.run must not run again");
  assert.equal(c["Timer.after:dk"], 1);
  assert.ok(c["Timer.attempt:dk"] >= 1);
  // The new process serves new invocations too.
  await waitUntil(async () => (await server.call("/Chain/c", "after-restart", { timeout: 5000 })).status === 200, {
    timeout: 10_000,
    what: "a new call to the restarted deployment",
  });
}, { timeout: 60_000 });
