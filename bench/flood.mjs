// Flood load generator (bench/run.sh --flood): N keep-alive HTTP/1.1 connections, closed loop
// (each connection sends its next request when the previous answer arrived), POST <path> with
// the body {"id":<n>}, where n = 0, 1, 2, ... is unique over the whole run. It keeps the HTTP
// status of every id, so the runner can tell exactly which sends were accepted and compare them
// with the ids the handler saw.
//
// Why not wrk: wrk stops with requests in flight (their status is never known) and its Lua
// response() hook cannot tell which request an answer belongs to. Here, after --duration the
// connections stop sending and wait (up to --answer-timeout) for the answers still in flight,
// so every id ends with a known status unless its connection failed.
//
// Raw sockets and a minimal response parser (status line, Content-Length or chunked, Connection:
// close) instead of node:http: several times cheaper per request, so one Node thread keeps 512
// connections busy without being the bottleneck (the runner reports this process's CPU).
//
// Usage: node flood.mjs --url http://127.0.0.1:PORT --path /Bench/flood/send
//                       [--connections 512] [--duration 15] [--answer-timeout 30]
//                       [--request-timeout 60] --statuses FILE
// Output: FILE gets one little-endian uint16 per id (index = id): the HTTP status, or
//   0 = no answer (connection failed or closed with the request in flight, request timeout, or
//   still in flight at --answer-timeout). stdout gets one line:
//   FLOOD_JSON {"sent","answered","statuses":{"202":n,...},"noAnswer","connectErrors",
//     "socketErrors","startMs","deadlineMs","endMs","latencyMs":{...},"perSecond":[2xx per s]}
//   (times are wall-clock epoch ms: performance.timeOrigin + performance.now()).
import fs from "node:fs";
import net from "node:net";
import { performance } from "node:perf_hooks";

function parseArgs(argv) {
  const o = { url: "", path: "", connections: 512, duration: 15, answerTimeout: 30, requestTimeout: 60, statuses: "" };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
    const v = argv[++i];
    switch (a) {
      case "--url": o.url = v; break;
      case "--path": o.path = v; break;
      case "--connections": o.connections = Number(v); break;
      case "--duration": o.duration = Number(v); break;
      case "--answer-timeout": o.answerTimeout = Number(v); break;
      case "--request-timeout": o.requestTimeout = Number(v); break;
      case "--statuses": o.statuses = v; break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!o.url || !o.path || !o.statuses) throw new Error("--url, --path and --statuses are required");
  for (const k of ["connections", "duration", "answerTimeout", "requestTimeout"]) {
    if (!Number.isFinite(o[k]) || o[k] <= 0) throw new Error(`--${k}: expected a positive number`);
  }
  return o;
}

const opts = parseArgs(process.argv);
const target = new URL(opts.url);
const host = target.hostname;
const port = Number(target.port || 80);
const wall = () => performance.timeOrigin + performance.now();

// Per-id status, grown as needed.
let statuses = new Uint16Array(1 << 16);
let nextId = 0;
function setStatus(id, s) {
  statuses[id] = s;
}
function newId() {
  const id = nextId++;
  if (id >= statuses.length) {
    const bigger = new Uint16Array(statuses.length * 2);
    bigger.set(statuses);
    statuses = bigger;
  }
  return id;
}

const head = `POST ${opts.path} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\nContent-Length: `;
function requestBytes(id) {
  const body = `{"id":${id}}`;
  return `${head}${body.length}\r\n\r\n${body}`;
}

// Results
const statusCounts = new Map();
let answered = 0;
let noAnswer = 0;
let connectErrors = 0;
let socketErrors = 0;
let lastAnswerMs = 0;
let latencies = new Float64Array(1 << 16);
let nLat = 0;
const perSecond = [];

const CRLFCRLF = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");

/** One complete response at the start of buf: {consumed, status, close}, or null if incomplete. */
function parseResponse(buf) {
  const headEnd = buf.indexOf(CRLFCRLF);
  if (headEnd < 0) return null;
  const text = buf.toString("latin1", 0, headEnd);
  const status = Number(text.slice(9, 12));
  if (!(status >= 100 && status <= 599)) throw new Error(`bad status line: ${JSON.stringify(text.slice(0, 40))}`);
  const close = /\r\nconnection:[ \t]*close/i.test(text);
  const bodyStart = headEnd + 4;
  const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(text);
  if (cl) {
    const end = bodyStart + Number(cl[1]);
    return buf.length < end ? null : { consumed: end, status, close };
  }
  if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(text)) {
    let p = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf(CRLF, p);
      if (lineEnd < 0) return null;
      const size = parseInt(buf.toString("latin1", p, lineEnd), 16);
      if (!Number.isFinite(size)) throw new Error("bad chunk size");
      if (size === 0) {
        // optional trailers, then an empty line
        const t = buf.indexOf(CRLF, lineEnd + 2);
        if (t < 0) return null;
        if (t === lineEnd + 2) return { consumed: t + 2, status, close };
        const t2 = buf.indexOf(CRLFCRLF, lineEnd + 2);
        return t2 < 0 ? null : { consumed: t2 + 4, status, close };
      }
      p = lineEnd + 2 + size + 2;
      if (buf.length < p) return null;
    }
  }
  if (status === 204 || status === 304 || status < 200) return { consumed: bodyStart, status, close };
  // No length: the body ends when the connection closes; we do not need it.
  return { consumed: buf.length, status, close: true };
}

const t0 = wall();
const deadline = t0 + opts.duration * 1000;
let stopping = false;
let open = 0;
const conns = new Set(); // {sock, lost} of every open connection
let finish;
const finished = new Promise((r) => (finish = r));

function record(id, status, sentAt) {
  setStatus(id, status);
  answered++;
  statusCounts.set(status, (statusCounts.get(status) ?? 0) + 1);
  const now = wall();
  lastAnswerMs = now;
  if (nLat >= latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[nLat++] = now - sentAt;
  if (status >= 200 && status < 300) {
    const sec = Math.floor((now - t0) / 1000);
    while (perSecond.length <= sec) perSecond.push(0);
    perSecond[sec]++;
  }
}

function connection() {
  let inflight = -1; // id awaiting its answer
  let sentAt = 0;
  let buf = null;
  let connected = false;
  open++;
  const sock = net.connect({ host, port, noDelay: true });
  const lost = () => {
    if (inflight >= 0) {
      setStatus(inflight, 0);
      noAnswer++;
      inflight = -1;
    }
  };
  const conn = { sock, lost };
  conns.add(conn);
  const send = () => {
    if (stopping || wall() >= deadline) {
      sock.end();
      return;
    }
    inflight = newId();
    sentAt = wall();
    sock.write(requestBytes(inflight));
  };
  const done = () => {
    conns.delete(conn);
    lost();
    open--;
    if (!stopping && wall() < deadline) {
      // a connection the server closed or reset: open another one (after a pause if it failed
      // before connecting, so a refusing server is not hammered in a tight loop)
      setTimeout(connection, connected ? 0 : 100);
    } else if (open === 0) {
      finish();
    }
  };
  sock.on("connect", () => {
    connected = true;
    send();
  });
  sock.setTimeout(opts.requestTimeout * 1000, () => sock.destroy(new Error("request timeout")));
  sock.on("data", (chunk) => {
    buf = buf && buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      let r;
      try {
        r = parseResponse(buf);
      } catch (e) {
        sock.destroy(e);
        return;
      }
      if (!r) return;
      buf = buf.subarray(r.consumed);
      if (inflight >= 0) {
        record(inflight, r.status, sentAt);
        inflight = -1;
      }
      if (r.close) {
        sock.end();
        return;
      }
      send();
    }
  });
  sock.on("error", () => {
    if (connected) socketErrors++;
    else connectErrors++;
  });
  sock.on("close", done);
}

for (let i = 0; i < opts.connections; i++) connection();

// At the deadline, connections close as their answers arrive (send() ends them). After
// --answer-timeout, whatever is still in flight is given up (status 0).
const giveUp = setTimeout(() => {
  stopping = true;
  for (const c of conns) {
    c.lost();
    c.sock.destroy();
  }
  finish();
}, opts.duration * 1000 + opts.answerTimeout * 1000);
setTimeout(() => {
  stopping = true;
  if (open === 0) finish();
}, opts.duration * 1000);

await finished;
clearTimeout(giveUp);
const endMs = lastAnswerMs || deadline;
const lat = latencies.subarray(0, nLat).sort();
const pct = (p) => (nLat ? lat[Math.min(nLat - 1, Math.max(0, Math.ceil((p / 100) * nLat) - 1))] : null);
fs.writeFileSync(opts.statuses, Buffer.from(statuses.buffer, 0, nextId * 2));
const out = {
  sent: nextId,
  answered,
  statuses: Object.fromEntries([...statusCounts.entries()].sort((a, b) => a[0] - b[0])),
  noAnswer,
  connectErrors,
  socketErrors,
  connections: opts.connections,
  startMs: t0,
  deadlineMs: deadline,
  endMs,
  latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: nLat ? lat[nLat - 1] : null },
  perSecond,
};
process.stdout.write(`FLOOD_JSON ${JSON.stringify(out)}\n`);
process.exit(0);
