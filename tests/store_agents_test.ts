// Enrolled agents on a shared store (issue 24): two `serve` processes with their own state
// directories on one PostgreSQL; agents enrolled, revoked and rotated through either gateway's
// CLI hold on the other within a second (LISTEN/NOTIFY), a change that sends no notification is
// still seen (the poll), and the store's password never shows in a log line or an output.
import { equal, match, ok } from "node:assert/strict";
import { postgresAvailable } from "./_postgres.ts";
import type { Served } from "./_crash_load.ts";
import { cli, eventually } from "./_helpers.ts";
import { getAs, serveGatewayPair, storeCli, withSharedStore } from "./_shared_store.ts";

const token = (stdout: string) => stdout.trim().split("\n").at(-1)!;

/** Milliseconds until `served` answers `name:secret` with `status` (fails after 5 s). */
async function timeUntil(
  served: Served,
  ca: string,
  name: string,
  secret: string,
  status: number,
): Promise<number> {
  const start = performance.now();
  await eventually(
    `${name} to get ${status}`,
    async () => await getAs(served, ca, name, secret) === status ? true : undefined,
    5_000,
    20,
  );
  return performance.now() - start;
}

Deno.test({
  name:
    "store: agents added, revoked and rotated through one gateway hold on the other within a second",
  ignore: !postgresAvailable(),
}, async () => {
  await withSharedStore(async (t) => {
    const { store, served } = t;
    // Both start on an empty database: the migration runs once, under its lock.
    const { a, b, gwA, gwB, caA, caB } = await serveGatewayPair(t);

    const added = await storeCli(a, store, ["agent", "add", "bot", "--profile", "bots"]);
    equal(added.code, 0, added.stderr);
    const bot = token(added.stdout);
    const seenOnB = await timeUntil(gwB, caB, "bot", bot, 200);
    ok(seenOnB < 1_000, `enrolled on A, usable on B after ${seenOnB} ms`);
    equal(await getAs(gwA, caA, "bot", bot), 200);

    const revoked = await storeCli(b, store, ["agent", "revoke", "bot"]);
    equal(revoked.code, 0, revoked.stderr);
    const refusedOnA = await timeUntil(gwA, caA, "bot", bot, 0);
    ok(refusedOnA < 1_000, `revoked on B, still accepted on A for ${refusedOnA} ms`);
    // Names are never reused, whichever gateway is asked.
    const again = await storeCli(a, store, ["agent", "add", "bot", "--profile", "bots"]);
    equal(again.code, 1);
    ok(again.stderr.includes("already existed and was revoked"), again.stderr);

    const other = token(
      (await storeCli(b, store, ["agent", "add", "ops-bot", "--profile", "bots"])).stdout,
    );
    await timeUntil(gwA, caA, "ops-bot", other, 200);
    const rotated = await storeCli(a, store, ["agent", "rotate", "ops-bot"]);
    equal(rotated.code, 0, rotated.stderr);
    const fresh = token(rotated.stdout);
    ok((await timeUntil(gwB, caB, "ops-bot", other, 0)) < 1_000, "old token still works on B");
    equal(await getAs(gwB, caB, "ops-bot", fresh), 200);

    // A change that sends no NOTIFY (made straight in SQL) is found by the poll.
    await store.pg.sql(
      `UPDATE clawpatrol_agents SET revoked_at = now(),
           version = nextval('clawpatrol_agents_version') WHERE name = 'ops-bot'`,
      "clawpatrol",
    );
    const polled = await timeUntil(gwA, caA, "ops-bot", fresh, 0);
    ok(polled < 2_000, `a change without NOTIFY took ${polled} ms to be seen`);

    // The CLI's own checks of a token (env, run, kubeconfig) ask the store too.
    const env = await cli(["env", "--agent", "ops-bot", "-c", b], {
      env: { ...store.env, CLAWPATROL_AGENT_TOKEN: fresh },
    });
    equal(env.code, 1, "a revoked agent's token is refused by env");
    match(env.stderr, /Agent 'ops-bot' is revoked/);
    const bad = await cli(["env", "--agent", "bot", "-c", a], {
      env: { ...store.env, CLAWPATROL_AGENT_TOKEN: bot },
    });
    match(bad.stderr, /Agent 'bot' is revoked/);
    const third = token(
      (await storeCli(a, store, ["agent", "add", "third", "--profile", "bots"])).stdout,
    );
    const ok3 = await cli(["env", "--agent", "third", "-c", b], {
      env: { ...store.env, CLAWPATROL_AGENT_TOKEN: third },
    });
    equal(ok3.code, 0, ok3.stderr);
    match(ok3.stdout, /export HTTPS_PROXY='http:\/\/third:/);
    const ran = await cli([
      "run",
      "--agent",
      "third",
      "-c",
      b,
      "--",
      "sh",
      "-c",
      "echo $CLAWPATROL_AGENT",
    ], {
      env: { ...store.env, CLAWPATROL_AGENT_TOKEN: third },
    });
    equal(ran.code, 0, ran.stderr);
    equal(ran.stdout.trim(), "third");

    const listed = await storeCli(b, store, ["agent", "list", "--json"]);
    const names = JSON.parse(listed.stdout).map((a: { name: string }) => a.name);
    equal(names.join(","), "bot,ops-bot,third");
    for (const output of [added, revoked, rotated, listed]) {
      ok(!`${output.stdout}${output.stderr}`.includes(store.password));
    }
    // Stopped first, so the lines logged on the way out are read too (stopping twice is safe).
    for (const s of served) await s.gw.stop();
    for (const s of served) ok(!s.gw.log.includes(store.password), "password in a log line");
  });
});
