// Error answers of the ingress: terminal errors thrown by handlers (source "invocation") and the
// errors the ingress itself produces (source "ingress"), with Restate 1.7.12's exact bodies.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, INVOCATION_ID_RE, sleep } from "./harness.mjs";

const env = new Env("errors");
before(() => env.start());
after(() => env.close());

function assertIngressError(r, status, message) {
  assert.equal(r.status, status, `status (body ${r.text})`);
  assert.equal(r.headers["content-type"], "application/json");
  assert.equal(r.headers["x-restate-error-source"], "ingress");
  assert.equal(r.headers["x-restate-id"], undefined);
  assert.deepEqual(r.json, { code: status, message, source: "ingress" });
}

env.test("terminal error with code 418 and metadata", async () => {
  const r = await env.server.ingress("POST", "/Failer/teapot");
  assert.equal(r.status, 418);
  assert.equal(r.headers["content-type"], "application/json");
  assert.equal(r.headers["x-restate-error-source"], "invocation");
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  assert.deepEqual(r.json, {
    code: 418,
    message: "I am a teapot",
    metadata: { why: "test", kind: "teapot" },
    source: "invocation",
  });
  await sleep(300);
  assert.equal(await env.services.count("Failer.teapot"), 1, "terminal errors are not retried");
});

env.test("terminal error with the default code is 500", async () => {
  const r = await env.server.ingress("POST", "/Failer/plain");
  assert.equal(r.status, 500);
  assert.equal(r.headers["x-restate-error-source"], "invocation");
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  assert.deepEqual(r.json, { code: 500, message: "plain terminal failure", source: "invocation" });
  await sleep(300);
  assert.equal(await env.services.count("Failer.plain"), 1);
});

env.test("the terminal failure is stored: output by id repeats it", async () => {
  const r = await env.server.ingress("POST", "/Failer/teapot");
  const id = r.headers["x-restate-id"];
  const o = await env.server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o.status, 418);
  assert.equal(o.headers["x-restate-error-source"], "invocation");
  assert.equal(o.headers["x-restate-id"], id);
  assert.deepEqual(o.json, r.json);
});

env.test("invalid JSON input fails the invocation in the SDK (400, source invocation)", async () => {
  const r = await env.server.ingress("POST", "/Greeter/greet", { headers: { "content-type": "application/json" }, body: "{bad" });
  assert.equal(r.status, 400);
  assert.equal(r.headers["x-restate-error-source"], "invocation");
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  assert.equal(r.json.code, 400);
  assert.equal(r.json.source, "invocation");
  assert.match(r.json.message, /^Failed to deserialize input: /);
});

env.test("unknown service: 404", async () => {
  const r = await env.server.call("/Nope/greet", 1);
  assertIngressError(r, 404, "service 'Nope' not found, make sure to register the service before calling it.");
});

env.test("unknown handler: 404", async () => {
  const r = await env.server.call("/Greeter/nope", "x");
  assertIngressError(
    r,
    404,
    "the service 'Greeter' exists, but the handler 'nope' was not found, check that the handler exists in the latest registered service version.",
  );
});

env.test("wrong segment count for the service type: 400", async () => {
  const expected = "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler";
  assertIngressError(await env.server.call("/Greeter/key/greet", "x"), 400, expected);
  assertIngressError(await env.server.call("/Greeter/greet/notsend", "x"), 400, expected);
});

env.test("too few or too many path segments: 400 bad path", async () => {
  assertIngressError(await env.server.call("/Greeter", "x"), 400, "bad path: /Greeter");
  assertIngressError(await env.server.call("/a/b/c/d/e/f/g/h", "x"), 400, "bad path: /a/b/c/d/e/f/g/h");
});

env.test("content-type mismatch: 400 input validation error", async () => {
  const r = await env.server.ingress("POST", "/Greeter/greet", { headers: { "content-type": "text/plain" }, body: "x" });
  assertIngressError(r, 400, "input validation error: Content-type 'text/plain' does not match 'application/json'");
  const b = await env.server.call("/Bin/reverse", "x");
  assertIngressError(b, 400, "input validation error: Content-type 'application/json' does not match 'application/octet-stream'");
});

env.test("body without content-type: 400 Empty content-type", async () => {
  const r = await env.server.ingress("POST", "/Greeter/greet", { body: '"x"' });
  assertIngressError(r, 400, "input validation error: Empty content-type");
});

env.test("PUT: 405 method not allowed", async () => {
  const r = await env.server.ingress("PUT", "/Greeter/greet", { json: "x" });
  assertIngressError(r, 405, "method not allowed");
});

env.test("rejected requests never reach the service", async () => {
  const c = await env.services.counts();
  assert.equal(c["Greeter.greet:x"], undefined, JSON.stringify(c));
});
