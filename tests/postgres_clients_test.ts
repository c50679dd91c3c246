/**
 * Real drivers through the Postgres gateway: npm:pg (extended protocol, prepared statements),
 * npm:postgres (pipelining), pgbench (init and runs, simple and extended), startup options, and
 * rules that read Bind parameters.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import pg from "npm:pg@8.23.1";
// deno-lint-ignore no-import-prefix
import postgres from "npm:postgres@3.4.9";
import { pgbench, postgresAvailable, startPostgres } from "./_postgres.ts";
import { prepareCluster, withPgGateway } from "./_pg_fixture.ts";
import { CA_CERT_FILE } from "../src/tls/mod.ts";

const ignore = !postgresAvailable();

Deno.test({
  name: "postgres gateway with npm:pg, npm:postgres and pgbench",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const cluster = await startPostgres();
    try {
      await prepareCluster(cluster);
      await withPgGateway(cluster, {}, async (fx) => {
        const client = (endpoint = "pg", user = "agent_ro") =>
          new pg.Client({
            host: "127.0.0.1",
            port: fx.port(endpoint),
            user,
            password: fx.token,
            database: "app",
          });

        await t.step("npm:pg: parameters and named prepared statements work", async () => {
          const c = client();
          await c.connect();
          try {
            const r = await c.query({ text: "select $1::int + 1 as x", values: [41] });
            assert.equal(r.rows[0].x, 42);
            for (const id of [1, 2, 3]) {
              const named = await c.query({
                name: "by-id",
                text: "select name from users where id = $1",
                values: [id],
              });
              assert.equal(named.rows.length, 1);
            }
          } finally {
            await c.end();
          }
        });

        await t.step(
          "npm:pg: a denied statement errors with 42501 and the client stays usable",
          async () => {
            const c = client();
            await c.connect();
            try {
              await assert.rejects(
                c.query({ text: "delete from users where id = $1", values: [1] }),
                (err: { code?: string; message: string }) =>
                  err.code === "42501" && /denied by clawpatrol/.test(err.message),
              );
              const r = await c.query({ text: "select count(*)::int as n from users", values: [] });
              assert.equal(r.rows[0].n, 3);
            } finally {
              await c.end();
            }
          },
        );

        await t.step(
          "npm:pg: a deny inside a transaction fails it; ROLLBACK recovers",
          async () => {
            const c = client();
            await c.connect();
            try {
              await c.query("begin");
              await assert.rejects(c.query({ text: "drop table users", values: [] }));
              await assert.rejects(
                c.query("select 1"),
                (err: { code?: string }) => err.code === "25P02",
              );
              await c.query("rollback");
              assert.equal((await c.query("select 1 as one")).rows[0].one, 1);
            } finally {
              await c.end();
            }
          },
        );

        await t.step(
          "npm:postgres: pipelined queries keep their order around a denial",
          async () => {
            const sql = postgres({
              host: "127.0.0.1",
              port: fx.port(),
              user: "agent_ro",
              pass: fx.token,
              database: "app",
              max: 1,
              onnotice: () => {},
            });
            try {
              const results = await Promise.allSettled([
                sql`select 1 as a`,
                sql`drop table users`,
                sql`select ${"two"}::text as b`,
                sql`select count(*)::int as n from users`,
              ]);
              assert.equal(results[0].status, "fulfilled");
              assert.equal(results[1].status, "rejected");
              assert.match(
                String((results[1] as PromiseRejectedResult).reason),
                /denied by clawpatrol/,
              );
              const rows = (
                i: number,
              ) => [...(results[i] as PromiseFulfilledResult<unknown[]>).value];
              assert.deepEqual(rows(2), [{ b: "two" }]);
              assert.deepEqual(rows(3), [{ n: 3 }]);
            } finally {
              await sql.end();
            }
          },
        );

        await t.step(
          "npm:postgres verifies the gateway's certificate at host=localhost",
          async () => {
            // The listener is 127.0.0.1; the driver checks the leaf against the name it dialled.
            const sql = postgres({
              host: "localhost",
              port: fx.port(),
              user: "agent_ro",
              pass: fx.token,
              database: "app",
              max: 1,
              ssl: {
                ca: await Deno.readTextFile(join(fx.dir, "state", CA_CERT_FILE)),
                rejectUnauthorized: true,
              },
              onnotice: () => {},
            });
            try {
              assert.deepEqual([...await sql`select count(*)::int as n from users`], [{ n: 3 }]);
            } finally {
              await sql.end();
            }
          },
        );

        await t.step(
          "pgbench: init and runs (simple and extended) through the gateway",
          async () => {
            const env = { PGPASSWORD: fx.token };
            const base = ["-h", "127.0.0.1", "-p", String(fx.port("pgrw")), "-U", "agent_rw"];
            const init = await pgbench(cluster, [...base, "-i", "-s", "1", "-q", "app"], env);
            assert.equal(init.code, 0, init.stderr);
            for (const mode of ["simple", "extended"]) {
              const run = await pgbench(
                cluster,
                [...base, "-S", "-M", mode, "-c", "2", "-t", "50", "-n", "app"],
                env,
              );
              assert.equal(run.code, 0, run.stderr);
              assert.match(run.stdout, /number of transactions actually processed: 100\/100/);
            }
            assert.equal(
              await cluster.sql("select count(*) from pgbench_accounts", "app"),
              "100000\n",
            );
          },
        );

        await t.step(
          "startup options are decided like SQL; role and search_path are refused outright",
          async () => {
            const denied = await fx.psql("select 1;\n", { env: { PGOPTIONS: "-c role=cp_super" } });
            assert.match(denied.stderr, /FATAL: {2}denied by clawpatrol/);
            const path = await fx.psql("select 1;\n", {
              env: { PGOPTIONS: "-c search_path=evil" },
            });
            assert.match(path.stderr, /denied by clawpatrol/);
            const switches = await fx.psql("select 1;\n", { env: { PGOPTIONS: "-F" } });
            assert.match(switches.stderr, /option '-F' is not allowed/);
            // Even where every statement is allowed: the gateway pins search_path.
            const pinned = await fx.psql("select 1;\n", {
              endpoint: "pgrw",
              env: { PGOPTIONS: "-c search_path=public,pg_catalog" },
            });
            assert.match(pinned.stderr, /FATAL: {2}denied by clawpatrol: changing search_path/);
            const rw = await fx.psql("show statement_timeout;\n", {
              endpoint: "pgrw",
              env: { PGOPTIONS: "-c statement_timeout=5s" },
            });
            assert.equal(rw.stdout, "5s\n", rw.stderr);
            const receipts = await fx.receipts();
            assert.ok(receipts.some((r) => r.summary === "startup: SET role TO 'cp_super'"));
          },
        );

        await t.step(
          "rules reading sql.params decide each Execute with its Bind's parameters",
          async () => {
            const c = client("pgparams");
            await c.connect();
            try {
              const ok = await c.query({ text: "select $1::text as v", values: ["fine"] });
              assert.equal(ok.rows[0].v, "fine");
              await assert.rejects(
                c.query({ text: "select $1::text as v", values: ["forbidden"] }),
                /forbidden parameter/,
              );
              const again = await c.query({
                name: "p",
                text: "select $1::text as v",
                values: ["also fine"],
              });
              assert.equal(again.rows[0].v, "also fine");
              await assert.rejects(
                c.query({ name: "p", text: "select $1::text as v", values: ["forbidden"] }),
                /forbidden parameter/,
              );
            } finally {
              await c.end();
            }
            const receipts = await fx.receipts();
            const denied = receipts.find((r) => r.reason === "forbidden parameter");
            assert.deepEqual((denied?.facts as { sql?: { params?: string[] } }).sql?.params, [
              "forbidden",
            ]);
          },
        );
      });
    } finally {
      await cluster.stop();
    }
  },
});
