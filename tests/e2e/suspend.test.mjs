// Suspension (beyond the core list): services started with a 50 ms inactivityTimeout, so the
// server asks the SDK to suspend while it waits on a 500 ms ctx.sleep; the invocation is then
// re-invoked when the timer fires, replays its journal and completes.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, INVOCATION_ID_RE } from "./harness.mjs";

const env = new Env("suspend", { inactivityTimeout: 50 });
before(() => env.start());
after(() => env.close());

env.test("inactivity timeout: sleep suspends, the timer resumes the invocation", async () => {
  const t0 = Date.now();
  const r = await env.server.call("/Sleeper/sleep", 500);
  const took = Date.now() - t0;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '"slept"');
  assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
  assert.ok(took >= 450, `the sleep lasted only ${took} ms`);
  assert.equal(await env.services.count("Sleeper.attempt"), 2, "one attempt before the suspension, one after");
});

env.test("inactivity timeout: service metadata shows it", async () => {
  const r = await env.server.admin("GET", "/services/Sleeper");
  assert.equal(r.status, 200);
  assert.equal(r.json.inactivity_timeout, "50ms");
});
