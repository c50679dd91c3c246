/**
 * The Postgres gateway driven by the real psql against a real PostgreSQL 15: reads work, every
 * way of smuggling DDL past a read-only policy is denied, and the session survives each denial.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { CA_CERT_FILE } from "../src/tls/mod.ts";
import { postgresAvailable, startPostgres } from "./_postgres.ts";
import { prepareCluster, RO_PASSWORD, withPgGateway } from "./_pg_fixture.ts";
import { eventually } from "./_helpers.ts";

const ignore = !postgresAvailable();

Deno.test({
  name: "postgres gateway with psql",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const pg = await startPostgres();
    try {
      await prepareCluster(pg);
      await withPgGateway(pg, {}, async (fx) => {
        await t.step("SELECT works and \\dt, \\d meta-commands list the tables", async () => {
          const r = await fx.psql("select name from users order by id;\n\\dt\n\\d users\n");
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /^ada\ngrace\nlinus\n/);
          assert.match(r.stdout, /public\|users\|table\|agent_ro/);
          assert.match(r.stdout, /id\|integer/);
        });

        await t.step("sslmode=require gets TLS from the gateway", async () => {
          const r = await fx.psql("select count(*) from users;\n\\conninfo\n", {
            conninfo: "sslmode=require",
          });
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /^3\n/);
          assert.match(r.stdout, /SSL connection \(protocol: TLSv1\.3/);
        });

        await t.step(
          "sslmode=verify-full to host=localhost accepts the gateway's certificate",
          async () => {
            // libpq checks the leaf against the name it dialled; the listener is 127.0.0.1.
            const ca = join(fx.dir, "state", CA_CERT_FILE);
            const r = await fx.psql("select count(*) from users;\n\\conninfo\n", {
              conninfo: `host=localhost sslmode=verify-full sslrootcert=${ca}`,
            });
            assert.equal(r.code, 0, r.stderr);
            assert.match(r.stdout, /^3\n/);
            assert.match(r.stdout, /host "localhost"/);
            assert.match(r.stdout, /SSL connection \(protocol: TLSv1\.3/);
          },
        );

        const attacks = [
          "DROP TABLE users",
          "truncate users",
          "alter table users add column pwned int",
          "grant all on users to public",
          "select 1; drop table users",
          '/* harmless */ DrOp/**/TABLE\n"users"',
          "with d as (delete from users returning *) select * from d",
          "copy users to program 'cat > /dev/null'",
          "do $$ begin execute 'drop table users'; end $$",
          "set role cp_super",
          "delete from users",
        ];
        for (const attack of attacks) {
          await t.step(`denied: ${attack.replaceAll("\n", " ")}`, async () => {
            const r = await fx.psql(`${attack};\nselect 'still alive', count(*) from users;\n`);
            assert.match(r.stderr, /ERROR: {2}denied by clawpatrol: /, r.stderr);
            assert.match(r.stderr, /DETAIL: {2}receipt /);
            assert.match(r.stdout, /^still alive\|3$/m, "the session keeps working");
            assert.equal(await fx.pg.sql("select count(*) from users", "app"), "3\n");
          });
        }

        await t.step(
          "a deny inside BEGIN leaves the transaction failed, like an error",
          async () => {
            const r = await fx.psql(
              "begin;\nselect 1;\ndrop table users;\nselect 2;\nrollback;\nselect 'after';\n",
            );
            assert.match(r.stderr, /denied by clawpatrol/);
            assert.match(r.stderr, /current transaction is aborted/);
            assert.match(r.stdout, /^1\nafter\n$/);
          },
        );

        await t.step(
          "client encodings other than UTF-8 are refused, however they are set",
          async () => {
            const startup = await fx.psql("select 1;\n", { env: { PGCLIENTENCODING: "SJIS" } });
            assert.match(startup.stderr, /client_encoding 'SJIS' is not supported/);
            const set = await fx.psql("set client_encoding to 'LATIN1';\nselect 'alive';\n");
            assert.match(set.stderr, /client_encoding must stay UTF8/);
            assert.match(set.stdout, /^alive$/m);
            const computed = await fx.psql(
              "select set_config(chr(99) || 'lient_encoding', 'LATIN1', false);\nselect 'alive';\n",
              { endpoint: "pgrw" },
            );
            assert.match(computed.stderr, /setting name computed at run time/);
            assert.match(computed.stdout, /^alive$/m);
            // Hidden in a DO block (allowed on pgrw): the server's ParameterStatus gives it away.
            const hidden = await fx.psql(
              "do $$ begin perform set_config('client_encoding', 'LATIN1', false); end $$;\n" +
                "select 'never';\n",
              { endpoint: "pgrw" },
            );
            assert.match(hidden.stderr, /FATAL: {2}client_encoding must stay UTF8/);
            assert.doesNotMatch(hidden.stdout, /never/);
          },
        );

        await t.step("a wrong agent token is refused with 28P01 and a receipt", async () => {
          const r = await fx.psql("select 1;\n", { password: "cpat_wrong" });
          assert.notEqual(r.code, 0);
          assert.match(r.stderr, /password authentication failed for user "agent_ro"/);
          const receipts = await fx.receipts();
          assert.ok(
            receipts.some((x) => x.summary === "login as agent_ro" && x.verdict === "deny"),
          );
        });

        await t.step(
          "the upstream password never reaches the agent as its own password",
          async () => {
            const r = await fx.psql("select 1;\n", { password: RO_PASSWORD });
            assert.match(r.stderr, /password authentication failed/);
          },
        );

        await t.step("a user the agent holds no credential for is refused", async () => {
          const r = await fx.psql("select 1;\n", { user: "cp_super" });
          assert.match(r.stderr, /user "cp_super" is not a credential of this agent/);
        });

        await t.step("upstream down: a clean error naming the problem", async () => {
          const r = await fx.psql("select 1;\n", { endpoint: "pgdown" });
          assert.match(r.stderr, /FATAL: {2}the upstream database is unavailable/);
        });

        await t.step("upstream rejects the vault's password: sanitised error", async () => {
          const r = await fx.psql("select 1;\n", { endpoint: "pgbadpw" });
          assert.match(r.stderr, /refused the gateway's login/);
          assert.doesNotMatch(r.stderr, /not-the-password/);
        });

        await t.step("upstream TLS required but not offered: a clean error", async () => {
          const r = await fx.psql("select 1;\n", { endpoint: "pgtls" });
          assert.match(r.stderr, /FATAL: {2}could not establish TLS with the upstream database/);
        });

        await t.step("a credential without a vault value is refused, naming it", async () => {
          const r = await fx.psql("select 1;\n", { endpoint: "pgunset" });
          assert.match(r.stderr, /credential 'pg_unset' has no value in the gateway's vault/);
          assert.ok(fx.log.lines.some((l) => l.fields?.fix === "clawpatrol vault set pg_unset"));
        });

        await t.step("a credential locked to one database refuses another", async () => {
          const denied = await fx.psql("select 1;\n", { endpoint: "pglocked" });
          assert.match(denied.stderr, /only connects to database "postgres"/);
          const ok = await fx.psql("select current_database();\n", {
            endpoint: "pglocked",
            database: "postgres",
          });
          assert.equal(ok.stdout, "postgres\n", ok.stderr);
        });

        await t.step("an agent whose profile holds no credential here is refused", async () => {
          const token = fx.registry.add("loner", "nobody");
          // The running gateway picks up a new agent within a second: until then the token is
          // unknown (a plain 28P01), which is not what this step is about.
          const r = await eventually("the gateway to know agent 'loner'", async () => {
            const attempt = await fx.psql("select 1;\n", { password: token });
            return attempt.stderr.includes("holds no credential") ? attempt : undefined;
          });
          assert.match(r.stderr, /agent 'loner' \(profile 'nobody'\) holds no credential/);
          const receipts = await fx.receipts();
          assert.ok(receipts.some((x) => x.agent === "loner" && x.verdict === "deny"));
        });

        await t.step("receipts record the allowed SELECT and the denied DROP", async () => {
          const receipts = await fx.receipts();
          const select = receipts.find((x) => x.summary === "select name from users order by id");
          assert.equal(select?.verdict, "allow");
          const drop = receipts.find((x) => x.summary === "DROP TABLE users");
          assert.equal(drop?.verdict, "deny");
          assert.equal(drop?.rule, "pg-no-ddl");
        });
      });
    } finally {
      await pg.stop();
    }
  },
});
