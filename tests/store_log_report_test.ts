// `log`, `log verify` and `report` across gateways (issue 24): with a store, `log` lists every
// gateway's receipts from it (each naming its gateway, with its outcome; filters and --follow
// included), `log verify` checks the local chain and every chain in the store (receipts and
// outcomes) and names the gateway of a break, `report` counts every gateway's receipts; `--local`
// reads only this host. Retention (`receipts.keep`) prunes the store's copy of a gateway's chains
// as it prunes the local ones, and the cut it leaves is where verification starts: a receipt
// deleted after it, or the cut itself, is caught.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { ReceiptStore } from "../src/audit/mod.ts";
import { RECEIPTS_FILE } from "../src/gateway/mod.ts";
import { postgresAvailable } from "./_postgres.ts";
import { type Served, startUpstream } from "./_crash_load.ts";
import { eventually, Running, withTempDir } from "./_helpers.ts";
import {
  getAs,
  serveShared,
  sharedGatewayDir,
  type SharedStore,
  startSharedStore,
  storeCli,
} from "./_shared_store.ts";

const DAY = 86_400_000;

/** A receipt of `old-bot` decided `daysAgo`, as an older gateway run left it. */
function oldReceipt(daysAgo: number, verdict: "allow" | "deny") {
  return {
    time: new Date(Date.now() - daysAgo * DAY),
    ...{ agent: "old-bot", profile: "bots", endpoint: "api", protocol: "https" },
    ...{ summary: "GET api.test/old", facts: {}, rule: null, mode: "enforce" as const },
    ...{ verdict, wouldBe: verdict, reason: "no rule matched" },
    ...{ approvals: [], upstreamStatus: null, bytesIn: 0, bytesOut: 0, latencyMs: 1 },
  };
}

type Line = {
  gateway?: string;
  seq: number;
  id: string;
  agent: string;
  time: string;
  outcome?: { upstreamStatus: number | null };
};

const lines = (stdout: string): Line[] =>
  stdout.trim().split("\n").filter((l) => l).map((l) => JSON.parse(l));

Deno.test({
  name: "log, log verify and report read every gateway's receipts from the store; --local one",
  ignore: !postgresAvailable(),
}, async () => {
  await withTempDir(async (dir) => {
    let store: SharedStore | undefined;
    const upstream = await startUpstream();
    const served: Served[] = [];
    let follow: Running | undefined;
    try {
      store = await startSharedStore();
      const s = store;
      const [a, b] = await Promise.all(
        ["a", "b"].map((n) => sharedGatewayDir(join(dir, n), s, { upstream })),
      );
      // A keeps 7 days: of the 22 receipts its earlier run left, the 20 from 9 days ago go, and
      // of their 20 outcomes the first 19 (the newest outcome always stays, its receipt pruned).
      // Every action A allows now is written ahead, so it has an outcome row of its own.
      const text = await Deno.readTextFile(a);
      await Deno.writeTextFile(
        a,
        text.replace(
          /( {2}store +=.*\n)/,
          `$1  receipts {\n    keep = "7d"\n  }\n  limits {\n    receipt_durability = "all"\n  }\n`,
        ),
      );
      const old = ReceiptStore.open(join(dir, "a/state", RECEIPTS_FILE));
      const ahead = Array.from({ length: 20 }, () => old.reserve(oldReceipt(9, "allow")));
      await old.flushed();
      for (const r of ahead) {
        r.complete({
          time: new Date(Date.now() - 9 * DAY),
          ...{ upstreamStatus: 200, bytesIn: 0, bytesOut: 5, latencyMs: 1, error: null },
          notRun: false,
        });
      }
      for (let i = 0; i < 2; i++) old.record(oldReceipt(6, "deny"));
      await old.close();

      const added = await storeCli(a, s, ["agent", "add", "bot", "--profile", "bots"]);
      const bot = added.stdout.trim().split("\n").at(-1)!;
      served.push(...await Promise.all([a, b].map((c) => serveShared(c, s))));
      const cas = await Promise.all(
        ["a", "b"].map((n) => Deno.readTextFile(join(dir, n, "state/ca.pem"))),
      );
      const [idA, idB] = await Promise.all(
        ["a", "b"].map(async (n) =>
          (await Deno.readTextFile(join(dir, n, "state/gateway.id"))).trim()
        ),
      );
      for (let i = 0; i < 3; i++) {
        for (const g of [0, 1]) equal(await getAs(served[g], cas[g], "bot", bot), 200);
      }

      // From B's host: A's copy is pruned like A's local chain (the 9-day-old ones gone, the
      // 6-day-old ones kept) and both gateways' receipts are listed, each naming its gateway.
      const all = await eventually(
        "both chains in the store, A's pruned",
        async () => {
          const r = await storeCli(b, s, ["log", "--json", "--limit", "1000"]);
          const found = lines(r.stdout);
          const ofA = found.filter((l) => l.gateway === idA);
          const ofB = found.filter((l) => l.gateway === idB);
          return ofA.length === 5 && ofB.length === 3 && ofA.every((l) => l.seq > 20)
            ? found
            : undefined;
        },
        20_000,
        200,
      );
      equal(all.filter((l) => l.agent === "old-bot").length, 2, "the 6-day-old ones stay");
      ok(all.every((l) => l.gateway === idA || l.gateway === idB));
      // A's receipts show the outcomes copied beside them.
      const allowedOnA = all.filter((l) => l.gateway === idA && l.agent === "bot");
      ok(allowedOnA.every((l) => l.outcome?.upstreamStatus === 200), JSON.stringify(allowedOnA));

      // Filters apply across gateways: --since drops A's old receipts, --gateway picks one.
      const recent = lines((await storeCli(b, s, ["log", "--json", "--since", "1d"])).stdout);
      equal(recent.length, 6);
      ok(recent.every((l) => l.agent === "bot"));
      const onlyA = await storeCli(b, s, ["log", "--gateway", idA, "--limit", "1000"]);
      const textLines = onlyA.stdout.trim().split("\n");
      equal(textLines.length, 5, onlyA.stdout);
      ok(textLines.every((l) => l.endsWith(` ${idA}`)), onlyA.stdout);
      // --local: this host's own chain only, as without a store.
      const local = lines((await storeCli(b, s, ["log", "--json", "--local"])).stdout);
      equal(local.length, 3);
      ok(local.every((l) => l.gateway === undefined));
      const misuse = await storeCli(b, s, ["log", "--local", "--gateway", idA]);
      equal(misuse.code, 2);
      match(misuse.stderr, /--gateway picks one gateway's receipts in the shared store/);

      // report: one report over both gateways, and how many each decided.
      const report = JSON.parse((await storeCli(a, s, ["report", "--json"])).stdout);
      equal(report.receipts, 8);
      equal(report.gateways[idA], 5);
      equal(report.gateways[idB], 3);
      const reportText = (await storeCli(a, s, ["report", "--since", "1d"])).stdout;
      match(reportText, /^6 receipts/);
      const byGateway = reportText.split("Receipts by gateway:\n")[1];
      equal(
        byGateway.split("\n").filter((l) => l).sort().join(";"),
        [`  ${idA}: 3`, `  ${idB}: 3`].sort().join(";"),
      );
      const localReport = JSON.parse(
        (await storeCli(a, s, ["report", "--json", "--local"])).stdout,
      );
      equal(localReport.receipts, 5);
      equal(localReport.gateways, undefined);

      // log --follow shows new receipts of either gateway as they are copied.
      const late = await storeCli(a, s, ["agent", "add", "late", "--profile", "bots"]);
      const lateToken = late.stdout.trim().split("\n").at(-1)!;
      follow = Running.spawn(["log", "--follow", "--json", "--agent", "late", "-c", b], {
        env: s.env,
      });
      // Its first read is empty (no receipt of 'late' yet); new ones are what it prints.
      await eventually(
        "agent late to be known on both",
        async () => {
          const ok0 = await getAs(served[0], cas[0], "late", lateToken) === 200;
          return ok0 && await getAs(served[1], cas[1], "late", lateToken) === 200
            ? true
            : undefined;
        },
        10_000,
        200,
      );
      await follow.waitFor(new RegExp(`"gateway":"${idA}"`), 20_000, 0, "stdout");
      await follow.waitFor(new RegExp(`"gateway":"${idB}"`), 20_000, 0, "stdout");
      await follow.stop();
      ok(follow.out.every((l) => JSON.parse(l).agent === "late"), follow.out.join("\n"));

      // log verify from B's host: B's local chain, then every chain in the store.
      await eventually(
        "A's late receipt copied",
        async () => {
          const r = await storeCli(b, s, ["log", "--json", "--gateway", idA, "--agent", "late"]);
          return r.stdout.includes('"late"') ? true : undefined;
        },
        20_000,
        200,
      );
      const sql = (q: string) => s.pg.sql(q, "clawpatrol");
      // A's outcomes are all in the store: the one left of the old run (its receipt pruned) and
      // one per action allowed since.
      const localOutcomes = () => {
        const db = new DatabaseSync(join(dir, "a/state", RECEIPTS_FILE), { readOnly: true });
        try {
          return db.prepare("SELECT min(seq) AS lo, count(*) AS n FROM outcomes").get() as {
            lo: number;
            n: number;
          };
        } finally {
          db.close();
        }
      };
      equal(localOutcomes().lo, 20);
      ok(localOutcomes().n >= 5, "the old run's last outcome, and 3 of bot and 1 of late");
      await eventually(
        "A's outcomes copied",
        async () => {
          const copied = await sql(`SELECT min(seq) || ' ' || count(*) FROM clawpatrol_outcomes
          WHERE gateway = '${idA}'`);
          return copied.trim() === `20 ${localOutcomes().n}` ? true : undefined;
        },
        20_000,
        200,
      );
      const verified = await storeCli(b, s, ["log", "verify"]);
      equal(verified.code, 0, verified.stdout + verified.stderr);
      match(verified.stdout, /receipts\.db: ok: \d+ receipts, hash chain intact/);
      match(verified.stdout, new RegExp(`${idA}: ok: \\d+ receipts, \\d+ outcomes, .*from seq 21`));
      match(
        verified.stdout,
        new RegExp(`${idB}: ok: \\d+ receipts, \\d+ outcomes, hash chains intact`),
      );
      equal(
        (await sql(`SELECT string_agg(chain || ' ' || seq, ',' ORDER BY chain)
          FROM clawpatrol_receipt_cuts WHERE gateway = '${idA}'`)).trim(),
        "outcomes 19,receipts 20",
        "A's copies are cut where its local chains were pruned",
      );

      // An outcome edited in the store breaks A's chain, named by gateway and outcome.
      const edit = (from: string, to: string) =>
        sql(`UPDATE clawpatrol_outcomes SET canonical = replace(canonical, '${from}', '${to}')
          WHERE gateway = '${idA}' AND seq = 21`);
      await edit('"bytes_out":', '"bytes_out":1');
      const outcomeEdited = await storeCli(b, s, ["log", "verify"]);
      equal(outcomeEdited.code, 1);
      match(
        outcomeEdited.stdout,
        new RegExp(`${idA}: BROKEN after 1 good outcomes: outcome seq 21: hash does not match`),
      );
      await edit('"bytes_out":1', '"bytes_out":');
      equal((await storeCli(b, s, ["log", "verify"])).code, 0);

      // The cut is where A's chain must start: a forged cut, a deleted cut, or a receipt deleted
      // right after it each break A's chain, and the line names A (B's stays ok).
      const hash = (await sql(`SELECT hash FROM clawpatrol_receipt_cuts
        WHERE gateway = '${idA}' AND chain = 'receipts'`)).trim();
      await sql(
        `UPDATE clawpatrol_receipt_cuts SET hash = repeat('f', 64) WHERE gateway = '${idA}' AND chain = 'receipts'`,
      );
      const forged = await storeCli(b, s, ["log", "verify"]);
      equal(forged.code, 1);
      match(
        forged.stdout,
        new RegExp(`${idA}: BROKEN .*seq 21: prev_hash does not match .*pruned`),
      );
      match(forged.stdout, new RegExp(`${idB}: ok`));
      await sql(
        `UPDATE clawpatrol_receipt_cuts SET hash = '${hash}' WHERE gateway = '${idA}' AND chain = 'receipts'`,
      );
      equal((await storeCli(b, s, ["log", "verify"])).code, 0);
      await sql(`DELETE FROM clawpatrol_receipts WHERE gateway = '${idA}' AND seq = 21`);
      const deleted = await storeCli(b, s, ["log", "verify"]);
      equal(deleted.code, 1);
      match(
        deleted.stdout,
        new RegExp(`${idA}: BROKEN after 0 good receipts: seq 21 to 21 missing`),
      );
      await sql(
        `DELETE FROM clawpatrol_receipt_cuts WHERE gateway = '${idA}' AND chain = 'receipts'`,
      );
      const uncut = await storeCli(b, s, ["log", "verify"]);
      equal(uncut.code, 1);
      match(uncut.stdout, new RegExp(`${idA}: BROKEN after 0 good receipts: seq 1 to 21 missing`));
      // --local checks this host's chain only: B's, which nobody touched.
      const localVerify = await storeCli(b, s, ["log", "verify", "--local"]);
      equal(localVerify.code, 0, localVerify.stdout);
      ok(!localVerify.stdout.includes(idA));
    } finally {
      await follow?.stop().catch(() => {});
      for (const g of served) await g.gw.stop().catch(() => g.gw.dispose());
      await store?.stop();
      await upstream.close();
    }
  });
});
