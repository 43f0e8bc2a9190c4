// 3 nodes with the compose settings: provisioning and status endpoints, a registration through
// one node listed at once by the others and invocable through every ingress, every node
// restarted on its data, restate-1 wiped and restarted with auto-provision on.
//
// Restate 1.7.12 (the oracle) answers, on such a cluster:
// - admin GET /health: 200, empty body.
// - admin GET /cluster-health: 200 {"cluster_name":"restate-cluster","metadata_cluster_health":{"members":[1,3,2]}}
//   (members: plain node ids as numbers, in no particular order; the metadata membership, not
//   liveness: a killed node stays listed).
// - node port GET /health: 200 {"status":"Alive","node_id":"N1:2","cluster_name":"restate-cluster",
//   "roles":["http-ingress","admin","worker","log-server","metadata-server"],"age":"6s 61ms 352µs 824ns",
//   "admin_status":"Ready","worker_status":"Ready","log_server_status":"Ready","metadata_server_status":"Member",
//   "nodes_config_version":12,"logs_version":1,"schema_version":0,"partition_table_version":1,
//   "bound_addresses":[{"name":"http-ingress-server","address":"127.0.0.1:41081","kind":"tcp"},
//     {"name":"admin-api-server",...},{"name":"message-fabric-server",...}],
//   "advertised_addresses":[{"name":"http-ingress-server","address":"http://127.0.0.1:41081/","kind":"http"},...]}
//   (the provisioning node 1 shows generation 2 on its first start, nodes 2 and 3 generation 1).
// - GET /cluster: 404 (Stet-only route; its assertions are skipped on Restate).
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { DEPLOYMENT_ID_RE } from "../harness.mjs";
import { Cluster, IS_RESTATE, deploymentsOf, generationOf, nodeIdNum, viewNode, waitExit, waitUntil } from "./harness.mjs";

const cluster = new Cluster("basic");
before(() => cluster.start(), { timeout: 90_000 });
after(() => cluster.close());

const SERVICES = ["Bin", "Failer", "Flaky", "Greeter", "Runner", "Sleeper", "Slow"];
const ROLES = ["admin", "http-ingress", "log-server", "metadata-server", "worker"];

let registered; // the deployment registered through node 2 (test 2)
const generations = new Map(); // k -> generation seen in /cluster before the full restart

function uriOf(d) {
  return d.uri.replace(/\/$/, "");
}

cluster.test("provisioning with the compose settings: health and identification on every node", async () => {
  for (const k of cluster.ks) {
    const h = await cluster.admin(k, "GET", "/health");
    assert.equal(h.status, 200, `node ${k} admin /health`);

    const np = await cluster.nodePort(k, "/health");
    assert.equal(np.status, 200, `node ${k} node-port /health`);
    const id = np.json;
    assert.ok(id, `node ${k} node-port /health is JSON: ${np.text.slice(0, 200)}`);
    assert.equal(id.status, "Alive");
    assert.match(id.node_id, new RegExp(`^N${k}:\\d+$`));
    assert.ok(Number(id.node_id.split(":")[1]) >= 1);
    assert.equal(id.cluster_name, "restate-cluster");
    assert.deepEqual([...id.roles].sort(), ROLES);
    assert.equal(id.admin_status, "Ready");
    assert.equal(id.worker_status, "Ready");
    assert.equal(id.log_server_status, "Ready");
    assert.equal(id.metadata_server_status, "Member");
    for (const f of ["nodes_config_version", "logs_version", "schema_version", "partition_table_version"]) {
      assert.equal(typeof id[f], "number", `node-port /health ${f}`);
    }
    const bound = Object.fromEntries((id.bound_addresses || []).map((a) => [a.name, a.address]));
    assert.equal(bound["admin-api-server"], `127.0.0.1:${cluster.node(k).adminPort}`);
    assert.equal(bound["http-ingress-server"], `127.0.0.1:${cluster.node(k).ingressPort}`);
    assert.equal(bound["message-fabric-server"], `127.0.0.1:${cluster.node(k).nodePort}`);

    const ch = await cluster.admin(k, "GET", "/cluster-health");
    assert.equal(ch.status, 200, `node ${k} /cluster-health`);
    assert.equal(ch.json.cluster_name, "restate-cluster");
    assert.deepEqual([...ch.json.metadata_cluster_health.members].sort(), [1, 2, 3]);
  }

  if (IS_RESTATE) return; // Stet-only below: restate-server has no GET /cluster (404)
  for (const k of cluster.ks) {
    const v = await cluster.clusterView(k);
    assert.equal(v.cluster_name, "restate-cluster");
    assert.equal(nodeIdNum(v.this_node), k);
    assert.equal(v.nodes.length, 3, `node ${k} /cluster lists 3 nodes`);
    for (const j of cluster.ks) {
      const n = viewNode(v, j);
      assert.ok(n, `node ${k} /cluster lists N${j}`);
      assert.equal(n.name, `restate-${j}`);
      assert.equal(n.status, "alive", `node ${k} sees N${j} alive`);
      assert.ok(generationOf(n) >= 1, `N${j} generation >= 1`);
    }
    assert.ok(nodeIdNum(v.metadata.leader) >= 1 && nodeIdNum(v.metadata.leader) <= 3, `metadata.leader set: ${v.metadata.leader}`);
    assert.equal(v.metadata.quorum, true);
  }
});

cluster.test("a registration through node 2 is listed at once by nodes 1 and 3; every ingress invokes it", async (t) => {
  const r = await cluster.register(2);
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.id, DEPLOYMENT_ID_RE);
  registered = r.json;
  const acked = Date.now();
  if (!IS_RESTATE) {
    // Stet: the other nodes' ingress invokes it right away, before anything else asked them
    // (an unknown service waits for one metadata read barrier before its 404). Restate 1.7.12
    // answers 404 until the new schema reached that node.
    const c = await cluster.ingress(3, "POST", "/Greeter/greet", "first", { timeout: 20_000 });
    assert.equal(c.status, 200, `call through node 3 right after the registration: ${c.status} ${c.text}`);
    assert.equal(c.json, "Hello first");
  }
  // Stet: no retry, listed by the other nodes as soon as the POST has returned (issue 12: "at
  // once"). Restate 1.7.12 does not promise that: the other nodes learn the new schema version
  // asynchronously (seen: an empty list right after the 201, listed some ms later), so on
  // Restate the test waits up to 5 s and reports the delay.
  for (const k of [1, 3]) {
    const d = IS_RESTATE
      ? await waitUntil(
          async () => {
            const d = deploymentsOf(await cluster.admin(k, "GET", "/deployments"));
            return d.length ? d : false;
          },
          { timeout: 5000, interval: 10, what: `node ${k} to list the deployment` },
        )
      : deploymentsOf(await cluster.admin(k, "GET", "/deployments"));
    if (IS_RESTATE) t.diagnostic(`restate: node ${k} listed the deployment ${Date.now() - acked} ms after the 201`);
    assert.deepEqual(
      d.map((x) => x.id),
      [registered.id],
      `node ${k} lists the deployment at once`,
    );
    assert.equal(uriOf(d[0]), cluster.services.uri);
    const s = await cluster.admin(k, "GET", "/services");
    assert.equal(s.status, 200);
    assert.deepEqual(s.json.services.map((x) => x.name).sort(), SERVICES, `node ${k} lists the services at once`);
    const g = await cluster.admin(k, "GET", "/services/Greeter");
    assert.equal(g.status, 200);
    assert.equal(g.json.deployment_id, registered.id);
  }
  for (const k of cluster.ks) {
    const c = await cluster.ingress(k, "POST", "/Greeter/greet", `node${k}`, { timeout: 20_000 });
    assert.equal(c.status, 200, `call through node ${k}: ${c.status} ${c.text}`);
    assert.equal(c.json, `Hello node${k}`);
  }
  for (const k of cluster.ks) assert.equal(await cluster.services.count(`Greeter.greet:node${k}`), 1);
});

cluster.test("every node restarted on its data (SIGTERM all, start all): registrations kept, generations bumped", async () => {
  assert.ok(registered, "needs the registration test");
  await cluster.ensureAllRunning();
  if (!IS_RESTATE) {
    const v = await cluster.clusterView(1);
    for (const k of cluster.ks) generations.set(k, generationOf(viewNode(v, k)));
  }
  const stops = await cluster.stopAll();
  for (const [i, s] of stops.entries()) {
    assert.equal(s.forced, false, `node ${i + 1} exits within 20 s of SIGTERM`);
    assert.equal(s.code, 0, `node ${i + 1} exit code`);
  }
  await cluster.startAll();
  await cluster.waitQuorum();
  for (const k of cluster.ks) {
    const d = deploymentsOf(await cluster.admin(k, "GET", "/deployments"));
    assert.deepEqual(
      d.map((x) => x.id),
      [registered.id],
      `node ${k} still lists the deployment`,
    );
    const s = await cluster.admin(k, "GET", "/services");
    assert.deepEqual(s.json.services.map((x) => x.name).sort(), SERVICES);
  }
  // Invocations work again (partition leaders may take a moment after a full restart).
  for (const k of cluster.ks) {
    const c = await waitUntil(
      async () => {
        const c = await cluster.ingress(k, "POST", "/Greeter/greet", `again${k}`, { timeout: 20_000 });
        return c.status === 200 ? c : false;
      },
      { timeout: 30_000, interval: 500, what: `call through node ${k} after the restart` },
    );
    assert.equal(c.json, `Hello again${k}`);
  }
  if (IS_RESTATE) return; // Stet-only: generations in /cluster (restate-server has no GET /cluster)
  for (const k of cluster.ks) {
    const v = await cluster.clusterView(k);
    for (const j of cluster.ks) {
      const n = viewNode(v, j);
      assert.equal(n.status, "alive");
      assert.ok(generationOf(n) > generations.get(j), `N${j} generation ${generationOf(n)} > ${generations.get(j)} (seen by node ${k})`);
    }
  }
});

// Last in this file: on Restate it leaves two clusters behind.
cluster.test("restate-1 wiped and restarted with auto-provision on joins the cluster 2 and 3 hold", async (t) => {
  assert.ok(registered, "needs the registration test");
  await cluster.ensureAllRunning();
  await cluster.kill(1);
  cluster.wipe(1);
  if (IS_RESTATE) {
    // Restate 1.7.12 does not join here; it does one of two things (both seen in e2e runs):
    // - it forks: the wiped restate-1 logs "Won metadata cluster leadership" (configuration [N1])
    //   and "Cluster 'restate-cluster' has been automatically provisioned", then an ERROR "Cannot
    //   accept nodes-configuration update that mutates the cluster fingerprint"; it serves, its
    //   /cluster-health shows {"members":[1]} while nodes 2 and 3 still show [1,2,3], and its
    //   /deployments sometimes lists the old deployment and sometimes stays empty;
    // - or it provisions itself the same way, then fails writing to the metadata store of the
    //   others ("cluster fingerprint mismatch: expected X, got Y") and exits with code 1.
    // Stet must join (issue 12); the assertions are Stet-only, Restate's answers are reported.
    const child = cluster.node(1).spawn();
    const r = await Promise.race([
      waitExit(child, 20_000).then((e) => (e ? `exited with code ${e.code}` : "neither exited nor served")),
      cluster.node(1).waitHealthy({ timeout: 20_000 }).then(
        () => "serves",
        (e) => `not healthy: ${e.message}`,
      ),
    ]);
    let detail = "";
    if (cluster.node(1).running) {
      const ch = await cluster.admin(1, "GET", "/cluster-health");
      const dl = await cluster.admin(1, "GET", "/deployments");
      detail = `; /cluster-health ${ch.status} ${ch.text}; /deployments lists ${dl.json?.deployments?.length}`;
    }
    t.diagnostic(`restate: the wiped node 1 ${r}${detail}`);
    t.skip("Stet-only: restate-server 1.7.12 does not rejoin a wiped auto-provisioning node (forks or exits)");
    return;
  }
  await cluster.node(1).start(); // RESTATE_AUTO_PROVISION=true, as on its first start
  const health = await cluster.admin(1, "GET", "/health");
  assert.equal(health.status, 200);
  // It lists what was registered before (it gets the schema from the others).
  const d = await waitUntil(
    async () => {
      const d = deploymentsOf(await cluster.admin(1, "GET", "/deployments"));
      return d.some((x) => x.id === registered.id) ? d : false;
    },
    { timeout: 15_000, interval: 200, what: "the wiped node 1 to list the old deployment" },
  );
  assert.deepEqual(
    d.map((x) => x.id),
    [registered.id],
  );
  await cluster.waitQuorum({ ks: cluster.ks });
  for (const k of cluster.ks) {
    const ch = await cluster.admin(k, "GET", "/cluster-health");
    assert.equal(ch.status, 200);
    assert.equal(ch.json.cluster_name, "restate-cluster");
    assert.deepEqual([...ch.json.metadata_cluster_health.members].sort(), [1, 2, 3], `node ${k} /cluster-health members`);
    const v = await cluster.clusterView(k);
    assert.equal(v.nodes.length, 3);
    assert.equal(viewNode(v, 1).status, "alive");
  }
  // One cluster: a registration through the wiped node is listed by the others at once, and one
  // through node 3 by node 1.
  const uri1 = `${cluster.services.uri}/wiped1`;
  const r1 = await cluster.register(1, uri1);
  assert.equal(r1.status, 201, r1.text);
  for (const k of [2, 3]) {
    const dk = deploymentsOf(await cluster.admin(k, "GET", "/deployments"));
    assert.ok(dk.some((x) => x.id === r1.json.id), `node ${k} lists the registration made through the wiped node 1`);
  }
  const r3 = await cluster.register(3, `${cluster.services.uri}/wiped3`);
  assert.equal(r3.status, 201, r3.text);
  const d1 = deploymentsOf(await cluster.admin(1, "GET", "/deployments"));
  assert.deepEqual(
    d1.map((x) => x.id).sort(),
    [registered.id, r1.json.id, r3.json.id].sort(),
  );
});
