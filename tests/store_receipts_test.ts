// Receipts in the shared store (issue 24): each gateway's chain is copied in order into one
// table under its id; `store log` reads every gateway's receipts, `store verify` checks every
// chain from the store alone and names an edited or deleted row; a store outage never loses a
// copy: the local receipts stay the record and the copy catches up when the store returns.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { postgresAvailable } from "./_postgres.ts";
import { cli, eventually } from "./_helpers.ts";
import {
  getAs,
  serveShared,
  sharedGatewayDir,
  storeCli,
  withSharedStore,
} from "./_shared_store.ts";

Deno.test({
  name: "store: every gateway's receipt chain is in the store, read and verified across gateways",
  ignore: !postgresAvailable(),
}, async () => {
  await withSharedStore(async ({ dir, store: s, upstream, served }) => {
    const configs = await Promise.all(
      ["a", "b"].map((n) => sharedGatewayDir(join(dir, n), s, { upstream })),
    );
    const added = await storeCli(configs[0], s, ["agent", "add", "bot", "--profile", "bots"]);
    const bot = added.stdout.trim().split("\n").at(-1)!;
    served.push(...await Promise.all(configs.map((c) => serveShared(c, s))));
    const cas = await Promise.all(
      ["a", "b"].map((n) => Deno.readTextFile(join(dir, n, "state/ca.pem"))),
    );
    const ids = await Promise.all(
      ["a", "b"].map(async (n) =>
        (await Deno.readTextFile(join(dir, n, "state/gateway.id"))).trim()
      ),
    );
    for (let i = 0; i < 3; i++) {
      for (const g of [0, 1]) equal(await getAs(served[g], cas[g], "bot", bot), 200);
    }
    // A copy that lags is caught up; a store that hangs meanwhile loses nothing.
    s.relay.hold();
    for (let i = 0; i < 2; i++) equal(await getAs(served[0], cas[0], "bot", bot), 200);
    const local = await cli(["log", "--json", "--local", "--limit", "1000", "-c", configs[0]]);
    const localA = local.stdout.trim().split("\n").length;
    s.relay.pass();

    const inStore = async () => {
      const r = await storeCli(configs[1], s, ["store", "log", "--json", "--limit", "1000"]);
      return r.stdout.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));
    };
    // Each gateway copies on its own schedule: B's copy may still trail when A's has caught up.
    const all = await eventually(
      "A's receipts to be copied, the outage's too, and B's",
      async () => {
        const rows = await inStore();
        const a = rows.filter((r) => r.gateway === ids[0]).length;
        const b = rows.filter((r) => r.gateway === ids[1]).length;
        return a >= localA && b >= 3 ? rows : undefined;
      },
      20_000,
      200,
    );
    ok(all.every((r) => r.id.startsWith("rcpt_") && r.summary.startsWith("GET api.test/")));
    const onlyB = await storeCli(configs[0], s, ["store", "log", "--gateway", ids[1]]);
    ok(onlyB.stdout.trim().split("\n").every((l) => l.endsWith(ids[1])), onlyB.stdout);

    const verified = await storeCli(configs[0], s, ["store", "verify"]);
    equal(verified.code, 0, verified.stdout + verified.stderr);
    for (const id of ids) match(verified.stdout, new RegExp(`${id}: ok: \\d+ receipts`));

    // An edit in the store is found without any gateway's help, and so is a deletion.
    await s.pg.sql(
      `UPDATE clawpatrol_receipts SET canonical = replace(canonical, 'GET api.test/x', 'GET api.test/y')
        WHERE gateway = '${ids[0]}' AND seq = 2`,
      "clawpatrol",
    );
    await s.pg.sql(
      `DELETE FROM clawpatrol_receipts WHERE gateway = '${ids[1]}' AND seq = 2`,
      "clawpatrol",
    );
    const broken = await storeCli(configs[1], s, ["store", "verify"]);
    equal(broken.code, 1);
    match(broken.stdout, new RegExp(`${ids[0]}: BROKEN .*seq 2: hash does not match`));
    match(broken.stdout, new RegExp(`${ids[1]}: BROKEN .*seq 2 to 2 missing`));
  });
});
