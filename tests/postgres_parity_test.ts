/**
 * SQL parity through the Postgres gateway, judged by what happened on the real server: the ways
 * an agent could make PostgreSQL run something other than what the gateway read (a lexing
 * setting, a query hidden in a function argument, a changed search_path or role, a statement
 * prepared out of sight) are refused with a receipt, and the server's tables, settings and
 * `current_user` are as they were.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import pg from "npm:pg@8.23.1";
// deno-lint-ignore no-import-prefix
import postgres from "npm:postgres@3.4.9";
import { postgresAvailable, startPostgres } from "./_postgres.ts";
import { type PgFixture, prepareCluster, RO_PASSWORD, withPgGateway } from "./_pg_fixture.ts";
import { RawPg, serialize } from "./_pg_raw.ts";

const ignore = !postgresAvailable();

/** `pgset` allows reads and SET (the starter pack's old shape); `pgstrict` only `sql.read_only`. */
const EXTRA = `
endpoint "postgres" "pgset" {
  host    = "HOST"
  listen  = "127.0.0.1:0"
  sslmode = "disable"
}
endpoint "postgres" "pgstrict" {
  host    = "HOST"
  listen  = "127.0.0.1:0"
  sslmode = "disable"
}
credential "postgres_credential" "pg_set" {
  endpoint = postgres.pgset
  user     = "agent_ro"
}
credential "postgres_credential" "pg_strict" {
  endpoint = postgres.pgstrict
  user     = "agent_ro"
}
profile "parity" {
  credentials = [postgres_credential.pg_set, postgres_credential.pg_strict]
}
rule "set-and-read" {
  endpoint  = postgres.pgset
  condition = "sql.verbs.all(v, v in ['select', 'show', 'set', 'reset', 'prepare', 'execute', 'deallocate', 'begin', 'commit', 'rollback'])"
  verdict   = "allow"
}
rule "strict-read-only" {
  endpoint  = postgres.pgstrict
  condition = "sql.read_only"
  verdict   = "allow"
}
`;

async function usersIntact(fx: PgFixture): Promise<void> {
  const out = await fx.pg.sql("select id, name from users order by id", "app");
  assert.match(out, /ada[\s\S]*grace[\s\S]*linus/, "the users table and its rows are intact");
}

Deno.test({
  name: "postgres parity: what the server runs is what the gateway decided",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    // Every statement the server runs goes to its log: the ground truth for "never ran".
    const cluster = await startPostgres({ settings: { log_statement: "'all'" } });
    try {
      await prepareCluster(cluster);
      const extra = EXTRA.replaceAll("HOST", `127.0.0.1:${cluster.port}`);
      const secrets = { pg_set: RO_PASSWORD, pg_strict: RO_PASSWORD };
      await withPgGateway(cluster, { extra, secrets }, async (fx) => {
        const parityToken = fx.registry.add("parity", "parity");
        // The running gateway re-reads agents within a second: wait until it knows this one.
        await waitForAgent(fx, "pgset", parityToken);
        const psql = (script: string, endpoint: string) =>
          fx.psql(script, { endpoint, user: "agent_ro", password: parityToken });

        await t.step(
          "psql: turning standard_conforming_strings off is refused, so the hidden DROP never runs",
          async () => {
            const script = "select set_config('standard_conforming_strings','off',false);\n" +
              "select 'a\\' , $$' ; drop table users; -- $$;\n" +
              "show standard_conforming_strings;\n";
            const out = await psql(script, "pgset");
            assert.match(out.stderr, /denied by clawpatrol: changing standard_conforming_strings/);
            assert.match(out.stdout, /^on$/m, "the session's setting is unchanged");
            await usersIntact(fx);
            const refused = (await fx.receipts()).filter((r) =>
              r.verdict === "deny" && r.reason.includes("standard_conforming_strings")
            );
            assert.ok(refused.length >= 1, "the refusal has a receipt");
          },
        );

        await t.step(
          "SET of search_path, role and session authorization is refused even when rules allow SET",
          async () => {
            const out = await psql(
              "set search_path = evil, pg_catalog;\nset role postgres;\n" +
                "set session authorization cp_super;\nselect current_user, current_setting('search_path');\n",
              "pgset",
            );
            assert.equal((out.stderr.match(/denied by clawpatrol: changing/g) ?? []).length, 3);
            assert.match(out.stdout, /^agent_ro\|"\$user", public$/m);
          },
        );

        await t.step(
          "a server, database or role default the parser cannot mirror refuses the login with FATAL",
          async () => {
            for (
              const [set, reset] of [
                [
                  "ALTER ROLE agent_ro SET standard_conforming_strings = off",
                  "ALTER ROLE agent_ro RESET ALL",
                ],
                [
                  "ALTER DATABASE app SET standard_conforming_strings = off",
                  "ALTER DATABASE app RESET ALL",
                ],
                [
                  "ALTER SYSTEM SET standard_conforming_strings = off; SELECT pg_reload_conf()",
                  "ALTER SYSTEM RESET ALL; SELECT pg_reload_conf()",
                ],
              ]
            ) {
              await fx.pg.sql(set, "app");
              try {
                const out = await psql("select 1;\n", "pgset");
                assert.notEqual(out.code, 0, set);
                assert.match(
                  out.stderr,
                  /FATAL: +the database reports standard_conforming_strings = off/,
                  set,
                );
              } finally {
                await fx.pg.sql(reset, "app");
              }
            }
            const again = await psql("select 1;\n", "pgset");
            assert.equal(again.stdout.trim(), "1", "logins work again once the default is back");
          },
        );

        await t.step(
          "a role's default search_path that shadows a built-in makes its calls no plain read",
          async () => {
            await fx.pg.sql(
              `CREATE SCHEMA evil;
             CREATE FUNCTION evil.lower(integer) RETURNS text LANGUAGE sql
               AS $$ DELETE FROM public.users WHERE id = 3; SELECT 'gotcha' $$;
             GRANT USAGE ON SCHEMA evil TO agent_ro;
             ALTER ROLE agent_ro SET search_path = evil, public;`,
              "app",
            );
            try {
              const out = await psql("select lower(5);\nselect lower('ADA');\n", "pgstrict");
              assert.match(out.stderr, /denied by clawpatrol/);
              assert.doesNotMatch(out.stdout, /gotcha|ada/, "no call by the shadowed name ran");
              await usersIntact(fx);
              const qualified = await psql("select pg_catalog.lower('ADA');\n", "pgstrict");
              assert.equal(qualified.stdout.trim(), "ada", qualified.stderr);
              // An operator the path shadows: its function deletes rows.
              await fx.pg.sql(
                `CREATE FUNCTION evil.sneaky_eq(integer, numeric) RETURNS boolean LANGUAGE sql
                   AS $$ DELETE FROM public.users WHERE id = 3; SELECT true $$;
                 CREATE OPERATOR evil.= (LEFTARG = integer, RIGHTARG = numeric,
                   FUNCTION = evil.sneaky_eq);`,
                "app",
              );
              const op = await psql("select count(*) from users where id = 2.0;\n", "pgstrict");
              assert.match(op.stderr, /denied by clawpatrol/);
              await usersIntact(fx);
            } finally {
              await fx.pg.sql("ALTER ROLE agent_ro RESET ALL; DROP SCHEMA evil CASCADE;", "app");
            }
          },
        );

        await t.step(
          "an extension's immutable overloads on the path do not make built-in calls suspect",
          async () => {
            await fx.pg.sql("CREATE EXTENSION citext;", "app");
            try {
              const out = await psql("select lower('ADA'), 1 = 1;\n", "pgstrict");
              assert.equal(out.stdout.trim(), "ada|t", out.stderr);
            } finally {
              await fx.pg.sql("DROP EXTENSION citext;", "app");
            }
          },
        );

        await t.step("a role default that switches role refuses the login", async () => {
          await fx.pg.sql(
            "CREATE ROLE powerful; GRANT powerful TO agent_ro; ALTER ROLE agent_ro SET role = powerful;",
            "app",
          );
          try {
            const out = await psql("select current_user;\n", "pgset");
            assert.match(out.stderr, /FATAL: +the database runs this session as role 'powerful'/);
            assert.doesNotMatch(out.stdout, /powerful/);
          } finally {
            await fx.pg.sql("ALTER ROLE agent_ro RESET ALL; DROP ROLE powerful;", "app");
          }
        });

        await t.step(
          "strict read-only: side effects in a SELECT are denied and change nothing",
          async () => {
            const attempts = [
              "select query_to_xml('delete from users returning 1', true, false, '');",
              "select query_to_xml('select set_config(''search_path'', ''evil'', false)', true, false, '');",
              "select set_config('work_mem', '1MB', false);",
              "select pg_terminate_backend(pg_backend_pid());",
              "select lo_import('/etc/hostname');",
              "select nextval('no_such_seq');",
              "select * from users for update;",
            ];
            const out = await psql(
              attempts.join("\n") + "\nselect count(*) from users;\n",
              "pgstrict",
            );
            assert.equal(
              (out.stderr.match(/denied by clawpatrol/g) ?? []).length,
              attempts.length,
              out.stderr,
            );
            assert.equal(out.stdout.trim(), "3");
            await usersIntact(fx);
          },
        );

        await t.step(
          "a Bind or EXECUTE naming a statement the gateway did not see prepared is refused",
          async () => {
            const raw = await RawPg.login(fx.port("pgset"), "agent_ro", parityToken);
            try {
              await raw.send(
                serialize.bind({ statement: "never_seen", values: [] }),
                serialize.execute({}),
                serialize.sync(),
              );
              const seen = await raw.untilReady();
              const error = seen.find((s) => s.type === "E");
              assert.equal(error?.code, "42501");
              assert.match(
                error?.message ?? "",
                /"never_seen" was not prepared through clawpatrol/,
              );
              await raw.send(serialize.query("execute also_unseen"));
              const sql = await raw.untilReady();
              assert.match(
                sql.find((s) => s.type === "E")?.message ?? "",
                /"also_unseen" was not prepared/,
              );
              // The same through Parse: the EXECUTE inside is refused before anything runs.
              await raw.send(
                serialize.parse({ text: "execute also_unseen" }),
                serialize.bind({ values: [] }),
                serialize.execute({}),
                serialize.sync(),
              );
              const parsed = await raw.untilReady();
              assert.match(
                parsed.find((s) => s.type === "E")?.message ?? "",
                /"also_unseen" was not/,
              );
              // A statement prepared through the gateway runs, by SQL and by the protocol.
              await raw.send(serialize.query("prepare p as select count(*) from users"));
              assert.ok(!(await raw.untilReady()).some((s) => s.type === "E"));
              await raw.send(serialize.query("execute p"));
              assert.ok((await raw.untilReady()).some((s) => s.type === "D"));
              await raw.send(
                serialize.bind({ statement: "p", values: [] }),
                serialize.execute({}),
                serialize.sync(),
              );
              assert.ok((await raw.untilReady()).some((s) => s.type === "D"));
              // Deallocated, it is unknown again.
              await raw.send(serialize.query("deallocate p"));
              await raw.untilReady();
              await raw.send(
                serialize.bind({ statement: "p", values: [] }),
                serialize.execute({}),
                serialize.sync(),
              );
              assert.equal((await raw.untilReady()).find((s) => s.type === "E")?.code, "42501");
            } finally {
              raw.close();
            }
            await usersIntact(fx);
          },
        );

        await t.step(
          "a Parse the server rejects leaves no statement a later Bind could name",
          async () => {
            const raw = await RawPg.login(fx.port("pgset"), "agent_ro", parityToken);
            try {
              await raw.send(
                serialize.parse({ name: "bad", text: "select * from no_such_table" }),
                serialize.sync(),
              );
              assert.equal((await raw.untilReady()).find((s) => s.type === "E")?.code, "42P01");
              await raw.send(
                serialize.bind({ statement: "bad", values: [] }),
                serialize.execute({}),
                serialize.sync(),
              );
              const error = (await raw.untilReady()).find((s) => s.type === "E");
              assert.equal(
                error?.code,
                "42501",
                "refused by the gateway, not answered by the server",
              );
            } finally {
              raw.close();
            }
          },
        );

        await t.step(
          "node-postgres and postgres.js: set_config with a bound name is refused, settings unchanged",
          async () => {
            const c = new pg.Client({
              host: "127.0.0.1",
              port: fx.port("pgset"),
              user: "agent_ro",
              password: parityToken,
              database: "app",
            });
            await c.connect();
            try {
              await assert.rejects(
                c.query({ text: "select set_config($1, 'evil', false)", values: ["search_path"] }),
                /denied by clawpatrol: set_config\(\) with a setting name computed at run time/,
              );
              const r = await c.query("select current_setting('search_path') as p");
              assert.equal(r.rows[0].p, '"$user", public');
            } finally {
              await c.end();
            }
            const sql = postgres({
              host: "127.0.0.1",
              port: fx.port("pgset"),
              user: "agent_ro",
              password: parityToken,
              database: "app",
              max: 1,
              onnotice: () => {},
            });
            try {
              await assert.rejects(
                sql`select set_config('role', ${"cp_super"}, false)`,
                /changing role/,
              );
              const [row] = await sql`select current_user as u`;
              assert.equal(row.u, "agent_ro");
            } finally {
              await sql.end();
            }
          },
        );

        await t.step(
          "a message denied as a whole leaves no allow receipt for its other statements",
          async () => {
            const before = (await fx.receipts()).length;
            // psql sends statements joined by \; as one Query message.
            const out = await psql("select 42 as marker_select \\; drop table users;\n", "pgset");
            assert.match(out.stderr, /denied by clawpatrol/);
            const added = (await fx.receipts()).slice(before);
            const mine = added.filter((r) =>
              r.summary.includes("marker_select") || r.summary.includes("drop table")
            );
            assert.ok(mine.length >= 2, JSON.stringify(added.map((r) => r.summary)));
            assert.deepEqual(
              mine.filter((r) => r.verdict === "allow"),
              [],
              "nothing that did not run says allow",
            );
            await usersIntact(fx);
          },
        );

        await t.step(
          "psql -c: each message is one Query; the lexing attack is refused the same way",
          async () => {
            const pgsetDsn = `host=127.0.0.1 port=${fx.port("pgset")} user=agent_ro dbname=app ` +
              "sslmode=disable";
            const run = (...commands: string[]) =>
              new Deno.Command("psql", {
                args: ["-X", "-At", ...commands.flatMap((c) => ["-c", c]), pgsetDsn],
                env: { PGPASSWORD: parityToken, PGCONNECT_TIMEOUT: "10" },
                stdout: "piped",
                stderr: "piped",
              }).output();
            const out = await run(
              "select set_config('standard_conforming_strings','off',false)",
              "select 'a\\' , $$' ; drop table users; -- $$",
            );
            assert.match(
              new TextDecoder().decode(out.stderr),
              /changing standard_conforming_strings/,
            );
            await usersIntact(fx);
          },
        );

        await t.step("the server log shows none of the refused statements ran", async () => {
          const log = await Deno.readTextFile(join(dirname(cluster.dataDir), "server.log"));
          assert.match(log, /statement: select count\(\*\) from users/, "log_statement is on");
          for (
            const never of [
              /statement: .*set_config\('standard_conforming_strings'/i,
              /statement: drop table users/i,
              /statement: set search_path = evil/i,
              /statement: select lower\(5\)/i,
              /statement: .*query_to_xml\('delete/i,
              /statement: .*pg_terminate_backend/i,
              /statement: .*marker_select/i,
            ]
          ) {
            assert.doesNotMatch(log, never);
          }
        });
      });
    } finally {
      await cluster.stop();
    }
  },
});

/** Waits (bounded) until the gateway accepts `token` on `endpoint`. */
async function waitForAgent(fx: PgFixture, endpoint: string, token: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const out = await fx.psql("select 1;\n", { endpoint, user: "agent_ro", password: token });
    if (out.stdout.trim() === "1") return;
    if (Date.now() > deadline) {
      throw new Error(`gateway never accepted the new agent: ${out.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
