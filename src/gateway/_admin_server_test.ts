import { equal, match, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import { Health } from "../core/mod.ts";
import { ADMIN_TOKEN_FILE, Metrics } from "../admin/mod.ts";
import { ApprovalQueue } from "../approvals/mod.ts";
import { MemoryLogger } from "./log.ts";
import { openAdminServer, type OpenAdminServerOptions } from "./_admin_server.ts";

async function withStateDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_admin_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function options(stateDir: string, listen: string, log: MemoryLogger): OpenAdminServerOptions {
  return {
    stateDir,
    listen,
    view: {
      version: "test",
      metrics: new Metrics(),
      status: () => ({ rules: 0 }),
      approvals: new ApprovalQueue(),
    },
    slackInteractivity: () => Promise.resolve(new Response("slack", { status: 200 })),
    log,
    health: new Health(),
  };
}

Deno.test("openAdminServer() names gateway.admin_listen when the address is taken", async () => {
  await withStateDir((dir) => {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const listen = `127.0.0.1:${(taken.addr as Deno.NetAddr).port}`;
      throws(
        () => openAdminServer(options(dir, listen, new MemoryLogger())),
        (err: Error) => {
          match(err.message, new RegExp(`^Cannot listen on gateway\\.admin_listen '${listen}': `));
          ok(err.cause instanceof Error);
          return true;
        },
      );
    } finally {
      taken.close();
    }
  });
});

Deno.test("openAdminServer() creates the admin token and serves signed routes without it, approvals only with it", async () => {
  await withStateDir(async (dir) => {
    const log = new MemoryLogger();
    const server = openAdminServer(options(dir, "127.0.0.1:0", log));
    try {
      ok((await Deno.stat(join(dir, ADMIN_TOKEN_FILE))).isFile);
      ok(log.messages("info").some((m) => m.startsWith("created admin token ")));
      const base = `http://127.0.0.1:${server.addr.port}`;
      const slack = await fetch(`${base}/slack/interactivity`, { method: "POST", body: "x" });
      equal(await slack.text(), "slack");
      const list = await fetch(`${base}/approvals`);
      await list.body?.cancel();
      equal(list.status, 401, "the approval queue still needs the admin token");
      const health = await fetch(`${base}/healthz`);
      equal((await health.json()).version, "test");
    } finally {
      await server.shutdown();
    }
  });
});
