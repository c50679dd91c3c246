// The shared store's failure paths (issue 24): a store that stops answering refuses every agent
// (fail closed: a revoke made elsewhere could not be seen), says so on /healthz, in /metrics and
// in one log line, and the gateway recovers by itself when the store answers again; a store
// whose schema is newer than this build is refused at start; a wrong password stops `serve`
// with a message that names the store, never the password.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { SCHEMA_VERSION } from "../src/store/mod.ts";
import { postgresAvailable } from "./_postgres.ts";
import { type Served, startUpstream } from "./_crash_load.ts";
import { cli, eventually, Running, withTempDir } from "./_helpers.ts";
import {
  getAs,
  serveShared,
  sharedGatewayDir,
  type SharedStore,
  startSharedStore,
  storeCli,
} from "./_shared_store.ts";

async function healthz(served: Served): Promise<{ status: number; text: string }> {
  const res = await fetch(`${served.admin}/healthz`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, text: await res.text() };
}

async function storeUp(served: Served): Promise<string | undefined> {
  const text = await (await fetch(`${served.admin}/metrics`)).text();
  return text.match(/^clawpatrol_store_up (\d)$/m)?.[1];
}

Deno.test({
  name: "store: a store that stops answering refuses every agent, and service resumes by itself",
  ignore: !postgresAvailable(),
}, async () => {
  await withTempDir(async (dir) => {
    let store: SharedStore | undefined;
    let served: Served | undefined;
    const upstream = await startUpstream();
    try {
      store = await startSharedStore();
      const config = await sharedGatewayDir(join(dir, "a"), store, { upstream });
      const added = await storeCli(config, store, ["agent", "add", "bot", "--profile", "bots"]);
      const bot = added.stdout.trim().split("\n").at(-1)!;
      served = await serveShared(config, store);
      const ca = await Deno.readTextFile(join(dir, "a/state/ca.pem"));
      equal(await getAs(served, ca, "bot", bot), 200);
      equal(await storeUp(served), "1");

      store.relay.hold();
      const gw = served;
      const down = await eventually(
        "/healthz to name the store",
        async () => {
          const h = await healthz(gw);
          return h.status === 503 ? h : undefined;
        },
        15_000,
        100,
      );
      match(down.text, /"component":"store"/);
      equal(await storeUp(served), "0");
      equal(await getAs(served, ca, "bot", bot), 0, "an agent got through while the store hung");
      await served.gw.waitFor(/error .*store postgres:\/\/.*has not answered for \d+ s/);

      // Refused, not forwarded undecided: each refusal has its receipt (a deny), written to the
      // gateway's own receipts while the store is away.
      await eventually("a receipt for a refusal", async () => {
        const log = await cli(["log", "--json", "--local", "--verdict", "deny", "-c", config]);
        return log.stdout.includes('"reason":"proxy authentication required') ? true : undefined;
      });

      store.relay.pass();
      await eventually(
        "the agent to be accepted again",
        async () => await getAs(gw, ca, "bot", bot) === 200 ? true : undefined,
        15_000,
        100,
      );
      equal((await healthz(served)).status, 200);
      equal(await storeUp(served), "1");
      await served.gw.waitFor(/info .*store postgres:\/\/.* answers again/);
      ok(!served.gw.log.includes(store.password));

      // Stopping while the store hangs: bounded, not stuck on the store's connections.
      store.relay.hold();
      const stopped = await served.gw.stop("SIGTERM", 8_000);
      equal(stopped.code, 0);
    } finally {
      await served?.gw.stop().catch(() => served?.gw.dispose());
      await store?.stop();
      await upstream.close();
    }
  });
});

Deno.test({
  name: "store: init migrates once, status reports, and a newer schema is refused at start",
  ignore: !postgresAvailable(),
}, async () => {
  await withTempDir(async (dir) => {
    let store: SharedStore | undefined;
    const upstream = await startUpstream();
    try {
      store = await startSharedStore();
      const config = await sharedGatewayDir(join(dir, "a"), store, { upstream });
      const before = await storeCli(config, store, ["store", "status"]);
      equal(before.code, 1);
      match(
        before.stdout,
        new RegExp(`schema: version 0 \\(this clawpatrol: ${SCHEMA_VERSION}\\)`),
      );
      const init = await storeCli(config, store, ["store", "init"]);
      equal(init.code, 0, init.stderr);
      match(init.stdout, new RegExp(`schema migrated from version 0 to ${SCHEMA_VERSION}`));
      const again = await storeCli(config, store, ["store", "init"]);
      match(again.stdout, new RegExp(`already at version ${SCHEMA_VERSION}`));
      const status = await storeCli(config, store, ["store", "status", "--json"]);
      equal(status.code, 0);
      equal(JSON.parse(status.stdout).schema, SCHEMA_VERSION);

      // A newer clawpatrol migrated this store: this one must not write to it.
      await store.pg.sql(
        `INSERT INTO clawpatrol_schema (version, what) VALUES (99, 'from the future')`,
        "clawpatrol",
      );
      const gw = Running.spawn(["serve", "-c", config], { env: store.env });
      const exit = await gw.status(30_000);
      equal(exit.code, 1);
      match(
        gw.log,
        new RegExp(`version 99, newer than this clawpatrol knows \\(${SCHEMA_VERSION}\\)`),
      );
      equal((await storeCli(config, store, ["store", "status"])).code, 1);
      const add = await storeCli(config, store, ["agent", "add", "bot", "--profile", "bots"]);
      equal(add.code, 1);
      match(add.stderr, /newer than this clawpatrol/);
    } finally {
      await store?.stop();
      await upstream.close();
    }
  });
});

Deno.test({
  name: "store: a wrong password stops serve naming the store, never the password",
  ignore: !postgresAvailable(),
}, async () => {
  await withTempDir(async (dir) => {
    let store: SharedStore | undefined;
    const upstream = await startUpstream();
    try {
      store = await startSharedStore();
      const config = await sharedGatewayDir(join(dir, "a"), store, { upstream });
      const wrong = `wrong-${crypto.randomUUID()}`;
      const r = await cli(["serve", "-c", config], {
        env: { CLAWPATROL_STORE_PASSWORD: wrong },
        timeoutMs: 30_000,
      });
      equal(r.code, 1);
      match(
        r.stderr,
        /Cannot use the store postgres:\/\/clawpatrol@127\.0\.0\.1:\d+\/clawpatrol: /,
      );
      match(r.stderr, /password authentication failed/);
      ok(!r.stderr.includes(wrong) && !r.stdout.includes(wrong));
    } finally {
      await store?.stop();
      await upstream.close();
    }
  });
});
