// The restate CLI 1.7.12 (npm @restatedev/restate, unchanged) against the server under test:
// each command of http-api.md §6 runs as a child process (no TTY, CI=true so it never
// prompts, --yes where it would confirm) and what it prints is checked against the state the
// test created through the admin API and the ingress.
//
// The CLI is pointed at the server with RESTATE_ADMIN_URL; RESTATE_CLI_CONFIG_HOME is a fresh
// directory so no user configuration leaks in. Commands built on SQL (invocations *, state *,
// services status, sql, deployments remove) need POST /query: they are skipped while the
// server does not answer POST /query with JSON (run them anyway with STET_E2E_QUERY=1).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before } from "node:test";
import { DEPLOYMENT_ID_RE, E2E_DIR, Env, INVOCATION_ID_RE, request, sleep, waitUntil } from "./harness.mjs";

const CLI = path.join(E2E_DIR, "node_modules", "@restatedev", "restate-linux-x64", "bin", "restate");
const env = new Env("cli", { register: false });
let extra = null; // cli_services.mjs: {child, port, uri}
let queryAvailable = false;
let deploymentId;
let extraDeploymentId;

function startExtraServices(dir) {
  return new Promise((resolve, reject) => {
    const log = fs.createWriteStream(path.join(dir, "cli_services.log"), { flags: "a" });
    const child = spawn(process.execPath, [path.join(E2E_DIR, "cli_services.mjs")], {
      cwd: E2E_DIR,
      stdio: ["ignore", "pipe", "pipe"],
    });
    process.on("exit", () => child.kill("SIGKILL"));
    child.stderr.on("data", (c) => log.write(c));
    let buf = "";
    const timer = setTimeout(() => reject(new Error("cli_services.mjs did not print READY within 20 s")), 20_000);
    child.stdout.on("data", (c) => {
      log.write(c);
      buf += c.toString();
      const m = buf.match(/^READY (\{.*\})$/m);
      if (m) {
        clearTimeout(timer);
        const { port } = JSON.parse(m[1]);
        resolve({ child, port, uri: `http://127.0.0.1:${port}` });
      }
    });
    child.once("exit", (code) => reject(new Error(`cli_services.mjs exited (code ${code})`)));
  });
}

/** Runs the CLI; resolves {code, stdout, stderr, out (both)}. */
function cli(args, { input, extraEnv = {}, timeout = 30_000 } = {}) {
  const cliEnv = {
    PATH: process.env.PATH,
    HOME: env.dir,
    RESTATE_CLI_CONFIG_HOME: path.join(env.dir, "cli-config"),
    RESTATE_ADMIN_URL: env.server.adminUrl,
    RESTATE_INGRESS_URL: env.server.ingressUrl,
    CI: "true",
    NO_COLOR: "1",
    TERM: "dumb",
    COLUMNS: "250",
    ...extraEnv,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, args, { env: cliEnv, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`restate ${args.join(" ")}: no exit within ${timeout} ms\n${stdout}\n${stderr}`));
    }, timeout);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (process.env.STET_E2E_CLI_VERBOSE) process.stderr.write(`$ restate ${args.join(" ")} -> ${code}\n${stdout}${stderr}\n`);
      resolve({ code, stdout, stderr, out: stdout + stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Runs the CLI and asserts exit code 0; returns the combined output. */
async function ok(args, opts) {
  const r = await cli(args, opts);
  assert.equal(r.code, 0, `restate ${args.join(" ")} exited ${r.code}:\n${r.out}`);
  return r.out;
}

function needsQuery(t) {
  if (!queryAvailable && !process.env.STET_E2E_QUERY) {
    t.skip("POST /query is not available on this server");
    return true;
  }
  return false;
}

async function admin(method, p, json) {
  return env.server.admin(method, p, json === undefined ? {} : { json });
}

before(async () => {
  await env.start();
  extra = await startExtraServices(env.dir);
  const q = await request(`${env.server.adminUrl}/query`, {
    method: "POST",
    headers: { accept: "application/json" },
    json: { query: "SELECT id FROM sys_invocation LIMIT 1" },
  });
  queryAvailable = q.status === 200 && /^application\/json/.test(q.headers["content-type"] || "");
});

after(async () => {
  if (extra) {
    extra.child.kill("SIGTERM");
    await sleep(100);
  }
  await env.close();
});

// ---------------------------------------------------------------------------------------------
// No SQL needed

env.test("whoami: admin and ingress URLs, server reachable", async () => {
  const out = await ok(["whoami"]);
  assert.match(out, new RegExp(`Admin base URL\\s+${env.server.adminUrl}/`));
  assert.match(out, new RegExp(`Ingress base URL\\s+${env.server.ingressUrl}/`));
  assert.doesNotMatch(out, /Could not connect|\[ERR\]/);
  assert.ok(out.includes(`[OK]: Admin Service '${env.server.adminUrl}/' is healthy!`), out);
  // from GET /version's ingress_endpoint
  assert.match(out, new RegExp(`Advertised ingress address\\s+${env.server.ingressUrl}/`));
});

env.test("deployments register: discovers the services and stores the deployment", async () => {
  const out = await ok(["--yes", "deployments", "register", env.services.uri]);
  assert.match(out, /Greeter/);
  assert.match(out, /Runner/);
  const d = await admin("GET", "/deployments");
  assert.equal(d.status, 200);
  assert.equal(d.json.deployments.length, 1);
  deploymentId = d.json.deployments[0].id;
  assert.match(deploymentId, DEPLOYMENT_ID_RE);
  assert.equal(d.json.deployments[0].uri, `${env.services.uri}/`);
  const out2 = await ok(["--yes", "deployments", "register", extra.uri]);
  assert.match(out2, /CliCounter/);
  const d2 = await admin("GET", "/deployments");
  assert.equal(d2.json.deployments.length, 2);
  extraDeploymentId = d2.json.deployments.find((x) => x.uri === `${extra.uri}/`).id;
});

env.test("deployments register again: nothing changes, the CLI says so", async () => {
  const r = await cli(["--yes", "deployments", "register", env.services.uri]);
  assert.equal(r.code, 0, r.out);
  const d = await admin("GET", "/deployments");
  assert.equal(d.json.deployments.length, 2);
  assert.ok(d.json.deployments.some((x) => x.id === deploymentId));
});

env.test("deployments list: both deployments with their endpoints", async () => {
  const out = await ok(["deployments", "list"]);
  assert.ok(out.includes(deploymentId), out);
  assert.ok(out.includes(extraDeploymentId), out);
  assert.ok(out.includes(`${env.services.uri}/`), out);
  assert.ok(out.includes(`${extra.uri}/`), out);
});

env.test("deployments describe: id, endpoint and its services", async () => {
  const out = await ok(["deployments", "describe", deploymentId]);
  assert.ok(out.includes(deploymentId), out);
  assert.ok(out.includes(`${env.services.uri}/`), out);
  for (const s of ["Greeter", "Runner", "Failer", "Sleeper"]) assert.ok(out.includes(s), `${s} missing:\n${out}`);
  assert.doesNotMatch(out, /CliCounter/);
});

env.test("services list: every registered service with its type and deployment", async () => {
  const out = await ok(["services", "list"]);
  for (const s of ["Greeter", "Runner", "Failer", "Flaky", "Slow", "Bin", "Sleeper", "CliCounter", "CliBlocker"]) {
    assert.ok(out.includes(s), `${s} missing:\n${out}`);
  }
  assert.match(out, /\[public\]\s+CliCounter\s+1\s+virtual object\s+HTTP\s+dp_/);
  assert.match(out, new RegExp(`\\[public\\]\\s+Greeter\\s+1\\s+HTTP\\s+${deploymentId}`));
});

env.test("services describe: handlers and the deployment of a service", async () => {
  const out = await ok(["services", "describe", "CliCounter"]);
  for (const h of ["add", "get", "tag"]) assert.match(out, new RegExp(`\\b${h}\\b`), out);
  assert.match(out, /VirtualObject/);
  assert.ok(out.includes(extraDeploymentId), out);
  assert.ok(out.includes(`${extra.uri}/`), out);
  const missing = await cli(["services", "describe", "Nope"]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.out, /Nope/);
});

env.test("services config view: the service's options", async () => {
  const out = await ok(["services", "config", "view", "Greeter"]);
  assert.match(out, /Name:\s+Greeter/);
  assert.match(out, /Service type:\s+Service/);
  assert.match(out, /Public:\s+true/);
  assert.match(out, /Idempotent requests retention:\s+1d/);
  assert.match(out, /Inactivity timeout:\s+1m/);
  assert.match(out, /Abort timeout:\s+10m/);
  assert.match(out, /Max attempts:\s+70/);
});

env.test("services config patch: the admin API sees the new options", async () => {
  await ok(["--yes", "services", "config", "patch", "Greeter", "--idempotency-retention", "2h", "--journal-retention", "30m"]);
  const s = await admin("GET", "/services/Greeter");
  assert.equal(s.status, 200);
  assert.equal(s.json.idempotency_retention, "2h");
  assert.equal(s.json.journal_retention, "30m");
  assert.equal(s.json.public, true);
  const out = await ok(["services", "config", "view", "Greeter"]);
  assert.match(out, /Idempotent requests retention:\s+2h/);
  assert.match(out, /Journal retention:\s+30m/);
  await ok(["--yes", "services", "config", "patch", "Greeter", "--public", "false"]);
  const s2 = await admin("GET", "/services/Greeter");
  assert.equal(s2.json.public, false);
  assert.equal(s2.json.idempotency_retention, "2h"); // unchanged by the second patch
  await ok(["--yes", "services", "config", "patch", "Greeter", "--public", "true"]);
});

// ---------------------------------------------------------------------------------------------
// Built on POST /query

async function startBlocked() {
  const r = await env.server.call("/CliBlocker/wait/send", null);
  assert.equal(r.status, 202, r.text);
  const id = r.json.invocationId;
  assert.match(id, INVOCATION_ID_RE);
  return id;
}

async function output(id) {
  return env.server.ingress("GET", `/restate/invocation/${id}/output`);
}

env.test("services status: active invocations per handler", async (t) => {
  if (needsQuery(t)) return;
  await startBlocked();
  const out = await waitUntil(async () => {
    const r = await cli(["services", "status", "CliBlocker"]);
    return r.code === 0 && /wait/.test(r.out) && r.out;
  }, { timeout: 15_000, what: "services status to show CliBlocker/wait" });
  assert.match(out, /CliBlocker/);
});

env.test("invocations list and describe show a running invocation", async (t) => {
  if (needsQuery(t)) return;
  const id = await startBlocked();
  const list = await waitUntil(async () => {
    const r = await cli(["invocations", "list", "--service", "CliBlocker"]);
    return r.code === 0 && r.out.includes(id) && r.out;
  }, { timeout: 15_000, what: `invocations list to show ${id}` });
  assert.match(list, /CliBlocker\/wait/);
  const desc = await ok(["invocations", "describe", id]);
  assert.match(desc, /Target:\s+CliBlocker\/wait/);
  assert.match(desc, /Status:\s+(running|suspended|backing-off|ready)/);
  assert.match(desc, /Command: Input/);
});

env.test("invocations cancel: the invocation ends with a cancellation", async (t) => {
  if (needsQuery(t)) return;
  const id = await startBlocked();
  await waitUntil(async () => (await cli(["invocations", "list", "--service", "CliBlocker"])).out.includes(id), {
    timeout: 15_000,
    what: "the invocation to be listed",
  });
  await ok(["--yes", "invocations", "cancel", id]);
  const r = await waitUntil(async () => {
    const o = await output(id);
    return o.status !== 470 && o;
  }, { timeout: 15_000, what: "the cancelled invocation to complete" });
  assert.equal(r.status, 409, r.text);
  assert.match(r.text, /cancel/i);
});

env.test("invocations kill and purge", async (t) => {
  if (needsQuery(t)) return;
  const id = await startBlocked();
  await waitUntil(async () => (await cli(["invocations", "list", "--service", "CliBlocker"])).out.includes(id), {
    timeout: 15_000,
    what: "the invocation to be listed",
  });
  await ok(["--yes", "invocations", "kill", id]);
  await waitUntil(async () => (await output(id)).status !== 470, { timeout: 15_000, what: "kill to complete it" });
  const all = await waitUntil(async () => {
    const r = await cli(["invocations", "list", "--all", "--service", "CliBlocker"]);
    return r.out.includes(id) && r.out;
  }, { timeout: 15_000, what: "the killed invocation in list --all" });
  assert.match(all, /completed|failure|failed/i);
  await ok(["--yes", "invocations", "purge", id]);
  const gone = await output(id);
  assert.equal(gone.status, 404, gone.text);
});

env.test("invocations pause and resume", async (t) => {
  if (needsQuery(t)) return;
  const id = await startBlocked();
  await waitUntil(async () => (await cli(["invocations", "list", "--service", "CliBlocker"])).out.includes(id), {
    timeout: 15_000,
    what: "the invocation to be listed",
  });
  await ok(["--yes", "invocations", "pause", id]);
  await waitUntil(async () => /paused/i.test((await cli(["invocations", "describe", id])).out), {
    timeout: 15_000,
    what: "describe to say paused",
  });
  await ok(["--yes", "invocations", "resume", id]);
  await waitUntil(async () => !/paused/i.test((await cli(["invocations", "describe", id])).out), {
    timeout: 15_000,
    what: "describe to stop saying paused",
  });
  await ok(["--yes", "invocations", "kill", id]);
});

env.test("state get, patch, edit and clear on a virtual object", async (t) => {
  if (needsQuery(t)) return;
  const add = await env.server.call("/CliCounter/k1/add", 5);
  assert.equal(add.status, 200, add.text);
  const get = await ok(["state", "get", "CliCounter", "k1"]);
  assert.match(get, /count/);
  assert.match(get, /\b5\b/);

  await ok(["--yes", "state", "patch", "CliCounter", "k1", "--patch", '[{"op":"replace","path":"/count","value":20}]']);
  const after1 = await waitUntil(async () => {
    const r = await env.server.call("/CliCounter/k1/get", null);
    return r.json === 20 && r;
  }, { timeout: 10_000, what: "the patched state to be visible to the handler" });
  assert.equal(after1.json, 20);

  // state edit opens $RESTATE_EDITOR on a JSON file of the state: a script that rewrites it
  const editor = path.join(env.dir, "editor.sh");
  fs.writeFileSync(editor, `#!/bin/sh\nprintf '{"count": 41, "tag": "edited"}' > "$1"\n`, { mode: 0o755 });
  await ok(["--yes", "state", "edit", "CliCounter", "k1"], { extraEnv: { RESTATE_EDITOR: editor, EDITOR: editor } });
  const after2 = await waitUntil(async () => {
    const r = await env.server.call("/CliCounter/k1/add", 1);
    return r.status === 200 && r;
  }, { timeout: 10_000, what: "a call after state edit" });
  assert.equal(after2.json, 42);
  const get2 = await ok(["state", "get", "CliCounter", "k1"]);
  assert.match(get2, /edited/);

  await ok(["--yes", "state", "clear", "CliCounter/k1"]);
  const after3 = await waitUntil(async () => {
    const r = await env.server.call("/CliCounter/k1/get", null);
    return r.json === 0 && r;
  }, { timeout: 10_000, what: "the cleared state" });
  assert.equal(after3.json, 0);
});

env.test("sql: a query over sys_service", async (t) => {
  if (needsQuery(t)) return;
  const out = await ok(["sql", "SELECT name, ty FROM sys_service ORDER BY name"]);
  assert.match(out, /CliCounter/);
  assert.match(out, /virtual_object/);
  assert.match(out, /Greeter/);
  const json = await ok(["sql", "--json", "SELECT name FROM sys_service WHERE name = 'Greeter'"]);
  assert.match(json, /"name"\s*:\s*"Greeter"/);
});

env.test("deployments remove --force: the deployment and its services are gone", async (t) => {
  if (needsQuery(t)) return;
  await ok(["--yes", "deployments", "remove", extraDeploymentId, "--force"]);
  const d = await admin("GET", "/deployments");
  assert.ok(!d.json.deployments.some((x) => x.id === extraDeploymentId));
  const s = await admin("GET", "/services/CliCounter");
  assert.equal(s.status, 404);
});
