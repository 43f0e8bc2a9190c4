// Admin API: health, version, deployment registration (success, no-op re-registration,
// unreachable endpoint), listing deployments, services and handlers, 404 bodies.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { DEPLOYMENT_ID_RE, Env, freePort } from "./harness.mjs";

const env = new Env("admin", { register: false });
before(() => env.start());
after(() => env.close());

const SERVICES = ["Bin", "Failer", "Flaky", "Greeter", "Runner", "Sleeper", "Slow"];
const CREATED_AT_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;
const DEFAULT_RETRY_POLICY = {
  initial_interval: "500ms",
  exponentiation_factor: 2.0,
  max_attempts: 70,
  max_interval: "1m",
  on_max_attempts: "Pause",
};
let deploymentId;

function assertJson(r) {
  assert.equal(r.headers["content-type"], "application/json");
}

function assertServiceMetadata(s) {
  assert.equal(s.ty, "Service");
  assert.equal(s.deployment_id, deploymentId);
  assert.equal(s.revision, 1);
  assert.equal(s.public, true);
  assert.equal(s.idempotency_retention, "1d");
  assert.equal(s.journal_retention, "1d");
  assert.equal(s.inactivity_timeout, "1m");
  assert.equal(s.abort_timeout, "10m");
  assert.equal(s.enable_lazy_state, false);
  assert.deepEqual(s.retry_policy, DEFAULT_RETRY_POLICY);
  assert.ok(Array.isArray(s.handlers) && s.handlers.length > 0);
}

env.test("GET /health: 200, empty body", async () => {
  const r = await env.server.admin("GET", "/health");
  assert.equal(r.status, 200);
  assert.equal(r.text, "");
});

env.test("GET /version", async () => {
  const r = await env.server.admin("GET", "/version");
  assert.equal(r.status, 200);
  assertJson(r);
  const v = r.json;
  assert.match(v.version, /^\d+\.\d+\.\d+/);
  assert.equal(v.min_admin_api_version, 2);
  assert.equal(v.max_admin_api_version, 4);
  assert.equal(v.ingress_endpoint, `http://127.0.0.1:${env.server.ingressPort}/`);
  assert.equal(typeof v.features, "object");
  assert.ok(v.features !== null && !Array.isArray(v.features));
});

env.test("no deployments and no services before registration", async () => {
  const d = await env.server.admin("GET", "/deployments");
  assert.equal(d.status, 200);
  assert.deepEqual(d.json, { deployments: [] });
  const s = await env.server.admin("GET", "/services");
  assert.equal(s.status, 200);
  assert.deepEqual(s.json, { services: [] });
  const c = await env.server.call("/Greeter/greet", "x");
  assert.equal(c.status, 404);
});

env.test("registering an unreachable endpoint: 500 META0003, nothing stored", async () => {
  const port = await freePort();
  const uri = `http://127.0.0.1:${port}`;
  const r = await env.server.admin("POST", "/deployments", { json: { uri } });
  assert.equal(r.status, 500, r.text);
  assertJson(r);
  assert.equal(r.json.restate_code, "META0003");
  assert.match(r.json.message, /^\[META0003\] /);
  assert.ok(r.json.message.includes(`'${uri}/'`), r.json.message);
  const d = await env.server.admin("GET", "/deployments");
  assert.deepEqual(d.json, { deployments: [] });
});

env.test("POST /deployments: 201, dp_ id, location, services", async () => {
  const r = await env.server.admin("POST", "/deployments", { json: { uri: env.services.uri } });
  assert.equal(r.status, 201, r.text);
  assertJson(r);
  deploymentId = r.json.id;
  assert.match(deploymentId, DEPLOYMENT_ID_RE);
  assert.equal(r.headers.location, `deployments/${deploymentId}`);
  assert.equal(r.json.min_protocol_version, 5);
  assert.equal(r.json.max_protocol_version, 7);
  assert.equal(r.json.sdk_version, "restate-sdk-typescript/1.17.2");
  assert.deepEqual(r.json.services.map((s) => s.name).sort(), SERVICES);
  for (const s of r.json.services) assertServiceMetadata(s);
});

env.test("re-registering the same URI is a no-op: 200, same id", async () => {
  const r = await env.server.admin("POST", "/deployments", { json: { uri: `${env.services.uri}/` } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.id, deploymentId);
  assert.equal(r.headers.location, `deployments/${deploymentId}`);
  for (const s of r.json.services) assert.equal(s.revision, 1);
});

env.test("GET /deployments", async () => {
  const r = await env.server.admin("GET", "/deployments");
  assert.equal(r.status, 200);
  assertJson(r);
  assert.equal(r.json.deployments.length, 1);
  const d = r.json.deployments[0];
  assert.equal(d.id, deploymentId);
  assert.equal(d.uri, `${env.services.uri}/`);
  assert.equal(d.protocol_type, "BidiStream");
  assert.equal(d.http_version, "HTTP/2.0");
  assert.match(d.created_at, CREATED_AT_RE);
  assert.equal(d.min_protocol_version, 5);
  assert.equal(d.max_protocol_version, 7);
  assert.equal(d.sdk_version, "restate-sdk-typescript/1.17.2");
  assert.deepEqual(
    [...d.services].sort((a, b) => a.name.localeCompare(b.name)),
    SERVICES.map((name) => ({ name, revision: 1 })),
  );
});

env.test("GET /deployments/{id}: full service metadata; unknown id 404", async () => {
  const r = await env.server.admin("GET", `/deployments/${deploymentId}`);
  assert.equal(r.status, 200);
  assertJson(r);
  assert.equal(r.json.id, deploymentId);
  assert.equal(r.json.uri, `${env.services.uri}/`);
  assert.equal(r.json.protocol_type, "BidiStream");
  assert.deepEqual(r.json.services.map((s) => s.name).sort(), SERVICES);
  for (const s of r.json.services) assertServiceMetadata(s);

  const unknown = "dp_11KtnKBN2zjPWodnT5O7Ibv";
  const n = await env.server.admin("GET", `/deployments/${unknown}`);
  assert.equal(n.status, 404);
  assertJson(n);
  assert.deepEqual(n.json, { message: `The requested deployment '${unknown}' does not exist`, restate_code: null });
});

env.test("GET /services", async () => {
  const r = await env.server.admin("GET", "/services");
  assert.equal(r.status, 200);
  assertJson(r);
  assert.deepEqual(r.json.services.map((s) => s.name).sort(), SERVICES);
  for (const s of r.json.services) assertServiceMetadata(s);
});

env.test("GET /services/{name}; unknown 404", async () => {
  const r = await env.server.admin("GET", "/services/Greeter");
  assert.equal(r.status, 200);
  assertJson(r);
  assert.equal(r.json.name, "Greeter");
  assertServiceMetadata(r.json);
  assert.deepEqual(r.json.handlers.map((h) => h.name).sort(), ["greet", "noop"]);

  const n = await env.server.admin("GET", "/services/Nope");
  assert.equal(n.status, 404);
  assertJson(n);
  assert.deepEqual(n.json, { message: "The requested service 'Nope' does not exist", restate_code: null });
});

env.test("GET /services/{name}/handlers and /handlers/{handler}", async () => {
  const r = await env.server.admin("GET", "/services/Greeter/handlers");
  assert.equal(r.status, 200);
  assertJson(r);
  const byName = Object.fromEntries(r.json.handlers.map((h) => [h.name, h]));
  assert.deepEqual(Object.keys(byName).sort(), ["greet", "noop"]);
  assert.deepEqual(byName.greet, {
    name: "greet",
    public: true,
    input_description: "application/json",
    output_description: "application/json",
    retry_policy: { max_attempts: null },
  });

  const one = await env.server.admin("GET", "/services/Greeter/handlers/greet");
  assert.equal(one.status, 200);
  assert.deepEqual(one.json, byName.greet);

  // Handler-level retry policy from the SDK's handler options: only the fields that were set.
  const limited = await env.server.admin("GET", "/services/Flaky/handlers/limited");
  assert.equal(limited.status, 200);
  assert.deepEqual(limited.json.retry_policy, { initial_interval: "100ms", max_attempts: 2, on_max_attempts: "Kill" });

  const bin = await env.server.admin("GET", "/services/Bin/handlers/reverse");
  assert.equal(bin.status, 200);
  assert.equal(bin.json.input_description, "application/octet-stream");
  assert.equal(bin.json.output_description, "application/octet-stream");

  const n = await env.server.admin("GET", "/services/Greeter/handlers/nope");
  assert.equal(n.status, 404);
  assert.deepEqual(n.json, { message: "The requested handler 'nope' on service 'Greeter' does not exist", restate_code: null });
});

env.test("registered services are callable and listed by the ingress health", async () => {
  const c = await env.server.call("/Greeter/greet", "admin");
  assert.equal(c.status, 200);
  assert.equal(c.text, '"Hello admin"');
  const h = await env.server.ingress("GET", "/restate/health");
  assert.equal(h.status, 200);
  assert.equal(h.headers["content-type"], "application/json");
  assert.deepEqual([...h.json.services].sort(), SERVICES);
});
