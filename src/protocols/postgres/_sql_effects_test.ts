import { deepEqual, equal, match, ok } from "node:assert/strict";
import { loadSqlParser, SqlAnalyzer, type StatementFacts } from "./sql_facts.ts";
import { regclassName } from "./_sql_effects.ts";

await loadSqlParser();

function one(sql: string, analyzer = new SqlAnalyzer()): StatementFacts {
  const r = analyzer.analyze(sql);
  if (!r.ok) throw new Error(`expected ok for ${JSON.stringify(sql)}, got ${r.error}`);
  equal(r.statements.length, 1, sql);
  return r.statements[0];
}

Deno.test("settings: every way to change a setting names it, lowercase", () => {
  const cases: [string, string[]][] = [
    ["SET search_path = evil, pg_catalog", ["search_path"]],
    ["set local Search_Path to x", ["search_path"]],
    ["SET SCHEMA 'evil'", ["search_path"]],
    ["SET ROLE admin", ["role"]],
    ["SET SESSION AUTHORIZATION admin", ["session_authorization"]],
    ["SET NAMES 'LATIN1'", ["client_encoding"]],
    ["RESET search_path", ["search_path"]],
    ["RESET ALL", ["all"]],
    ["SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", [
      "transaction_isolation",
      "transaction_read_only",
    ]],
    ["select set_config('Standard_Conforming_Strings', 'off', false)", [
      "standard_conforming_strings",
    ]],
    ["select pg_catalog.set_config('role', 'x', true)", ["role"]],
    ["select evil.set_config('role', 'x', true)", ["role"]],
    ["select set_config(name, 'x', false) from t", ["*"]],
    ["ALTER SYSTEM SET standard_conforming_strings = off", ["standard_conforming_strings"]],
    ["ALTER ROLE r SET search_path = x", ["search_path"]],
    ["ALTER DATABASE d SET backslash_quote = on", ["backslash_quote"]],
    ["SELECT 1", []],
  ];
  for (const [sql, settings] of cases) deepEqual(one(sql).settings, settings, sql);
});

Deno.test("pinned settings are refused before any rule; harmless ones and resets are not", () => {
  const refused = [
    "set standard_conforming_strings = off",
    "SET standard_conforming_strings TO 0",
    "select set_config('standard_conforming_strings', 'off', false)",
    "select set_config('STANDARD_CONFORMING_STRINGS', 'off', false)",
    "set backslash_quote = on",
    "set search_path = evil, pg_catalog",
    "select set_config('search_path', 'evil', false)",
    "set role postgres",
    "set session authorization postgres",
    "select set_config('role', 'postgres', false)",
    "select set_config(lower('ROLE'), 'postgres', false)",
    "set client_encoding = 'SJIS'",
    "select set_config('client_encoding', current_setting('x'), false)",
    "alter system set standard_conforming_strings = off",
    "update pg_settings set setting = '' where name = 'search_path'",
    "UPDATE pg_catalog.pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'",
  ];
  for (const sql of refused) ok(one(sql).refusal !== null, `${sql} should be refused`);
  match(one("set search_path = x").refusal!, /search_path.*which function or table/);
  const allowed = [
    "set statement_timeout = '5s'",
    "set standard_conforming_strings = on",
    "set client_encoding = 'UTF8'",
    "reset search_path",
    "reset role",
    "reset all",
    "set search_path to default",
    "select set_config('work_mem', '64MB', false)",
  ];
  for (const sql of allowed) equal(one(sql).refusal, null, sql);
});

Deno.test("a query text a built-in runs is parsed and its facts belong to the statement", () => {
  const s = one("select query_to_xml('delete from secrets returning 1', true, false, '')");
  deepEqual(s.verbs, ["select", "delete"]);
  ok(s.tables.includes("secrets"));
  equal(s.dynamic, false);
  equal(s.readOnly, false);
  const nested = one(
    "select query_to_xml('select query_to_xml(''select set_config(''''role'''', ''''x'''', false)'', true, false, '''')', true, false, '')",
  );
  ok(nested.refusal !== null, "a pinned change two texts deep is still refused");
  const computed = one("select query_to_xml(q, true, false, '') from queries");
  equal(computed.dynamic, true);
  deepEqual(computed.unknown, ["sql.tables"]);
  equal(computed.readOnly, false);
  const garbage = one("select query_to_xml('not sql at all', true, false, '')");
  equal(garbage.dynamic, true, "a text the parser rejects is unknown, so dynamic");
});

Deno.test("tables read through a relation name argument are tables of the statement", () => {
  const s = one(`select table_to_xml('public."Secrets"'::regclass, true, false, '')`);
  ok(s.tables.includes("public.Secrets") && s.tables.includes("Secrets"), String(s.tables));
  const computed = one("select table_to_xml(name::regclass, true, false, '') from t");
  deepEqual(computed.unknown, ["sql.tables"]);
  deepEqual(one("select schema_to_xml('public', true, false, '')").unknown, ["sql.tables"]);
});

Deno.test("regclassName() reads names as regclass input does", () => {
  deepEqual(regclassName("Secrets"), ["secrets"]);
  deepEqual(regclassName(` public."Se""c.rets" `), ["public", 'Se"c.rets']);
  deepEqual(regclassName("a.b.c"), ["a", "b", "c"]);
  equal(regclassName("a.b.c.d"), null);
  equal(regclassName("a b"), null);
  equal(regclassName('"unterminated'), null);
  equal(regclassName(""), null);
});

Deno.test("read_only: plain reads of built-ins only", () => {
  const reads = [
    "select lower(name), count(*) from users where id = 1 group by 1",
    "show search_path",
    "begin",
    "explain select * from t",
    "select now() - interval '1 day'",
    "select * from t where x between 1 and 2 and y not between symmetric 3 and 4",
    "select * from t where a in (1, 2) and b like 'x%' and c is distinct from d",
    "select nullif(a, 1), coalesce(a, 2), extract(year from d), substring(s from 1 for 2) from t",
    "select row_number() over (order by b), sum(x) filter (where y > 0) from t group by a",
    "select c.relname from pg_catalog.pg_class c where c.relname OPERATOR(pg_catalog.~) '^u' " +
    "COLLATE pg_catalog.default and pg_catalog.pg_table_is_visible(c.oid)",
    "declare c cursor for select * from t",
    "fetch 10 from c",
    "prepare p as select 1",
  ];
  for (const sql of reads) equal(one(sql).readOnly, true, sql);
  const notReads = [
    "select * from t for update",
    "select * into t2 from t",
    "select my_func(1)",
    "select public.lower('x')",
    `select "Lower"('x')`,
    "select 1 operator(public.===) 2",
    "select 'x'::public.mytype",
    "delete from t",
    "select set_config('work_mem', '1GB', false)",
    "do $$ begin end $$",
    "explain analyze delete from t",
    "select * from t for share",
    "select * from t order by x using operator(public.<<<)",
    "declare c cursor for select * from t for update",
    "prepare p as delete from t",
    "execute p",
  ];
  for (const sql of notReads) equal(one(sql).readOnly, false, sql);
});

Deno.test("facts that depend on constants are never reused for a text of the same shape", () => {
  const analyzer = new SqlAnalyzer();
  equal(one("select query_to_xml('select 1', true, false, '')", analyzer).readOnly, true);
  const later = one("select query_to_xml('delete from t returning 1', true, false, '')", analyzer);
  deepEqual(later.verbs, ["select", "delete"]);
  equal(one("select set_config('work_mem', '1MB', false)", analyzer).refusal, null);
  ok(one("select set_config('role', 'postgres', false)", analyzer).refusal !== null);
  equal(one("select table_to_xml('a', true, false, '')", analyzer).tables.includes("b"), false);
  ok(one("select table_to_xml('b', true, false, '')", analyzer).tables.includes("b"));
});

Deno.test("prepared statement uses are reported for the session's model", () => {
  deepEqual(one("PREPARE p (int) AS DELETE FROM t WHERE id = $1").preparedOps, [
    { op: "prepare", name: "p" },
  ]);
  deepEqual(one("PREPARE p AS DELETE FROM t").verbs, ["prepare", "delete"]);
  deepEqual(one("EXECUTE p(1)").preparedOps, [{ op: "execute", name: "p" }]);
  deepEqual(one("EXPLAIN ANALYZE EXECUTE p(1)").preparedOps, [{ op: "execute", name: "p" }]);
  deepEqual(one("DEALLOCATE p").preparedOps, [{ op: "deallocate", name: "p" }]);
  deepEqual(one("DEALLOCATE ALL").preparedOps, [{ op: "deallocate", name: null }]);
  deepEqual(one("DISCARD ALL").preparedOps, [{ op: "deallocate", name: null }]);
  deepEqual(one("DISCARD PLANS").preparedOps, []);
  ok(one("select query_to_xml('prepare x as select 1', true, false, '')").refusal !== null);
});
