// Services for cli.test.mjs (Restate TypeScript SDK 1.17.2, h2c BIDI_STREAM on loopback):
//   CliCounter (virtual object): add(n) adds n to state "count" and returns it; get() reads it;
//                                 tag(s) stores the string s under "tag"
//   CliBlocker (service):         wait() waits on an awakeable that nobody resolves, so the
//                                 invocation stays open for invocations list/cancel/kill/pause
// Prints one line READY {"port":N} when listening.
import "./polyfill.mjs";
import * as restate from "@restatedev/restate-sdk";
import http2 from "node:http2";

const counter = restate.object({
  name: "CliCounter",
  handlers: {
    add: async (ctx, n) => {
      const count = ((await ctx.get("count")) ?? 0) + (typeof n === "number" ? n : 1);
      ctx.set("count", count);
      return count;
    },
    get: restate.handlers.object.shared(async (ctx) => (await ctx.get("count")) ?? 0),
    tag: async (ctx, s) => {
      ctx.set("tag", String(s));
      return "ok";
    },
  },
});

const blocker = restate.service({
  name: "CliBlocker",
  handlers: {
    wait: async (ctx) => {
      const { promise } = ctx.awakeable();
      return await promise;
    },
  },
});

const handler = restate.endpoint().bind(counter).bind(blocker).http2Handler();
const server = http2.createServer(handler);
server.listen(0, "127.0.0.1", () => console.log(`READY ${JSON.stringify({ port: server.address().port })}`));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => { server.close(); process.exit(0); });
