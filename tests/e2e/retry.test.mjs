// Retries of retryable (non-terminal) errors: exponential backoff with the default retry policy,
// and a handler-level retry policy (maxAttempts 2, then kill). Attempt times are measured in the
// services process.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, INVOCATION_ID_RE, sleep } from "./harness.mjs";

const env = new Env("retry");
before(() => env.start());
after(() => env.close());

const gaps = (ts) => ts.slice(1).map((t, i) => t - ts[i]);

env.test("plain Error twice: retried with growing backoff, then 200", async () => {
  const r = await env.server.call("/Flaky/fail", { tag: "twice", failures: 2 });
  assert.equal(r.status, 200);
  assert.equal(r.text, '"ok after 3 attempts"');
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  await sleep(300);
  assert.equal(await env.services.count("Flaky.attempt:twice"), 3);
  const ts = await env.services.times("Flaky.attempt:twice");
  assert.equal(ts.length, 3);
  const [d1, d2] = gaps(ts);
  // Default policy: initial interval 500 ms, factor 2 (Restate 1.7.12 measured ~650 ms, ~1100 ms).
  assert.ok(d1 >= 450, `first retry after ${d1} ms, expected >= ~500 ms`);
  assert.ok(d2 >= 900, `second retry after ${d2} ms, expected >= ~1000 ms`);
  assert.ok(d2 > d1, `backoff must grow: ${d1} ms then ${d2} ms`);
  assert.ok(d1 < 5000 && d2 < 10_000, `backoff too long: ${d1} ms, ${d2} ms`);
});

env.test("handler retry policy maxAttempts 2 + kill: two attempts, then 500 with the last error", async () => {
  const r = await env.server.call("/Flaky/limited", "k1");
  assert.equal(r.status, 500);
  assert.equal(r.headers["content-type"], "application/json");
  assert.equal(r.headers["x-restate-error-source"], "invocation");
  const id = r.headers["x-restate-id"];
  assert.match(id, INVOCATION_ID_RE);
  // Restate 1.7.12 includes the SDK's stacktrace in the answer to the waiting call ...
  assert.deepEqual(r.json, {
    code: 500,
    message: "always failing, attempt 2",
    stacktrace: "Error: always failing, attempt 2\n    at services.mjs",
    source: "invocation",
  });
  await sleep(500);
  assert.equal(await env.services.count("Flaky.limited:k1"), 2);
  const [d1] = gaps(await env.services.times("Flaky.limited:k1"));
  assert.ok(d1 >= 90, `retry after ${d1} ms, policy initialInterval is 100 ms`);
  assert.ok(d1 < 2000, `retry after ${d1} ms, policy initialInterval is 100 ms`);

  // ... but not in the stored completion.
  const o = await env.server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o.status, 500);
  assert.equal(o.headers["x-restate-error-source"], "invocation");
  assert.deepEqual(o.json, { code: 500, message: "always failing, attempt 2", source: "invocation" });
});
