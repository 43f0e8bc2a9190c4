// Keyed state across a crash (keyed_services.mjs): the server is SIGKILLed while an exclusive
// handler holds a key's lock with sends queued in that key's inbox and a workflow waits on its
// promise. After a restart on the same base dir the committed state is intact, the lock holder
// is re-invoked from its journal, the inbox runs in arrival order with nothing lost, idempotency
// keys still deduplicate, and the workflow completes once its promise is resolved.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, waitUntil } from "./harness.mjs";

const env = new Env("objects-crash", { servicesScript: "keyed_services.mjs" });
before(() => env.start());
after(() => env.close());

const NOT_READY = { code: 470, message: "the invocation exists but has not completed yet", source: "ingress" };

env.test("SIGKILL with a held lock, a full inbox and a waiting workflow; restart; nothing lost", async () => {
  const { server, services } = env;
  const add = await server.call("/Counter/persist/add", 5);
  assert.equal(add.json, 5);
  await server.call("/State/persist/putMany", { entries: { a: "x", b: [1, 2] } });

  const hold = await server.call("/Counter/crash/hold/send", { tag: "crash1", value: 100 });
  const holdId = hold.json.invocationId;
  await services.waitCount("Counter.blocked:crash1", 1);
  const queued = [];
  for (let i = 0; i < 5; i++) queued.push((await server.call("/Counter/crash/append/send", i)).json.invocationId);
  const idem = await server.call("/Counter/crash/add/send", 1, { headers: { "idempotency-key": "crash-add" } });
  assert.equal(idem.json.status, "Accepted");
  const wf = await server.call("/Signup/crashwf/run/send", { n: 1 });
  const wfId = wf.json.invocationId;
  await services.waitCount("Signup.journaled:crashwf", 1);

  await server.kill();
  await server.start();

  // Committed state of finished invocations.
  assert.equal((await server.call("/Counter/persist/get")).json, 5);
  assert.deepEqual((await server.call("/State/persist/keys")).json, ["a", "b"]);
  assert.deepEqual((await server.call("/State/persist/get", "b")).json, { value: [1, 2] });

  // The lock holder runs again from its journal (the blocked ctx.run had no result yet) and still
  // holds the lock; the state it journaled before the crash is there.
  await services.waitCount("Counter.blocked:crash1", 2, 20_000);
  const d = await server.call("/Counter/crash/dump", undefined, { timeout: 5000 });
  assert.deepEqual(d.json, { keys: ["count", "held"], count: 100, list: null, held: "crash1" });
  assert.equal(await services.count("Counter.append:crash"), 0, "the inbox ran while the lock was held");
  for (const id of [holdId, ...queued]) {
    const o = await server.ingress("GET", `/restate/invocation/${id}/output`);
    assert.equal(o.status, 470, `${id}: ${o.text}`);
    assert.deepEqual(o.json, NOT_READY);
  }
  const idem2 = await server.call("/Counter/crash/add/send", 1, { headers: { "idempotency-key": "crash-add" } });
  assert.deepEqual(idem2.json, { invocationId: idem.json.invocationId, status: "PreviouslyAccepted" });
  const wf2 = await server.call("/Signup/crashwf/run/send", { n: 2 });
  assert.deepEqual(wf2.json, { invocationId: wfId, status: "PreviouslyAccepted" });
  assert.equal((await server.call("/Signup/crashwf/status")).json, "waiting");

  await services.release("crash1");
  const a = await server.ingress("GET", `/restate/invocation/${holdId}/attach`, { timeout: 15_000 });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.text, '"crash1"');
  const ev = await waitUntil(
    async () => {
      const e = await services.events("Counter.append:crash");
      return e.length >= 5 ? e : false;
    },
    { timeout: 15_000, what: "the 5 queued appends" },
  );
  assert.deepEqual(ev, [0, 1, 2, 3, 4], "inbox order after the restart");
  for (const [i, id] of queued.entries()) {
    const r = await server.ingress("GET", `/restate/invocation/${id}/attach`, { timeout: 10_000 });
    assert.equal(r.status, 200);
    assert.equal(r.json, i + 1);
  }
  const ia = await server.ingress("GET", "/restate/invocation/Counter/crash/add/crash-add/attach", { timeout: 10_000 });
  assert.equal(ia.status, 200);
  assert.equal(ia.json, 101);
  assert.deepEqual((await server.call("/Counter/crash/dump")).json, { keys: ["count", "list"], count: 101, list: [0, 1, 2, 3, 4], held: null });
  const c = await services.counts();
  assert.equal(c["Counter.append:crash"], 5);
  assert.equal(c["Counter.add:crash"], 1);
  assert.equal(c["Counter.hold:crash"], 2, "one attempt before the crash, one after");

  // The workflow resumes on its promise; the closure it journaled before the crash is not re-run.
  assert.equal((await server.call("/Signup/crashwf/approve", "after-crash")).status, 200);
  const w = await server.ingress("GET", "/restate/workflow/Signup/crashwf/attach", { timeout: 15_000 });
  assert.equal(w.status, 200, w.text);
  assert.equal(w.headers["x-restate-id"], wfId);
  assert.deepEqual(w.json, { key: "crashwf", input: { n: 1 }, approval: "after-crash" });
  assert.equal(await services.count("Signup.waiting:crashwf"), 1, "the journaled ctx.run ran again");
}, { timeout: 55_000 });
