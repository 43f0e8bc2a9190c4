// Observability: Prometheus /metrics on the node port (as restate-server) and on the admin port
// (Stet; the 3-node compose README promises it), GET /cluster (Stet) and GET /cluster-health.
// The metrics text is checked by a small exposition-format parser (the rules promtool checks
// for syntax), which restate-server's own output passes too.
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, IS_RESTATE, request, waitUntil } from "./harness.mjs";

const env = new Env("observability");
before(() => env.start());
after(() => env.close());

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Parses Prometheus text; throws on a format error. Returns {families: Map, samples: [...]}. */
export function parseMetrics(text, { strictGrouping = true } = {}) {
  assert.ok(text.length === 0 || text.endsWith("\n"), "metrics text must end with a newline");
  const families = new Map();
  const samples = [];
  const seen = new Set();
  const closed = new Set();
  let current = null;
  const enter = (name, lineNo) => {
    if (current === name) return;
    // restate-server 1.7.12 itself repeats a few rocksdb families (with their TYPE lines), so
    // its output is checked without the grouping rules
    if (closed.has(name) && strictGrouping) throw new Error(`line ${lineNo}: family ${name} appears again after other families`);
    if (current !== null) closed.add(current);
    current = name;
  };
  const family = (name) => {
    if (!families.has(name)) families.set(name, { type: "untyped", help: null, hasSamples: false });
    return families.get(name);
  };
  text.split("\n").forEach((line, i) => {
    const lineNo = i + 1;
    if (line === "") return;
    let m = line.match(/^# (HELP|TYPE) (\S+)(?: (.*))?$/);
    if (m) {
      const [, kind, name, rest = ""] = m;
      if (!NAME.test(name)) throw new Error(`line ${lineNo}: bad metric name ${name}`);
      enter(name, lineNo);
      const f = family(name);
      if (kind === "TYPE") {
        if (f.typed && strictGrouping) throw new Error(`line ${lineNo}: second TYPE for ${name}`);
        if (f.hasSamples && strictGrouping) throw new Error(`line ${lineNo}: TYPE after samples for ${name}`);
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest)) throw new Error(`line ${lineNo}: bad type ${rest}`);
        f.type = rest;
        f.typed = true;
      } else {
        if (f.help !== null && strictGrouping) throw new Error(`line ${lineNo}: second HELP for ${name}`);
        f.help = rest;
      }
      return;
    }
    if (line.startsWith("#")) return;
    m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? +(\S+)(?: +(-?\d+))?$/);
    if (!m) throw new Error(`line ${lineNo}: not a sample: ${line}`);
    const [, name, rawLabels = "", rawValue] = m;
    const labels = {};
    if (rawLabels) {
      const body = rawLabels.slice(1, -1);
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)/y;
      let pos = 0;
      while (pos < body.length) {
        re.lastIndex = pos;
        const lm = re.exec(body);
        if (!lm) throw new Error(`line ${lineNo}: bad labels ${rawLabels}`);
        if (lm[1] in labels) throw new Error(`line ${lineNo}: duplicate label ${lm[1]}`);
        labels[lm[1]] = lm[2];
        pos = re.lastIndex;
      }
    }
    const value = rawValue === "+Inf" ? Infinity : rawValue === "-Inf" ? -Infinity : rawValue === "NaN" ? NaN : Number(rawValue);
    if (Number.isNaN(value) && rawValue !== "NaN") throw new Error(`line ${lineNo}: bad value ${rawValue}`);
    let famName = name;
    for (const sfx of ["_bucket", "_sum", "_count"]) {
      const base = name.slice(0, -sfx.length);
      if (name.endsWith(sfx) && families.get(base)?.typed && ["histogram", "summary"].includes(families.get(base).type)) famName = base;
    }
    enter(famName, lineNo);
    const f = family(famName);
    f.hasSamples = true;
    if (f.type === "counter" && value < 0) throw new Error(`line ${lineNo}: negative counter ${name}`);
    const id = name + JSON.stringify(Object.entries(labels).sort());
    if (seen.has(id)) throw new Error(`line ${lineNo}: duplicate sample ${name}${rawLabels}`);
    seen.add(id);
    samples.push({ name, family: famName, labels, value });
  });
  // histograms: cumulative buckets ending in +Inf equal to _count
  for (const [name, f] of families) {
    if (f.type !== "histogram") continue;
    const groups = new Map();
    for (const s of samples.filter((x) => x.family === name)) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      if (!groups.has(key)) groups.set(key, { buckets: [], count: undefined });
      const g = groups.get(key);
      if (s.name === `${name}_bucket`) g.buckets.push([le === "+Inf" ? Infinity : Number(le), s.value]);
      if (s.name === `${name}_count`) g.count = s.value;
    }
    for (const [key, g] of groups) {
      for (let i = 1; i < g.buckets.length; i++) {
        assert.ok(g.buckets[i][0] > g.buckets[i - 1][0], `${name}${key}: le not increasing`);
        assert.ok(g.buckets[i][1] >= g.buckets[i - 1][1], `${name}${key}: buckets not cumulative`);
      }
      const inf = g.buckets.at(-1);
      assert.ok(inf && inf[0] === Infinity, `${name}${key}: no +Inf bucket`);
      assert.equal(inf[1], g.count, `${name}${key}: +Inf bucket != _count`);
    }
  }
  return { families, samples };
}

function value(parsed, name, labels = {}) {
  const s = parsed.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

const nodeUrl = () => `http://127.0.0.1:${env.server.nodePort}`;

env.test("node port /metrics: valid exposition text", async () => {
  const r = await request(`${nodeUrl()}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers["content-type"], /^text\/plain/);
  const parsed = parseMetrics(r.text, { strictGrouping: !IS_RESTATE });
  assert.ok(parsed.samples.length > 0);
});

env.test("metrics count calls, invocations, log appends and the process", async (t) => {
  if (IS_RESTATE) return t.skip("stet_* metric names");
  const c = await env.server.call("/Greeter/greet", "metrics");
  assert.equal(c.status, 200, c.text);
  const bad = await env.server.call("/Nope/x", {});
  assert.equal(bad.status, 404);
  const parsed = await waitUntil(async () => {
    const p = parseMetrics((await request(`${nodeUrl()}/metrics`)).text);
    return value(p, "stet_invocations_completed_total", { outcome: "success" }) >= 1 && p;
  }, { what: "a successful invocation in the metrics" });
  assert.ok(value(parsed, "stet_ingress_requests_total", { status: "2xx" }) >= 1);
  assert.ok(value(parsed, "stet_ingress_requests_total", { status: "4xx" }) >= 1);
  assert.ok(value(parsed, "stet_ingress_request_duration_seconds_count") >= 2);
  assert.ok(value(parsed, "stet_invoker_attempts_total") >= 1);
  assert.equal(typeof value(parsed, "stet_invoker_retries_total"), "number");
  assert.ok(value(parsed, "stet_log_appends_total") >= 1);
  assert.ok(value(parsed, "stet_log_commit_duration_seconds_count") >= 1);
  assert.equal(parsed.families.get("stet_log_commit_duration_seconds").type, "histogram");
  assert.equal(value(parsed, "stet_partition_apply_lag_records", { partition: "0" }), 0);
  assert.ok(value(parsed, "stet_http_connections_open", { server: "node" }) >= 1);
  assert.ok(value(parsed, "process_resident_memory_bytes") > 1e6);
  assert.ok(value(parsed, "process_cpu_seconds_total") > 0);
});

env.test("admin /metrics: the same registry (Stet); restate-server answers 404", async () => {
  const r = await env.server.admin("GET", "/metrics");
  if (IS_RESTATE) {
    assert.equal(r.status, 404);
    return;
  }
  assert.equal(r.status, 200);
  const parsed = parseMetrics(r.text);
  assert.ok(value(parsed, "stet_http_connections_open", { server: "admin" }) >= 1);
  const post = await env.server.admin("POST", "/metrics");
  assert.equal(post.status, 405);
});

env.test("GET /cluster: this node, its partitions and logs (Stet); restate-server answers 404", async () => {
  const r = await env.server.admin("GET", "/cluster");
  if (IS_RESTATE) {
    assert.equal(r.status, 404);
    return;
  }
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "application/json");
  const c = r.json;
  assert.equal(c.cluster_name, "localcluster");
  assert.equal(c.this_node, "N1");
  assert.equal(c.nodes.length, 1);
  const n = c.nodes[0];
  assert.equal(n.name, "e2e");
  assert.equal(n.status, "alive");
  assert.match(n.generational_id, /^N1:\d+$/);
  assert.deepEqual(n.roles, ["worker", "admin", "metadata-server", "log-server", "http-ingress"]);
  assert.equal(n.addresses.admin, `127.0.0.1:${env.server.adminPort}`);
  assert.equal(n.addresses.ingress, `127.0.0.1:${env.server.ingressPort}`);
  assert.equal(n.addresses.fabric, `127.0.0.1:${env.server.nodePort}`);
  assert.equal(c.partitions.length, 24);
  assert.equal(c.logs.length, 24);
  assert.equal(c.partitions[0].key_range.start, 0);
  for (const p of c.partitions) {
    assert.equal(p.leader, "N1");
    assert.equal(p.mode, "leader");
    assert.ok(p.applied_lsn <= p.durable_lsn);
  }
  assert.ok(c.partitions.some((p) => p.applied_lsn > 0), "the calls of the metrics test applied records");
  assert.equal(c.metadata.status, "member");
  assert.ok(c.metadata.schema_version >= 1);
});

env.test("GET /cluster-health", async () => {
  const r = await env.server.admin("GET", "/cluster-health");
  assert.equal(r.status, 200);
  assert.equal(r.json.cluster_name, "localcluster");
  assert.ok(Array.isArray(r.json.metadata_cluster_health.members));
});
