// Virtual objects (keyed_services.mjs): exclusive handlers run one at a time per key in arrival
// order, shared handlers never wait for the lock, calls from one caller keep program order, and
// state (eager and lazy) round-trips. Executions, their order and the per-key concurrency are
// recorded in the services process.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, INVOCATION_ID_RE, sleep, waitUntil } from "./harness.mjs";

const env = new Env("objects", { servicesScript: "keyed_services.mjs" });
before(() => env.start());
after(() => env.close());

const NOT_READY = { code: 470, message: "the invocation exists but has not completed yet", source: "ingress" };

function prefixSums(values) {
  let sum = 0;
  return values.map((v) => (sum += v));
}

async function waitEvents(name, n, timeout = 15_000) {
  return waitUntil(
    async () => {
      const ev = await env.services.events(name);
      return ev.length >= n ? ev : false;
    },
    { timeout, what: `${n} events in ${name}` },
  );
}

env.test("30 concurrent read-modify-write calls on one key: exact sum, never interleaved", async () => {
  const { server, services } = env;
  const values = Array.from({ length: 30 }, (_, i) => i + 1);
  const rs = await Promise.all(values.map((v) => server.call("/Counter/rmw/add", v)));
  for (const r of rs) {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers["content-type"], "application/json");
    assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  }
  assert.equal(new Set(rs.map((r) => r.headers["x-restate-id"])).size, 30, "30 distinct invocations");
  // Each answer is the count right after that add: in execution order they are the prefix sums.
  const executed = await services.events("Counter.add:rmw");
  assert.deepEqual([...executed].sort((a, b) => a - b), values, "every add executed exactly once");
  assert.deepEqual(rs.map((r) => r.json).sort((a, b) => a - b), prefixSums(executed));
  const c = await services.counts();
  assert.equal(c["Counter.add:rmw"], 30, "30 executions, no retries");
  assert.equal(c["Counter.maxInflight:rmw"], 1, "two exclusive handlers ran at the same time on one key");
  const g = await server.call("/Counter/rmw/get");
  assert.equal(g.status, 200);
  assert.equal(g.json, 465);
});

env.test("100 keys in parallel: each key its own state, one execution per call", async () => {
  const { server, services } = env;
  const keys = Array.from({ length: 100 }, (_, i) => `p${i}`);
  const rs = await Promise.all(keys.map((k, i) => server.call(`/Counter/${k}/add`, i + 1)));
  rs.forEach((r, i) => {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json, i + 1);
  });
  const again = await Promise.all(keys.map((k) => server.call(`/Counter/${k}/add`, 1000)));
  again.forEach((r, i) => assert.equal(r.json, i + 1001));
  const gets = await Promise.all(keys.map((k) => server.call(`/Counter/${k}/get`)));
  gets.forEach((r, i) => assert.equal(r.json, i + 1001));
  const c = await services.counts();
  for (const k of keys) {
    assert.equal(c[`Counter.add:${k}`], 2, `executions on ${k}`);
    assert.equal(c[`Counter.maxInflight:${k}`], 1, `concurrency on ${k}`);
  }
});

env.test("held lock: shared handlers run, exclusive calls wait in the inbox, other keys are free", async () => {
  const { server, services } = env;
  const h = await server.call("/Counter/lock/hold/send", { tag: "lock1", value: 7 });
  assert.equal(h.status, 202);
  const holdId = h.json.invocationId;
  await services.waitCount("Counter.blocked:lock1", 1);

  // Shared handlers do not wait for the lock. They see the state the running exclusive handler
  // has already journaled (Restate 1.7.12 applies SetState when the entry is journaled).
  const g = await server.call("/Counter/lock/get", undefined, { timeout: 5000 });
  assert.equal(g.status, 200);
  assert.equal(g.json, 7);
  const d = await server.call("/Counter/lock/dump", undefined, { timeout: 5000 });
  assert.equal(d.status, 200);
  assert.deepEqual(d.json, { keys: ["count", "held"], count: 7, list: null, held: "lock1" });

  // An exclusive call on the same key waits ...
  const queued = await server.call("/Counter/lock/add/send", 1);
  assert.equal(queued.status, 202);
  assert.deepEqual(queued.json, { invocationId: queued.headers["x-restate-id"], status: "Accepted" });
  const queuedId = queued.json.invocationId;
  const pendingCall = server.call("/Counter/lock/add", 10, { timeout: 20_000 });
  // ... while another key is not blocked at all.
  const other = await server.call("/Counter/lock-other/add", 3, { timeout: 5000 });
  assert.equal(other.status, 200);
  assert.equal(other.json, 3);
  await sleep(500);
  assert.equal(await services.count("Counter.add:lock"), 0, "an exclusive handler ran while the key was locked");
  const o = await server.ingress("GET", `/restate/invocation/${queuedId}/output`);
  assert.equal(o.status, 470);
  assert.deepEqual(o.json, NOT_READY);
  const oh = await server.ingress("GET", `/restate/invocation/${holdId}/output`);
  assert.equal(oh.status, 470);

  await services.release("lock1");
  const a = await server.ingress("GET", `/restate/invocation/${holdId}/attach`, { timeout: 10_000 });
  assert.equal(a.status, 200);
  assert.equal(a.text, '"lock1"');
  const qa = await server.ingress("GET", `/restate/invocation/${queuedId}/attach`, { timeout: 10_000 });
  assert.equal(qa.status, 200);
  assert.equal(qa.json, 8, "the queued add ran after the hold, on its state");
  const p = await pendingCall;
  assert.equal(p.status, 200);
  assert.equal(p.json, 18);
  assert.deepEqual(await services.events("Counter.add:lock"), [1, 10], "inbox order = arrival order");
  assert.equal(await services.count("Counter.maxInflight:lock"), 1);
  const after_ = await server.call("/Counter/lock/dump");
  assert.deepEqual(after_.json, { keys: ["count"], count: 18, list: null, held: null });
});

env.test("inbox: 20 sends queued behind a held lock execute in arrival order", async () => {
  const { server, services } = env;
  const h = await server.call("/Counter/order/hold/send", { tag: "order1" });
  assert.equal(h.status, 202);
  await services.waitCount("Counter.blocked:order1", 1);
  for (let i = 0; i < 20; i++) {
    const r = await server.call("/Counter/order/append/send", i);
    assert.equal(r.status, 202);
  }
  await sleep(300);
  assert.equal(await services.count("Counter.append:order"), 0);
  await services.release("order1");
  const ev = await waitEvents("Counter.append:order", 20);
  const expected = Array.from({ length: 20 }, (_, i) => i);
  assert.deepEqual(ev, expected);
  const l = await server.call("/Counter/order/list");
  assert.deepEqual(l.json, expected);
  assert.equal(await services.count("Counter.maxInflight:order"), 1);
});

for (const mode of ["send", "calls", "mixed"]) {
  env.test(`one caller, one key: 20 ${mode} keep program order`, async () => {
    const { server, services } = env;
    const key = `prog-${mode}`;
    const r = await server.call("/Caller/sequence", { key, n: 20, mode }, { timeout: 20_000 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json, 20);
    const ev = await waitEvents(`Counter.append:${key}`, 20);
    const expected = Array.from({ length: 20 }, (_, i) => i);
    assert.deepEqual(ev, expected);
    const l = await server.call(`/Counter/${encodeURIComponent(key)}/list`);
    assert.deepEqual(l.json, expected);
    const c = await services.counts();
    assert.equal(c[`Caller.sequence:${key}`], 1);
    assert.equal(c[`Counter.append:${key}`], 20);
    assert.equal(c[`Counter.maxInflight:${key}`], 1);
  });
}

for (const svc of ["State", "LazyState"]) {
  env.test(`${svc}: set, get, keys, clear, clear-all across invocations`, async () => {
    const s = env.server;
    const base = `/${svc}/st`;
    const ok = async (p, v) => {
      const r = await s.call(p, v);
      assert.equal(r.status, 200, `${p}: ${r.text}`);
      return r;
    };
    await ok(`${base}/put`, { name: "a", value: 1 });
    await ok(`${base}/put`, { name: "b", value: { x: [1, "two", null], y: "ü😀" } });
    await ok(`${base}/putMany`, { entries: { c: true, "with space": "s", "": "empty name" } });
    assert.deepEqual((await ok(`${base}/get`, "a")).json, { value: 1 });
    assert.deepEqual((await ok(`${base}/get`, "b")).json, { value: { x: [1, "two", null], y: "ü😀" } });
    assert.deepEqual((await ok(`${base}/get`, "")).json, { value: "empty name" });
    assert.deepEqual((await ok(`${base}/get`, "missing")).json, { value: null });
    assert.deepEqual((await ok(`${base}/keys`)).json, ["", "a", "b", "c", "with space"]);
    // Another key of the same object type sees nothing of it.
    assert.deepEqual((await ok(`/${svc}/st-other/keys`)).json, []);
    assert.deepEqual((await ok(`/${svc}/st-other/get`, "a")).json, { value: null });

    await ok(`${base}/clear`, "a");
    assert.deepEqual((await ok(`${base}/get`, "a")).json, { value: null });
    assert.deepEqual((await ok(`${base}/keys`)).json, ["", "b", "c", "with space"]);
    await ok(`${base}/clear`, "never-set");
    await ok(`${base}/clearAll`);
    assert.deepEqual((await ok(`${base}/keys`)).json, []);
    assert.deepEqual((await ok(`${base}/get`, "b")).json, { value: null });
    // set-if-absent reads the state first (from the eager map or lazily).
    assert.deepEqual((await ok(`${base}/setIfAbsent`, { name: "b", value: 2 })).json, { set: true, value: 2 });
    assert.deepEqual((await ok(`${base}/setIfAbsent`, { name: "b", value: 3 })).json, { set: false, value: 2 });
    assert.equal(await env.services.count(`${svc}.put:st`), 2);
  });

  env.test(`${svc}: one invocation reads its own writes; the result is committed`, async () => {
    const s = env.server;
    await s.call(`/${svc}/rw/put`, { name: "other", value: "o" });
    const r = await s.call(`/${svc}/rw/script`, { name: "s" });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { before: null, afterSet: "one", afterClear: null, keys: ["other", "s"] });
    assert.deepEqual((await s.call(`/${svc}/rw/get`, "s")).json, { value: "two" });
    const again = await s.call(`/${svc}/rw/script`, { name: "s" });
    assert.deepEqual(again.json, { before: "two", afterSet: "one", afterClear: null, keys: ["other", "s"] });
  });

  env.test(`${svc}: binary values and a 512 KiB value round-trip`, async () => {
    const s = env.server;
    const bytes = Buffer.from([...Array.from({ length: 256 }, (_, i) => i), 0, 0, 0xff, 0xc3, 0x28]);
    const p = await s.ingress("POST", `/${svc}/bin/putBin`, { headers: { "content-type": "application/octet-stream" }, body: bytes });
    assert.equal(p.status, 200, p.text);
    const g = await s.ingress("POST", `/${svc}/bin/getBin`);
    assert.equal(g.status, 200);
    assert.equal(g.headers["content-type"], "application/octet-stream");
    assert.deepEqual([...g.body], [...bytes]);

    const big = "x".repeat(512 * 1024 - 7) + "ü😀end";
    const pb = await s.call(`/${svc}/big/put`, { name: "big", value: big });
    assert.equal(pb.status, 200, pb.text);
    const gb = await s.call(`/${svc}/big/get`, "big");
    assert.equal(gb.status, 200);
    assert.equal(gb.json.value, big);
  });
}

env.test("a terminal failure releases the lock; state it journaled before failing stays", async () => {
  const { server, services } = env;
  const h = await server.call("/Counter/boom/hold/send", { tag: "boom1", value: 1 });
  await services.waitCount("Counter.blocked:boom1", 1);
  const b = await server.call("/Counter/boom/boom/send", 50);
  const a = await server.call("/Counter/boom/add/send", 2);
  await services.release("boom1");
  const ba = await server.ingress("GET", `/restate/invocation/${b.json.invocationId}/attach`, { timeout: 10_000 });
  assert.equal(ba.status, 409);
  assert.equal(ba.headers["x-restate-error-source"], "invocation");
  assert.deepEqual(ba.json, { code: 409, message: "boom on boom", source: "invocation" });
  const aa = await server.ingress("GET", `/restate/invocation/${a.json.invocationId}/attach`, { timeout: 10_000 });
  assert.equal(aa.status, 200);
  assert.equal(aa.json, 52, "the add after the failed handler saw the state it had journaled");
  assert.equal((await server.call("/Counter/boom/get")).json, 52);
  const ha = await server.ingress("GET", `/restate/invocation/${h.json.invocationId}/output`);
  assert.equal(ha.status, 200);
  const c = await services.counts();
  assert.equal(c["Counter.boom:boom"], 1, "terminal failures are not retried");
  assert.equal(c["Counter.maxInflight:boom"], 1);
});
