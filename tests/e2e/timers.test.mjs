// Durable timers and delayed sends, with the default inactivity timeout (1 min, so sleeps complete
// on the open stream without suspending): one long sleep, many short ones, 50 invocations x 20
// sleeps, 1000 timers at once in one invocation, ingress /send?delay= in both syntaxes (and the
// 400s for malformed delays, after which nothing runs), and a delayed send from a handler. What
// ran and when is recorded in the services process (services4.mjs).
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { INVOCATION_ID_RE, sleep, waitUntil } from "./harness.mjs";
import { env4, send, waitOutput, NOT_READY } from "./lib4.mjs";

const env = env4("timers");
before(() => env.start());
after(() => env.close());

// RFC 3339, nine fraction digits, Z (ms precision padded), as in the send response.
const EXECUTION_TIME_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}000000Z$/;

env.test("one long sleep: lasts at least its duration, ctx.runs around it run once", async () => {
  const { server, services } = env;
  const r = await server.call("/Timer/sleep", { tag: "long", ms: 3000 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '"slept 3000"');
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  const c = await services.counts();
  assert.equal(c["Timer.attempt:long"], 1, "with the default 1 min inactivity timeout the sleep must not suspend");
  assert.equal(c["Timer.before:long"], 1);
  assert.equal(c["Timer.after:long"], 1);
  const [before_] = await services.times("Timer.before:long");
  const [woke] = await services.times("Timer.woke:long");
  assert.ok(woke - before_ >= 3000, `woke ${woke - before_} ms after the sleep started`);
}, { timeout: 20_000 });

env.test("many short sleeps in a row (20 x 10 ms)", async () => {
  const r = await env.server.call("/Timer/many", { tag: "row", n: 20, ms: 10 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, "20");
  const c = await env.services.counts();
  assert.equal(c["Timer.attempt:row"], 1);
  assert.equal(c["Timer.done:row"], 1);
});

env.test("50 invocations x 20 sleeps each, all at once: each completes exactly once", async () => {
  const { server, services } = env;
  const ids = await Promise.all(
    Array.from({ length: 50 }, (_, i) => send(server, "/Timer/many", { tag: `fifty${i}`, n: 20, ms: 20 })),
  );
  assert.equal(new Set(ids).size, 50);
  await waitUntil(
    async () => {
      const c = await services.counts();
      return ids.every((_, i) => c[`Timer.done:fifty${i}`] >= 1);
    },
    { timeout: 30_000, interval: 200, what: "all 50 invocations done" },
  );
  for (const id of ids) {
    const o = await server.ingress("GET", `/restate/invocation/${id}/output`);
    assert.equal(o.status, 200, o.text);
    assert.equal(o.text, "20");
  }
  const c = await services.counts();
  for (let i = 0; i < 50; i++) {
    assert.equal(c[`Timer.done:fifty${i}`], 1, `fifty${i} done`);
    assert.equal(c[`Timer.attempt:fifty${i}`], 1, `fifty${i} attempts`);
  }
}, { timeout: 45_000 });

env.test("1000 timers at once in one invocation", async () => {
  const t0 = Date.now();
  const r = await env.server.call("/Timer/parallel", { tag: "thousand", n: 1000, ms: 500 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, "1000");
  assert.ok(Date.now() - t0 >= 500);
  const c = await env.services.counts();
  assert.equal(c["Timer.done:thousand"], 1);
  assert.equal(c["Timer.attempt:thousand"], 1);
}, { timeout: 30_000 });

env.test("ingress /send?delay=2000ms and ?delay=PT2S: 202 with executionTime, runs once after the delay", async () => {
  const { server, services } = env;
  const t0 = Date.now();
  const a = await server.call("/Timer/target/send?delay=2000ms", "delay-ms");
  const b = await server.call("/Timer/target/send?delay=PT2S", "delay-iso");
  const t1 = Date.now();
  for (const r of [a, b]) {
    assert.equal(r.status, 202, r.text);
    assert.equal(r.headers["content-type"], "application/json");
    assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
    assert.deepEqual(Object.keys(r.json), ["invocationId", "executionTime", "status"]);
    assert.equal(r.json.invocationId, r.headers["x-restate-id"]);
    assert.equal(r.json.status, "Accepted");
    assert.match(r.json.executionTime, EXECUTION_TIME_RE);
    const at = Date.parse(r.json.executionTime);
    assert.ok(at >= t0 + 2000 - 50 && at <= t1 + 2000 + 50, `executionTime ${r.json.executionTime} is not ~2 s after the send`);
  }
  // Not yet run: the output is "not ready".
  const early = await server.ingress("GET", `/restate/invocation/${a.json.invocationId}/output`);
  assert.equal(early.status, 470, early.text);
  assert.deepEqual(early.json, NOT_READY);
  assert.equal(await services.count("Timer.target:delay-ms"), 0);

  for (const [r, tag] of [[a, "delay-ms"], [b, "delay-iso"]]) {
    const o = await waitOutput(server, r.json.invocationId, 10_000);
    assert.equal(o.status, 200, o.text);
    assert.equal(o.text, `"target ${tag}"`);
    const [ran] = await services.times(`Timer.target:${tag}`);
    assert.ok(ran >= t0 + 2000 - 50, `${tag} ran ${ran - t0} ms after the send`);
  }
  await sleep(300);
  const c = await services.counts();
  assert.equal(c["Timer.target:delay-ms"], 1);
  assert.equal(c["Timer.target:delay-iso"], 1);
}, { timeout: 20_000 });

env.test("the delay parameter name is case-insensitive; other duration forms", async () => {
  const { server, services } = env;
  const a = await server.call("/Timer/target/send?DELAY=1s", "delay-upper");
  const b = await server.call("/Timer/target/send?delay=PT0.5S", "delay-frac");
  const c = await server.call("/Timer/target/send?delay=500ms", "delay-500");
  for (const r of [a, b, c]) {
    assert.equal(r.status, 202, r.text);
    assert.match(r.json.executionTime, EXECUTION_TIME_RE);
  }
  await services.waitCount("Timer.target:delay-upper", 1, 10_000);
  await services.waitCount("Timer.target:delay-frac", 1, 10_000);
  await services.waitCount("Timer.target:delay-500", 1, 10_000);
});

env.test("malformed delay: 400, nothing is enqueued; delay on a call: 400", async () => {
  const { server, services } = env;
  const cases = [
    ["soon", "bad-soon",
      'bad delay query parameter, must be a ISO8601 duration: failed to parse input in the "friendly" duration format: expected duration to start with a unit value (a decimal integer) after an optional sign, but no integer was found'],
    ["-5s", "bad-neg", "bad delay query parameter, must be a ISO8601 duration: negative signed durations cannot be converted to an unsigned duration"],
    ["", "bad-empty",
      'bad delay query parameter, must be a ISO8601 duration: an empty string is not a valid duration in either the ISO 8601 format or Jiff\'s "friendly" format'],
  ];
  // All cases first, compared in one go, so that a failure lists every difference; the statuses
  // and "nothing enqueued" are checked before the exact messages.
  const got = [];
  const want = [];
  for (const [delay, tag, message] of cases) {
    const r = await server.call(`/Timer/target/send?delay=${encodeURIComponent(delay)}`, tag);
    got.push({ delay, status: r.status, body: r.json ?? r.text, source: r.headers["x-restate-error-source"], id: r.headers["x-restate-id"] });
    want.push({ delay, status: 400, body: { code: 400, message, source: "ingress" }, source: "ingress", id: undefined });
  }
  const call = await server.call("/Timer/target?delay=1s", "bad-call");
  got.push({ delay: "1s on a call", status: call.status, body: call.json ?? call.text, source: call.headers["x-restate-error-source"], id: call.headers["x-restate-id"] });
  want.push({
    delay: "1s on a call",
    status: 400,
    body: { code: 400, message: "cannot use the delay query parameter with calls. The delay is supported only with sends", source: "ingress" },
    source: "ingress",
    id: undefined,
  });
  assert.deepEqual(got.map((g) => g.status), want.map((w) => w.status), JSON.stringify(got));
  // Nothing was enqueued: none of them runs, not even later.
  await sleep(1500);
  const c = await services.counts();
  for (const tag of ["bad-soon", "bad-neg", "bad-empty", "bad-call"]) {
    assert.equal(c[`Timer.target:${tag}`], undefined, `${tag} must not run`);
  }
  assert.deepEqual(got, want);
});

env.test("delayed send from a handler: the target runs once, after the delay", async () => {
  const { server, services } = env;
  const t0 = Date.now();
  const r = await server.call("/Timer/delayedSend", { tag: "from-handler", delayMs: 1500 });
  assert.equal(r.status, 200, r.text);
  const id = r.json;
  assert.match(id, INVOCATION_ID_RE);
  assert.notEqual(id, r.headers["x-restate-id"]);
  const early = await server.ingress("GET", `/restate/invocation/${id}/output`);
  assert.equal(early.status, 470, early.text);
  const o = await waitOutput(server, id, 10_000);
  assert.equal(o.status, 200, o.text);
  assert.equal(o.text, '"target from-handler"');
  const [ran] = await services.times("Timer.target:from-handler");
  assert.ok(ran - t0 >= 1500 - 50, `the delayed send ran ${ran - t0} ms after the call`);
  await sleep(300);
  assert.equal(await services.count("Timer.target:from-handler"), 1);
  assert.equal(await services.count("Timer.delayedSend:from-handler"), 1);
}, { timeout: 20_000 });
