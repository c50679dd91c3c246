/**
 * The SQL differential oracle (`_sql_oracle.ts`) in CI: a fixed-seed slice of generated texts
 * must show no disagreement between the gateway's reading of SQL and PostgreSQL's, and focused
 * checks show the oracle itself works: it catches a gateway that lets the historic
 * standard_conforming_strings bypass through, stays quiet on a known-good session, and its
 * CommandComplete tag → verb table matches what a real server reports for every statement kind.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadSqlParser, SqlAnalyzer } from "../src/protocols/postgres/sql_facts.ts";
import { query } from "../src/protocols/postgres/_encode.ts";
import { RawPg } from "./_pg_raw.ts";
import { type PgCluster, postgresAvailable, startPostgres } from "./_postgres.ts";
import {
  type Failure,
  GATEWAY,
  type GatewayModel,
  runOracle,
  statementsMismatch,
  TAG_VERBS,
  verbsForTag,
} from "./_sql_oracle.ts";

/** Fixed so a CI failure reproduces with `deno task fuzz:sql -- --seed N --count N --mode M`. */
const SLICE = [
  { seed: 20240601, count: 14_000, mode: "all" as const },
  { seed: 20240602, count: 6_000, mode: "readonly" as const },
];

/** The bypass that motivated pinning: set_config turns scs off, then `\'` hides a statement. */
const BYPASS = [
  "select set_config('standard_conforming_strings','off',false)",
  "select 'a\\' , $$' ; drop table users; -- $$",
];

/** A gateway that forgot its refusals and never looks at ParameterStatus: the bug to catch. */
const IGNORES_REFUSALS: GatewayModel = {
  analyzer: GATEWAY.analyzer,
  forwards: (a, mode) => a.ok && (mode === "all" || a.statements.every((s) => s.readOnly)),
  endsOnLexingChange: false,
};

const describe = (fs: Failure[]) =>
  fs.slice(0, 10).map((f) =>
    `${f.kind}: ${JSON.stringify(f.minimal?.text ?? f.text)} after ${
      JSON.stringify(f.minimal?.prefix ?? f.prefix.slice(-3))
    }\n  ${f.detail.replaceAll("\n", "\n  ")}`
  ).join("\n");

/**
 * Statements run directly (autocommit, as superuser) to see the tag the server reports for each
 * kind; each must map onto the verb the gateway gives it.
 */
const TAG_STATEMENTS = [
  "create table tt (id int primary key, v text)",
  "select 1",
  "values (1)",
  "table tt",
  "insert into tt values (1, 'a')",
  "update tt set v = 'b'",
  "delete from tt where id = 2",
  "merge into tt using (select 1 id) s on tt.id = s.id when matched then do nothing",
  "begin",
  "savepoint s1",
  "release s1",
  "savepoint s2",
  "rollback to s2",
  "set constraints all deferred",
  "lock tt",
  "declare c1 cursor for select 1",
  "fetch c1",
  "move c1",
  "close c1",
  "close all",
  "commit",
  "start transaction",
  "select 1/0",
  "commit",
  "begin",
  "prepare transaction 'p1'",
  "commit prepared 'p1'",
  "begin",
  "prepare transaction 'p2'",
  "rollback prepared 'p2'",
  "end",
  "abort",
  "set work_mem = '8MB'",
  "reset work_mem",
  "create role rr",
  "set role rr",
  "reset role",
  "set session authorization default",
  "show work_mem",
  "discard all",
  "discard plans",
  "discard sequences",
  "discard temp",
  "prepare q1 as insert into tt values (5, 'e')",
  "execute q1",
  "deallocate q1",
  "deallocate all",
  "explain select 1",
  "do $$ begin end $$",
  "create procedure pr() language sql as $$ select 1 $$",
  "call pr()",
  "copy tt to stdout",
  "listen ch",
  "notify ch",
  "unlisten ch",
  "truncate tt",
  "comment on table tt is 'x'",
  "grant select on tt to public",
  "revoke select on tt from public",
  "grant rr to current_user",
  "revoke rr from current_user",
  "vacuum tt",
  "analyze tt",
  "cluster tt using tt_pkey",
  "reindex table tt",
  "checkpoint",
  "load 'plpgsql'",
  "create materialized view mv as select 1",
  "refresh materialized view mv",
  "create table t2 as select 1",
  "create table t3 as select 1 with no data",
  "select 1 into t4",
  "alter table tt add column w int",
  "alter system set work_mem = '4MB'",
  "alter system reset work_mem",
  "reassign owned by rr to current_user",
  "drop owned by rr",
  "drop table t2",
];

/** Tags no statement above can produce here (no label provider, no FDW; DISCARD needs a target). */
const UNREACHED = ["DISCARD", "SECURITY LABEL", "IMPORT FOREIGN SCHEMA"];

async function tagsOf(pg: PgCluster): Promise<{ text: string; tags: string[]; error: boolean }[]> {
  await pg.sql("create database tagcheck");
  const conn = await RawPg.login(pg.port, pg.superuser, pg.superpassword, "tagcheck");
  const out = [];
  try {
    for (const text of TAG_STATEMENTS) {
      await conn.send(query(text));
      const seen = await conn.untilReady();
      const dec = new TextDecoder();
      const tags = seen.filter((s) => s.type === "C").map((s) =>
        dec.decode(s.frame.body).slice(0, -1)
      );
      out.push({ text, tags, error: seen.some((s) => s.type === "E") });
    }
  } finally {
    conn.close();
  }
  return out;
}

Deno.test({
  name: "SQL differential oracle: gateway and PostgreSQL agree",
  ignore: !postgresAvailable(),
}, async (t) => {
  // Cleartext logins let the tag check use RawPg.login; prepared transactions cover their tags.
  const pg = await startPostgres({ hba: "password", settings: { max_prepared_transactions: "2" } });
  try {
    await t.step("CommandComplete tag → verb table", async () => {
      await loadSqlParser();
      assert.deepEqual(verbsForTag("INSERT 0 12"), ["insert", "execute"]);
      assert.deepEqual(verbsForTag("SELECT 3"), ["select", "create", "execute"]);
      assert.deepEqual(verbsForTag("CREATE TABLE AS"), ["create"]);
      assert.deepEqual(verbsForTag("DROP OWNED"), ["drop"]);
      assert.deepEqual(verbsForTag("FROBNICATE"), []);
      assert.ok(verbsForTag("ROLLBACK").includes("commit"), "COMMIT of a failed transaction");
      const analyzer = new SqlAnalyzer();
      const facts = (text: string) => {
        const r = analyzer.analyze(text);
        assert.ok(r.ok, `${text}: ${!r.ok && r.error}`);
        return r.statements;
      };
      assert.match(
        statementsMismatch(facts("select 1"), ["SELECT 1", "DROP TABLE"], false)!,
        /ran/,
      );
      assert.match(statementsMismatch(facts("select 1; select 2"), ["SELECT 1"], false)!, /ran/);
      assert.equal(statementsMismatch(facts("select 1; select 2"), ["SELECT 1"], true), null);
      // A failed statement ran too: one more than the tags show.
      assert.match(statementsMismatch(facts("select 1"), ["SELECT 1"], true)!, /then failed/);
      assert.match(statementsMismatch(facts("drop table x"), ["DELETE 0"], false)!, /statement 1/);
      const seen = new Set<string>();
      for (const { text, tags, error } of await tagsOf(pg)) {
        assert.equal(statementsMismatch(facts(text), tags, error), null, text);
        for (const tag of tags) {
          seen.add(tag.replace(/^INSERT \d+ \d+$/, "INSERT").replace(/ \d+$/, ""));
        }
      }
      const missing = Object.keys(TAG_VERBS).filter((t) => !seen.has(t) && !UNREACHED.includes(t));
      assert.deepEqual(missing, [], "every tag in the table is checked against a real server");
    });

    await t.step("a known-good session shows no failure", async () => {
      const session = [
        "select 1",
        ...BYPASS,
        "begin; insert into orders values (99, 1, 1, 'x'); commit",
        "set search_path = evil, public",
        "select count(*) from orders; reset all",
      ];
      const r = await runOracle({ cluster: pg, sessions: [session] });
      assert.deepEqual(r.failures, []);
      assert.deepEqual([r.forwarded, r.refused], [4, 2]);
      assert.equal(r.tags["DROP TABLE"], undefined, "the hidden statement never ran");
      const ro = await runOracle({ cluster: pg, sessions: [session], mode: "readonly" });
      assert.deepEqual(ro.failures, []);
      assert.deepEqual([ro.forwarded, ro.refused], [2, 4]);
    });

    await t.step(
      "a gateway that ignores refusals is caught, and the shrunk text reproduces",
      async () => {
        const r = await runOracle({ cluster: pg, sessions: [BYPASS], gateway: IGNORES_REFUSALS });
        assert.deepEqual(
          r.failures.map((f) => f.kind),
          ["pinned", "statements"],
          describe(r.failures),
        );
        const hidden = r.failures[1];
        assert.match(hidden.detail, /server ran \[SELECT 1, DROP TABLE\]; gateway saw \[select\]/);
        assert.ok(hidden.minimal, "the failure was shrunk");
        assert.ok(hidden.minimal.text.length <= BYPASS[1].length);
        assert.ok(hidden.minimal.prefix.length <= 1);
        const again = await runOracle({
          cluster: pg,
          sessions: [[...hidden.minimal.prefix, hidden.minimal.text]],
          gateway: IGNORES_REFUSALS,
          shrinkPerKind: 0,
        });
        assert.ok(again.failures.some((f) => f.kind === "statements"), describe(again.failures));
        // The gateway's other guard: the server's ParameterStatus ends the session first.
        const guarded = { ...IGNORES_REFUSALS, endsOnLexingChange: true };
        const ended = await runOracle({ cluster: pg, sessions: [BYPASS], gateway: guarded });
        assert.deepEqual(ended.failures.map((f) => f.kind), ["pinned"]);
        assert.equal(ended.forwarded, 1);
      },
    );

    for (const slice of SLICE) {
      await t.step(
        `${slice.count} generated texts (${slice.mode}, seed ${slice.seed})`,
        async () => {
          const r = await runOracle({ cluster: pg, ...slice });
          assert.equal(r.texts, slice.count);
          assert.ok(r.forwarded > slice.count / 5 && r.refused > 0, `${r.forwarded} forwarded`);
          assert.ok(r.stats.shapeChecks > slice.count / 50, `${r.stats.shapeChecks} shape checks`);
          assert.equal(r.failures.length, 0, describe(r.failures));
        },
      );
    }
  } finally {
    await pg.stop();
  }
});
