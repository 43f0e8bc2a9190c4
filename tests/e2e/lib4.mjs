// Shared helpers of the tests that run services4.mjs (timers, calls4, awakeables, cancel,
// suspend4, rr, versioning, durable): the "notes" side channel, waiting for invocation results
// through the ingress, and the Restate error bodies these tests expect.
import { Env, request, waitUntil } from "./harness.mjs";

/** An Env running services4.mjs. opts as for Env, plus args (services4 arguments). */
export function env4(name, opts = {}) {
  const { args, ...rest } = opts;
  return new Env(name, { ...rest, servicesScript: "services4.mjs", servicesArgs: args ?? [] });
}

/** GET /notes of a services4 process: {"<name>": [value, ...]}, or one list. */
export async function notes(services, name) {
  const r = await request(`${services.sideUrl}/notes`, { timeout: 5000 });
  if (r.status !== 200) throw new Error(`side channel /notes answered ${r.status}`);
  return name === undefined ? r.json : r.json[name] ?? [];
}

/** Waits until note list `name` has at least n values; returns the n-th (1-based). */
export async function waitNote(services, name, n = 1, timeout = 10_000) {
  const list = await waitUntil(
    async () => {
      const l = await notes(services, name);
      return l.length >= n ? l : false;
    },
    { timeout, what: `note ${name} #${n}` },
  );
  return list[n - 1];
}

/** Waits until GET /restate/invocation/{id}/output is no longer 470; returns the response. */
export function waitOutput(server, id, timeout = 15_000) {
  return waitUntil(
    async () => {
      const r = await server.ingress("GET", `/restate/invocation/${id}/output`, { timeout: 5000 });
      return r.status === 470 ? false : r;
    },
    { timeout, interval: 100, what: `output of ${id}` },
  );
}

/** POST /{path}/send; asserts 202 and returns the invocation id. */
export async function send(server, path, value, query = "") {
  const r = await server.call(`${path}/send${query}`, value);
  if (r.status !== 202) throw new Error(`send ${path}${query}: ${r.status} ${r.text}`);
  return r.json.invocationId;
}

/** PATCH /invocations/{id}/{verb} on the admin API. */
export function manage(server, id, verb) {
  return server.admin("PATCH", `/invocations/${id}/${verb}`);
}

export const CANCELLED = { code: 409, message: "Cancelled", source: "invocation" };
export const KILLED = { code: 409, message: "killed", source: "invocation" };
export const NOT_READY = { code: 470, message: "the invocation exists but has not completed yet", source: "ingress" };
export const OUTPUT_NOT_FOUND = { code: 404, message: "invocation not found", source: "ingress" };
export const AWAKEABLE_ID_RE = /^sign_1[A-Za-z0-9_-]{38}$/;
