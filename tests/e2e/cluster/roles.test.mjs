// A 4th node without the metadata-server role (roles worker, admin, http-ingress) joins the
// 3-node cluster as a metadata client: it registers itself, registrations through it and
// through the others are listed on both sides at once, its ingress invokes, and it follows the
// metadata servers when the one it asked dies.
//
// Stet-only: restate-server 1.7.12 would need its own log-server/worker placement for a 4th node,
// which this file does not set up; the behaviour checked here is what Restate documents for
// nodes without the role (they use the metadata client with failover).
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Cluster, IS_RESTATE, deploymentsOf, viewNode, waitUntil } from "./harness.mjs";

const cluster = new Cluster("roles");
before(() => cluster.start(), { timeout: 90_000 });
after(() => cluster.close());

const skip = IS_RESTATE ? "Stet-only (see the top of the file)" : undefined;

cluster.test(
  "a node without the metadata-server role registers, reads and writes through the members",
  async (t) => {
    const n = await cluster.addNode({
      RESTATE_ROLES: '["worker","admin","http-ingress"]',
      RESTATE_FORCE_NODE_ID: "4",
      RESTATE_AUTO_PROVISION: "false",
    });
    await n.start();
    const k = n.k;
    // it shows up in the nodes configuration, alive, on every member
    await waitUntil(
      async () => {
        for (const j of [1, 2, 3, k]) {
          const v = await cluster.clusterView(j);
          const me = viewNode(v, k);
          if (!me || me.status !== "alive" || me.name !== `restate-${k}`) return false;
        }
        return true;
      },
      { timeout: 10_000, interval: 100, what: "node 4 registered and alive everywhere" },
    );
    const v4 = await cluster.clusterView(k);
    assert.equal(v4.metadata.status, "client");
    assert.equal(v4.metadata.quorum, true);
    const h = await cluster.nodePort(k, "/health");
    assert.equal(h.json.status, "Alive");
    assert.equal(h.json.metadata_server_status, "Unknown");

    // a registration through node 4 is listed by node 1 at once, and the other way round
    const r = await cluster.register(k, `${cluster.services.uri}/via4`);
    assert.ok(r.status === 200 || r.status === 201, `register through node 4: ${r.status} ${r.text}`);
    const d1 = deploymentsOf(await cluster.admin(1, "GET", "/deployments"));
    assert.ok(d1.some((x) => x.id === r.json.id), "node 1 lists the registration made through node 4");
    const r1 = await cluster.register(1, `${cluster.services.uri}/via1`);
    assert.ok(r1.status === 200 || r1.status === 201, `register through node 1: ${r1.status}`);
    const d4 = deploymentsOf(await cluster.admin(k, "GET", "/deployments"));
    assert.ok(d4.some((x) => x.id === r1.json.id), "node 4 lists the registration made through node 1");

    // its ingress invokes a service of that deployment
    const c = await waitUntil(
      async () => {
        const c = await cluster.ingress(k, "POST", "/Greeter/greet", "four", { timeout: 10_000 });
        return c.status === 200 ? c : false;
      },
      { timeout: 10_000, interval: 200, what: "a call through node 4" },
    );
    assert.equal(c.json, "Hello four");

    // the member it asked dies: the next registration goes to another one
    const before = Date.now();
    await cluster.kill(1);
    const ok = await waitUntil(
      async () => {
        const x = await cluster.register(k, `${cluster.services.uri}/after-kill`, {}, { timeout: 5000 });
        return x.status === 200 || x.status === 201 ? x : false;
      },
      { timeout: 9_000, interval: 100, what: "a registration through node 4 with node 1 dead" },
    );
    t.diagnostic(`stet: node 4 registered again ${Date.now() - before} ms after node 1 was killed`);
    const d2 = deploymentsOf(await cluster.admin(2, "GET", "/deployments"));
    assert.ok(d2.some((x) => x.id === ok.json.id), "node 2 lists it");
  },
  { timeout: 90_000, skip },
);
