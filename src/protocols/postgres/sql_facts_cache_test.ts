// The SqlAnalyzer's caches: hits and misses, eviction, size limits, frozen results.

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  lastTextMemo,
  loadSqlParser,
  type SqlAnalysis,
  SqlAnalyzer,
  sqlParserReady,
} from "./sql_facts.ts";

await loadSqlParser();

Deno.test("sql facts: the cache counts hits and misses", () => {
  const a = new SqlAnalyzer();
  const first = a.analyze("select 1");
  deepEqual(a.stats, { hits: 0, shapeHits: 0, misses: 1, size: 1 });
  const second = a.analyze("select 1");
  deepEqual(a.stats, { hits: 1, shapeHits: 0, misses: 1, size: 1 });
  ok(first === second, "a hit returns the cached object");
  a.analyze("selec 1");
  a.analyze("selec 1");
  deepEqual(a.stats, { hits: 2, shapeHits: 0, misses: 2, size: 2 });
  a.analyze("select 2");
  deepEqual(a.stats, { hits: 2, shapeHits: 1, misses: 2, size: 2 });
});

Deno.test("sql facts: the cache evicts beyond cacheEntries", () => {
  const a = new SqlAnalyzer({ cacheEntries: 2 });
  a.analyze("select a from t");
  a.analyze("select b from t");
  a.analyze("select a from t"); // refreshes "select a"
  a.analyze("select c from t"); // evicts "select b"
  equal(a.stats.size, 2);
  const hits = a.stats.hits;
  a.analyze("select a from t");
  equal(a.stats.hits, hits + 1);
  a.analyze("select b from t");
  equal(a.stats.hits, hits + 1, "select b was evicted");
});

Deno.test("sql facts: long texts are parsed but not cached", () => {
  const a = new SqlAnalyzer({ maxCachedTextBytes: 16 });
  ok(a.analyze("select 'short'").ok);
  ok(a.analyze("select 'a much longer text'").ok);
  equal(a.stats.size, 1);
  // Two UTF-8 bytes per 'é': the limit counts bytes, not characters.
  a.analyze("select 'é'"); // 10 characters, 11 bytes
  equal(a.stats.size, 2);
  a.analyze("select 'éééé'"); // 13 characters, 17 bytes
  equal(a.stats.size, 2);
});

Deno.test("sql facts: cached results are frozen", () => {
  const a = new SqlAnalyzer();
  const r: SqlAnalysis = a.analyze("select * from users");
  if (!r.ok) throw new Error(r.error);
  ok(Object.isFrozen(r));
  ok(Object.isFrozen(r.statements));
  ok(Object.isFrozen(r.statements[0]));
  ok(Object.isFrozen(r.statements[0].tables));
  throws(() => r.statements[0].tables.push("secrets"), TypeError);
  throws(() => {
    (r.statements[0] as { verb: string }).verb = "drop";
  }, TypeError);
  const err = a.analyze("selec");
  ok(Object.isFrozen(err));
  deepEqual(a.analyze("select * from users"), r);
});

Deno.test("sql facts: loadSqlParser is idempotent and sqlParserReady reports it", async () => {
  await Promise.all([loadSqlParser(), loadSqlParser()]);
  equal(sqlParserReady(), true);
});

Deno.test("lastTextMemo() parses a text read twice in a row once, also when too large to cache", () => {
  const analyzer = new SqlAnalyzer({ cacheEntries: 0, shapeEntries: 0 });
  const memo = lastTextMemo(analyzer);
  const first = memo.analyze("select 1");
  equal(memo.analyze("select 1"), first);
  equal(analyzer.stats.misses, 1);
  memo.analyze("select 2");
  equal(analyzer.stats.misses, 2);
});

Deno.test("sql facts: results from a known shape are frozen all the way down", async () => {
  await loadSqlParser();
  const a = new SqlAnalyzer();
  a.analyze("select name from users where id = 1");
  const r = a.analyze("select name from users where id = 2");
  equal(a.stats.shapeHits, 1);
  ok(r.ok);
  ok(Object.isFrozen(r) && Object.isFrozen(r.statements) && Object.isFrozen(r.statements[0]));
  const s = r.statements[0];
  for (const list of [s.verbs, s.tables, s.functions, s.settings, s.unknown, s.preparedOps]) {
    ok(Object.isFrozen(list));
  }
  equal(s.statement, "select name from users where id = 2");
});
