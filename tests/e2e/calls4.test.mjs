// Service-to-service calls and one-way sends through the server: a call chain three deep, a
// terminal error travelling up the chain (and caught half-way), the callee's invocation id handed
// to the caller (and usable with /restate/invocation/{id}/output), a one-way send from a handler,
// and a fan-out to virtual objects on many keys (so across partitions), twice, with the state
// checked afterwards. Executions are counted in the services process.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { INVOCATION_ID_RE } from "./harness.mjs";
import { env4, waitOutput } from "./lib4.mjs";

const env = env4("calls4");
before(() => env.start());
after(() => env.close());

env.test("call chain a -> b -> c: composed result, each handler ran once", async () => {
  const r = await env.server.call("/Chain/a", "deep");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '"a(b(c(deep)))"');
  assert.equal(r.headers["content-type"], "application/json");
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  const c = await env.services.counts();
  assert.equal(c["Chain.a:deep"], 1);
  assert.equal(c["Chain.b:deep"], 1);
  assert.equal(c["Chain.c:deep"], 1);
});

env.test("a terminal error three calls down reaches the ingress caller with its code", async () => {
  const r = await env.server.call("/Chain/a", "fail-up");
  assert.equal(r.status, 418, r.text);
  assert.deepEqual(r.json, { code: 418, message: "c failed for fail-up", source: "invocation" });
  assert.equal(r.headers["x-restate-error-source"], "invocation");
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  const c = await env.services.counts();
  assert.equal(c["Chain.a:fail-up"], 1);
  assert.equal(c["Chain.b:fail-up"], 1);
  assert.equal(c["Chain.c:fail-up"], 1, "a terminal error is not retried");
});

env.test("a caller can catch the terminal error of a call (code and message preserved)", async () => {
  const r = await env.server.call("/Chain/catchDeep", "fail-caught");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '"caught 418 c failed for fail-caught"');
  const c = await env.services.counts();
  assert.equal(c["Chain.b:fail-caught"], 1);
  assert.equal(c["Chain.c:fail-caught"], 1);
});

env.test("the callee's invocation id reaches the caller; its output is retrievable by id", async () => {
  const { server } = env;
  const r = await server.call("/Chain/callWithId", "with-id");
  assert.equal(r.status, 200, r.text);
  assert.match(r.json.id, INVOCATION_ID_RE);
  assert.notEqual(r.json.id, r.headers["x-restate-id"]);
  assert.equal(r.json.result, "c(with-id)");
  const o = await server.ingress("GET", `/restate/invocation/${r.json.id}/output`);
  assert.equal(o.status, 200, o.text);
  assert.equal(o.text, '"c(with-id)"');
  assert.equal(o.headers["x-restate-id"], r.json.id);
  assert.equal(await env.services.count("Chain.c:with-id"), 1);
});

env.test("one-way send from a handler: the caller does not wait, the callee runs once", async () => {
  const { server, services } = env;
  const r = await server.call("/Chain/sendC", "one-way");
  assert.equal(r.status, 200, r.text);
  const id = r.json;
  assert.match(id, INVOCATION_ID_RE);
  const o = await waitOutput(server, id);
  assert.equal(o.status, 200, o.text);
  assert.equal(o.text, '"c(one-way)"');
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`);
  assert.equal(a.status, 200, a.text);
  assert.equal(a.text, '"c(one-way)"');
  assert.equal(await services.count("Chain.sendC:one-way"), 1);
  assert.equal(await services.count("Chain.c:one-way"), 1);
});

env.test("fan-out to 16 object keys (many partitions), twice: every call delivered exactly once", async () => {
  const { server, services } = env;
  const keys = Array.from({ length: 16 }, (_, i) => `fan-${i}`);
  const r1 = await server.call("/Chain/fanout", { tag: "fan1", keys });
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.text, "16");
  const r2 = await server.call("/Chain/fanout", { tag: "fan2", keys });
  assert.equal(r2.status, 200, r2.text);
  assert.equal(r2.text, "32");
  const c = await services.counts();
  for (const k of keys) assert.equal(c[`Lock.add:${k}`], 2, `key ${k}`);
  for (const k of keys.slice(0, 3)) {
    const g = await server.call(`/Lock/${k}/get`);
    assert.equal(g.status, 200, g.text);
    assert.equal(g.text, "2");
  }
});

env.test("a call into a busy object key waits for the lock, then runs", async () => {
  const { server, services } = env;
  // Lock/busy is held by a 1.5 s sleep; Chain.fanout's add on the same key queues behind it.
  const hold = await server.call("/Lock/busy/hold/send", { tag: "busy", ms: 1500 });
  assert.equal(hold.status, 202, hold.text);
  await services.waitCount("Lock.hold:busy", 1);
  const t0 = Date.now();
  const r = await server.call("/Chain/fanout", { tag: "fan-busy", keys: ["busy"] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, "1");
  const a = await server.ingress("GET", `/restate/invocation/${hold.json.invocationId}/output`);
  assert.equal(a.status, 200, a.text);
  assert.equal(a.text, '"held busy"');
  assert.ok(Date.now() - t0 >= 900, "the call must have waited for the lock holder");
});
