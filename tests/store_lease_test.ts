// One process per gateway id on a shared store (issue 24): a gateway whose state directory
// carries another's gateway.id (a copied state directory) is refused with exit code 2 and a
// message naming the id, the holder's host and pid and what to do, while the first keeps
// serving; after `kill -9` the same gateway restarts at once, and the copy may take the id over
// only once the dead holder's heartbeat is stale. The lease class itself, against the real
// PostgreSQL: a holder whose lease was taken over is told so.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { postgresAvailable } from "./_postgres.ts";
import { killHard } from "./_crash_load.ts";
import { eventually, Running } from "./_helpers.ts";
import {
  getAs,
  serveShared,
  sharedGatewayDir,
  type SharedStore,
  startSharedStore,
  storeCli,
  withSharedStore,
} from "./_shared_store.ts";
import { migrate } from "../src/store/migrations.ts";
import { GatewayIdInUseError, GatewayLease, type LeaseHolder } from "../src/store/mod.ts";

/** `serve` on `config` that must be refused: its exit code and log. */
async function refused(config: string, store: SharedStore) {
  const gw = Running.spawn(["serve", "-c", config], { env: store.env });
  try {
    const { code } = await gw.status(30_000);
    return { code, log: gw.log };
  } finally {
    await gw.dispose();
  }
}

/** The store's view of the lease on `id`: pid and seconds since its heartbeat. */
async function leaseOf(store: SharedStore, id: string): Promise<{ pid: number; silentS: number }> {
  const out = await store.pg.sql(
    `SELECT pid || ' ' || extract(epoch FROM now() - heartbeat_at)
     FROM clawpatrol_gateway_leases WHERE gateway = '${id}'`,
    "clawpatrol",
  );
  const [pid, silent] = out.trim().split(" ");
  return { pid: Number(pid), silentS: Number(silent) };
}

Deno.test({
  name: "store: a second gateway with the same id is refused (exit 2); restart after kill -9 works",
  ignore: !postgresAvailable(),
}, async () => {
  await withSharedStore(async ({ dir, store: s, upstream, served: running }) => {
    const a = await sharedGatewayDir(join(dir, "a"), s, { upstream });
    const b = await sharedGatewayDir(join(dir, "b"), s, { upstream });
    // B's state directory carries A's id, as a copied one would.
    const id = "gw_5eed0000c0ffee01";
    for (const n of ["a", "b"]) {
      await Deno.writeTextFile(join(dir, n, "state/gateway.id"), `${id}\n`);
    }
    const added = await storeCli(a, s, ["agent", "add", "bot", "--profile", "bots"]);
    equal(added.code, 0, added.stderr);
    const bot = added.stdout.trim().split("\n").at(-1)!;
    const caA = await Deno.readTextFile(join(dir, "a/state/ca.pem"));

    let gwA = await serveShared(a, s);
    running.push(gwA);
    const second = await refused(b, s);
    equal(second.code, 2, second.log);
    match(second.log, new RegExp(`Gateway id '${id}' is already running`));
    match(second.log, new RegExp(`pid ${gwA.gw.child.pid} on host '${Deno.hostname()}'`));
    match(second.log, /fresh state_dir/);
    ok(!second.log.includes(s.password), "the store's password is in the log");
    // The first keeps serving, and keeps its lease.
    equal(await getAs(gwA, caA, "bot", bot), 200);
    equal((await leaseOf(s, id)).pid, gwA.gw.child.pid);

    // Killed: the copy is still refused (the heartbeat is fresh), A's own restart is not.
    await killHard(gwA);
    running.length = 0;
    equal((await refused(b, s)).code, 2);
    gwA = await serveShared(a, s);
    running.push(gwA);
    equal(await getAs(gwA, caA, "bot", bot), 200);
    equal((await leaseOf(s, id)).pid, gwA.gw.child.pid);

    // Killed again: once its heartbeat is stale the copy takes the id over, and A is refused.
    await killHard(gwA);
    running.length = 0;
    await eventually(
      "the dead holder's lease to go stale",
      async () => {
        return (await leaseOf(s, id)).silentS > 10 ? true : undefined;
      },
      30_000,
      250,
    );
    const gwB = await serveShared(b, s);
    running.push(gwB);
    equal((await leaseOf(s, id)).pid, gwB.gw.child.pid);
    const back = await refused(a, s);
    equal(back.code, 2, back.log);
    match(back.log, new RegExp(`pid ${gwB.gw.child.pid} on host`));

    // Stopped cleanly, a holder gives the lease up: A starts at once.
    await gwB.gw.stop();
    running.length = 0;
    equal(
      await s.pg.sql("SELECT count(*) FROM clawpatrol_gateway_leases", "clawpatrol"),
      "0\n",
    );
    running.push(await serveShared(a, s));
  });
});

Deno.test({
  name: "GatewayLease: refuses a fresh holder, takes a stale one over, and the old holder hears",
  ignore: !postgresAvailable(),
}, async () => {
  let store: SharedStore | undefined;
  let sql: postgres.Sql | undefined;
  try {
    store = await startSharedStore();
    sql = postgres({
      host: "127.0.0.1",
      port: store.pg.port,
      database: "clawpatrol",
      username: "clawpatrol",
      pass: store.password,
      onnotice: () => {},
    });
    await migrate(sql);
    const display = "postgres://test";
    const lostTo: LeaseHolder[] = [];
    // Heartbeats rarely, so it goes silent for longer than the second taker's staleAfterS.
    const first = await GatewayLease.take(sql, "gw_0000000000000001", {
      stateDir: "/srv/one",
      display,
      host: "host-one",
      heartbeatMs: 3_000,
      onLost: (holder) => lostTo.push(holder),
    });
    try {
      const err = await GatewayLease.take(sql, "gw_0000000000000001", {
        stateDir: "/srv/copy",
        display,
        host: "host-two",
      }).then(() => null, (e) => e);
      ok(err instanceof GatewayIdInUseError, String(err));
      match(err.message, /pid \d+ on host 'host-one' \(state_dir '\/srv\/one'/);
      await eventually(
        "the first lease to be silent for 0.5 s",
        async () => {
          const [row] = await sql!`SELECT extract(epoch FROM now() - heartbeat_at)::float8 AS s
          FROM clawpatrol_gateway_leases`;
          return row.s > 0.5 ? true : undefined;
        },
        5_000,
        50,
      );
      const second = await GatewayLease.take(sql, "gw_0000000000000001", {
        stateDir: "/srv/copy",
        display,
        host: "host-two",
        staleAfterS: 0.5,
      });
      await eventually(
        "the first holder to hear it lost the lease",
        () => first.lost() ?? undefined,
        10_000,
      );
      equal(lostTo.length, 1);
      equal(lostTo[0].stateDir, "/srv/copy");
      equal(lostTo[0].host, "host-two");
      // The loser's release leaves the new holder's lease alone.
      await first.release();
      equal((await sql`SELECT state_dir FROM clawpatrol_gateway_leases`)[0].state_dir, "/srv/copy");
      await second.release();
      equal((await sql`SELECT count(*)::int AS n FROM clawpatrol_gateway_leases`)[0].n, 0);
    } finally {
      await first.release();
    }
  } finally {
    await sql?.end({ timeout: 1 });
    await store?.stop();
  }
});
