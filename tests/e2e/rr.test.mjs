// HTTP/1.1 request/response deployments (service-protocol.md §1.5): services4.mjs served by the
// SDK's http1Handler() (REQUEST_RESPONSE) and registered with "use_http_11": true. Every await the
// journal cannot satisfy ends the attempt with a suspension, and the invocation goes on over a new
// request; the attempt counts below are what restate-server 1.7.12 produces, counted in the
// services process.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { DEPLOYMENT_ID_RE, sleep } from "./harness.mjs";
import { env4, send, waitNote } from "./lib4.mjs";

const env = env4("rr", { args: ["--http1"], registerBody: { use_http_11: true } });
before(() => env.start());
after(() => env.close());

// Calls give up well before the test's own 30 s limit, so a hang shows up as a clear failure.
const CALL = { timeout: 15_000 };

env.test("the deployment is listed as RequestResponse over HTTP/1.1", async () => {
  const { server } = env;
  assert.match(env.deployment.id, DEPLOYMENT_ID_RE);
  const r = await server.admin("GET", "/deployments");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.deployments.length, 1);
  const d = r.json.deployments[0];
  assert.equal(d.id, env.deployment.id);
  assert.equal(d.uri, `${env.services.uri}/`);
  assert.equal(d.protocol_type, "RequestResponse");
  assert.equal(d.http_version, "HTTP/1.1");
  const one = await server.admin("GET", `/deployments/${env.deployment.id}`);
  assert.equal(one.status, 200, one.text);
  assert.equal(one.json.protocol_type, "RequestResponse");
  assert.equal(one.json.http_version, "HTTP/1.1");
});

env.test("three ctx.runs: four attempts, each closure ran once", async () => {
  const r = await env.server.call("/Steps/run", { tag: "runs", n: 3 }, CALL);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '"r0,r1,r2"');
  const c = await env.services.counts();
  assert.equal(c["Steps.attempt:runs"], 4, "every run result is awaited: one new request per run");
  for (let i = 0; i < 3; i++) assert.equal(c[`Steps.run${i}:runs`], 1, `run ${i}`);
});

env.test("run, sleep, run: four attempts; the sleep lasted its duration", async () => {
  const { server, services } = env;
  const r = await server.call("/Timer/sleep", { tag: "sleep", ms: 500 }, CALL);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '"slept 500"');
  const c = await services.counts();
  assert.equal(c["Timer.attempt:sleep"], 4);
  assert.equal(c["Timer.before:sleep"], 1);
  assert.equal(c["Timer.after:sleep"], 1);
  const [b] = await services.times("Timer.before:sleep");
  const [w] = await services.times("Timer.woke:sleep");
  assert.ok(w - b >= 500, `woke after ${w - b} ms`);
});

env.test("call chain a -> b -> c: the callers suspend on the call and resume with its result", async () => {
  const r = await env.server.call("/Chain/a", "rr-chain", CALL);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '"a(b(c(rr-chain)))"');
  const c = await env.services.counts();
  assert.equal(c["Chain.a:rr-chain"], 2);
  assert.equal(c["Chain.b:rr-chain"], 2);
  assert.equal(c["Chain.c:rr-chain"], 1);
});

env.test("awakeable: suspends, resolved through the ingress, the run after it is one more round trip", async () => {
  const { server, services } = env;
  const id = await send(server, "/Waiter/awake", "rr-awk");
  const awk = await waitNote(services, "Waiter.awake:rr-awk");
  await sleep(300);
  assert.equal(await services.count("Waiter.attempt:rr-awk"), 1);
  const r = await server.ingress("POST", `/restate/a/${awk}/resolve`, { json: "over http/1.1" });
  assert.equal(r.status, 202, r.text);
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`, { timeout: 15_000 });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.text, '"over http/1.1"');
  const c = await services.counts();
  assert.equal(c["Waiter.attempt:rr-awk"], 3);
  assert.equal(c["Waiter.done:rr-awk"], 1);
});

env.test("fan-out to objects and a delayed send work in request/response mode", async () => {
  const { server, services } = env;
  const r = await server.call("/Chain/fanout", { tag: "rr-fan", keys: ["rr-a", "rr-b", "rr-c", "rr-d"] }, CALL);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, "4");
  const c = await services.counts();
  assert.ok(c["Chain.fanout:rr-fan"] >= 2, `fanout attempts ${c["Chain.fanout:rr-fan"]}`);
  for (const k of ["rr-a", "rr-b", "rr-c", "rr-d"]) assert.equal(c[`Lock.add:${k}`], 1, k);

  const d = await server.call("/Timer/delayedSend", { tag: "rr-delayed", delayMs: 300 }, CALL);
  assert.equal(d.status, 200, d.text);
  await services.waitCount("Timer.target:rr-delayed", 1, 10_000);
  await sleep(300);
  assert.equal(await services.count("Timer.target:rr-delayed"), 1);
});
