// idempotency-key (keyed_services.mjs Idem, ShortIdem, Counter, IdemCaller): the same key and
// target give the same invocation and response and execute once, also for concurrent duplicates;
// a repeated send is PreviouslyAccepted; attach/output by idempotency key; retention from the
// service's idempotency_retention; idempotent calls and sends issued from inside a handler.
// Executions are counted in the services process.
//
// The server runs with RESTATE_WORKER__CLEANUP_INTERVAL=1s: Restate 1.7.12 drops completed
// invocations whose retention has ended only when its cleaner runs (default every hour). Stet
// ignores the variable and may drop them exactly at the end of the retention.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, INVOCATION_ID_RE, sleep, waitUntil } from "./harness.mjs";

const env = new Env("idempotency", {
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

const ik = (key, extra = {}) => ({ headers: { "idempotency-key": key }, ...extra });

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

env.test("same key and target: same id and response, one execution; a different body is ignored", async () => {
  const { server, services } = env;
  const r1 = await server.call("/Idem/work", "a", ik("k-a"));
  assert.equal(r1.status, 200, r1.text);
  assert.equal(r1.text, '"a #1"');
  assert.equal(r1.headers["content-type"], "application/json");
  const id = r1.headers["x-restate-id"];
  assert.match(id, INVOCATION_ID_RE);
  assert.equal(r1.headers["idempotency-expires"], undefined, "the first call carries no idempotency-expires");

  const r2 = await server.call("/Idem/work", "a", ik("k-a"));
  assert.equal(r2.status, 200);
  assert.equal(r2.text, '"a #1"');
  assert.equal(r2.headers["x-restate-id"], id);
  assert.equal(r2.headers["content-type"], "application/json");
  const left = expiresInMs(r2);
  assert.ok(left > DAY_MS - 3600_000 && left <= DAY_MS + 5000, `default idempotency retention is 1 day, expires in ${left} ms`);

  const r3 = await server.call("/Idem/work", { tag: "a", other: "body" }, ik("k-a"));
  assert.equal(r3.status, 200);
  assert.equal(r3.text, '"a #1"', "no conflict check: the stored result is returned");
  assert.equal(r3.headers["x-restate-id"], id);
  assert.equal(await services.count("Idem.work:a"), 1);

  // Another handler, or no key, is another invocation.
  const f = await server.call("/Idem/fail", "a", ik("k-a"));
  assert.equal(f.status, 422);
  assert.notEqual(f.headers["x-restate-id"], id);
  const plain = await server.call("/Idem/work", "a");
  assert.equal(plain.text, '"a #2"');
  assert.notEqual(plain.headers["x-restate-id"], id);

  // An empty header value is a key like any other.
  const e1 = await server.call("/Idem/work", "empty", ik(""));
  const e2 = await server.call("/Idem/work", "empty", ik(""));
  assert.equal(e1.text, '"empty #1"');
  assert.equal(e2.text, '"empty #1"');
  assert.equal(e2.headers["x-restate-id"], e1.headers["x-restate-id"]);
  assert.equal(await services.count("Idem.work:empty"), 1);
});

env.test("10 concurrent duplicates: one execution, all get the same answer; send duplicate PreviouslyAccepted", async () => {
  const { server, services } = env;
  const first = server.call("/Idem/work", { tag: "dup", block: true }, ik("k-dup", { timeout: 20_000 }));
  await services.waitCount("Idem.blocked:dup", 1);
  const rest = Array.from({ length: 9 }, () => server.call("/Idem/work", { tag: "dup", block: true }, ik("k-dup", { timeout: 20_000 })));
  await sleep(300);

  assertError(await server.ingress("GET", "/restate/invocation/Idem/work/k-dup/output"), 470, NOT_READY);
  const s = await server.call("/Idem/work/send", { tag: "dup" }, ik("k-dup"));
  assert.equal(s.status, 202);
  const id = s.headers["x-restate-id"];
  assert.match(id, INVOCATION_ID_RE);
  assert.deepEqual(s.json, { invocationId: id, status: "PreviouslyAccepted" });
  let attached = null;
  const attach = server
    .ingress("GET", "/restate/invocation/Idem/work/k-dup/attach", { timeout: 20_000 })
    .then((r) => (attached = r));
  await sleep(300);
  assert.equal(attached, null, "attach answered while the invocation was running");
  assertError(await server.ingress("GET", `/restate/invocation/${id}/output`), 470, NOT_READY);

  await services.release("dup");
  const rs = await Promise.all([first, ...rest]);
  for (const r of rs) {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, '"dup #1"');
    assert.equal(r.headers["x-restate-id"], id);
  }
  const a = await attach;
  assert.equal(a.status, 200);
  assert.equal(a.text, '"dup #1"');
  assert.equal(a.headers["x-restate-id"], id);

  const o = await server.ingress("GET", "/restate/invocation/Idem/work/k-dup/output");
  assert.equal(o.status, 200);
  assert.equal(o.text, '"dup #1"');
  assert.equal(o.headers["x-restate-id"], id);
  assert.match(o.headers["idempotency-expires"], EXPIRES_RE);
  const ob = await server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(ob.status, 200);
  assert.equal(ob.text, '"dup #1"');
  const c = await services.counts();
  assert.equal(c["Idem.work:dup"], 1, "the handler ran more than once");
  assert.equal(c["Idem.blocked:dup"], 1);
});

env.test("idempotent send: Accepted, then PreviouslyAccepted with the same id; a call gets the stored result", async () => {
  const { server, services } = env;
  const s1 = await server.call("/Idem/work/send", "snd", ik("k-snd"));
  assert.equal(s1.status, 202);
  assert.equal(s1.headers["content-type"], "application/json");
  const id = s1.headers["x-restate-id"];
  assert.deepEqual(s1.json, { invocationId: id, status: "Accepted" });
  await services.waitCount("Idem.work:snd", 1);
  const s2 = await server.call("/Idem/work/send", "snd", ik("k-snd"));
  assert.equal(s2.status, 202);
  assert.equal(s2.headers["x-restate-id"], id);
  assert.deepEqual(s2.json, { invocationId: id, status: "PreviouslyAccepted" });
  const c = await server.call("/Idem/work", "snd", ik("k-snd"));
  assert.equal(c.status, 200);
  assert.equal(c.text, '"snd #1"');
  assert.equal(c.headers["x-restate-id"], id);
  const a = await server.ingress("GET", "/restate/invocation/Idem/work/k-snd/attach");
  assert.equal(a.status, 200);
  assert.equal(a.text, '"snd #1"');
  assert.match(a.headers["idempotency-expires"], EXPIRES_RE);
  await sleep(200);
  assert.equal(await services.count("Idem.work:snd"), 1);
});

env.test("virtual object: an idempotent add changes the state once; keyed attach/output paths", async () => {
  const { server, services } = env;
  const r1 = await server.call("/Counter/idem-obj/add", 5, ik("add-1"));
  assert.equal(r1.status, 200);
  assert.equal(r1.json, 5);
  const id = r1.headers["x-restate-id"];
  const r2 = await server.call("/Counter/idem-obj/add", 7, ik("add-1"));
  assert.equal(r2.json, 5);
  assert.equal(r2.headers["x-restate-id"], id);
  assert.match(r2.headers["idempotency-expires"], EXPIRES_RE);
  // The same idempotency key on another object key is another target.
  const other = await server.call("/Counter/idem-obj-2/add", 7, ik("add-1"));
  assert.equal(other.json, 7);
  assert.notEqual(other.headers["x-restate-id"], id);
  assert.equal((await server.call("/Counter/idem-obj/get")).json, 5, "the state changed twice");
  assert.equal(await services.count("Counter.add:idem-obj"), 1);

  for (const verb of ["attach", "output"]) {
    const r = await server.ingress("GET", `/restate/invocation/Counter/idem-obj/add/add-1/${verb}`);
    assert.equal(r.status, 200, `${verb}: ${r.text}`);
    assert.equal(r.json, 5);
    assert.equal(r.headers["x-restate-id"], id);
    assert.match(r.headers["idempotency-expires"], EXPIRES_RE);
  }
  // A percent-encoded object key in the attach path.
  const sp = await server.call(`/Counter/${encodeURIComponent("a b/c")}/add`, 2, ik("add-2"));
  assert.equal(sp.status, 200);
  const spo = await server.ingress("GET", `/restate/invocation/Counter/${encodeURIComponent("a b/c")}/add/add-2/output`);
  assert.equal(spo.status, 200);
  assert.equal(spo.json, 2);
  assert.equal(spo.headers["x-restate-id"], sp.headers["x-restate-id"]);
  assertError(
    await server.ingress("GET", "/restate/invocation/Counter/add/add-1/output"),
    400,
    {
      code: 400,
      message:
        "bad path, expected either /restate/invocation/:invocation_id/output or /restate/invocation/:invocation_id/attach or /restate/invocation/:invocation_target/:idempotency_key/output or /restate/invocation/:invocation_target/:idempotency_key/attach",
      source: "ingress",
    },
  );
});

env.test("idempotent terminal failure: stored, repeated with idempotency-expires, never re-executed", async () => {
  const { server, services } = env;
  const failure = { code: 422, message: "idem failure f #1", source: "invocation" };
  const r1 = await server.call("/Idem/fail", "f", ik("k-f"));
  assertError(r1, 422, failure);
  const id = r1.headers["x-restate-id"];
  const r2 = await server.call("/Idem/fail", "f", ik("k-f"));
  assertError(r2, 422, failure, { id });
  assert.match(r2.headers["idempotency-expires"], EXPIRES_RE);
  assertError(await server.ingress("GET", "/restate/invocation/Idem/fail/k-f/output"), 422, failure, { id });
  assertError(await server.ingress("GET", "/restate/invocation/Idem/fail/k-f/attach"), 422, failure, { id });
  assert.equal(await services.count("Idem.fail:f"), 1);
});

env.test("attach/output by idempotency key: unknown key, unknown service, unknown handler", async () => {
  const { server } = env;
  const o = await server.ingress("GET", "/restate/invocation/Idem/work/never-used/output");
  assertError(o, 404, NOT_FOUND_OUTPUT);
  assert.equal(o.headers["x-restate-id"], undefined);
  const a = await server.ingress("GET", "/restate/invocation/Idem/work/never-used/attach");
  assertError(a, 404, NOT_FOUND_ATTACH);
  assert.match(a.headers["x-restate-id"], INVOCATION_ID_RE);
  // That id is the one a call with this key gets (deterministic per target and key).
  const r = await server.call("/Idem/work", "never", ik("never-used"));
  assert.equal(r.headers["x-restate-id"], a.headers["x-restate-id"]);
  assertError(await server.ingress("GET", "/restate/invocation/NoSuchService/work/k/output"), 404, {
    code: 404,
    message: "service 'NoSuchService' not found, make sure to register the service before calling it.",
    source: "ingress",
  });
  assertError(await server.ingress("GET", "/restate/invocation/Idem/noSuchHandler/k/output"), 404, NOT_FOUND_OUTPUT);
  // The keyed form naming an unkeyed service: Restate 1.7.12 answers a bare "not found".
  assertError(await server.ingress("GET", "/restate/invocation/Idem/some-key/work/k-a/output"), 404, {
    code: 404,
    message: "not found",
    source: "ingress",
  });
  assertError(await server.ingress("POST", "/restate/invocation/Idem/work/k-a/output"), 405, {
    code: 405,
    message: "method not allowed",
    source: "ingress",
  });
});

env.test("idempotent calls and sends issued from inside a handler", async () => {
  const { server, services } = env;
  const r1 = await server.call("/IdemCaller/callTwice", { tag: "inner-call", ikey: "ik-inner" }, { timeout: 15_000 });
  assert.equal(r1.status, 200, r1.text);
  assert.deepEqual(r1.json.results, ["inner-call #1", "inner-call #1"]);
  const [idA, idB] = r1.json.ids;
  assert.match(idA, INVOCATION_ID_RE);
  assert.equal(idB, idA, "the two calls got different invocations");
  // A second caller invocation, and the ingress, reach the same invocation.
  const r2 = await server.call("/IdemCaller/callTwice", { tag: "inner-call", ikey: "ik-inner" }, { timeout: 15_000 });
  assert.deepEqual(r2.json, r1.json);
  const viaIngress = await server.call("/Idem/work", { tag: "inner-call" }, ik("ik-inner"));
  assert.equal(viaIngress.text, '"inner-call #1"');
  assert.equal(viaIngress.headers["x-restate-id"], idA);
  assert.equal(await services.count("Idem.work:inner-call"), 1);

  const s = await server.call("/IdemCaller/sendTwice", { tag: "inner-send", ikey: "ik-inner-send" }, { timeout: 15_000 });
  assert.equal(s.status, 200, s.text);
  const [sA, sB] = s.json.ids;
  assert.match(sA, INVOCATION_ID_RE);
  assert.equal(sB, sA);
  await services.waitCount("Idem.work:inner-send", 1);
  const o = await waitUntil(
    async () => {
      const r = await server.ingress("GET", "/restate/invocation/Idem/work/ik-inner-send/output");
      return r.status === 200 ? r : false;
    },
    { timeout: 10_000, what: "output of the inner idempotent send" },
  );
  assert.equal(o.text, '"inner-send #1"');
  assert.equal(o.headers["x-restate-id"], sA);
  await sleep(300);
  assert.equal(await services.count("Idem.work:inner-send"), 1, "the idempotent send executed twice");
});

env.test("idempotency retention 2 s (ShortIdem): the key executes again once the result expired", async () => {
  const { server, services } = env;
  const r1 = await server.call("/ShortIdem/work", "ret", ik("k-ret"));
  assert.equal(r1.status, 200);
  assert.equal(r1.text, '"ret #1"');
  const id = r1.headers["x-restate-id"];
  const r2 = await server.call("/ShortIdem/work", "ret", ik("k-ret"));
  assert.equal(r2.text, '"ret #1"');
  const left = expiresInMs(r2);
  assert.ok(left > 0 && left <= 2500, `idempotencyRetention is 2 s, expires in ${left} ms`);
  await sleep(500);
  const still = await server.ingress("GET", "/restate/invocation/ShortIdem/work/k-ret/output");
  assert.equal(still.status, 200, "expired before its retention ended");

  await waitUntil(
    async () => (await server.ingress("GET", "/restate/invocation/ShortIdem/work/k-ret/output")).status === 404,
    { timeout: 10_000, interval: 200, what: "the idempotent result to expire" },
  );
  assertError(await server.ingress("GET", "/restate/invocation/ShortIdem/work/k-ret/output"), 404, NOT_FOUND_OUTPUT);
  assertError(await server.ingress("GET", `/restate/invocation/${id}/output`), 404, NOT_FOUND_OUTPUT);
  assertError(await server.ingress("GET", "/restate/invocation/ShortIdem/work/k-ret/attach"), 404, NOT_FOUND_ATTACH, { id });
  const r3 = await server.call("/ShortIdem/work", "ret", ik("k-ret"));
  assert.equal(r3.status, 200);
  assert.equal(r3.text, '"ret #2"', "after the retention the key is new again");
  assert.equal(r3.headers["x-restate-id"], id, "same deterministic id");
  assert.equal(r3.headers["idempotency-expires"], undefined);
  assert.equal(await services.count("ShortIdem.work:ret"), 2);
});
