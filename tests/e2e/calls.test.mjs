// Ingress calls against Greeter, Bin and Runner: success responses, /send, attach/output by id,
// and exactly-once ctx.run closures (counted in the services process).
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, INVOCATION_ID_RE } from "./harness.mjs";

const env = new Env("calls");
before(() => env.start());
after(() => env.close());

const IDEMPOTENCY_EXPIRES_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/;

env.test("greeter call: 200, JSON body, content-type, x-restate-id", async () => {
  const r = await env.server.call("/Greeter/greet", "world");
  assert.equal(r.status, 200);
  assert.equal(r.text, '"Hello world"');
  assert.equal(r.headers["content-type"], "application/json");
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  assert.equal(r.headers["x-restate-error-source"], undefined);
  assert.equal(r.headers["idempotency-expires"], undefined, "a first call carries no idempotency-expires");
  assert.equal(await env.services.count("Greeter.greet:world"), 1);
});

env.test("every call gets its own invocation id", async () => {
  const a = await env.server.call("/Greeter/greet", "twice");
  const b = await env.server.call("/Greeter/greet", "twice");
  assert.equal(a.status, 200);
  assert.equal(b.status, 200);
  assert.notEqual(a.headers["x-restate-id"], b.headers["x-restate-id"]);
  assert.equal(await env.services.count("Greeter.greet:twice"), 2);
});

env.test("content-type parameters and a trailing slash are accepted", async () => {
  const r = await env.server.ingress("POST", "/Greeter/greet/", {
    headers: { "content-type": "application/json; charset=utf-8" },
    body: '"slash"',
  });
  assert.equal(r.status, 200);
  assert.equal(r.text, '"Hello slash"');
});

env.test("handler without output: GET without body, 200, empty body, no content-type", async () => {
  const before_ = await env.services.count("Greeter.noop");
  const r = await env.server.ingress("GET", "/Greeter/noop");
  assert.equal(r.status, 200);
  assert.equal(r.text, "");
  assert.equal(r.headers["content-length"], "0");
  assert.equal(r.headers["content-type"], undefined);
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  // What the TS clients send for a zero-argument call: JSON content-type, empty body.
  const r2 = await env.server.ingress("POST", "/Greeter/noop", { headers: { "content-type": "application/json" } });
  assert.equal(r2.status, 200);
  assert.equal(r2.text, "");
  assert.equal(await env.services.count("Greeter.noop"), before_ + 2);
});

env.test("raw bytes handler (serde.binary): bytes in, bytes out, application/octet-stream", async () => {
  const input = Buffer.from([0x00, 0xff, 0x01, 0x80, 0x7f, 0xc3, 0x28]);
  const r = await env.server.ingress("POST", "/Bin/reverse", {
    headers: { "content-type": "application/octet-stream" },
    body: input,
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "application/octet-stream");
  assert.deepEqual([...r.body], [...input].reverse());
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
});

env.test("ctx.run: journaled results, each closure ran exactly once", async () => {
  const r = await env.server.call("/Runner/run", "once");
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { a: "first-once", b: "first-once".length });
  assert.equal(r.headers["content-type"], "application/json");
  const c = await env.services.counts();
  assert.equal(c["Runner.attempt:once"], 1);
  assert.equal(c["Runner.first:once"], 1);
  assert.equal(c["Runner.second:once"], 1);
});

env.test("/send: 202 {invocationId, status: Accepted}, the handler runs, attach and output give the result", async () => {
  const r = await env.server.call("/Greeter/greet/send", "sent");
  assert.equal(r.status, 202);
  assert.equal(r.headers["content-type"], "application/json");
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  const id = r.headers["x-restate-id"];
  assert.deepEqual(r.json, { invocationId: id, status: "Accepted" });
  await env.services.waitCount("Greeter.greet:sent", 1);

  const a = await env.server.ingress("GET", `/restate/invocation/${id}/attach`);
  assert.equal(a.status, 200);
  assert.equal(a.text, '"Hello sent"');
  assert.equal(a.headers["content-type"], "application/json");
  assert.equal(a.headers["x-restate-id"], id);

  const o = await env.server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o.status, 200);
  assert.equal(o.text, '"Hello sent"');
  assert.equal(o.headers["x-restate-id"], id);
  assert.match(o.headers["idempotency-expires"], IDEMPOTENCY_EXPIRES_RE, "stored completions carry idempotency-expires");
  assert.equal(await env.services.count("Greeter.greet:sent"), 1, "attach/output must not re-run the handler");
});

env.test("output of a plain call (server-assigned idempotency key) is retained", async () => {
  const r = await env.server.call("/Greeter/greet", "kept");
  assert.equal(r.status, 200);
  const id = r.headers["x-restate-id"];
  const o = await env.server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o.status, 200);
  assert.equal(o.text, '"Hello kept"');
  assert.equal(o.headers["content-type"], "application/json");
  assert.match(o.headers["idempotency-expires"], IDEMPOTENCY_EXPIRES_RE);
});

env.test("output/attach of an unknown invocation, malformed id, wrong method", async () => {
  const r = await env.server.call("/Greeter/greet", "probe");
  const id = r.headers["x-restate-id"];
  const unknown = id.slice(0, -1) + (id.endsWith("A") ? "B" : "A");

  const o = await env.server.ingress("GET", `/restate/invocation/${unknown}/output`);
  assert.equal(o.status, 404);
  assert.deepEqual(o.json, { code: 404, message: "invocation not found", source: "ingress" });
  assert.equal(o.headers["x-restate-error-source"], "ingress");
  assert.equal(o.headers["x-restate-id"], undefined);

  // Quirk kept from Restate: attach's "not found" is an invocation failure and names the id.
  const a = await env.server.ingress("GET", `/restate/invocation/${unknown}/attach`);
  assert.equal(a.status, 404);
  assert.deepEqual(a.json, { code: 404, message: "not found", source: "invocation" });
  assert.equal(a.headers["x-restate-error-source"], "invocation");
  assert.equal(a.headers["x-restate-id"], unknown);

  const bad = await env.server.ingress("GET", "/restate/invocation/inv_bogus/output");
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json, { code: 400, message: "bad invocation id 'inv_bogus': unrecognized codec version", source: "ingress" });

  const post = await env.server.ingress("POST", `/restate/invocation/${id}/output`);
  assert.equal(post.status, 405);
  assert.deepEqual(post.json, { code: 405, message: "method not allowed", source: "ingress" });
});
