// Awakeables and named signals (http-api.md §2.7, service-protocol.md §10.6/10.7): sign_1 ids,
// resolve/reject through /restate/a/{id}/… and the /restate/awakeables/{id}/… alias, repeated and
// unknown ids (both answered 202 by restate-server 1.7.12), malformed ids, wrong verb and method,
// resolve/reject from another handler, named signals, orTimeout and a race against a sleep.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { sleep } from "./harness.mjs";
import { AWAKEABLE_ID_RE, env4, send, waitNote } from "./lib4.mjs";

const env = env4("awakeables");
before(() => env.start());
after(() => env.close());

/** Asserts the 202 an awakeable resolve/reject answers: empty body, no content-type, no id. */
function assertAccepted(r, what) {
  assert.equal(r.status, 202, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.text, "", what);
  assert.equal(r.headers["content-length"], "0", what);
  assert.equal(r.headers["content-type"], undefined, what);
  assert.equal(r.headers["x-restate-id"], undefined, what);
}

/** Starts Waiter.<handler> with /send and waits for the awakeable id it notes. */
async function startWaiting(handler, tag, input = tag) {
  const id = await send(env.server, `/Waiter/${handler}`, input);
  const awk = await waitNote(env.services, `Waiter.awake:${tag}`);
  return { id, awk };
}

function attach(id) {
  return env.server.ingress("GET", `/restate/invocation/${id}/attach`, { timeout: 15_000 });
}

env.test("resolve through /restate/a/{id}/resolve: 202, the handler gets the JSON value", async () => {
  const { id, awk } = await startWaiting("awake", "res-a");
  assert.match(awk, AWAKEABLE_ID_RE);
  assertAccepted(await env.server.ingress("POST", `/restate/a/${awk}/resolve`, { json: { hello: ["world", 1] } }), "resolve");
  const a = await attach(id);
  assert.equal(a.status, 200, a.text);
  assert.deepEqual(a.json, { hello: ["world", 1] });
  assert.equal(await env.services.count("Waiter.done:res-a"), 1);
});

env.test("resolve through the /restate/awakeables/ alias; an empty body resolves with no value", async () => {
  const { id, awk } = await startWaiting("awake", "res-alias");
  assertAccepted(await env.server.ingress("POST", `/restate/awakeables/${awk}/resolve`), "resolve (empty body)");
  const a = await attach(id);
  assert.equal(a.status, 200, a.text);
  assert.equal(a.text, "", "the handler returned undefined");
  assert.equal(a.headers["content-type"], undefined);
});

env.test("reject through /restate/awakeables/{id}/reject: the body is the message, code 500", async () => {
  const { id, awk } = await startWaiting("awake", "rej");
  assertAccepted(await env.server.ingress("POST", `/restate/awakeables/${awk}/reject`, { body: "nope, rejected" }), "reject");
  const a = await attach(id);
  assert.equal(a.status, 500, a.text);
  assert.deepEqual(a.json, { code: 500, message: "nope, rejected", source: "invocation" });
  assert.equal(a.headers["x-restate-error-source"], "invocation");
  const o = await env.server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o.status, 500, o.text);
  assert.deepEqual(o.json, { code: 500, message: "nope, rejected", source: "invocation" });
  // The rejection reaches the handler as a terminal error it can catch.
  const c = await startWaiting("awakeCatch", "rej-caught");
  assertAccepted(await env.server.ingress("POST", `/restate/a/${c.awk}/reject`, { body: "caught it" }), "reject");
  const a2 = await attach(c.id);
  assert.equal(a2.status, 200, a2.text);
  assert.deepEqual(a2.json, { code: 500, message: "caught it" });
});

env.test("resolving or rejecting a completed awakeable again: 202, the first value stays", async () => {
  const { id, awk } = await startWaiting("awake", "twice");
  assertAccepted(await env.server.ingress("POST", `/restate/a/${awk}/resolve`, { json: "first" }), "first resolve");
  const a = await attach(id);
  assert.equal(a.text, '"first"');
  assertAccepted(await env.server.ingress("POST", `/restate/a/${awk}/resolve`, { json: "second" }), "second resolve");
  assertAccepted(await env.server.ingress("POST", `/restate/awakeables/${awk}/reject`, { body: "late" }), "late reject");
  await sleep(300);
  const o = await env.server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o.status, 200, o.text);
  assert.equal(o.text, '"first"');
  assert.equal(await env.services.count("Waiter.attempt:twice"), 1, "the completed invocation must not run again");
});

env.test("an awakeable id of an invocation that does not exist: 202 as well", async () => {
  const { id, awk } = await startWaiting("awake", "unknown-base");
  // Change one character of the invocation-id part: a well-formed id nobody waits on.
  const i = 10;
  const unknown = awk.slice(0, i) + (awk[i] === "A" ? "B" : "A") + awk.slice(i + 1);
  assert.match(unknown, AWAKEABLE_ID_RE);
  assertAccepted(await env.server.ingress("POST", `/restate/a/${unknown}/resolve`, { json: "x" }), "resolve unknown");
  assertAccepted(await env.server.ingress("POST", `/restate/a/${unknown}/reject`, { body: "x" }), "reject unknown");
  // The real one is untouched.
  await sleep(200);
  assert.equal((await env.server.ingress("GET", `/restate/invocation/${id}/output`)).status, 470);
  assertAccepted(await env.server.ingress("POST", `/restate/a/${awk}/resolve`, { json: "real" }), "resolve");
  assert.equal((await attach(id)).text, '"real"');
});

env.test("malformed ids: 400; unknown verb: 404; wrong method: 405", async () => {
  const { awk } = await startWaiting("awake", "errors");
  const cases = [
    ["POST", "/restate/a/sign_1bogus/resolve", 400, "bad awakeable id 'sign_1bogus': id doesn't match the expected type"],
    ["POST", "/restate/awakeables/bogus/reject", 400, "bad awakeable id 'bogus': bad format"],
    ["POST", `/restate/a/${awk}/frobnicate`, 404, "not found"],
    ["GET", `/restate/a/${awk}/resolve`, 405, "method not allowed"],
    ["PUT", `/restate/awakeables/${awk}/reject`, 405, "method not allowed"],
  ];
  const got = [];
  const want = [];
  for (const [method, p, status, message] of cases) {
    const r = await env.server.ingress(method, p, method === "POST" ? { json: "x" } : {});
    got.push({ request: `${method} ${p}`, status: r.status, body: r.json ?? r.text, source: r.headers["x-restate-error-source"] });
    want.push({ request: `${method} ${p}`, status, body: { code: status, message, source: "ingress" }, source: "ingress" });
  }
  assert.deepEqual(got, want);
});

env.test("resolve and reject from another handler (ctx.resolveAwakeable / rejectAwakeable)", async () => {
  const { server, services } = env;
  const w1 = await startWaiting("awake", "by-handler");
  const r1 = await server.call("/Waiter/resolve", { id: w1.awk, value: { deep: [1, 2] } });
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.text, "");
  const a1 = await attach(w1.id);
  assert.equal(a1.status, 200, a1.text);
  assert.deepEqual(a1.json, { deep: [1, 2] });

  const w2 = await startWaiting("awakeCatch", "rej-by-handler");
  const r2 = await server.call("/Waiter/reject", { id: w2.awk, reason: "handler says no" });
  assert.equal(r2.status, 200, r2.text);
  const a2 = await attach(w2.id);
  assert.equal(a2.status, 200, a2.text);
  assert.deepEqual(a2.json, { code: 500, message: "handler says no" });
  assert.equal(await services.count("Waiter.attempt:by-handler"), 1);
});

env.test("named signals: resolve, reject, another name does not wake it, a completed target ignores it", async () => {
  const { server, services } = env;
  const s1 = await send(server, "/Waiter/signal", "sig1");
  const id1 = await waitNote(services, "Waiter.signal:sig1");
  assert.equal(id1, s1, "ctx.request().id is the invocation id the ingress returned");
  const r = await server.call("/Waiter/sendSignal", { id: id1, name: "go", value: 42 });
  assert.equal(r.status, 200, r.text);
  const a1 = await attach(s1);
  assert.equal(a1.status, 200, a1.text);
  assert.deepEqual(a1.json, { value: 42 });

  const s2 = await send(server, "/Waiter/signal", "sig2");
  const id2 = await waitNote(services, "Waiter.signal:sig2");
  assert.equal((await server.call("/Waiter/sendSignal", { id: id2, name: "other", value: 1 })).status, 200);
  await sleep(300);
  assert.equal((await server.ingress("GET", `/restate/invocation/${s2}/output`)).status, 470, "a signal with another name must not complete it");
  assert.equal((await server.call("/Waiter/sendSignal", { id: id2, name: "go", reason: "denied" })).status, 200);
  const a2 = await attach(s2);
  assert.equal(a2.status, 200, a2.text);
  assert.deepEqual(a2.json, { code: 500, message: "denied" });

  // A signal to a completed invocation is dropped; the sender still succeeds.
  const late = await server.call("/Waiter/sendSignal", { id: id1, name: "go", value: 7 });
  assert.equal(late.status, 200, late.text);
  const o = await server.ingress("GET", `/restate/invocation/${s1}/output`);
  assert.deepEqual(o.json, { value: 42 });
  assert.equal(await services.count("Waiter.attempt:sig1"), 1);
});

env.test("orTimeout: times out with 408 'Timeout occurred', or returns the value when resolved in time", async () => {
  const { server } = env;
  const t0 = Date.now();
  const r = await server.call("/Waiter/timeout", { tag: "to1", ms: 300 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { timeout: 408, message: "Timeout occurred" });
  assert.ok(Date.now() - t0 >= 300);

  const w = await startWaiting("timeout", "to2", { tag: "to2", ms: 20_000 });
  assertAccepted(await server.ingress("POST", `/restate/a/${w.awk}/resolve`, { json: "in time" }), "resolve");
  const a = await attach(w.id);
  assert.equal(a.status, 200, a.text);
  assert.deepEqual(a.json, { value: "in time" });
});

env.test("race of an awakeable against a sleep: whichever completes first wins", async () => {
  const { server } = env;
  const r = await server.call("/Waiter/race", { tag: "race-sleep", ms: 300 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '"sleep"');

  const w = await startWaiting("race", "race-awk", { tag: "race-awk", ms: 20_000 });
  assertAccepted(await server.ingress("POST", `/restate/a/${w.awk}/resolve`, { json: "fast" }), "resolve");
  const a = await attach(w.id);
  assert.equal(a.status, 200, a.text);
  assert.equal(a.text, '"awakeable:fast"');
});
