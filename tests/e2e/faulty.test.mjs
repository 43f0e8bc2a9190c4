// A deployment that misbehaves: answers non-200, a wrong content-type, malformed frames,
// notifications (which only the server may send), resets streams, or is down. Each broken attempt
// must fail with a clear error, be retried with backoff, and never crash or wedge the server:
// while the faulty deployment misbehaves, calls to the healthy services keep working.
//
// The faulty endpoint is a raw node:http2 server speaking just enough of the service protocol:
// it counts attempts per mode and, from attempt N on, answers properly (Output "ok" + End).
import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before } from "node:test";
import { Env, freePort, sleep } from "./harness.mjs";

const MODES = ["status500", "wrongct", "badflags", "notification", "reset", "truncated", "start"];
const FAILURES_BEFORE_OK = 2;

const attempts = new Map();
let times = new Map();

function frame(type, payload) {
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt32BE(payload.length, 4);
  payload.copy(b, 8);
  return b;
}

// OutputCommand{value: Value{content: "\"ok\""}} then End
const OUTPUT_OK = frame(0x0401, Buffer.from([0x72, 0x06, 0x0a, 0x04, ...Buffer.from('"ok"')]));
const END = frame(0x0003, Buffer.alloc(0));

const manifest = {
  protocolMode: "BIDI_STREAM",
  minProtocolVersion: 5,
  maxProtocolVersion: 6,
  services: [
    {
      name: "Faulty",
      ty: "SERVICE",
      handlers: MODES.map((name) => ({ name, input: { required: false, contentType: "application/json" }, output: { contentType: "application/json", setContentTypeIfEmpty: false } })),
    },
  ],
};

let server;
let port;
const sessions = new Set();

// Stops the endpoint like a crashed process would: listener and open connections gone.
function killFaulty() {
  for (const s of sessions) s.destroy();
  sessions.clear();
  return new Promise((resolve) => server.close(resolve));
}

function startFaulty() {
  server = http2.createServer();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("stream", (stream, headers) => {
    const path = headers[":path"];
    if (path === "/discover") {
      stream.respond({ ":status": 200, "content-type": "application/vnd.restate.endpointmanifest.v3+json" });
      stream.end(JSON.stringify(manifest));
      return;
    }
    const m = /^\/invoke\/Faulty\/(\w+)$/.exec(path);
    if (!m) {
      stream.respond({ ":status": 404 });
      stream.end();
      return;
    }
    const mode = m[1];
    const n = (attempts.get(mode) ?? 0) + 1;
    attempts.set(mode, n);
    if (!times.has(mode)) times.set(mode, []);
    times.get(mode).push(Date.now());
    const ct = headers["content-type"];
    stream.on("data", () => {});
    stream.on("error", () => {});
    if (n > FAILURES_BEFORE_OK) {
      stream.respond({ ":status": 200, "content-type": ct });
      stream.write(Buffer.concat([OUTPUT_OK, END]));
      stream.on("end", () => stream.end());
      return;
    }
    switch (mode) {
      case "status500":
        stream.respond({ ":status": 500 });
        stream.end("boom");
        break;
      case "wrongct":
        stream.respond({ ":status": 200, "content-type": "text/plain" });
        stream.end("hello");
        break;
      case "badflags": {
        stream.respond({ ":status": 200, "content-type": ct });
        const b = Buffer.from(OUTPUT_OK);
        b.writeUInt16BE(0x0001, 2); // reserved flag bit
        stream.end(b);
        break;
      }
      case "notification":
        stream.respond({ ":status": 200, "content-type": ct });
        stream.end(frame(0x800c, Buffer.from([0x08, 0x01, 0x22, 0x00])));
        break;
      case "reset":
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        break;
      case "truncated":
        stream.respond({ ":status": 200, "content-type": ct });
        stream.end(OUTPUT_OK.subarray(0, 11)); // header promises more than is sent
        break;
      case "start":
        stream.respond({ ":status": 200, "content-type": ct });
        stream.end(frame(0x0000, Buffer.from([0x18, 0x01])));
        break;
    }
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
}

const env = new Env("faulty");
before(async () => {
  port = await freePort();
  await startFaulty();
  await env.start();
  const r = await env.server.admin("POST", "/deployments", { json: { uri: `http://127.0.0.1:${port}` } });
  assert.ok(r.status === 201 || r.status === 200, `registration: ${r.status} ${r.text}`);
});
after(async () => {
  await env.close();
  await killFaulty();
});

for (const mode of MODES) {
  env.test(`deployment misbehaves (${mode}): the attempt fails, is retried with backoff, then succeeds`, async () => {
    const r = await env.server.call(`/Faulty/${mode}`, null);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, '"ok"');
    assert.equal(attempts.get(mode), FAILURES_BEFORE_OK + 1);
    const ts = times.get(mode);
    // default policy: 500 ms, then 1 s (some jitter or scheduling slack is fine)
    assert.ok(ts[1] - ts[0] >= 400, `first retry after ${ts[1] - ts[0]} ms`);
    assert.ok(ts[2] - ts[1] >= 800, `second retry after ${ts[2] - ts[1]} ms`);
  }, { timeout: 20_000 });
}

env.test("healthy services keep working while a deployment misbehaves; the log names the failure", async () => {
  attempts.clear();
  times = new Map();
  const bad = env.server.call("/Faulty/badflags", null);
  await sleep(100);
  for (let i = 0; i < 5; i++) {
    const r = await env.server.call("/Greeter/greet", `w${i}`);
    assert.equal(r.status, 200);
  }
  const r = await bad;
  assert.equal(r.status, 200);
  if (env.server.kind === "stet") {
    assert.match(env.server.tail(), /attempt failed .*malformed message header/);
  }
}, { timeout: 20_000 });

env.test("a deployment that is down: attempts fail and are retried until it is back", async () => {
  attempts.clear();
  times = new Map();
  await killFaulty();
  const pending = env.server.call("/Faulty/status500", null);
  await sleep(1200);
  await startFaulty();
  const r = await pending;
  assert.equal(r.status, 200);
  assert.equal(r.text, '"ok"');
}, { timeout: 30_000 });
