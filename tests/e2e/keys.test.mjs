// Object and workflow keys (keyed_services.mjs Keys, Counter, Signup): any UTF-8 key,
// percent-encoded in the path, reaches the handler exactly as the caller sent it, and each key has
// its own state. Invalid keys and malformed object requests get Restate 1.7.12's status and JSON
// error and never run a handler or touch state (executions counted in the services process).
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { Env, INVOCATION_ID_RE, sleep } from "./harness.mjs";

const env = new Env("keys", { servicesScript: "keyed_services.mjs" });
before(() => env.start());
after(() => env.close());

const BAD_PATH = "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler";

function assertIngressError(r, status, message) {
  assert.equal(r.status, status, `status (body ${r.text})`);
  assert.equal(r.headers["content-type"], "application/json");
  assert.equal(r.headers["x-restate-error-source"], "ingress");
  assert.equal(r.headers["x-restate-id"], undefined);
  assert.deepEqual(r.json, { code: status, message, source: "ingress" });
}

const SPECIAL_KEYS = [
  "a b",
  "a/b",
  "/leading/and/trailing/",
  "a%b",
  "a%20b",
  "a+b",
  "+",
  "😀 emoji",
  'say "hi"',
  "it's",
  "new\nline",
  "\r\n\t",
  "",
  " ",
  "ü/ß/€/日本語",
  "a?b#c&d=e",
  "nul\u0000byte",
  "back\\slash",
  "[{<>}]|^`",
];

env.test("special keys, percent-encoded: the handler gets exactly the key, each key its own state", async () => {
  const { server, services } = env;
  for (const [i, key] of SPECIAL_KEYS.entries()) {
    const path = `/Keys/${encodeURIComponent(key)}`;
    const r = await server.call(`${path}/remember`, i);
    assert.equal(r.status, 200, `${JSON.stringify(key)}: ${r.text}`);
    assert.equal(r.json, key, `remember got key ${JSON.stringify(r.json)} for ${JSON.stringify(key)}`);
    assert.match(r.headers["x-restate-id"], INVOCATION_ID_RE);
    const w = await server.call(`${path}/whoami`);
    assert.equal(w.json, key);
  }
  // Read back after all writes: no two keys shared an object.
  for (const [i, key] of SPECIAL_KEYS.entries()) {
    const r = await server.call(`/Keys/${encodeURIComponent(key)}/recall`);
    assert.deepEqual(r.json, { key, v: i }, `state of ${JSON.stringify(key)}`);
  }
  const c = await services.counts();
  for (const key of SPECIAL_KEYS) assert.equal(c[`Keys.remember:${key}`], 1, `executions for ${JSON.stringify(key)}`);
});

env.test("key decoding: only %XX is decoded, + stays, broken escapes are kept literally", async () => {
  const { server } = env;
  const cases = [
    ["%61bc", "abc"],
    ["%2f%2F", "//"],
    ["a+b", "a+b"],
    ["%2B", "+"],
    ["a%", "a%"],
    ["a%zz", "a%zz"],
    ["%2", "%2"],
    ["%C3%BC", "ü"],
    ["%F0%9F%98%80", "😀"],
    ["%00", "\u0000"],
    ["%0D%0A", "\r\n"],
    ["a;b,c:d@e~f'g!h*()", "a;b,c:d@e~f'g!h*()"],
  ];
  for (const [raw, key] of cases) {
    const r = await server.call(`/Keys/${raw}/whoami`);
    assert.equal(r.status, 200, `${raw}: ${r.text}`);
    assert.equal(r.json, key, `/Keys/${raw}/whoami`);
  }
  // Two spellings of one key are one object.
  assert.equal((await server.call("/Keys/%61bc/remember", "via-escape")).status, 200);
  assert.deepEqual((await server.call("/Keys/abc/recall")).json, { key: "abc", v: "via-escape" });
  // The query string is not part of the key.
  assert.equal((await server.call("/Keys/q%3Fx/whoami?foo=bar")).json, "q?x");
  // One trailing slash is dropped; an empty key segment is the empty key.
  assert.equal((await server.call("/Keys/abc/whoami/")).json, "abc");
  assert.equal((await server.call("/Keys//whoami")).json, "");
});

env.test("invalid UTF-8 in a key: 400, no handler runs", async () => {
  const { server, services } = env;
  assertIngressError(
    await server.call("/Keys/%FF/remember", 1),
    400,
    "bad path, cannot decode key: FromUtf8Error { bytes: [255], error: Utf8Error { valid_up_to: 0, error_len: Some(1) } }",
  );
  assertIngressError(
    await server.call("/Keys/%E2%82/remember", 1),
    400,
    "bad path, cannot decode key: FromUtf8Error { bytes: [226, 130], error: Utf8Error { valid_up_to: 0, error_len: None } }",
  );
  assertIngressError(
    await server.call("/Keys/ok%C3%28/remember", 1),
    400,
    "bad path, cannot decode key: FromUtf8Error { bytes: [111, 107, 195, 40], error: Utf8Error { valid_up_to: 2, error_len: Some(1) } }",
  );
  await sleep(200);
  const c = await services.counts();
  assert.deepEqual(
    Object.keys(c).filter((k) => k.startsWith("Keys.remember:") && !SPECIAL_KEYS.includes(k.slice("Keys.remember:".length)) && k !== "Keys.remember:abc"),
    [],
    "a handler ran for an invalid key",
  );
});

env.test("dot segments are normalized away before routing (. and .. and %2e)", async () => {
  const { server } = env;
  assertIngressError(await server.call("/Keys/./whoami"), 400, BAD_PATH);
  assertIngressError(await server.call("/Keys/%2e/whoami"), 400, BAD_PATH);
  assertIngressError(await server.call("/Keys/../whoami"), 400, "bad path: /whoami");
  assertIngressError(await server.call("/Keys/%2E%2E/whoami"), 400, "bad path: /whoami");
  // Dots inside a key are ordinary characters.
  assert.equal((await server.call("/Keys/a.b/whoami")).json, "a.b");
  assert.equal((await server.call("/Keys/.../whoami")).json, "...");
});

env.test("long keys: a request target up to 65534 bytes works; one byte more is 414 and runs nothing", async () => {
  const { server, services } = env;
  const long = "k".repeat(60_000);
  const r = await server.call(`/Counter/${long}/add`, 4);
  assert.equal(r.status, 200, r.text.slice(0, 200));
  assert.equal(r.json, 4);
  assert.equal((await server.call(`/Counter/${long}/get`)).json, 4);
  assert.equal(await services.count(`Counter.add:${long}`), 1);
  const w = await server.call(`/Keys/${long}/whoami`);
  assert.equal(w.json, long);

  // Restate 1.7.12 (hyper) takes request targets of up to 65534 bytes, query included.
  const keyFor = (targetLength, suffix) => "m".repeat(targetLength - "/Counter/".length - suffix.length);
  // Every length up to the limit gets an answer (each request bounded to 5 s).
  for (const length of [65_000, 65_146, 65_200, 65_300, 65_400, 65_457, 65_458, 65_500, 65_533]) {
    const g = await server.call(`/Counter/${keyFor(length, "/get")}/get`, undefined, { timeout: 5000 });
    assert.equal(g.status, 200, `request target of ${length} bytes: ${g.text.slice(0, 200)}`);
    assert.equal(g.json, 0);
  }
  const atLimit = keyFor(65_534, "/add");
  const ok = await server.call(`/Counter/${atLimit}/add`, 1);
  assert.equal(ok.status, 200, ok.text.slice(0, 200));
  assert.equal(ok.json, 1);
  const okQuery = await server.call(`/Counter/${keyFor(65_534, "/get?a=b")}/get?a=b`);
  assert.equal(okQuery.status, 200, okQuery.text.slice(0, 200));

  const overLimit = keyFor(65_535, "/add");
  const tooLong = "t".repeat(70_000);
  for (const path of [`/Counter/${overLimit}/add`, `/Counter/${keyFor(65_535, "/get?a=b")}/get?a=b`, `/Counter/${tooLong}/add`, `/Counter/${tooLong}/add/send`, `/Counter/${tooLong}/get`]) {
    const t = await server.call(path, 1);
    assert.equal(t.status, 414, `target of ${path.length} bytes: ${t.text.slice(0, 200)}`);
    assert.equal(t.text, "");
    assert.equal(t.headers["content-length"], "0");
    assert.equal(t.headers["content-type"], undefined);
    assert.equal(t.headers["x-restate-id"], undefined);
  }
  await sleep(200);
  const c = await services.counts();
  assert.equal(c[`Counter.add:${atLimit}`], 1);
  assert.equal(c[`Counter.add:${overLimit}`], undefined, "a handler ran for a 414 request");
  assert.equal(c[`Counter.add:${tooLong}`], undefined, "a handler ran for a 414 request");
  assert.equal(c[`Counter.get:${tooLong}`], undefined);
});

env.test("bad object requests: no key, extra segments, unknown handler, bad input; state untouched", async () => {
  const { server, services } = env;
  assert.equal((await server.call("/Counter/bad/add", 3)).json, 3);

  assertIngressError(await server.call("/Counter/add", 1), 400, BAD_PATH);
  // Without a key, "add" is taken as the key and "send" as the handler.
  assertIngressError(
    await server.call("/Counter/add/send", 1),
    404,
    "the service 'Counter' exists, but the handler 'send' was not found, check that the handler exists in the latest registered service version.",
  );
  assertIngressError(await server.call("/Counter/bad/add/extra", 1), 400, BAD_PATH);
  assertIngressError(await server.call("/Counter/bad/add/send/extra", 1), 400, BAD_PATH);
  assertIngressError(
    await server.call("/Counter/bad/nope", 1),
    404,
    "the service 'Counter' exists, but the handler 'nope' was not found, check that the handler exists in the latest registered service version.",
  );
  assertIngressError(
    await server.call("/NoSuchObject/bad/add", 1),
    404,
    "service 'NoSuchObject' not found, make sure to register the service before calling it.",
  );
  assertIngressError(
    await server.ingress("POST", "/Counter/bad/add", { headers: { "content-type": "text/plain" }, body: "1" }),
    400,
    "input validation error: Content-type 'text/plain' does not match 'application/json'",
  );
  assertIngressError(await server.ingress("PUT", "/Counter/bad/add", { json: 1 }), 405, "method not allowed");
  assertIngressError(
    await server.call("/Counter/bad/add?delay=1s", 1),
    400,
    "cannot use the delay query parameter with calls. The delay is supported only with sends",
  );
  // Invalid JSON reaches the SDK, which fails the invocation before the handler body runs.
  const bj = await server.ingress("POST", "/Counter/bad/add", { headers: { "content-type": "application/json" }, body: "{bad" });
  assert.equal(bj.status, 400);
  assert.equal(bj.headers["x-restate-error-source"], "invocation");
  assert.match(bj.headers["x-restate-id"], INVOCATION_ID_RE);
  assert.deepEqual(bj.json, {
    code: 400,
    message: "Failed to deserialize input: Expected property name or '}' in JSON at position 1",
    source: "invocation",
  });

  await sleep(200);
  assert.equal(await services.count("Counter.add:bad"), 1, "a rejected request ran the handler");
  assert.equal((await server.call("/Counter/bad/get")).json, 3, "a rejected request changed the state");
});

env.test("workflow keys: percent-decoded in calls and in /restate/workflow/{name}/{key}/output", async () => {
  const { server } = env;
  const key = "wf key/ü😀";
  const enc = encodeURIComponent(key);
  assert.equal((await server.call(`/Signup/${enc}/approve`, "ok")).status, 200);
  const r = await server.call(`/Signup/${enc}/run`, {}, { timeout: 10_000 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { key, input: {}, approval: "ok" });
  const o = await server.ingress("GET", `/restate/workflow/Signup/${enc}/output`);
  assert.equal(o.status, 200);
  assert.deepEqual(o.json, r.json);
  assert.equal(o.headers["x-restate-id"], r.headers["x-restate-id"]);
  // The same key spelled differently is the same workflow.
  const o2 = await server.ingress("GET", `/restate/workflow/Signup/wf%20key%2F%C3%BC%F0%9F%98%80/output`);
  assert.equal(o2.status, 200);
  assert.equal(o2.headers["x-restate-id"], r.headers["x-restate-id"]);
  // A different key has nothing.
  const o3 = await server.ingress("GET", `/restate/workflow/Signup/${encodeURIComponent("wf key/u")}/output`);
  assert.equal(o3.status, 404);
});
