/**
 * Approval chains on Postgres: psql waits at a held statement until the operator decides; the
 * session carries on either way, and a client that gives up cancels the approval.
 */

import assert from "node:assert/strict";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import pgDriver from "npm:pg@8.23.1";
import { postgresAvailable, startPostgres } from "./_postgres.ts";
import { type PgFixture, prepareCluster, withPgGateway } from "./_pg_fixture.ts";
import { eventually } from "./_helpers.ts";

const ignore = !postgresAvailable();

const HELD = `
approver "human_approver" "dba" {
  timeout = "30s"
}
rule "updates-need-a-dba" {
  endpoint  = postgres.pgrw
  priority  = 10
  condition = "sql.verb == 'update'"
  approve   = [human_approver.dba]
  reason    = "updates need a DBA"
}
`;

async function pendingOne(fx: PgFixture) {
  return await eventually("a held statement in the approval queue", () => {
    const list = fx.gateway.approvalQueue.list();
    return list.length === 1 ? list[0] : undefined;
  });
}

Deno.test({
  name: "postgres statements held for approval",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const pg = await startPostgres();
    try {
      await prepareCluster(pg);
      await pg.sql("CREATE TABLE counters (id int PRIMARY KEY, n int)", "app");
      await pg.sql("INSERT INTO counters VALUES (1, 0)", "app");
      await pg.sql("ALTER TABLE counters OWNER TO agent_rw", "app");
      await withPgGateway(pg, { extra: HELD }, async (fx) => {
        const psql = (script: string) => fx.psql(script, { endpoint: "pgrw" });

        await t.step("psql waits at the held UPDATE, which runs once approved", async () => {
          const run = psql(
            "update counters set n = n + 1 where id = 1;\nselect n from counters;\n",
          );
          const pending = await pendingOne(fx);
          assert.equal(pending.request.summary, "update counters set n = n + 1 where id = 1");
          assert.equal(pending.request.protocol, "postgres");
          assert.equal((await pg.sql("select n from counters", "app")).trim(), "0");
          assert.equal(
            fx.gateway.approvalQueue.decide(pending.request.id, "allow", "cli:dba"),
            "decided",
          );
          const r = await run;
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /^1\n/);
          const receipt = (await fx.receipts()).find((x) => x.rule === "updates-need-a-dba")!;
          assert.equal(receipt.verdict, "allow");
          assert.deepEqual(receipt.approvals.map((a) => a.who), ["cli:dba"]);
        });

        await t.step(
          "a held UPDATE denied by the DBA errors like a deny; the session goes on",
          async () => {
            const run = psql(
              "update counters set n = 100 where id = 1;\nselect n from counters;\n",
            );
            const pending = await pendingOne(fx);
            fx.gateway.approvalQueue.decide(
              pending.request.id,
              "deny",
              "cli:dba",
              "not during the freeze",
            );
            const r = await run;
            assert.match(r.stderr, /ERROR: {2}denied by clawpatrol: not during the freeze/);
            assert.match(r.stdout, /^1\n/); // the SELECT after it ran on the same session
          },
        );

        await t.step("a held statement in a transaction leaves it failed when denied", async () => {
          const run = psql(
            "begin;\nupdate counters set n = 7 where id = 1;\nselect 1;\nrollback;\n",
          );
          const pending = await pendingOne(fx);
          fx.gateway.approvalQueue.decide(pending.request.id, "deny", "cli:dba");
          const r = await run;
          assert.match(r.stderr, /current transaction is aborted/);
          assert.equal((await pg.sql("select n from counters", "app")).trim(), "1");
        });

        await t.step("npm:pg: a held Execute keeps the pipeline behind it in order", async () => {
          const client = new pgDriver.Client({
            host: "127.0.0.1",
            port: fx.port("pgrw"),
            user: "agent_rw",
            password: fx.token,
            database: "app",
          });
          await client.connect();
          try {
            // Both queries are sent at once; the second waits behind the held first.
            const first = client.query("update counters set n = n + $1 where id = 1", [10]);
            const second = client.query("select n from counters where id = $1", [1]);
            const pending = await pendingOne(fx);
            fx.gateway.approvalQueue.decide(pending.request.id, "allow", "cli:dba");
            assert.equal((await first).rowCount, 1);
            assert.equal((await second).rows[0].n, 11);
          } finally {
            await client.end();
          }
          await pg.sql("update counters set n = 1 where id = 1", "app");
        });

        await t.step("a client that gives up while held cancels the approval", async () => {
          const child = new Deno.Command("psql", {
            args: ["-X", "-q", "-c", "update counters set n = 50 where id = 1", fx.dsn("pgrw")],
            env: { PGPASSWORD: fx.token },
            stdout: "null",
            stderr: "null",
          }).spawn();
          const pending = await pendingOne(fx);
          child.kill("SIGKILL");
          await child.status;
          await eventually(
            "the cancelled approval leaving the queue",
            () => fx.gateway.approvalQueue.get(pending.request.id) ? undefined : true,
          );
          const receipt = await eventually(
            "the cancelled statement's receipt",
            async () =>
              (await fx.receipts()).find((x) =>
                x.summary === "update counters set n = 50 where id = 1"
              ),
          );
          assert.equal(receipt.verdict, "deny");
          assert.match(receipt.reason, /cancelled/);
          assert.equal((await pg.sql("select n from counters", "app")).trim(), "1");
        });
      });
    } finally {
      await pg.stop();
    }
  },
});
