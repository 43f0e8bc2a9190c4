// Deployment versioning. Two services4.mjs processes stand for two versions of the same services
// ("v1" registered at start, "v2" registered later at another URI). New invocations go to the
// newest deployment; an invocation that already journaled an entry on v1 resumes on v1 (its
// pinned deployment); one that journaled nothing yet is not pinned and resumes on v2 (what
// restate-server 1.7.12 does). A non-deterministic handler (the SDK's journal mismatch, code 570)
// is retried with growing backoff until it is killed. Both processes use a 100 ms inactivity
// timeout, so waiting invocations suspend and come back over a new request.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { DEPLOYMENT_ID_RE, Services, sleep } from "./harness.mjs";
import { KILLED, NOT_READY, env4, send, waitNote } from "./lib4.mjs";

const env = env4("versioning", { inactivityTimeout: 100, args: ["--version", "v1"] });
let v2 = null;
before(() => env.start());
after(async () => {
  if (v2) await v2.stop();
  await env.close();
});

env.test("a new deployment takes new invocations; pinned in-flight ones finish on theirs", async () => {
  const { server, services } = env;
  const w1 = await server.call("/Versioned/which", "before");
  assert.equal(w1.status, 200, w1.text);
  assert.equal(w1.text, '"v1"');

  // In flight on v1: one has journaled a ctx.run (pinned), one has journaled nothing yet.
  const pinned = await send(server, "/Versioned/wait", "pinned");
  const pinnedAwk = await waitNote(services, "Versioned.wait:pinned");
  const unpinned = await send(server, "/Versioned/waitUnpinned", "unpinned");
  const unpinnedAwk = await waitNote(services, "Versioned.waitUnpinned:unpinned");
  await sleep(500); // both suspended by now

  v2 = new Services(env.dir, { script: "services4.mjs", args: ["--version", "v2", "--inactivity-timeout", "100"], logName: "services-v2.log" });
  await v2.start();
  const reg = await server.admin("POST", "/deployments", { json: { uri: v2.uri } });
  assert.equal(reg.status, 201, reg.text);
  assert.match(reg.json.id, DEPLOYMENT_ID_RE);
  assert.notEqual(reg.json.id, env.deployment.id);

  const svc = await server.admin("GET", "/services/Versioned");
  assert.equal(svc.status, 200, svc.text);
  assert.equal(svc.json.deployment_id, reg.json.id);
  assert.equal(svc.json.revision, 2);
  const list = await server.admin("GET", "/deployments");
  assert.deepEqual(list.json.deployments.map((d) => d.id).sort(), [env.deployment.id, reg.json.id].sort());

  const w2 = await server.call("/Versioned/which", "after");
  assert.equal(w2.status, 200, w2.text);
  assert.equal(w2.text, '"v2"');
  assert.equal(await services.count("Versioned.which:after"), 0);
  assert.equal(await v2.count("Versioned.which:after"), 1);

  for (const awk of [pinnedAwk, unpinnedAwk]) {
    const r = await server.ingress("POST", `/restate/a/${awk}/resolve`, { json: "go" });
    assert.equal(r.status, 202, r.text);
  }
  const a1 = await server.ingress("GET", `/restate/invocation/${pinned}/attach`, { timeout: 15_000 });
  assert.equal(a1.status, 200, a1.text);
  assert.equal(a1.text, '"v1:go"', "the pinned invocation must finish on v1");
  assert.equal(await services.count("Versioned.wait:pinned"), 2, "v1: the first attempt and the resumption");
  assert.equal(await v2.count("Versioned.wait:pinned"), 0);

  const a2 = await server.ingress("GET", `/restate/invocation/${unpinned}/attach`, { timeout: 15_000 });
  assert.equal(a2.status, 200, a2.text);
  assert.equal(a2.text, '"v2:go"', "nothing was journaled on v1, so it resumes on the newest deployment");
  assert.equal(await services.count("Versioned.waitUnpinned:unpinned"), 1);
  assert.equal(await v2.count("Versioned.waitUnpinned:unpinned"), 1);
}, { timeout: 45_000 });

env.test("a journal mismatch (non-deterministic replay) is retried with growing backoff, then killed", async () => {
  const { server } = env;
  const target = v2 ?? env.services; // the newest deployment runs it
  const id = await send(server, "/Versioned/nondet", "nd");
  await target.waitCount("Versioned.nondet:nd", 4, 20_000);
  const t = await target.times("Versioned.nondet:nd");
  const gaps = t.slice(1).map((v, i) => v - t[i]);
  assert.ok(gaps[0] >= 200, `first retry after ${gaps[0]} ms`);
  assert.ok(gaps[1] > gaps[0] && gaps[2] > gaps[1], `the backoff must grow: gaps ${gaps.join(", ")} ms`);
  const mismatches = await target.count(`SDK.error570:${id}`);
  assert.ok(mismatches >= 3, `the SDK reported a journal mismatch (570) on the retries (${mismatches} times)`);
  const o = await server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(o.status, 470, o.text);
  assert.deepEqual(o.json, NOT_READY);

  const k = await server.admin("PATCH", `/invocations/${id}/kill`);
  assert.equal(k.status, 200, k.text);
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`, { timeout: 10_000 });
  assert.equal(a.status, 409, a.text);
  assert.deepEqual(a.json, KILLED);
  const n = await target.count("Versioned.nondet:nd");
  await sleep(2500);
  assert.equal(await target.count("Versioned.nondet:nd"), n, "no attempt after the kill");
}, { timeout: 45_000 });
