// The metadata group's log stays bounded: after 500 entries the members snapshot their copy and
// trim the log behind it. A node that was down meanwhile comes back behind the trimmed log and
// installs the snapshot; a wiped node rejoins from the leader's snapshot plus the entries after
// it. Every node then lists what was registered before and after.
//
// Stet-only: restate-server has no /cluster to show the snapshot index (and a wiped node forks a
// second cluster there, see basic.test.mjs).
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Cluster, IS_RESTATE, deploymentsOf, waitUntil } from "./harness.mjs";

const cluster = new Cluster("compaction");
before(() => cluster.start(), { timeout: 90_000 });
after(() => cluster.close());

const skip = IS_RESTATE ? "Stet-only (see the top of the file)" : undefined;

async function metadataOf(k) {
  return (await cluster.clusterView(k)).metadata;
}

cluster.test(
  "a node down while the metadata log is compacted installs the snapshot; a wiped node rejoins from it",
  async (t) => {
    const first = await cluster.register(1, `${cluster.services.uri}/before`);
    assert.ok(first.status === 200 || first.status === 201, `register: ${first.status}`);
    await cluster.kill(3);
    // every read through a follower is a read barrier (an entry): drive the log past a snapshot
    const m0 = await metadataOf(2);
    const follower = m0.leader === "N2" ? 1 : 2;
    let m;
    for (let i = 0; i < 2000; i++) {
      const r = await cluster.admin(follower, "GET", "/deployments");
      assert.equal(r.status, 200);
      if (i % 50 === 49) {
        m = await metadataOf(follower);
        if (m.snapshot_index >= 500 && m.applied_index >= m.snapshot_index + 120) break;
      }
    }
    t.diagnostic(`stet: metadata after the reads: ${JSON.stringify(m)}`);
    assert.ok(m.snapshot_index >= 500, `a snapshot was taken: ${JSON.stringify(m)}`);
    const during = await cluster.register(follower, `${cluster.services.uri}/during`);
    assert.ok(during.status === 200 || during.status === 201, `register: ${during.status}`);

    // node 3 comes back behind the trimmed log: it installs the snapshot and catches up
    await cluster.start(3);
    await cluster.waitQuorum({ ks: [1, 2, 3] });
    const m3 = await waitUntil(
      async () => {
        const x = await metadataOf(3);
        return x.snapshot_index >= m.snapshot_index && x.applied_index >= m.applied_index ? x : false;
      },
      { timeout: 10_000, interval: 100, what: "node 3 caught up through the snapshot" },
    );
    t.diagnostic(`stet: node 3 after its restart: ${JSON.stringify(m3)}`);
    const ids3 = deploymentsOf(await cluster.admin(3, "GET", "/deployments")).map((x) => x.id);
    assert.ok(ids3.includes(first.json.id) && ids3.includes(during.json.id), "node 3 lists both registrations");

    // node 1 is wiped and restarted with auto-provision: it copies the snapshot and what follows
    await cluster.kill(1);
    cluster.wipe(1);
    await cluster.start(1);
    await cluster.waitQuorum({ ks: [1, 2, 3] });
    const ids1 = deploymentsOf(await cluster.admin(1, "GET", "/deployments")).map((x) => x.id);
    assert.ok(ids1.includes(first.json.id) && ids1.includes(during.json.id), "the wiped node 1 lists both registrations");
    const m1 = await metadataOf(1);
    assert.ok(m1.snapshot_index >= 500, `node 1 holds the snapshot: ${JSON.stringify(m1)}`);
    assert.deepEqual(m1.members, ["N1", "N2", "N3"]);
    // and it still takes part: a registration through it is listed by the others at once
    const last = await cluster.register(1, `${cluster.services.uri}/after`);
    assert.ok(last.status === 200 || last.status === 201, `register through node 1: ${last.status}`);
    for (const k of [2, 3]) {
      const ids = deploymentsOf(await cluster.admin(k, "GET", "/deployments")).map((x) => x.id);
      assert.ok(ids.includes(last.json.id), `node ${k} lists the registration made through node 1`);
    }
  },
  { timeout: 120_000, skip },
);
