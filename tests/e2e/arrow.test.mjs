// POST /query answered as an Arrow IPC stream (any accept other than exactly application/json),
// decoded by an independent reader, the apache-arrow npm package, and compared value by value with
// the JSON answer to the same query. Covers every column type the sys_* tables use (strings,
// integers, booleans, binary, timestamps, lists) on real data made by real invocations.
import assert from "node:assert/strict";
import { tableFromIPC } from "apache-arrow";
import { after, before } from "node:test";
import { Env } from "./harness.mjs";

const env = new Env("arrow", { servicesScript: "keyed_services.mjs" });
before(() => env.start());
after(() => env.close());

async function query(sql, accept) {
  const r = await env.server.admin("POST", "/query", { json: { query: sql }, headers: { accept } });
  return r;
}

function toPlain(v) {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "object" && typeof v.toArray === "function") return [...v.toArray()].map(toPlain);
  return v;
}

// JSON timestamps are RFC 3339 with trimmed fractions; normalise both sides through Date.
function normalise(row, schemaTypes) {
  const out = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === undefined || v === null) continue;
    if (schemaTypes[k] === "ts") out[k] = new Date(v).getTime();
    else if (typeof v === "number" && !Number.isSafeInteger(v) && Number.isInteger(v)) out[k] = "big";
    else out[k] = v;
  }
  return out;
}

const QUERIES = [
  "SELECT id, target, target_service_name, target_service_key, status, created_at, modified_at, pinned_deployment_id, completion_result, retry_count, journal_size FROM sys_invocation ORDER BY id",
  "SELECT id, index, entry_type, name, appended_at, version FROM sys_journal ORDER BY id, index",
  "SELECT service_name, service_key, key, value, value_utf8, value_length FROM state ORDER BY service_name, service_key, key",
  "SELECT name, revision, public, ty, deployment_id FROM sys_service ORDER BY name",
  "SELECT id, ty, endpoint, created_at, min_service_protocol_version, max_service_protocol_version, services FROM sys_deployment",
  "SELECT COUNT(*) FROM sys_invocation",
  "SELECT target_service_name, COUNT(1) AS n FROM sys_invocation GROUP BY target_service_name ORDER BY target_service_name",
];

env.test("Arrow IPC answers decode with apache-arrow and match the JSON answers", async () => {
  // some data: state, completed invocations, a failure
  for (let i = 0; i < 3; i++) assert.equal((await env.server.call(`/Counter/arrow-${i}/add`, i + 1)).status, 200);
  await env.server.call("/Counter/arrow-0/boom", "x");
  for (const sql of QUERIES) {
    const a = await query(sql, "*/*");
    assert.equal(a.status, 200, `${sql}: ${a.text}`);
    assert.equal(a.headers["content-type"], "application/vnd.apache.arrow.stream");
    const j = await query(sql, "application/json");
    assert.equal(j.status, 200, j.text);
    const table = tableFromIPC(new Uint8Array(a.body));
    const types = {};
    for (const f of table.schema.fields) {
      types[f.name] = String(f.type).startsWith("Timestamp") ? "ts" : String(f.type);
    }
    const arrowRows = table.toArray().map((r) => {
      const o = {};
      for (const f of table.schema.fields) o[f.name] = toPlain(r[f.name]);
      return normalise(o, types);
    });
    const jsonRows = j.json.rows.map((r) => normalise(r, types));
    assert.ok(jsonRows.length > 0, `${sql}: no rows`);
    assert.deepEqual(arrowRows, jsonRows, sql);
  }
});

env.test("COUNT probes are Int64, as the restate CLI requires", async () => {
  const a = await query(
    "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = 'sys_journal' AND column_name IN ('promise_name')",
    "*/*",
  );
  const table = tableFromIPC(new Uint8Array(a.body));
  assert.equal(String(table.schema.fields[0].type), "Int64");
  assert.equal(table.schema.fields[0].name, "count(*)");
  assert.equal(Number(table.toArray()[0]["count(*)"]), 1);
});
