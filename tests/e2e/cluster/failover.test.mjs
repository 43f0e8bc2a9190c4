// 3 nodes with the compose settings under failures of the metadata group: the metadata leader
// killed (-9) while registrations run, a node stopped (SIGSTOP) for 10 s, two of three nodes down.
//
// Registrations use a distinct deployment URI each (the one services process under path
// prefixes /r<n>, which the SDK endpoint serves like its root), so every acknowledged (2xx)
// registration is a deployment id that must stay listed, and a refused one must not appear.
//
// What Restate 1.7.12 (the oracle) does here, measured on 2 shared cores:
// - metadata leader (node 1) killed: the first registration through node 2 after the kill took
//   1.9 s (it waited inside the POST, then 201); the following ones 20-80 ms.
// - two of three down: POST /deployments answers after ~5.4 s with
//   500 {"message":"internal error: retries for operation on key 'schema_registry' exhausted; last
//   error: other error: [retryable] [http://127.0.0.1:P3/] The service is currently unavailable:
//   tcp connect error","restate_code":null}; Stet answers 503 with a JSON message within 5 s
//   (issue 12: "fails fast with a clear 503"): the status and time bound are Stet-only.
//   GET /deployments still answers 200 (the node's last known schema); /cluster-health 200, members
//   unchanged; admin /health 200.
// - a second node back: the next registration took 0.9 s from the node's spawn (201).
// - one node SIGSTOPped: registrations through the others mostly succeed at once, but a request
//   whose metadata call goes to the stopped node hangs past the 10 s client timeout (the stopped
//   process's socket still accepts connections). Stet must answer every attempt within 5 s: the
//   count and no-hang assertions are Stet-only, as is everything about GET /cluster.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Cluster, IS_RESTATE, deploymentsOf, nodeIdNum, sleep, viewNode, waitUntil } from "./harness.mjs";

const cluster = new Cluster("failover");
before(() => cluster.start(), { timeout: 90_000 });
after(() => cluster.close());

const acked = new Map(); // deployment id -> uri, every 2xx registration of this file
// uris whose registration was refused while two of three nodes were down: must never appear.
// (A registration that failed during a failover may have an unknown outcome: it may or may not be
// listed later, so those are not tracked.)
const refused = new Set();
let seq = 0;

/** One registration of a new uri through node k: {ok, status, id, uri, t0, t1, error}. */
async function registerNew(k, timeout = 10_000) {
  const uri = `${cluster.services.uri}/r${++seq}`;
  const t0 = Date.now();
  try {
    const r = await cluster.register(k, uri, {}, { timeout });
    const t1 = Date.now();
    const ok = r.status >= 200 && r.status < 300;
    if (ok) acked.set(r.json.id, uri);
    return { ok, status: r.status, id: r.json?.id, text: r.text, uri, k, t0, t1 };
  } catch (e) {
    return { ok: false, status: 0, error: e.message, uri, k, t0, t1: Date.now() };
  }
}

/** Registers through each of `ks` in turn, one at a time per node, until stop() is called. */
function registrationLoop(ks) {
  const results = [];
  let running = true;
  const loops = ks.map(async (k) => {
    while (running) {
      const r = await registerNew(k);
      results.push(r);
      if (!r.ok) await sleep(100);
    }
  });
  return {
    results,
    async stop() {
      running = false;
      await Promise.all(loops);
      return results;
    },
  };
}

/** Every acknowledged registration is listed by node k, and none of the refused ones. */
async function assertListsAllAcked(k, { wait }) {
  const check = async () => {
    const d = deploymentsOf(await cluster.admin(k, "GET", "/deployments"));
    const ids = new Set(d.map((x) => x.id));
    const missing = [...acked.keys()].filter((id) => !ids.has(id));
    return { d, missing };
  };
  // Stet: at once. Restate 1.7.12 propagates the schema asynchronously (tens of ms): waits.
  const { d, missing } = wait
    ? await waitUntil(
        async () => {
          const c = await check();
          return c.missing.length === 0 ? c : false;
        },
        { timeout: wait, interval: 100, what: `node ${k} to list every acknowledged registration` },
      ).catch(async () => check())
    : await check();
  assert.deepEqual(missing, [], `node ${k} lists every acknowledged registration (${acked.size})`);
  const half = d.filter((x) => refused.has(x.uri.replace(/\/$/, "")));
  assert.deepEqual(
    half.map((x) => x.uri),
    [],
    `node ${k} lists no registration that was refused`,
  );
}

async function metadataLeader() {
  if (IS_RESTATE) return 1; // restate-server has no /cluster; its provisioning node 1 starts as the metadata leader
  const v = await cluster.clusterView(1);
  const leader = nodeIdNum(v.metadata?.leader);
  assert.ok(leader >= 1 && leader <= 3, `metadata.leader in /cluster: ${JSON.stringify(v.metadata)}`);
  return leader;
}

cluster.test("kill -9 of the metadata leader while registrations run: none acknowledged is lost, service back within 3 s", async (t) => {
  await cluster.ensureAllRunning();
  const leader = await metadataLeader();
  const others = cluster.ks.filter((k) => k !== leader);
  const loop = registrationLoop(others);
  await waitUntil(() => loop.results.filter((r) => r.ok).length >= 4, { timeout: 15_000, what: "registrations before the kill" });
  const killedAt = Date.now();
  await cluster.kill(leader);
  // Keep registering for 6 s after the kill (and until one started after it succeeded).
  await waitUntil(() => Date.now() - killedAt >= 6000 && loop.results.some((r) => r.ok && r.t0 >= killedAt), {
    timeout: 30_000,
    interval: 100,
    what: "a registration started after the kill to succeed",
  });
  const results = await loop.stop();
  const firstAfter = results.filter((r) => r.ok && r.t0 >= killedAt).sort((a, b) => a.t1 - b.t1)[0];
  const failures = results.filter((r) => !r.ok);
  t.diagnostic(
    `${cluster.kind}: leader N${leader} killed; first registration started after the kill acknowledged after ` +
      `${firstAfter.t1 - killedAt} ms; ${results.filter((r) => r.ok).length} acknowledged, ${failures.length} failed` +
      (failures.length ? ` (${[...new Set(failures.map((f) => f.status + " " + (f.error || f.text).slice(0, 120)))].join(" | ")})` : ""),
  );
  // Stet: within 3 s (issue 12: about 3x the 1 s target). Restate 1.7.12 took 1.9-2.0 s on an
  // idle machine; its bound here is looser (10 s) so the oracle run does not flake under load.
  const bound = IS_RESTATE ? 10_000 : 3000;
  assert.ok(firstAfter.t1 - killedAt <= bound, `first registration after the kill acknowledged within ${bound} ms (took ${firstAfter.t1 - killedAt} ms)`);
  // Every acknowledged registration is listed by every live node.
  for (const k of others) await assertListsAllAcked(k, { wait: IS_RESTATE ? 5000 : 0 });
  // The killed node comes back on its data and lists them too.
  await cluster.node(leader).start();
  await cluster.waitQuorum({ ks: cluster.ks });
  await assertListsAllAcked(leader, { wait: 15_000 });
  if (!IS_RESTATE) {
    // Stet-only: a new metadata leader among the survivors was elected.
    const v = await cluster.clusterView(others[0]);
    assert.ok(nodeIdNum(v.metadata.leader) >= 1);
  }
}, { timeout: 90_000 });

cluster.test("SIGSTOP of a node for 10 s: the others keep registering; it is seen dead, then alive, and catches up", async (t) => {
  await cluster.ensureAllRunning();
  // Stop the metadata leader (Stet); on Restate node 1.
  const victim = await metadataLeader();
  const others = cluster.ks.filter((k) => k !== victim);
  const pausedAt = Date.now();
  cluster.pause(victim);
  try {
    const loop = registrationLoop(others);
    let deadAfter = null;
    if (!IS_RESTATE) {
      // Stet-only (/cluster): the stopped node shows as dead within ~1 s (3 s allowed).
      await waitUntil(
        async () => {
          const v = await cluster.clusterView(others[0]);
          return viewNode(v, victim)?.status === "dead";
        },
        { timeout: 3000, interval: 100, what: `N${victim} shown dead in node ${others[0]}'s /cluster` },
      );
      deadAfter = Date.now() - pausedAt;
    }
    await sleep(Math.max(0, 10_000 - (Date.now() - pausedAt)));
    const results = await loop.stop();
    const ok = results.filter((r) => r.ok);
    const first = ok.sort((a, b) => a.t1 - b.t1)[0];
    t.diagnostic(
      `${cluster.kind}: N${victim} stopped; first registration acknowledged after ${first ? first.t1 - pausedAt : "-"} ms; ` +
        `${ok.length} acknowledged, ${results.length - ok.length} failed` +
        (results.length > ok.length
          ? ` (${[...new Set(results.filter((r) => !r.ok).map((f) => `${f.status} after ${f.t1 - f.t0} ms ${(f.error || f.text).slice(0, 160)}`))].join(" | ")})`
          : "") +
        (deadAfter !== null ? `; shown dead after ${deadAfter} ms` : ""),
    );
    assert.ok(first, "some registration succeeded while a node was stopped");
    // Stet: within 5 s. Restate: 10 s (when the stopped node leads its metadata group, its
    // failover took up to 4 s under load).
    const bound = IS_RESTATE ? 10_000 : 5000;
    assert.ok(first.t1 - pausedAt <= bound, `first registration acknowledged within ${bound} ms of the SIGSTOP (took ${first.t1 - pausedAt} ms)`);
    if (IS_RESTATE) {
      // Restate 1.7.12: a registration through a node whose metadata requests go to the stopped
      // node hangs (no answer within the 10 s client timeout; a TCP connect to a stopped process
      // still succeeds), so one or both loops may be stuck for the whole pause (seen: 2 acked /
      // 2 hung, 31 acked / 1 hung, 98 acked / 1 hung). Only "some registration succeeded" holds.
      assert.ok(ok.length >= 1);
    } else {
      // Stet-only: registrations keep succeeding, and none hangs.
      assert.ok(ok.length >= 5, `registrations keep succeeding while a node is stopped (${ok.length})`);
      const slow = results.filter((r) => r.t1 - r.t0 > 5000);
      assert.deepEqual(
        slow.map((r) => `${r.uri} via node ${r.k}: ${r.t1 - r.t0} ms`),
        [],
        "every registration attempt answered within 5 s",
      );
    }
    for (const k of others) await assertListsAllAcked(k, { wait: IS_RESTATE ? 5000 : 0 });
  } finally {
    cluster.resume(victim);
  }
  const resumedAt = Date.now();
  if (!IS_RESTATE) {
    await waitUntil(
      async () => {
        for (const k of cluster.ks) {
          const v = await cluster.clusterView(k);
          if (viewNode(v, victim)?.status !== "alive") return false;
        }
        return true;
      },
      { timeout: 5000, interval: 100, what: `N${victim} alive again in every node's /cluster` },
    );
    t.diagnostic(`stet: N${victim} alive again after ${Date.now() - resumedAt} ms`);
  }
  // The resumed node lists everything registered meanwhile.
  await assertListsAllAcked(victim, { wait: 10_000 });
}, { timeout: 90_000 });

cluster.test("two of three down: registration fails fast and clearly, nothing half-written; works again once one is back", async (t) => {
  await cluster.ensureAllRunning();
  // Precondition (so a lag left by an earlier test does not show up here): node 1, the one that
  // stays up, lists every registration acknowledged so far.
  await assertListsAllAcked(1, { wait: 15_000 });
  await cluster.kill(2);
  await cluster.kill(3);
  const t0 = Date.now();
  const r = await registerNew(1, 60_000);
  const took = Date.now() - t0;
  t.diagnostic(`${cluster.kind}: POST /deployments with 2 of 3 down: ${r.status} after ${took} ms: ${r.text ?? r.error}`);
  assert.equal(r.ok, false, "no registration without a metadata quorum");
  assert.ok(r.status > 0, `an answer, not a hang: ${r.error}`);
  refused.add(r.uri);
  const body = JSON.parse(r.text);
  assert.equal(typeof body.message, "string");
  assert.ok(body.message.length > 0);
  if (IS_RESTATE) {
    // Restate 1.7.12: 500 after ~5 s, "internal error: retries for operation on key
    // 'schema_registry' exhausted; ...", "restate_code": null.
    assert.equal(r.status, 500);
  } else {
    // Stet-only (issue 12): a clear 503 within 5 s.
    assert.equal(r.status, 503);
    assert.ok(took <= 5000, `answered within 5 s (took ${took} ms)`);
  }
  // Reads: Restate answers from its last known schema (200). Stet may do the same or refuse with
  // a JSON 503; either way it answers within 5 s, and never lists the refused registration.
  const g0 = Date.now();
  const g = await cluster.admin(1, "GET", "/deployments", undefined, { timeout: 20_000 });
  t.diagnostic(`${cluster.kind}: GET /deployments with 2 of 3 down: ${g.status} after ${Date.now() - g0} ms`);
  assert.ok(Date.now() - g0 <= 5000, "GET /deployments answers within 5 s");
  if (IS_RESTATE) assert.equal(g.status, 200);
  if (g.status === 200) {
    const ids = new Set(deploymentsOf(g).map((x) => x.id));
    for (const id of acked.keys()) assert.ok(ids.has(id), `still lists ${id}`);
    assert.ok(!deploymentsOf(g).some((x) => x.uri.replace(/\/$/, "") === r.uri), "the refused registration is not listed");
  } else {
    assert.equal(g.status, 503);
    assert.equal(typeof g.json?.message, "string");
  }
  const h = await cluster.admin(1, "GET", "/health");
  assert.equal(h.status, 200, "admin /health stays 200 without quorum");

  // Node 2 back: registration through node 1 works again within 10 s of node 2 serving.
  await cluster.node(2).start();
  const back = Date.now();
  const ok = await waitUntil(
    async () => {
      const x = await registerNew(1, 10_000);
      return x.ok ? x : false;
    },
    { timeout: 10_000, interval: 200, what: "a registration to succeed with node 2 back" },
  );
  t.diagnostic(`${cluster.kind}: registration acknowledged ${ok.t1 - back} ms after node 2 served again`);
  assert.ok(ok.t1 - back <= 10_000);
  // Nothing half-written: every refused registration is absent, every acknowledged one present,
  // on both live nodes and (after it is back) on node 3.
  for (const k of [1, 2]) await assertListsAllAcked(k, { wait: IS_RESTATE ? 5000 : 0 });
  await cluster.node(3).start();
  await cluster.waitQuorum({ ks: cluster.ks });
  await assertListsAllAcked(3, { wait: 15_000 });
}, { timeout: 120_000 });

cluster.test("SIGTERM of the metadata leader: it hands over first; registrations through the others see no error and no long gap", async (t) => {
  await cluster.ensureAllRunning();
  const leader = await metadataLeader();
  const others = cluster.ks.filter((k) => k !== leader);
  const loop = registrationLoop(others);
  await waitUntil(() => loop.results.filter((r) => r.ok).length >= 4, { timeout: 15_000, what: "registrations before the SIGTERM" });
  const termAt = Date.now();
  const stopped = cluster.stop(leader);
  await waitUntil(() => Date.now() - termAt >= 3000, { timeout: 10_000, interval: 100, what: "3 s of registrations" });
  const results = await loop.stop();
  const s = await stopped;
  assert.equal(s.code, 0, "the leader exits cleanly");
  const after = results.filter((r) => r.t1 >= termAt);
  const failures = after.filter((r) => !r.ok);
  // the longest wait for an answer, and the longest time without any success, around the SIGTERM
  const oks = results.filter((r) => r.ok).map((r) => r.t1).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < oks.length; i++) if (oks[i] >= termAt) gap = Math.max(gap, oks[i] - Math.max(oks[i - 1], termAt));
  const slowest = Math.max(...after.map((r) => r.t1 - r.t0));
  t.diagnostic(`${cluster.kind}: SIGTERM of N${leader}: ${after.length} registrations after it, ${failures.length} failed, longest gap ${gap} ms, slowest ${slowest} ms`);
  if (IS_RESTATE) return; // Restate 1.7.12 does not hand over its metadata leadership (recorded only)
  assert.deepEqual(failures.map((f) => `${f.status} ${f.error || f.text}`), [], "no registration fails");
  // design/cluster.md §4: no gap beyond a few hundred ms (target 300 ms; bound about 3x)
  assert.ok(gap <= 1000, `longest gap ${gap} ms <= 1000 ms`);
  await cluster.node(leader).start();
  await cluster.waitQuorum({ ks: cluster.ks });
  await assertListsAllAcked(leader, { wait: 15_000 });
}, { timeout: 90_000 });
