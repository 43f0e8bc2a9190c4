// Crash recovery: the server is SIGKILLed while an invocation is blocked inside its second ctx.run;
// after a restart on the same base dir the invocation is re-driven from its journal and completes,
// and the first ctx.run closure is not executed again.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, INVOCATION_ID_RE } from "./harness.mjs";

const env = new Env("crash");
before(() => env.start());
after(() => env.close());

const NOT_READY = { code: 470, message: "the invocation exists but has not completed yet", source: "ingress" };

env.test("SIGKILL mid-invocation, restart, the invocation completes; ctx.run not re-executed", async () => {
  const { server, services } = env;
  const sent = await server.call("/Slow/run/send", "k1");
  assert.equal(sent.status, 202);
  const id = sent.json.invocationId;
  assert.match(id, INVOCATION_ID_RE);

  // Blocked in step2 means step1's result was journaled (the SDK waits for its completion).
  await services.waitCount("Slow.step2:k1", 1);
  const o1 = await server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o1.status, 470);
  assert.deepEqual(o1.json, NOT_READY);
  assert.equal(o1.headers["x-restate-error-source"], "ingress");

  await server.kill();
  await server.start();

  // The restarted server re-invokes on its own: step1 is replayed, step2 runs again.
  await services.waitCount("Slow.step2:k1", 2, 20_000);
  const o2 = await server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o2.status, 470);
  assert.deepEqual(o2.json, NOT_READY);

  await services.release("k1");
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`, { timeout: 20_000 });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.text, '"step1-k1 step2-k1"');
  assert.equal(a.headers["x-restate-id"], id);
  assert.equal(a.headers["content-type"], "application/json");

  const c = await services.counts();
  assert.equal(c["Slow.step1:k1"], 1, "step1's closure must run exactly once");
  assert.equal(c["Slow.step2:k1"], 2, "step2 had no journaled result at the crash, so it ran again");
  assert.equal(c["Slow.attempt:k1"], 2);
}, { timeout: 50_000 });

env.test("after the crash: registration survived, new calls work, completed output retrievable", async () => {
  const { server } = env;
  const d = await server.admin("GET", "/deployments");
  assert.equal(d.status, 200);
  assert.equal(d.json.deployments.length, 1);
  assert.equal(d.json.deployments[0].id, env.deployment.id);

  const r = await server.call("/Greeter/greet", "after-crash");
  assert.equal(r.status, 200);
  assert.equal(r.text, '"Hello after-crash"');

  // Crash again right after a completed call: its completion must survive too.
  const id = r.headers["x-restate-id"];
  await server.kill();
  await server.start();
  const o = await server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o.status, 200, o.text);
  assert.equal(o.text, '"Hello after-crash"');
}, { timeout: 50_000 });
