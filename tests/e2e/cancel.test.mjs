// Cancellation, kill, purge, pause and resume through the admin API (http-api.md §4.7,
// service-protocol.md §10.10): cancel delivers signal 1 to a running handler and propagates down
// the call tree; kill ends the whole tree and releases the object lock; queued (inboxed) and
// delayed invocations are removed on cancel/kill; completed ones answer 409; purge forgets a
// completed invocation; pause/resume; error answers for malformed and unknown ids and methods.
// Whether a handler saw its cancellation is counted in the services process.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { sleep } from "./harness.mjs";
import { CANCELLED, KILLED, NOT_READY, OUTPUT_NOT_FOUND, env4, manage, notes, send, waitNote, waitOutput } from "./lib4.mjs";

const env = env4("cancel");
before(() => env.start());
after(() => env.close());

const adminError = (message) => ({ message, restate_code: null });

/** Asserts the empty success answer of an invocation endpoint. */
function assertEmpty(r, status, what) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.text, "", what);
}

function output(id) {
  return env.server.ingress("GET", `/restate/invocation/${id}/output`);
}

env.test("cancel a running invocation: 202, the handler sees the cancellation, 409 Cancelled", async () => {
  const { server, services } = env;
  const id = await send(server, "/Tree/sleep", { tag: "c-run", ms: 60_000 });
  await waitNote(services, "Tree.sleep:c-run");
  await sleep(200);
  assertEmpty(await manage(server, id, "cancel"), 202, "cancel");
  const o = await waitOutput(server, id);
  assert.equal(o.status, 409, o.text);
  assert.deepEqual(o.json, CANCELLED);
  assert.equal(o.headers["x-restate-error-source"], "invocation");
  assert.equal(o.headers["x-restate-id"], id);
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`);
  assert.equal(a.status, 409);
  assert.deepEqual(a.json, CANCELLED);
  assert.equal(await services.count("Tree.sleepCancelled:c-run"), 1, "signal 1 reached the handler");
});

env.test("completed invocations: cancel/kill 409, pause 409, resume 409; purge 200 then gone", async () => {
  const { server } = env;
  const r = await server.call("/Chain/c", "done");
  assert.equal(r.status, 200, r.text);
  const id = r.headers["x-restate-id"];
  const cases = [
    ["cancel", 409, `The invocation '${id}' was already completed.`],
    ["kill", 409, `The invocation '${id}' was already completed.`],
    ["pause", 409, `The invocation '${id}' is not running, cannot be paused.`],
    ["resume", 409, `The invocation '${id}' is completed, cannot be resumed.`],
  ];
  const got = [];
  const want = [];
  for (const [verb, status, message] of cases) {
    const m = await manage(server, id, verb);
    got.push({ verb, status: m.status, body: m.json ?? m.text, type: m.headers["content-type"] });
    want.push({ verb, status, body: adminError(message), type: "application/json" });
  }
  assert.deepEqual(got, want);
  // The output is untouched by all that.
  const o = await output(id);
  assert.equal(o.status, 200, o.text);
  assert.equal(o.text, '"c(done)"');

  assertEmpty(await manage(server, id, "purge"), 200, "purge");
  const o2 = await output(id);
  assert.equal(o2.status, 404, o2.text);
  assert.deepEqual(o2.json, OUTPUT_NOT_FOUND);
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`);
  assert.equal(a.status, 404, a.text);
  assert.deepEqual(a.json, { code: 404, message: "not found", source: "invocation" });
  for (const verb of ["purge", "cancel"]) {
    const m = await manage(server, id, verb);
    assert.equal(m.status, 404, `${verb} after purge: ${m.text}`);
    assert.deepEqual(m.json, adminError(`The requested invocation '${id}' does not exist`));
  }
});

env.test("kill a running invocation: 200, 409 killed, the handler is not told; purge of a running one: 409", async () => {
  const { server, services } = env;
  const id = await send(server, "/Tree/sleep", { tag: "k-run", ms: 60_000 });
  await waitNote(services, "Tree.sleep:k-run");
  await sleep(200);
  const p = await manage(server, id, "purge");
  assert.equal(p.status, 409, p.text);
  assert.deepEqual(p.json, adminError(`The invocation '${id}' is not yet completed.`));
  assertEmpty(await manage(server, id, "kill"), 200, "kill");
  const o = await waitOutput(server, id);
  assert.equal(o.status, 409, o.text);
  assert.deepEqual(o.json, KILLED);
  assert.equal(o.headers["x-restate-error-source"], "invocation");
  await sleep(200);
  assert.equal(await services.count("Tree.sleepCancelled:k-run"), 0, "kill does not run the handler again");
  assert.equal(await services.count("Tree.sleep:k-run"), 1);
  // A killed invocation is completed: purge works now.
  assertEmpty(await manage(server, id, "purge"), 200, "purge after kill");
  assert.deepEqual((await output(id)).json, OUTPUT_NOT_FOUND);
});

env.test("cancel propagates down the call tree: root, mid and the object leaf all end Cancelled", async () => {
  const { server, services } = env;
  const root = await send(server, "/Tree/root", { tag: "c-tree", key: "c-tree-key", ms: 60_000 });
  await waitNote(services, "Lock.hold:c-tree");
  const mid = await waitNote(services, "Tree.mid:c-tree");
  const leaf = await waitNote(services, "Lock.hold:c-tree");
  await sleep(200);
  assertEmpty(await manage(server, root, "cancel"), 202, "cancel root");
  for (const [what, id] of [["root", root], ["mid", mid], ["leaf", leaf]]) {
    const o = await waitOutput(server, id);
    assert.equal(o.status, 409, `${what}: ${o.text}`);
    assert.deepEqual(o.json, CANCELLED, what);
  }
  const c = await services.counts();
  assert.equal(c["Lock.cancelled:c-tree"], 1, "the leaf saw its cancellation");
  assert.equal(c["Tree.midCancelled:c-tree"], 1);
  assert.equal(c["Tree.rootCancelled:c-tree"], 1);
  // The object lock is free again.
  const r = await server.call("/Lock/c-tree-key/add", 3);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, "3");
});

env.test("kill ends the whole call tree and releases the object lock; the queued call then runs", async () => {
  const { server, services } = env;
  const root = await send(server, "/Tree/root", { tag: "k-tree", key: "k-tree-key", ms: 60_000 });
  const leaf = await waitNote(services, "Lock.hold:k-tree");
  const mid = await waitNote(services, "Tree.mid:k-tree");
  const queued = await send(server, "/Lock/k-tree-key/add", 7);
  await sleep(300);
  assert.deepEqual((await output(queued)).json, NOT_READY, "the add waits for the lock");
  assertEmpty(await manage(server, root, "kill"), 200, "kill root");
  for (const [what, id] of [["root", root], ["mid", mid], ["leaf", leaf]]) {
    const o = await waitOutput(server, id);
    assert.equal(o.status, 409, `${what}: ${o.text}`);
    assert.deepEqual(o.json, KILLED, what);
  }
  const q = await waitOutput(server, queued);
  assert.equal(q.status, 200, q.text);
  assert.equal(q.text, "7");
  const c = await services.counts();
  assert.equal(c["Lock.cancelled:k-tree"] ?? 0, 0);
  assert.equal(c["Tree.rootCancelled:k-tree"] ?? 0, 0);
  assert.equal(c["Lock.hold:k-tree"], 1);
});

env.test("queued invocations (object inbox): cancel/kill 200 and they never run; pause 409, resume 425", async () => {
  const { server, services } = env;
  const holder = await send(server, "/Lock/q-key/hold", { tag: "q-holder", ms: 60_000 });
  await waitNote(services, "Lock.hold:q-holder");
  const q1 = await send(server, "/Lock/q-key/hold", { tag: "q1", ms: 10 });
  const q2 = await send(server, "/Lock/q-key/hold", { tag: "q2", ms: 10 });
  const q3 = await send(server, "/Lock/q-key/add", 5);
  await sleep(300);
  assert.deepEqual((await output(q1)).json, NOT_READY);
  // Answers are collected and compared at the end, after the behaviour checks.
  const got = [];
  const want = [];
  const record = (what, r, status, body) => {
    got.push({ what, status: r.status, body: r.json ?? r.text });
    want.push({ what, status, body });
  };
  record("pause queued", await manage(server, q1, "pause"), 409, adminError(`The invocation '${q1}' is not running, cannot be paused.`));
  record("resume queued", await manage(server, q1, "resume"), 425,
    adminError(`The invocation '${q1}' is either inboxed or scheduled, cannot be resumed.`));
  record("cancel queued", await manage(server, q1, "cancel"), 200, "");
  record("kill queued", await manage(server, q2, "kill"), 200, "");
  for (const id of [q1, q2]) record(`output of ${id === q1 ? "cancelled" : "killed"} queued`, await output(id), 404, OUTPUT_NOT_FOUND);
  // Release the key: only the add runs.
  assertEmpty(await manage(server, holder, "kill"), 200, "kill holder");
  const o3 = await waitOutput(server, q3);
  assert.equal(o3.status, 200, o3.text);
  assert.equal(o3.text, "5");
  await sleep(300);
  const c = await services.counts();
  assert.equal(c["Lock.hold:q1"], undefined, "cancelled while queued: never ran");
  assert.equal(c["Lock.hold:q2"], undefined, "killed while queued: never ran");
  assert.deepEqual(got, want);
});

env.test("delayed invocations: cancel/kill 200, they are gone and never run", async () => {
  const { server, services } = env;
  const d1 = await send(server, "/Timer/target", "d-cancel", "?delay=1500ms");
  const d2 = await send(server, "/Timer/target", "d-kill", "?delay=1500ms");
  await sleep(100);
  assert.deepEqual((await output(d1)).json, NOT_READY);
  const got = [];
  const want = [];
  const record = (what, r, status, body) => {
    got.push({ what, status: r.status, body: r.json ?? r.text });
    want.push({ what, status, body });
  };
  record("cancel delayed", await manage(server, d1, "cancel"), 200, "");
  record("kill delayed", await manage(server, d2, "kill"), 200, "");
  record("output of cancelled delayed", await output(d1), 404, OUTPUT_NOT_FOUND);
  record("output of killed delayed", await output(d2), 404, OUTPUT_NOT_FOUND);
  await sleep(2500); // past the delay
  const c = await services.counts();
  assert.equal(c["Timer.target:d-cancel"], undefined);
  assert.equal(c["Timer.target:d-kill"], undefined);
  record("output of cancelled delayed, later", await output(d1), 404, OUTPUT_NOT_FOUND);
  assert.deepEqual(got, want);
});

env.test("pause a running invocation (202, again 202); it stays unfinished until resume (200)", async () => {
  const { server, services } = env;
  const id = await send(server, "/Tree/block", "paused");
  await waitNote(services, "Tree.block:paused");
  assertEmpty(await manage(server, id, "pause"), 202, "pause");
  await sleep(300);
  // Still 202: the attempt has not ended yet (its ctx.run is blocked), so it is still pausing.
  const again = await manage(server, id, "pause");
  await services.release("paused");
  await sleep(1000);
  const o = await output(id);
  assert.equal(o.status, 470, `paused: ${o.text}`);
  assertEmpty(await manage(server, id, "resume"), 200, "resume");
  const done = await waitOutput(server, id);
  assert.equal(done.status, 200, done.text);
  assert.equal(done.text, '"released paused"');
  const runs = await services.count("Tree.blockRun:paused");
  assert.equal(runs, 1, `the ctx.run closure ran ${runs} times; its result must be kept across the pause`);
  assertEmpty(again, 202, "pause again while the attempt is still running");
});

env.test("malformed id 400, unknown id 404 for every verb, methods other than PATCH 405", async () => {
  const { server } = env;
  const r = await server.call("/Chain/c", "ids");
  const id = r.headers["x-restate-id"];
  const unknown = id.slice(0, -1) + (id.endsWith("A") ? "B" : "A");
  const got = [];
  const want = [];
  const m = await manage(server, "inv_bogus", "cancel");
  got.push({ req: "cancel inv_bogus", status: m.status, body: m.json ?? m.text });
  want.push({ req: "cancel inv_bogus", status: 400, body: adminError("The request field 'invocation_id' is invalid. Reason: unrecognized codec version") });
  for (const verb of ["cancel", "kill", "purge", "pause", "resume"]) {
    const u = await manage(server, unknown, verb);
    got.push({ req: `${verb} unknown`, status: u.status, body: u.json ?? u.text });
    want.push({ req: `${verb} unknown`, status: 404, body: adminError(`The requested invocation '${unknown}' does not exist`) });
  }
  for (const method of ["GET", "POST"]) {
    const w = await server.admin(method, `/invocations/${id}/cancel`);
    got.push({ req: `${method} cancel`, status: w.status, body: w.text, allow: w.headers.allow });
    want.push({ req: `${method} cancel`, status: 405, body: "", allow: "PATCH" });
  }
  assert.deepEqual(got, want);
});
