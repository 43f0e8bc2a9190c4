// A backlog bigger than what the invoker holds in memory: 300 concurrent sends (the kind of
// burst users send) against a server whose invoker may hold 16 invocations and run 4 at once
// (worker.invoker.in-memory-queue-length-limit / concurrent-invocations-limit). Every send is
// answered 202 (never 429: the bounded resources are not the ingress's), and every accepted send
// runs exactly once, including those that waited in the partition store for the invoker to take
// them. Then a burst of sleeps: deferred invocations suspend and resume like the others. On Stet
// the metrics show the overflow path was used and the invoker never held more than its limit.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { IS_RESTATE, request, waitUntil } from "./harness.mjs";
import { env4 } from "./lib4.mjs";

const env = env4("backlog", {
  serverEnv: {
    RESTATE_WORKER__INVOKER__IN_MEMORY_QUEUE_LENGTH_LIMIT: "16",
    RESTATE_WORKER__INVOKER__CONCURRENT_INVOCATIONS_LIMIT: "4",
  },
});
before(() => env.start());
after(() => env.close());

async function metric(name) {
  const r = await request(`http://127.0.0.1:${env.server.nodePort}/metrics`, { timeout: 5000 });
  assert.equal(r.status, 200);
  const m = r.text.match(new RegExp(`^${name} ([0-9.e+]+)$`, "m"));
  return m ? Number(m[1]) : NaN;
}

/** Sends n POSTs /{path}/send at once; returns the statuses. */
async function burst(path, n, body) {
  return Promise.all(
    Array.from({ length: n }, (_, i) => env.server.call(`${path}/send`, body(i)).then((r) => r.status)),
  );
}

env.test("300 concurrent sends are all accepted and each runs exactly once", async () => {
  const N = 300;
  const statuses = await burst("/Timer/target", N, (i) => `b${i}`);
  assert.deepEqual(statuses.filter((s) => s !== 202), [], "every send is accepted");
  const counts = await waitUntil(
    async () => {
      const c = await env.services.counts();
      let done = 0;
      for (let i = 0; i < N; i++) done += c[`Timer.target:b${i}`] ? 1 : 0;
      return done === N ? c : false;
    },
    { timeout: 60_000, interval: 200, what: "all 300 sends executed" },
  );
  for (let i = 0; i < N; i++) assert.equal(counts[`Timer.target:b${i}`], 1, `send b${i} ran once`);
  if (!IS_RESTATE) {
    const deferred = await metric("stet_invoker_deferred_total");
    assert.ok(deferred > 0, `the backlog went through the store (deferred=${deferred})`);
    assert.equal(await metric("stet_invoker_picked_up_total"), deferred);
    assert.equal(await metric("stet_ingress_overloaded_total"), 0);
    await waitUntil(async () => (await metric("stet_invoker_open_tasks")) === 0, { what: "no task left" });
  }
}, { timeout: 90_000 });

env.test("deferred invocations that sleep suspend and resume exactly once", async () => {
  const N = 60;
  const statuses = await burst("/Timer/sleep", N, (i) => ({ tag: `s${i}`, ms: 300 }));
  assert.deepEqual(statuses.filter((s) => s !== 202), []);
  await waitUntil(
    async () => {
      const c = await env.services.counts();
      let done = 0;
      for (let i = 0; i < N; i++) done += c[`Timer.after:s${i}`] ? 1 : 0;
      return done === N;
    },
    { timeout: 60_000, interval: 200, what: "all sleeps done" },
  );
  const c = await env.services.counts();
  for (let i = 0; i < N; i++) {
    assert.equal(c[`Timer.before:s${i}`], 1, `s${i}: the run before the sleep ran once`);
    assert.equal(c[`Timer.after:s${i}`], 1, `s${i}: the run after the sleep ran once`);
  }
}, { timeout: 90_000 });
