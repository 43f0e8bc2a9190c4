// Attach and output by invocation id (/restate/invocation/{id}/attach|output) for keyed
// invocations (keyed_services.mjs): attach waits for running, inboxed and delayed invocations,
// output answers 470 until the end, failures come back as stored, and completed results are
// retained the way Restate 1.7.12 retains them (every ingress invocation gets the service's
// idempotency retention, 1 day by default, 2 s for ShortIdem).
//
// The server runs with RESTATE_WORKER__CLEANUP_INTERVAL=1s: Restate 1.7.12 drops completed
// invocations whose retention has ended only when its cleaner runs (default every hour). Stet
// ignores the variable and may drop them exactly at the end of the retention.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, INVOCATION_ID_RE, sleep, waitUntil } from "./harness.mjs";

const env = new Env("attach", {
  servicesScript: "keyed_services.mjs",
  serverEnv: { RESTATE_WORKER__CLEANUP_INTERVAL: "1s" },
});
before(() => env.start());
after(() => env.close());

const EXPIRES_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/;
const NOT_READY = { code: 470, message: "the invocation exists but has not completed yet", source: "ingress" };
const NOT_FOUND_OUTPUT = { code: 404, message: "invocation not found", source: "ingress" };
const NOT_FOUND_ATTACH = { code: 404, message: "not found", source: "invocation" };
const DAY_MS = 24 * 3600_000;

function assertError(r, status, body, { id } = {}) {
  assert.equal(r.status, status, `status (body ${r.text})`);
  assert.equal(r.headers["content-type"], "application/json");
  assert.equal(r.headers["x-restate-error-source"], body.source);
  assert.deepEqual(r.json, body);
  if (id !== undefined) assert.equal(r.headers["x-restate-id"], id);
}

/** Starts a GET that is expected to block; .done tells whether it has answered yet. */
function pending(path, timeout = 20_000) {
  const p = { done: false };
  p.promise = env.server.ingress("GET", path, { timeout }).then((r) => {
    p.done = true;
    return r;
  });
  return p;
}

env.test("running and inboxed object invocations: output 470, attach waits, then both answer", async () => {
  const { server, services } = env;
  const h = await server.call("/Counter/att/hold/send", { tag: "att1", value: 40 });
  const holdId = h.json.invocationId;
  await services.waitCount("Counter.blocked:att1", 1);
  const q = await server.call("/Counter/att/add/send", 2);
  const queuedId = q.json.invocationId;
  assert.match(queuedId, INVOCATION_ID_RE);

  for (const id of [holdId, queuedId]) {
    const o = await server.ingress("GET", `/restate/invocation/${id}/output`);
    assertError(o, 470, NOT_READY);
    assert.equal(o.headers["x-restate-id"], undefined);
  }
  const attaches = [pending(`/restate/invocation/${holdId}/attach`), pending(`/restate/invocation/${holdId}/attach`), pending(`/restate/invocation/${queuedId}/attach`)];
  await sleep(500);
  assert.deepEqual(attaches.map((a) => a.done), [false, false, false], "attach answered before the invocation ended");

  await services.release("att1");
  const [a1, a2, a3] = await Promise.all(attaches.map((a) => a.promise));
  for (const a of [a1, a2]) {
    assert.equal(a.status, 200, a.text);
    assert.equal(a.text, '"att1"');
    assert.equal(a.headers["x-restate-id"], holdId);
    assert.equal(a.headers["content-type"], "application/json");
  }
  assert.equal(a3.status, 200, a3.text);
  assert.equal(a3.json, 42);
  assert.equal(a3.headers["x-restate-id"], queuedId);

  const o = await server.ingress("GET", `/restate/invocation/${queuedId}/output`);
  assert.equal(o.status, 200);
  assert.equal(o.json, 42);
  assert.equal(o.headers["x-restate-id"], queuedId);
  const left = Date.parse(o.headers["idempotency-expires"]) - Date.now();
  assert.match(o.headers["idempotency-expires"], EXPIRES_RE);
  assert.ok(left > DAY_MS - 3600_000 && left <= DAY_MS + 5000, `retained for 1 day, expires in ${left} ms`);
  const again = await server.ingress("GET", `/restate/invocation/${holdId}/attach`, { timeout: 5000 });
  assert.equal(again.status, 200);
  assert.equal(again.text, '"att1"');
  assert.match(again.headers["idempotency-expires"], EXPIRES_RE);
  assert.equal(await services.count("Counter.hold:att"), 1, "attach re-ran the handler");
  assert.equal(await services.count("Counter.add:att"), 1);
});

env.test("delayed send: output 470 until it ran, attach waits for the delay", async () => {
  const { server, services } = env;
  const s = await server.call("/Idem/work/send?delay=2s", "delayed");
  assert.equal(s.status, 202);
  const id = s.json.invocationId;
  assert.equal(s.json.status, "Accepted");
  assert.ok(typeof s.json.executionTime === "string", "executionTime in the send answer");
  assertError(await server.ingress("GET", `/restate/invocation/${id}/output`), 470, NOT_READY);
  const t0 = Date.now();
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`, { timeout: 15_000 });
  const waited = Date.now() - t0;
  assert.equal(a.status, 200, a.text);
  assert.equal(a.text, '"delayed #1"');
  assert.equal(a.headers["x-restate-id"], id);
  assert.ok(waited >= 1500, `attach answered after ${waited} ms, the delay is 2 s`);
  assert.equal(await services.count("Idem.work:delayed"), 1);
});

env.test("failed invocations: attach and output return the stored error", async () => {
  const { server, services } = env;
  const s = await server.call("/Idem/fail/send", "sent-fail");
  const id = s.json.invocationId;
  const failure = { code: 422, message: "idem failure sent-fail #1", source: "invocation" };
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`, { timeout: 10_000 });
  assertError(a, 422, failure, { id });
  const o = await server.ingress("GET", `/restate/invocation/${id}/output`);
  assertError(o, 422, failure, { id });
  assert.match(o.headers["idempotency-expires"], EXPIRES_RE);
  // Workflow run failures too.
  const r = await server.call("/Signup/att-fail/run", { fail: true });
  const wfFailure = { code: 422, message: "signup of att-fail failed", source: "invocation" };
  assertError(r, 422, wfFailure);
  assertError(await server.ingress("GET", `/restate/invocation/${r.headers["x-restate-id"]}/output`), 422, wfFailure);
  assertError(await server.ingress("GET", `/restate/invocation/${r.headers["x-restate-id"]}/attach`), 422, wfFailure);
  assert.equal(await services.count("Idem.fail:sent-fail"), 1);
});

env.test("outputs retained for every kind of ingress invocation, with the output's content-type", async () => {
  const { server } = env;
  const check = async (r, body, contentType) => {
    const id = r.headers["x-restate-id"] ?? r.json?.invocationId;
    assert.match(id, INVOCATION_ID_RE);
    const o = await waitUntil(
      async () => {
        const x = await server.ingress("GET", `/restate/invocation/${id}/output`);
        return x.status === 470 ? false : x;
      },
      { timeout: 10_000, what: `output of ${id}` },
    );
    assert.equal(o.status, 200, o.text);
    assert.equal(o.headers["x-restate-id"], id);
    assert.match(o.headers["idempotency-expires"], EXPIRES_RE);
    assert.equal(o.headers["content-type"], contentType);
    assert.deepEqual([...o.body], [...Buffer.from(body)]);
  };
  await check(await server.call("/Counter/ret/add", 2), "2", "application/json");
  await check(await server.call("/Counter/ret/get"), "2", "application/json");
  await check(await server.call("/Signup/ret/status"), "null", "application/json");
  await check(await server.call("/Counter/ret/add/send", 1), "3", "application/json");
  const put = await server.ingress("POST", "/State/ret/putBin", { headers: { "content-type": "application/octet-stream" }, body: Buffer.from([1, 2, 0xff]) });
  await check(put, "", undefined);
  await check(await server.ingress("POST", "/State/ret/getBin/send"), Buffer.from([1, 2, 0xff]), "application/octet-stream");
  await server.call("/Signup/ret/approve", true);
  await check(await server.call("/Signup/ret/run", {}), '{"key":"ret","input":{},"approval":true}', "application/json");
});

env.test("a plain call to a service with 2 s idempotency retention: output gone after it", async () => {
  const { server, services } = env;
  const r = await server.call("/ShortIdem/work", "plain");
  assert.equal(r.status, 200);
  const id = r.headers["x-restate-id"];
  const o = await server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o.status, 200);
  const left = Date.parse(o.headers["idempotency-expires"]) - Date.now();
  assert.ok(left > 0 && left <= 2500, `idempotencyRetention is 2 s, expires in ${left} ms`);
  await waitUntil(async () => (await server.ingress("GET", `/restate/invocation/${id}/output`)).status === 404, {
    timeout: 10_000,
    interval: 200,
    what: "the plain call's output to expire",
  });
  assertError(await server.ingress("GET", `/restate/invocation/${id}/output`), 404, NOT_FOUND_OUTPUT);
  assertError(await server.ingress("GET", `/restate/invocation/${id}/attach`), 404, NOT_FOUND_ATTACH, { id });
  assert.equal(await services.count("ShortIdem.work:plain"), 1);
});
