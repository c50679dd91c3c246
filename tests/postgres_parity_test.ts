/**
 * SQL parity through the Postgres gateway, judged by what happened on the real server: the ways
 * an agent could make PostgreSQL run something other than what the gateway read (a lexing
 * setting, a query hidden in a function argument, a changed search_path or role, a statement
 * prepared out of sight) are refused with a receipt, and the server's tables, settings and
 * `current_user` are as they were.
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { postgresAvailable, startPostgres } from "./_postgres.ts";
import { type PgFixture, prepareCluster, RO_PASSWORD, withPgGateway } from "./_pg_fixture.ts";
import {
  extensionOverloadsNotSuspect,
  lexingSettingRefused,
  type Parity,
  pathAndRoleSetRefused,
  roleSwitchingDefaultRefusesLogin,
  shadowingSearchPathIsNoRead,
  strictReadOnlySideEffectsDenied,
  unmirroredDefaultsRefuseLogin,
} from "./_pg_parity_settings.ts";
import {
  deniedMessageLeavesNoAllow,
  driversSetConfigRefused,
  psqlCommandLexingRefused,
  rejectedParseLeavesNoStatement,
  unseenStatementsRefused,
} from "./_pg_parity_protocol.ts";

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
        const parity: Parity = { fx, parityToken, psql };

        await t.step(
          "psql: turning standard_conforming_strings off is refused, so the hidden DROP never runs",
          () => lexingSettingRefused(parity),
        );

        await t.step(
          "SET of search_path, role and session authorization is refused even when rules allow SET",
          () => pathAndRoleSetRefused(parity),
        );

        await t.step(
          "a server, database or role default the parser cannot mirror refuses the login with FATAL",
          () => unmirroredDefaultsRefuseLogin(parity),
        );

        await t.step(
          "a role's default search_path that shadows a built-in makes its calls no plain read",
          () => shadowingSearchPathIsNoRead(parity),
        );

        await t.step(
          "an extension's immutable overloads on the path do not make built-in calls suspect",
          () => extensionOverloadsNotSuspect(parity),
        );

        await t.step(
          "a role default that switches role refuses the login",
          () => roleSwitchingDefaultRefusesLogin(parity),
        );

        await t.step(
          "strict read-only: side effects in a SELECT are denied and change nothing",
          () => strictReadOnlySideEffectsDenied(parity),
        );

        await t.step(
          "a Bind or EXECUTE naming a statement the gateway did not see prepared is refused",
          () => unseenStatementsRefused(parity),
        );

        await t.step(
          "a Parse the server rejects leaves no statement a later Bind could name",
          () => rejectedParseLeavesNoStatement(parity),
        );

        await t.step(
          "node-postgres and postgres.js: set_config with a bound name is refused, settings unchanged",
          () => driversSetConfigRefused(parity),
        );

        await t.step(
          "a message denied as a whole leaves no allow receipt for its other statements",
          () => deniedMessageLeavesNoAllow(parity),
        );

        await t.step(
          "psql -c: each message is one Query; the lexing attack is refused the same way",
          () => psqlCommandLexingRefused(parity),
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
