// Suspension and resumption with a short inactivity timeout (100 ms, from the services' discovery
// manifest) and a 1 s abort timeout: a sleep suspends and the timer resumes it; a ctx.run that
// outlives the inactivity timeout ends in a suspension on a completion the server already has,
// which must resume at once; an awakeable resolved while suspended resumes the invocation; the
// order in which notifications arrived is the same on every attempt; PATCH /services changes the
// inactivity timeout; the abort timeout ends an attempt that ignores the suspension request.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { sleep, waitUntil } from "./harness.mjs";
import { env4, notes, send, waitNote } from "./lib4.mjs";

const env = env4("suspend4", { inactivityTimeout: 100, args: ["--abort-timeout", "1000"] });
before(() => env.start());
after(() => env.close());

env.test("discovery options are shown: inactivity_timeout 100ms, abort_timeout 1s", async () => {
  const r = await env.server.admin("GET", "/services/Timer");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.inactivity_timeout, "100ms");
  assert.equal(r.json.abort_timeout, "1s");
});

env.test("a sleep suspends; the timer resumes the invocation; ctx.runs ran once", async () => {
  const { server, services } = env;
  const r = await server.call("/Timer/sleep", { tag: "sleep", ms: 700 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '"slept 700"');
  const c = await services.counts();
  assert.equal(c["Timer.attempt:sleep"], 2, "one attempt before the suspension, one after");
  assert.equal(c["Timer.before:sleep"], 1);
  assert.equal(c["Timer.after:sleep"], 1);
  const [before_] = await services.times("Timer.before:sleep");
  const [woke] = await services.times("Timer.woke:sleep");
  assert.ok(woke - before_ >= 700, `woke ${woke - before_} ms after the sleep started`);
});

env.test("suspension on an already-stored completion (a ctx.run longer than the inactivity timeout) resumes at once", async () => {
  const { server, services } = env;
  const r = await server.call("/Steps/slowRun", { tag: "slow", ms: 600 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '"ran 600"');
  const c = await services.counts();
  assert.equal(c["Steps.slowRun:slow"], 1, "the closure must run once");
  assert.equal(c["Steps.attempt:slow"], 2, "the first attempt suspends after the run, the second replays it");
  const attempts = await services.times("Steps.attempt:slow");
  const [runEnd] = await services.times("Steps.runEnd:slow");
  assert.ok(attempts[1] - runEnd < 1000, `resumed ${attempts[1] - runEnd} ms after the run finished; expected at once`);
});

env.test("an awakeable resolved while suspended resumes the invocation", async () => {
  const { server, services } = env;
  const id = await send(server, "/Waiter/awake", "susp");
  const awk = await waitNote(services, "Waiter.awake:susp");
  await sleep(600); // well past the inactivity timeout: suspended by now
  assert.equal(await services.count("Waiter.attempt:susp"), 1);
  const r = await server.ingress("POST", `/restate/a/${awk}/resolve`, { json: "late value" });
  assert.equal(r.status, 202, r.text);
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`, { timeout: 10_000 });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.text, '"late value"');
  const c = await services.counts();
  assert.equal(c["Waiter.attempt:susp"], 2);
  assert.equal(c["Waiter.done:susp"], 1);
});

env.test("notification order is the same on every attempt (race of two awakeables, replayed)", async () => {
  const { server, services } = env;
  const id = await send(server, "/Waiter/order", { tag: "order", ms: 300 });
  const first = await waitNote(services, "Waiter.first:order");
  const second = await waitNote(services, "Waiter.second:order");
  await sleep(400); // suspended on the race
  // The second awakeable is resolved first.
  assert.equal((await server.ingress("POST", `/restate/a/${second}/resolve`, { json: "B" })).status, 202);
  await sleep(50);
  assert.equal((await server.ingress("POST", `/restate/a/${first}/resolve`, { json: "A" })).status, 202);
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`, { timeout: 10_000 });
  assert.equal(a.status, 200, a.text);
  assert.deepEqual(a.json, { winner: "second:B", all: ["A", "B"] });
  const attempts = await services.count("Waiter.attempt:order");
  const winners = await notes(services, "Waiter.winner:order");
  // Every attempt after the first one (which suspended before anything arrived) saw the race.
  assert.ok(attempts >= 3, `expected a suspension in the 300 ms sleep too, got ${attempts} attempts`);
  assert.equal(winners.length, attempts - 1);
  assert.deepEqual(winners, winners.map(() => "second:B"));
});

env.test("PATCH /services/{name} inactivity_timeout takes effect for new attempts", async () => {
  const { server, services } = env;
  const p1 = await server.admin("PATCH", "/services/Timer", { json: { inactivity_timeout: "30s" } });
  assert.equal(p1.status, 200, p1.text);
  assert.equal(p1.json.inactivity_timeout, "30s");
  assert.equal(p1.json.abort_timeout, "1s");
  const r1 = await server.call("/Timer/sleep", { tag: "patched-long", ms: 500 });
  assert.equal(r1.status, 200, r1.text);
  assert.equal(await services.count("Timer.attempt:patched-long"), 1, "30 s inactivity: the sleep must not suspend");

  const p2 = await server.admin("PATCH", "/services/Timer", { json: { inactivity_timeout: "100ms" } });
  assert.equal(p2.status, 200, p2.text);
  assert.equal(p2.json.inactivity_timeout, "100ms");
  const g = await server.admin("GET", "/services/Timer");
  assert.equal(g.json.inactivity_timeout, "100ms");
  const r2 = await server.call("/Timer/sleep", { tag: "patched-short", ms: 500 });
  assert.equal(r2.status, 200, r2.text);
  assert.equal(await services.count("Timer.attempt:patched-short"), 2, "100 ms inactivity: the sleep suspends");
});

env.test("abort timeout: an attempt that does not react to the suspension request is aborted and retried", async () => {
  const { server, services } = env;
  const id = await send(server, "/Steps/stuck", "stuck");
  // The closure never returns until released. Inactivity (100 ms) then abort (1 s) must end the
  // attempt; the retry replays the journal (the run has no result) and runs the closure again.
  await services.waitCount("Steps.stuckRun:stuck", 2, 25_000);
  const t = await services.times("Steps.attempt:stuck");
  assert.ok(t[1] - t[0] >= 1000, `the second attempt started ${t[1] - t[0]} ms after the first, before inactivity + abort timeout`);
  await services.release("stuck");
  const a = await server.ingress("GET", `/restate/invocation/${id}/attach`, { timeout: 20_000 });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.text, '"unstuck stuck"');
  await waitUntil(async () => (await server.ingress("GET", `/restate/invocation/${id}/output`)).status === 200, { what: "output" });
}, { timeout: 50_000 });
