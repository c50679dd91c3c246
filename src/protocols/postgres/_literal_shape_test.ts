import { deepEqual, equal, ok } from "node:assert/strict";
import { literalShape } from "./_literal_shape.ts";
import { loadSqlParser, SqlAnalyzer } from "./sql_facts.ts";

await loadSqlParser();

const S = "\u0001s";
const I = "\u0001i";
const F = "\u0001f";

Deno.test("literalShape blanks strings and numbers by kind, and keeps everything else", () => {
  const cases: [string, string][] = [
    ["select 1", `select ${I}`],
    ["select * from t where a = 'x' and b = 2.5", `select * from t where a = ${S} and b = ${F}`],
    ["select 'it''s', \"a\"\"b\"", `select ${S}, "a""b"`],
    ["select 2147483647, 2147483648", `select ${I}, ${F}`],
    ["select 0000000000002147483647, 1e5, 1E-3", `select ${I}, ${F}, ${F}`],
    ["select 0, 00, 02147483648, 9999999999", `select ${I}, ${I}, ${F}, ${F}`],
    ["select t1.c2 from t1 where x = $1", "select t1.c2 from t1 where x = $1"],
    ["-- it's 42\nselect 1", `-- it's 42\nselect ${I}`],
    ["/* a /* nested 'x' */ 7 */ select 'y'", `/* a /* nested 'x' */ 7 */ select ${S}`],
    ["select 'a'\n'b'", `select ${S}\n${S}`],
    ["select -1::int, x-1", `select -${I}::int, x-${I}`],
    ["select date '2020-01-01', interval '1 day'", `select date ${S}, interval ${S}`],
    ["select a$b, \"t\"'x'", `select a$b, "t"${S}`],
  ];
  for (const [sql, shape] of cases) equal(literalShape(sql), shape, sql);
});

Deno.test("literalShape returns null wherever its reading could differ from PostgreSQL's", () => {
  const unsure = [
    "select $$x$$",
    "select $tag$ 'x' $tag$",
    "select $",
    "select $1abc",
    "select E'\\n'",
    "select e'x'",
    "select B'101'",
    "select X'1F'",
    "select N'x'",
    "select U&'d\\0061t\\+000061'",
    "select * from U&\"d!0061ta\" UESCAPE '!'",
    "select 'a\\'",
    "select 1 \\g",
    "select 0x1F",
    "select 1_000",
    "select .5",
    "select 1.",
    "select 1..2",
    "select 1e",
    "select 1e+",
    "select 12abc",
    "select 1.2.3",
    "select 1'x'",
    "select 'é'",
    "select 1 -- é",
    "select 'a\0'",
    "select 1\u0001",
    "select 'open",
    'select "open',
    "select 1 /* open",
    "select 1 /* /* */",
  ];
  for (const sql of unsure) equal(literalShape(sql), null, sql);
});

Deno.test("literalShape returns a text without constants unchanged", () => {
  const sql = "select a, b from t join u using (id) where x = $1";
  ok(literalShape(sql) === sql);
});

/**
 * The property the shape cache rests on: after a text of the same shape was analysed, the
 * analyzer returns exactly what a full parse of the new text gives, including for constants
 * that look like SQL.
 */
Deno.test("a shape hit gives the same facts as parsing the text in full", () => {
  const templates = [
    "select * from users where id = {i}",
    "SELECT abalance FROM pgbench_accounts WHERE aid = {i};",
    "select {s}::regclass, nextval({s})",
    "copy t to program {s}",
    "set role {s}",
    "set session authorization {s}",
    "select set_config({s}, {s}, false)",
    "do {s}",
    "select * from t limit {i} offset {i}",
    "create function f() returns int language sql as {s}",
    "comment on table t is {s}",
    "select * from t where a in ({i}, {f}, {s})",
    "with d as (delete from t where id = {i} returning *) select * from d",
    "update accounts set balance = balance - {f} where id = {i}",
    "insert into t (a, b) values ({i}, {s}) on conflict (a) do update set b = {s}",
    "select {s}\n{s} as joined",
    "prepare p as select {i}",
    "execute p({i})",
    "fetch {i} from c",
    "select * from t -- trailing {s}\n where a = {i}",
    "select pg_read_file({s}), pg_sleep({f})",
    "explain analyze delete from t where id = {i}",
    "lock table t in access exclusive mode",
  ];
  const values = [
    { s: "'x'", i: "1", f: "1.5" },
    { s: "'; drop table users; --'", i: "2147483647", f: "9e9" },
    { s: "'x'' or ''1''=''1'", i: "42", f: "0.0001" },
    { s: "'role'", i: "2147483648", f: "3.25" },
  ];
  const fill = (t: string, v: { s: string; i: string; f: string }) =>
    t.replaceAll("{s}", v.s).replaceAll("{i}", v.i).replaceAll("{f}", v.f);
  const analyzer = new SqlAnalyzer();
  let shapeHits = 0;
  for (const template of templates) {
    for (const v of values) {
      const sql = fill(template, v);
      const before = analyzer.stats.shapeHits;
      const got = analyzer.analyze(sql);
      shapeHits += analyzer.stats.shapeHits - before;
      const fresh = new SqlAnalyzer({ cacheEntries: 0, shapeEntries: 0 }).analyze(sql);
      deepEqual(got, fresh, sql);
    }
  }
  // Most variants must have come from the shape cache, or this test proves nothing.
  ok(shapeHits >= templates.length, `only ${shapeHits} shape hits`);
});

Deno.test("shapes are kept only for one statement spanning the whole text", () => {
  const a = new SqlAnalyzer();
  a.analyze("select 1; drop table t");
  const r = a.analyze("select 2; drop table t");
  equal(a.stats.shapeHits, 0);
  ok(r.ok && r.statements.length === 2 && r.statements[1].verb === "drop");
  a.analyze(";select 1");
  a.analyze(";select 2");
  equal(a.stats.shapeHits, 0, "a statement not spanning the text is parsed again");
  a.analyze("select 1;");
  const hit = a.analyze("select 22;");
  equal(a.stats.shapeHits, 1);
  ok(hit.ok);
  equal(hit.statements[0].statement, "select 22");
  ok(Object.isFrozen(hit.statements[0]) && Object.isFrozen(hit.statements[0].verbs));
});

Deno.test("a shape never turns a parse error into facts", () => {
  const a = new SqlAnalyzer();
  // FETCH takes an int4 count: 2147483648 is numeric, a different shape, and fails to parse.
  ok(a.analyze("fetch 5 from c").ok);
  const big = "fetch 2147483648 from c";
  deepEqual(a.analyze(big), new SqlAnalyzer({ cacheEntries: 0, shapeEntries: 0 }).analyze(big));
  equal(a.analyze("selec 1").ok, false);
  equal(a.analyze("selec 2").ok, false);
  equal(a.stats.shapeHits, 0);
});
