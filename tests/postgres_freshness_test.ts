/**
 * Decisions follow the policy in force: in the extended protocol every Execute is an action of
 * its own, decided when it arrives, so a statement prepared while a rule allowed it is denied at
 * its next run once a reload removed the rule, and N runs of one Parse leave N receipts.
 */

import assert from "node:assert/strict";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import pg from "npm:pg@8.23.1";

import { pgClusterTest, withPgGateway } from "./_pg_fixture.ts";
import { RawPg, serialize, types } from "./_pg_raw.ts";
import { joinBytes } from "../src/core/mod.ts";

const bytes = (...parts: Uint8Array[]) => joinBytes(parts);

/** Lets the agent delete from `fresh` on endpoint `pg`, until the rule is removed. */
const DELETE_RULE = `
rule "pg-fresh-deletes" {
  endpoint  = postgres.pg
  condition = "sql.verb == 'delete' && sql.tables.all(t, t == 'fresh')"
  verdict   = "allow"
}
`;

pgClusterTest(
  "postgres decisions follow the policy in force, one per Execute",
  async (t, cluster) => {
    await cluster.sql(
      `CREATE TABLE fresh (id int PRIMARY KEY);
         INSERT INTO fresh SELECT generate_series(1, 10);
         ALTER TABLE fresh OWNER TO agent_ro;`,
      "app",
    );
    const remaining = async () =>
      (await cluster.sql("select string_agg(id::text, ',' order by id) from fresh", "app"))
        .trim();
    await withPgGateway(cluster, { extra: DELETE_RULE }, async (fx) => {
      const client = () =>
        new pg.Client({
          host: "127.0.0.1",
          port: fx.port(),
          user: "agent_ro",
          password: fx.token,
          database: "app",
        });

      await t.step("five Executes of one Parse are five decisions and receipts", async () => {
        const c = await RawPg.login(fx.port(), "agent_ro", fx.token);
        const text = "select $1::int as five_runs";
        await c.send(serialize.parse({ name: "five", text }), serialize.sync());
        assert.equal(types(await c.untilReady()), "1 Z");
        const run = (value: string) =>
          bytes(serialize.bind({ statement: "five", values: [value] }), serialize.execute({}));
        // Three runs in one batch, two more in a Sync each.
        await c.send(bytes(run("1"), run("2"), run("3"), serialize.sync()));
        assert.equal(types(await c.untilReady()), "2 D C 2 D C 2 D C Z");
        for (const value of ["4", "5"]) {
          await c.send(bytes(run(value), serialize.sync()));
          assert.equal(types(await c.untilReady()), "2 D C Z");
        }
        c.close();
        const receipts = (await fx.receipts()).filter((r) => r.summary === text);
        assert.equal(receipts.length, 5);
        assert.ok(receipts.every((r) => r.verdict === "allow" && r.agent === "bot"));
      });

      await t.step("npm:pg: a named statement run five times leaves five receipts", async () => {
        const c = client();
        await c.connect();
        const text = "select $1::int as named_runs";
        try {
          for (let i = 0; i < 5; i++) {
            const r = await c.query({ name: "runs", text, values: [i] });
            assert.equal(r.rows[0].named_runs, i);
          }
        } finally {
          await c.end();
        }
        const receipts = (await fx.receipts()).filter((r) => r.summary === text);
        assert.equal(receipts.length, 5);
      });

      await t.step(
        "a reload that drops the rule denies the prepared DELETE's next run",
        async () => {
          const nodePg = client();
          await nodePg.connect();
          const raw = await RawPg.login(fx.port(), "agent_ro", fx.token);
          try {
            // Prepared and run once while the rule allows it.
            const del = { name: "del", text: "delete from fresh where id = $1" };
            assert.equal((await nodePg.query({ ...del, values: [1] })).rowCount, 1);
            await raw.send(
              serialize.parse({ name: "rawdel", text: "delete from fresh where id = $1" }),
              serialize.bind({ statement: "rawdel", values: ["2"] }),
              serialize.execute({}),
              serialize.sync(),
            );
            assert.equal(types(await raw.untilReady()), "1 2 C Z");
            assert.equal(await remaining(), "3,4,5,6,7,8,9,10");

            const path = `${fx.dir}/gateway.hcl`;
            const original = await Deno.readTextFile(path);
            assert.ok(original.includes(DELETE_RULE));
            await Deno.writeTextFile(path, original.replace(DELETE_RULE, ""));
            assert.equal(await fx.gateway.reload(), true);
            assert.ok(!fx.gateway.config.rules.some((r) => r.name === "pg-fresh-deletes"));

            // npm:pg knows "del" is parsed: it sends only Bind/Describe/Execute/Sync.
            await assert.rejects(
              nodePg.query({ ...del, values: [3] }),
              (err: { code?: string; message: string }) =>
                err.code === "42501" && /denied by clawpatrol/.test(err.message),
            );
            await raw.send(
              serialize.bind({ statement: "rawdel", values: ["4"] }),
              serialize.execute({}),
              serialize.sync(),
            );
            const denied = await raw.untilReady();
            assert.equal(types(denied), "2 E Z");
            assert.equal(denied[1].code, "42501");
            // Both sessions carry on with what the policy still allows.
            const n = await nodePg.query("select count(*)::int as n from fresh");
            assert.equal(n.rows[0].n, 8);
          } finally {
            raw.close();
            await nodePg.end();
          }
          assert.equal(await remaining(), "3,4,5,6,7,8,9,10", "rows intact after the reload");
          const receipts = (await fx.receipts()).filter((r) =>
            r.summary === "delete from fresh where id = $1"
          );
          assert.deepEqual(
            receipts.map((r) => r.verdict),
            ["allow", "allow", "deny", "deny"],
          );
        },
      );
    });
  },
);
