// Workflows (keyed_services.mjs Signup / ShortSignup): run executes once per key, repeated
// submissions get Restate 1.7.12's answers, shared handlers run beside run, durable promises
// (get, peek, resolve, reject, a second completion is rejected), /restate/workflow/.../attach and
// /output, and workflow retention. Executions are counted in the services process.
//
// The server runs with RESTATE_WORKER__CLEANUP_INTERVAL=1s: Restate 1.7.12 drops completed
// invocations whose retention has ended only when its cleaner runs (default every hour). Stet
// ignores the variable and may drop them exactly at the end of the retention.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, INVOCATION_ID_RE, sleep, waitUntil } from "./harness.mjs";

const env = new Env("workflows", {
  servicesScript: "keyed_services.mjs",
  serverEnv: { RESTATE_WORKER__CLEANUP_INTERVAL: "1s" },
});
before(() => env.start());
after(() => env.close());

const EXPIRES_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/;
const NOT_READY = { code: 470, message: "the invocation exists but has not completed yet", source: "ingress" };
const NOT_FOUND_OUTPUT = { code: 404, message: "invocation not found", source: "ingress" };
const NOT_FOUND_ATTACH = { code: 404, message: "not found", source: "invocation" };
const ALREADY_INVOKED = { code: 409, message: "the workflow method was already invoked", source: "invocation" };
const PROMISE_COMPLETED = { code: 409, message: "promise was already completed", source: "invocation" };

function assertError(r, status, body, { id } = {}) {
  assert.equal(r.status, status, `status (body ${r.text})`);
  assert.equal(r.headers["content-type"], "application/json");
  assert.equal(r.headers["x-restate-error-source"], body.source);
  assert.deepEqual(r.json, body);
  if (id !== undefined) assert.equal(r.headers["x-restate-id"], id);
}

function expiresInMs(r) {
  assert.match(r.headers["idempotency-expires"] ?? "", EXPIRES_RE);
  return Date.parse(r.headers["idempotency-expires"]) - Date.now();
}

env.test("run once per key: resubmission while running and after the end, shared handlers beside run", async () => {
  const { server, services } = env;
  const s1 = await server.call("/Signup/alice/run/send", { email: "a@x" });
  assert.equal(s1.status, 202);
  const id = s1.headers["x-restate-id"];
  assert.match(id, INVOCATION_ID_RE);
  assert.deepEqual(s1.json, { invocationId: id, status: "Accepted" });
  await services.waitCount("Signup.journaled:alice", 1);

  // While run waits on its promise: a second send is PreviouslyAccepted, a second call is 409.
  const s2 = await server.call("/Signup/alice/run/send", { email: "other" });
  assert.equal(s2.status, 202);
  assert.equal(s2.headers["x-restate-id"], id);
  assert.deepEqual(s2.json, { invocationId: id, status: "PreviouslyAccepted" });
  assertError(await server.call("/Signup/alice/run", { email: "other" }), 409, ALREADY_INVOKED, { id });
  const o = await server.ingress("GET", "/restate/workflow/Signup/alice/output");
  assertError(o, 470, NOT_READY);
  assert.equal(o.headers["x-restate-id"], undefined);

  // Shared handlers run beside run: state run has journaled, and the open promise.
  const st = await server.call("/Signup/alice/status", undefined, { timeout: 5000 });
  assert.equal(st.status, 200);
  assert.equal(st.json, "waiting");
  assert.notEqual(st.headers["x-restate-id"], id);
  const pk = await server.call("/Signup/alice/peek", undefined, { timeout: 5000 });
  assert.deepEqual(pk.json, { done: false });

  // attach blocks until run ends; a shared handler waiting on the promise too.
  let attached = null;
  const attach = server.ingress("GET", "/restate/workflow/Signup/alice/attach", { timeout: 20_000 }).then((r) => (attached = r));
  let waited = null;
  const wait = server.call("/Signup/alice/wait", undefined, { timeout: 20_000 }).then((r) => (waited = r));
  await services.waitCount("Signup.wait:alice", 1);
  await sleep(300);
  assert.equal(attached, null, "attach answered before run completed");
  assert.equal(waited, null, "promise get answered before the promise was resolved");

  const ap = await server.call("/Signup/alice/approve", "yes");
  assert.equal(ap.status, 200);
  assert.equal(ap.json, "approved");
  const done = { key: "alice", input: { email: "a@x" }, approval: "yes" };
  const a = await attach;
  assert.equal(a.status, 200, a.text);
  assert.equal(a.headers["x-restate-id"], id);
  assert.equal(a.headers["content-type"], "application/json");
  assert.deepEqual(a.json, done);
  const w = await wait;
  assert.equal(w.status, 200);
  assert.equal(w.json, "yes");

  // After the end: output and attach answer at once, from the stored completion.
  const o2 = await server.ingress("GET", "/restate/workflow/Signup/alice/output");
  assert.equal(o2.status, 200);
  assert.equal(o2.headers["x-restate-id"], id);
  assert.deepEqual(o2.json, done);
  const left = expiresInMs(o2);
  assert.ok(left > 23 * 3600_000 && left <= 24 * 3600_000 + 5000, `default workflow retention is 1 day, expires in ${left} ms`);
  const a2 = await server.ingress("GET", "/restate/workflow/Signup/alice/attach", { timeout: 5000 });
  assert.equal(a2.status, 200);
  assert.deepEqual(a2.json, done);
  assert.match(a2.headers["idempotency-expires"], EXPIRES_RE);

  const s3 = await server.call("/Signup/alice/run/send", { email: "late" });
  assert.deepEqual(s3.json, { invocationId: id, status: "PreviouslyAccepted" });
  assertError(await server.call("/Signup/alice/run", { email: "late" }), 409, ALREADY_INVOKED, { id });
  assert.equal((await server.call("/Signup/alice/status")).json, "done");
  assert.deepEqual((await server.call("/Signup/alice/peek")).json, { done: true, value: "yes" });

  const c = await services.counts();
  assert.equal(c["Signup.run:alice"], 1, "run executed once");
  assert.equal(c["Signup.waiting:alice"], 1);
});

env.test("durable promise: a second resolve and a reject after resolve get 409", async () => {
  const { server, services } = env;
  await server.call("/Signup/bea/run/send", {});
  await services.waitCount("Signup.journaled:bea", 1);
  assert.equal((await server.call("/Signup/bea/approve", "first")).status, 200);
  assertError(await server.call("/Signup/bea/approve", "second"), 409, PROMISE_COMPLETED);
  assertError(await server.call("/Signup/bea/deny", "too late"), 409, PROMISE_COMPLETED);
  const a = await server.ingress("GET", "/restate/workflow/Signup/bea/attach", { timeout: 10_000 });
  assert.equal(a.status, 200);
  assert.deepEqual(a.json, { key: "bea", input: {}, approval: "first" });
  assert.deepEqual((await server.call("/Signup/bea/peek")).json, { done: true, value: "first" });
  assert.equal(await services.count("Signup.approve:bea"), 2);
});

env.test("durable promise rejected: run fails with 500 and the message; peek fails the same way", async () => {
  const { server, services } = env;
  const s = await server.call("/Signup/bob/run/send", {});
  const id = s.json.invocationId;
  await services.waitCount("Signup.journaled:bob", 1);
  const d = await server.call("/Signup/bob/deny", "nope");
  assert.equal(d.status, 200);
  assert.equal(d.json, "denied");
  const failure = { code: 500, message: "nope", source: "invocation" };
  const a = await server.ingress("GET", "/restate/workflow/Signup/bob/attach", { timeout: 10_000 });
  assertError(a, 500, failure, { id });
  const o = await server.ingress("GET", "/restate/workflow/Signup/bob/output");
  assertError(o, 500, failure, { id });
  assert.match(o.headers["idempotency-expires"], EXPIRES_RE);
  assertError(await server.call("/Signup/bob/peek"), 500, failure);
  assertError(await server.call("/Signup/bob/approve", 1), 409, PROMISE_COMPLETED);
  assert.equal(await services.count("Signup.run:bob"), 1);
});

env.test("promise resolved before run starts: run gets it without waiting", async () => {
  const { server, services } = env;
  const ap = await server.call("/Signup/dan/approve", "early");
  assert.equal(ap.status, 200);
  assert.deepEqual((await server.call("/Signup/dan/peek")).json, { done: true, value: "early" });
  const r = await server.call("/Signup/dan/run", { n: 1 }, { timeout: 10_000 });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  assert.equal(r.headers["idempotency-expires"], undefined);
  assert.deepEqual(r.json, { key: "dan", input: { n: 1 }, approval: "early" });
  assert.equal(await services.count("Signup.run:dan"), 1);
});

env.test("run failing with a terminal error: stored failure, a second run is still 409", async () => {
  const { server, services } = env;
  const failure = { code: 422, message: "signup of carl failed", source: "invocation" };
  const r = await server.call("/Signup/carl/run", { fail: true }, { timeout: 10_000 });
  assertError(r, 422, failure);
  const id = r.headers["x-restate-id"];
  assert.match(id, INVOCATION_ID_RE);
  assertError(await server.ingress("GET", "/restate/workflow/Signup/carl/output"), 422, failure, { id });
  assertError(await server.ingress("GET", "/restate/workflow/Signup/carl/attach"), 422, failure, { id });
  assertError(await server.call("/Signup/carl/run", {}), 409, ALREADY_INVOKED, { id });
  const again = await server.call("/Signup/carl/run/send", {});
  assert.deepEqual(again.json, { invocationId: id, status: "PreviouslyAccepted" });
  await sleep(200);
  assert.equal(await services.count("Signup.run:carl"), 1);
});

env.test("never-started workflow: output 404, attach 404 (source invocation), shared handlers see no state", async () => {
  const { server } = env;
  const o = await server.ingress("GET", "/restate/workflow/Signup/nobody/output");
  assertError(o, 404, NOT_FOUND_OUTPUT);
  assert.equal(o.headers["x-restate-id"], undefined);
  const a = await server.ingress("GET", "/restate/workflow/Signup/nobody/attach");
  assertError(a, 404, NOT_FOUND_ATTACH);
  assert.match(a.headers["x-restate-id"], INVOCATION_ID_RE);
  const st = await server.call("/Signup/nobody/status");
  assert.equal(st.status, 200);
  assert.equal(st.json, null);
  assert.deepEqual((await server.call("/Signup/nobody/peek")).json, { done: false });
  // The id attach names is the one a later run gets (deterministic per workflow key).
  const s = await server.call("/Signup/nobody/run/send", {});
  assert.equal(s.json.invocationId, a.headers["x-restate-id"]);
});

env.test("workflow retention 2 s: result, state and promises go; then run can be submitted again", async () => {
  const { server, services } = env;
  assert.equal((await server.call("/ShortSignup/k/approve", "ok")).status, 200);
  const r = await server.call("/ShortSignup/k/run", { n: 1 }, { timeout: 10_000 });
  assert.equal(r.status, 200, r.text);
  const id = r.headers["x-restate-id"];
  const done = { key: "k", input: { n: 1 }, approval: "ok" };
  assert.deepEqual(r.json, done);

  const o = await server.ingress("GET", "/restate/workflow/ShortSignup/k/output");
  assert.equal(o.status, 200);
  assert.deepEqual(o.json, done);
  const left = expiresInMs(o);
  assert.ok(left > 0 && left <= 2500, `workflowRetention is 2 s, expires in ${left} ms`);

  await waitUntil(
    async () => (await server.ingress("GET", "/restate/workflow/ShortSignup/k/output")).status === 404,
    { timeout: 10_000, interval: 200, what: "the workflow result to expire" },
  );
  assertError(await server.ingress("GET", "/restate/workflow/ShortSignup/k/output"), 404, NOT_FOUND_OUTPUT);
  assertError(await server.ingress("GET", "/restate/workflow/ShortSignup/k/attach"), 404, NOT_FOUND_ATTACH, { id });
  assert.equal((await server.call("/ShortSignup/k/status")).json, null, "workflow state survived its retention");
  assert.deepEqual((await server.call("/ShortSignup/k/peek")).json, { done: false }, "promise survived its retention");

  const s = await server.call("/ShortSignup/k/run/send", { n: 2 });
  assert.equal(s.status, 202);
  assert.deepEqual(s.json, { invocationId: id, status: "Accepted" });
  await services.waitCount("ShortSignup.journaled:k", 2);
  assertError(await server.ingress("GET", "/restate/workflow/ShortSignup/k/output"), 470, NOT_READY);
  assert.equal((await server.call("/ShortSignup/k/approve", "again")).status, 200);
  const a = await server.ingress("GET", "/restate/workflow/ShortSignup/k/attach", { timeout: 10_000 });
  assert.equal(a.status, 200);
  assert.deepEqual(a.json, { key: "k", input: { n: 2 }, approval: "again" });
  assert.equal(await services.count("ShortSignup.run:k"), 2);
});

env.test("bad workflow requests: idempotency key on run, no key, unknown workflow, wrong method", async () => {
  const { server, services } = env;
  const ingressError = (status, message) => ({ code: status, message, source: "ingress" });
  assertError(
    await server.call("/Signup/idem/run", {}, { headers: { "idempotency-key": "k1" } }),
    400,
    ingressError(400, "cannot use the idempotency key with workflow handlers. The handler invocation will already be idempotent by the workflow key itself."),
  );
  assertError(
    await server.call("/Signup/run", {}),
    400,
    ingressError(400, "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler"),
  );
  assertError(
    await server.call("/NoSuchWorkflow/k/run", {}),
    404,
    ingressError(404, "service 'NoSuchWorkflow' not found, make sure to register the service before calling it."),
  );
  // Restate 1.7.12 does not check the workflow name on attach/output.
  assertError(await server.ingress("GET", "/restate/workflow/NoSuchWorkflow/k/output"), 404, NOT_FOUND_OUTPUT);
  assertError(await server.ingress("GET", "/restate/workflow/NoSuchWorkflow/k/attach"), 404, NOT_FOUND_ATTACH);
  assertError(await server.ingress("GET", "/restate/workflow/Counter/k/output"), 404, NOT_FOUND_OUTPUT);
  assertError(await server.ingress("POST", "/restate/workflow/Signup/alice/output"), 405, ingressError(405, "method not allowed"));
  await sleep(200);
  const c = await services.counts();
  assert.equal(c["Signup.run:idem"], undefined, "a rejected run executed");
  assertError(await server.ingress("GET", "/restate/workflow/Signup/idem/output"), 404, NOT_FOUND_OUTPUT);
});
