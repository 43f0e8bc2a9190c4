// Clean shutdown: SIGTERM makes the server exit by itself; after a restart on the same base dir
// completed invocations are still retrievable, the registration is still there and new calls
// work. Also covers an invocation that was in flight during the shutdown.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, INVOCATION_ID_RE } from "./harness.mjs";

const env = new Env("restart");
before(() => env.start());
after(() => env.close());

env.test("SIGTERM, restart: previous output retrievable, new calls work", async () => {
  const { server, services } = env;
  const r = await server.call("/Greeter/greet", "before");
  assert.equal(r.status, 200);
  const id = r.headers["x-restate-id"];
  assert.match(id, INVOCATION_ID_RE);
  const run = await server.call("/Runner/run", "before");
  assert.equal(run.status, 200);

  const stopped = await server.stop();
  assert.equal(stopped.forced, false, "server must exit on SIGTERM within 20 s");
  assert.equal(stopped.code, 0, `exit code after SIGTERM: ${JSON.stringify(stopped)}`);

  await server.start();
  const o = await server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o.status, 200, o.text);
  assert.equal(o.text, '"Hello before"');
  assert.equal(o.headers["content-type"], "application/json");
  assert.equal(o.headers["x-restate-id"], id);

  const a = await server.ingress("GET", `/restate/invocation/${run.headers["x-restate-id"]}/attach`);
  assert.equal(a.status, 200);
  assert.deepEqual(a.json, { a: "first-before", b: "first-before".length });

  const d = await server.admin("GET", "/deployments");
  assert.equal(d.json.deployments.length, 1);
  assert.equal(d.json.deployments[0].id, env.deployment.id);

  const n = await server.call("/Greeter/greet", "after");
  assert.equal(n.status, 200);
  assert.equal(n.text, '"Hello after"');
  assert.notEqual(n.headers["x-restate-id"], id);

  const c = await services.counts();
  assert.equal(c["Greeter.greet:before"], 1, "completed invocations are not re-run after a restart");
  assert.equal(c["Runner.first:before"], 1);
}, { timeout: 50_000 });

env.test("SIGTERM with an invocation in flight: it completes after the restart", async () => {
  const { server, services } = env;
  const sent = await server.call("/Slow/run/send", "t1");
  assert.equal(sent.status, 202);
  const id = sent.json.invocationId;
  await services.waitCount("Slow.step2:t1", 1);

  const stopped = await server.stop();
  assert.equal(stopped.forced, false, "server must exit on SIGTERM within 20 s");
  await server.start();

  await services.release("t1");
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`, { timeout: 20_000 });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.text, '"step1-t1 step2-t1"');
  assert.equal(await services.count("Slow.step1:t1"), 1);
}, { timeout: 50_000 });
