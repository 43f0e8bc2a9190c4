// Processes that must not join the 3-node cluster refuse to start with a message that says what
// is wrong: another cluster name, a node id that belongs to another node, a node's data dir
// reused under another id or name. The cluster is unaffected afterwards.
//
// Restate 1.7.12 (the oracle) exits with code 1 in under 0.5 s in every case:
// - RESTATE_CLUSTER_NAME=other, node id 4, fresh data: "failed writing to metadata store: ...
//   rejecting request because it seems to target a different cluster: cluster name mismatch:
//   expected restate-cluster, got other".
// - restate-9 with RESTATE_FORCE_NODE_ID=2, fresh data: a panic "duplicate plain node id 'N2'"
//   (it does not name restate-2; Stet must: issue 12 asks for a message that says what to fix,
//   so naming restate-2 is Stet-only).
// - restate-2's data dir with RESTATE_FORCE_NODE_ID=5: "node id mismatch; configured node id
//   'N5', actual node id 'N2'".
// - restate-2's data dir renamed restate-7, started as restate-7 (id 2 or 7): "building metadata
//   store failed: failed initializing the storage: metadata-server storage marker was found but it
//   was created by another node. Found node name 'restate-2' while this node name is 'restate-7'".
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { Cluster, IS_RESTATE, deploymentsOf, nodeIdNum, waitExit } from "./harness.mjs";

const cluster = new Cluster("refusals");
before(() => cluster.start(), { timeout: 90_000 });
after(() => cluster.close());

const EXIT_WITHIN_MS = 15_000; // issue: ~10 s; generous on 2 shared cores

/** "N2", "node id 2", "node id '2'", "node-id: 2", "id 2" ... */
function mentionsId(text, k) {
  return new RegExp(`\\bN${k}\\b|\\bnode[ _-]?id\\W{0,4}${k}\\b|\\bid\\W{0,4}${k}\\b`, "i").test(text);
}

/** Spawns node n (env for this start), expects a non-zero exit within the bound; returns its log. */
async function expectRefusal(n, env = {}) {
  const t0 = Date.now();
  const child = n.spawn(env);
  const e = await waitExit(child, EXIT_WITHIN_MS);
  if (!e) {
    await n.kill();
    assert.fail(`${n.name} (node ${n.k}) still running ${EXIT_WITHIN_MS} ms after its start: it must refuse to start`);
  }
  assert.ok(e.code !== 0, `${n.name} exits non-zero (code ${e.code}, signal ${e.signal})`);
  assert.equal(e.signal, null, `${n.name} exits by itself, not by a signal`);
  return { log: n.lastLog(), ms: Date.now() - t0, code: e.code };
}

/**
 * Asserts something about a refused process's message. On Restate a missing message is only
 * reported: restate-server 1.7.12 logs through an asynchronous writer and sometimes exits (code 1)
 * before the error line is written (seen for restate-7 with id 7: the log ends after RocksDB's
 * shutdown lines).
 */
function expectMessage(t, cond, what) {
  if (cond) return;
  if (IS_RESTATE) {
    t.diagnostic(`restate: the message is missing from the log: ${what}`);
    return;
  }
  assert.fail(what);
}

/** The cluster still has exactly its three nodes, one metadata membership, and registers. */
async function assertClusterIntact() {
  await cluster.waitQuorum({ ks: cluster.ks });
  for (const k of cluster.ks) {
    const ch = await cluster.admin(k, "GET", "/cluster-health");
    assert.equal(ch.status, 200);
    assert.equal(ch.json.cluster_name, "restate-cluster");
    assert.deepEqual([...ch.json.metadata_cluster_health.members].sort(), [1, 2, 3]);
    if (!IS_RESTATE) {
      // Stet-only (/cluster): no impostor was added to the nodes configuration.
      const v = await cluster.clusterView(k);
      assert.deepEqual(v.nodes.map((x) => nodeIdNum(x.id)).sort(), [1, 2, 3]);
      assert.deepEqual(v.nodes.map((x) => x.name).sort(), ["restate-1", "restate-2", "restate-3"]);
    }
  }
}

cluster.test("a process with another cluster name is refused, naming the mismatch", async (t) => {
  const n = await cluster.addNode({ RESTATE_CLUSTER_NAME: "other", RESTATE_FORCE_NODE_ID: "4", RESTATE_AUTO_PROVISION: "false" });
  const { log, ms, code } = await expectRefusal(n);
  t.diagnostic(`${cluster.kind}: exit ${code} after ${ms} ms`);
  expectMessage(t, /cluster[ _-]?name/i.test(log), "the message is about the cluster name");
  expectMessage(t, log.includes("restate-cluster") && log.includes("other"), "the message names both cluster names");
  await assertClusterIntact();
});

cluster.test("restate-9 with RESTATE_FORCE_NODE_ID=2 is refused: id 2 belongs to restate-2", async (t) => {
  const n = await cluster.addNode({ RESTATE_NODE_NAME: "restate-9", RESTATE_FORCE_NODE_ID: "2", RESTATE_AUTO_PROVISION: "false" });
  const { log, ms, code } = await expectRefusal(n);
  t.diagnostic(`${cluster.kind}: exit ${code} after ${ms} ms`);
  expectMessage(t, mentionsId(log, 2), "the message names node id 2");
  // Stet-only: Restate 1.7.12 panics with "duplicate plain node id 'N2'" and does not name the owner.
  if (!IS_RESTATE) assert.ok(log.includes("restate-2"), "the message says id 2 belongs to restate-2");
  await assertClusterIntact();
});

cluster.test("restate-2's data dir under another node id or another node name is refused", async (t) => {
  const earlier = deploymentsOf(await cluster.admin(1, "GET", "/deployments")).map((x) => x.id);
  const reg = await cluster.register(1);
  assert.ok(reg.status === 201 || reg.status === 200, reg.text);
  await cluster.stop(2);
  const n2 = cluster.node(2);

  // Same name, id 5.
  {
    const { log, ms, code } = await expectRefusal(n2, { RESTATE_FORCE_NODE_ID: "5" });
    t.diagnostic(`${cluster.kind}: restate-2 data with id 5: exit ${code} after ${ms} ms`);
    expectMessage(t, mentionsId(log, 5) && mentionsId(log, 2), "the message names the configured id 5 and the stored id 2");
  }

  // The same data under the name restate-7 (the directory moved to <base>/restate-7), id 2 and id 7.
  const moved = path.join(cluster.baseDir, "restate-7");
  fs.renameSync(n2.dataDir, moved);
  try {
    for (const id of ["2", "7"]) {
      const n = await cluster.addNode({ RESTATE_NODE_NAME: "restate-7", RESTATE_FORCE_NODE_ID: id, RESTATE_AUTO_PROVISION: "false" });
      const { log, ms, code } = await expectRefusal(n);
      t.diagnostic(`${cluster.kind}: restate-2 data as restate-7 with id ${id}: exit ${code} after ${ms} ms`);
      expectMessage(t, log.includes("restate-2") && log.includes("restate-7"), "the message names the stored and the configured node name");
    }
  } finally {
    fs.renameSync(moved, n2.dataDir);
  }

  // restate-2 itself still starts on its data, and nothing was lost.
  await n2.start();
  await assertClusterIntact();
  for (const k of cluster.ks) {
    const d = deploymentsOf(await cluster.admin(k, "GET", "/deployments")).map((x) => x.id);
    for (const id of [...earlier, reg.json.id]) assert.ok(d.includes(id), `node ${k} lists ${id}`);
  }
});
