// Eager and lazy state as the service protocol carries it: which state the server puts into the
// StartMessage (state_map, partial_state, key), seen by a raw HTTP/2 endpoint that speaks just
// enough of the protocol (v5/v6), without an SDK in between. Each `peek` handler answers with a
// JSON description of the StartMessage it received, so the test reads it from the ingress answer.
//
// The raw endpoint serves (manifest below):
//   RawObj (VIRTUAL_OBJECT): put (EXCLUSIVE; input {"k": "json text", ...} -> one SetState per
//     entry), clear (EXCLUSIVE; input "k" -> ClearState), clearAll (EXCLUSIVE), peek (EXCLUSIVE),
//     peekShared (SHARED), peekLazy (EXCLUSIVE, handler-level enableLazyState)
//   RawLazyObj (VIRTUAL_OBJECT, service-level enableLazyState): put, peek
//   RawSvc (SERVICE): peek
//   RawWf (WORKFLOW): run (WORKFLOW; sets "wf" then answers the peek), peek (SHARED)
//
// The second Env runs with worker.invoker.eager-state-size-limit = 1 KiB: restate-server 1.7.12
// then sends partial_state = true and only part of the state once the state is larger than that.
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe } from "node:test";
import { Env, freePort } from "./harness.mjs";

// ---------------------------------------------------------------------------------------------
// Minimal protobuf and framing

function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}
const lenField = (field, bytes) => Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
const valueMsg = (content) => lenField(1, Buffer.from(content));

function frame(type, payload) {
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt32BE(payload.length, 4);
  payload.copy(b, 8);
  return b;
}
const setState = (key, content) => frame(0x0403, Buffer.concat([lenField(1, Buffer.from(key)), lenField(3, valueMsg(content))]));
const clearState = (key) => frame(0x0404, lenField(1, Buffer.from(key)));
const clearAllState = () => frame(0x0405, Buffer.alloc(0));
const output = (json) => frame(0x0401, lenField(14, valueMsg(JSON.stringify(json))));
const END = frame(0x0003, Buffer.alloc(0));

/** Decodes one protobuf message into {field: [values]} (varints as BigInt, bytes as Buffer). */
function decode(buf) {
  const fields = {};
  let i = 0;
  const readVarint = () => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const tag = Number(readVarint());
    const field = tag >> 3;
    const wt = tag & 7;
    let val;
    if (wt === 0) val = readVarint();
    else if (wt === 2) {
      const len = Number(readVarint());
      val = buf.subarray(i, i + len);
      i += len;
    } else if (wt === 1) {
      val = buf.subarray(i, i + 8);
      i += 8;
    } else if (wt === 5) {
      val = buf.subarray(i, i + 4);
      i += 4;
    } else throw new Error(`wire type ${wt}`);
    (fields[field] ??= []).push(val);
  }
  return fields;
}

/** Reads frames from an h2 stream; resolves with [start, entries] once known_entries arrived. */
function readStart(stream) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let start = null;
    const entries = [];
    stream.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 8) {
        const len = buf.readUInt32BE(4);
        if (buf.length < 8 + len) break;
        const type = buf.readUInt16BE(0);
        const payload = buf.subarray(8, 8 + len);
        buf = buf.subarray(8 + len);
        if (start === null) {
          if (type !== 0) return reject(new Error(`first frame has type ${type}`));
          start = decode(payload);
        } else entries.push({ type, msg: decode(payload) });
        const known = Number(start[3]?.[0] ?? 0n);
        if (start && entries.length >= known) resolve([start, entries]);
      }
    });
    stream.on("error", reject);
  });
}

function describeStart(start) {
  const stateMap = {};
  for (const e of start[4] ?? []) {
    const m = decode(e);
    // proto3 leaves out empty fields: a missing key or value is the empty string.
    stateMap[m[1] ? m[1][0].toString("utf8") : ""] = m[2] ? m[2][0].toString("utf8") : "";
  }
  return {
    key: start[6] ? start[6][0].toString("utf8") : "",
    partial: start[5] ? start[5][0] === 1n : false,
    stateMap,
  };
}

// ---------------------------------------------------------------------------------------------
// The raw endpoint

const json = { required: false, contentType: "application/json" };
const out = { contentType: "application/json", setContentTypeIfEmpty: false };
const h = (name, ty, extra = {}) => ({ name, ...(ty ? { ty } : {}), input: json, output: out, ...extra });
const manifest = {
  protocolMode: "BIDI_STREAM",
  minProtocolVersion: 5,
  maxProtocolVersion: 6,
  services: [
    {
      name: "RawObj",
      ty: "VIRTUAL_OBJECT",
      handlers: [
        h("put", "EXCLUSIVE"),
        h("clear", "EXCLUSIVE"),
        h("clearAll", "EXCLUSIVE"),
        h("peek", "EXCLUSIVE"),
        h("peekShared", "SHARED"),
        h("peekLazy", "EXCLUSIVE", { enableLazyState: true }),
      ],
    },
    { name: "RawLazyObj", ty: "VIRTUAL_OBJECT", enableLazyState: true, handlers: [h("put", "EXCLUSIVE"), h("peek", "EXCLUSIVE")] },
    { name: "RawSvc", ty: "SERVICE", handlers: [h("peek")] },
    { name: "RawWf", ty: "WORKFLOW", handlers: [h("run", "WORKFLOW"), h("peek", "SHARED")] },
  ],
};

function inputOf(entries) {
  const input = entries.find((e) => e.type === 0x0400);
  const v = input?.msg[14]?.[0];
  if (!v) return undefined;
  const content = decode(v)[1]?.[0];
  return content && content.length ? JSON.parse(content.toString("utf8")) : undefined;
}

class RawEndpoint {
  constructor() {
    this.sessions = new Set();
    this.server = http2.createServer();
    this.server.on("session", (s) => {
      this.sessions.add(s);
      s.on("close", () => this.sessions.delete(s));
    });
    this.server.on("stream", (stream, headers) => this.onStream(stream, headers));
  }

  async start() {
    this.port = await freePort();
    await new Promise((resolve) => this.server.listen(this.port, "127.0.0.1", resolve));
    return `http://127.0.0.1:${this.port}`;
  }

  stop() {
    for (const s of this.sessions) s.destroy();
    return new Promise((resolve) => this.server.close(resolve));
  }

  onStream(stream, headers) {
    this.serve(stream, headers).catch((e) => {
      // A bug here must fail the test visibly, not leave the invocation hanging.
      process.stderr.write(`raw endpoint: ${e.stack}\n`);
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
  }

  async serve(stream, headers) {
    stream.on("error", () => {});
    const path = headers[":path"];
    if (path === "/discover") {
      stream.respond({ ":status": 200, "content-type": "application/vnd.restate.endpointmanifest.v3+json" });
      stream.end(JSON.stringify(manifest));
      return;
    }
    const m = /^\/invoke\/(\w+)\/(\w+)$/.exec(path);
    if (!m) {
      stream.respond({ ":status": 404 });
      stream.end();
      return;
    }
    const [, service, handler] = m;
    const [start, entries] = await readStart(stream);
    const input = inputOf(entries);
    const frames = [];
    if (handler === "put") for (const [k, v] of Object.entries(input ?? {})) frames.push(setState(k, v));
    else if (handler === "clear") frames.push(clearState(input));
    else if (handler === "clearAll") frames.push(clearAllState());
    const seen = { service, handler, ...describeStart(start) };
    if (service === "RawWf" && handler === "run") frames.push(setState("wf", JSON.stringify("running")));
    frames.push(output(seen), END);
    stream.respond({ ":status": 200, "content-type": headers["content-type"] });
    stream.write(Buffer.concat(frames));
    stream.on("end", () => stream.end());
    stream.resume();
  }
}

// ---------------------------------------------------------------------------------------------

async function setup(env, raw) {
  const uri = await raw.start();
  await env.start();
  const r = await env.server.admin("POST", "/deployments", { json: { uri } });
  assert.ok(r.status === 201 || r.status === 200, `registration: ${r.status} ${r.text}`);
}

async function peek(env, path) {
  const r = await env.server.call(path, null, { timeout: 10_000 });
  assert.equal(r.status, 200, `${path}: ${r.text}`);
  return r.json;
}

describe("default eager state", () => {
  const env = new Env("state-protocol", { services: false });
  const raw = new RawEndpoint();
  before(() => setup(env, raw));
  after(async () => {
    await env.close();
    await raw.stop();
  });

  env.test("objects: the complete state in the StartMessage, partial_state false", async () => {
    assert.deepEqual(await peek(env, "/RawObj/k1/peek"), { service: "RawObj", handler: "peek", key: "k1", partial: false, stateMap: {} });
    await env.server.call("/RawObj/k1/put", { a: '"x"', b: "1", "": '"empty name"', "ü 😀": "[1,2]" });
    const all = { a: '"x"', b: "1", "": '"empty name"', "ü 😀": "[1,2]" };
    assert.deepEqual(await peek(env, "/RawObj/k1/peek"), { service: "RawObj", handler: "peek", key: "k1", partial: false, stateMap: all });
    assert.deepEqual(await peek(env, "/RawObj/k1/peekShared"), { service: "RawObj", handler: "peekShared", key: "k1", partial: false, stateMap: all });
    // Another key sees nothing of it.
    assert.deepEqual((await peek(env, "/RawObj/k2/peek")).stateMap, {});
    // Clear one, then all.
    await env.server.call("/RawObj/k1/clear", "a");
    const { a: _a, ...rest } = all;
    assert.deepEqual((await peek(env, "/RawObj/k1/peek")).stateMap, rest);
    await env.server.call("/RawObj/k1/clearAll", null);
    assert.deepEqual(await peek(env, "/RawObj/k1/peek"), { service: "RawObj", handler: "peek", key: "k1", partial: false, stateMap: {} });
  });

  env.test("lazy state (handler or service enableLazyState): empty state_map, partial_state true", async () => {
    await env.server.call("/RawObj/lz/put", { a: '"x"' });
    assert.deepEqual(await peek(env, "/RawObj/lz/peekLazy"), { service: "RawObj", handler: "peekLazy", key: "lz", partial: true, stateMap: {} });
    assert.deepEqual((await peek(env, "/RawObj/lz/peek")).stateMap, { a: '"x"' });
    await env.server.call("/RawLazyObj/lz/put", { a: '"x"' });
    assert.deepEqual(await peek(env, "/RawLazyObj/lz/peek"), { service: "RawLazyObj", handler: "peek", key: "lz", partial: true, stateMap: {} });
  });

  env.test("plain services: no key, empty state_map, partial_state true", async () => {
    assert.deepEqual(await peek(env, "/RawSvc/peek"), { service: "RawSvc", handler: "peek", key: "", partial: true, stateMap: {} });
  });

  env.test("workflows: run and shared handlers get the workflow's state eagerly", async () => {
    assert.deepEqual(await peek(env, "/RawWf/w1/peek"), { service: "RawWf", handler: "peek", key: "w1", partial: false, stateMap: {} });
    assert.deepEqual(await peek(env, "/RawWf/w1/run"), { service: "RawWf", handler: "run", key: "w1", partial: false, stateMap: {} });
    assert.deepEqual(await peek(env, "/RawWf/w1/peek"), { service: "RawWf", handler: "peek", key: "w1", partial: false, stateMap: { wf: '"running"' } });
  });

  env.test("keys with special characters reach StartMessage.key unchanged", async () => {
    for (const key of ["a b/c", "ü😀", "", "new\nline", "%41"]) {
      const seen = await peek(env, `/RawObj/${encodeURIComponent(key)}/peek`);
      assert.equal(seen.key, key);
    }
  });
});

describe("eager-state-size-limit 1 KiB", () => {
  const env = new Env("state-protocol-limit", {
    services: false,
    serverEnv: { RESTATE_WORKER__INVOKER__EAGER_STATE_SIZE_LIMIT: "1KiB" },
  });
  const raw = new RawEndpoint();
  before(() => setup(env, raw));
  after(async () => {
    await env.close();
    await raw.stop();
  });

  env.test("state under the limit is sent complete; over it, partial_state true and a truncated map", async () => {
    await env.server.call("/RawObj/small/put", { a: '"x"', b: '"y"' });
    assert.deepEqual(await peek(env, "/RawObj/small/peek"), { service: "RawObj", handler: "peek", key: "small", partial: false, stateMap: { a: '"x"', b: '"y"' } });

    const big = {};
    for (let i = 0; i < 8; i++) big[`k${i}`] = JSON.stringify("v".repeat(300));
    await env.server.call("/RawObj/big/put", big);
    const seen = await peek(env, "/RawObj/big/peek");
    assert.equal(seen.partial, true, "state over the eager limit must be marked partial");
    // restate-server 1.7.12 sends entries in key order while they fit: 3 entries of ~304 bytes
    // are within 1 KiB, a 4th is not.
    assert.deepEqual(Object.keys(seen.stateMap), ["k0", "k1", "k2"]);
    for (const k of Object.keys(seen.stateMap)) assert.equal(seen.stateMap[k], big[k], `entry ${k} sent with a wrong value`);
    // A lazy handler still gets nothing eagerly.
    assert.deepEqual((await peek(env, "/RawObj/big/peekLazy")).stateMap, {});
  });
});
