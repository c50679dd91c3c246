/**
 * SQL facts cost for bench/postgres.ts: `SqlAnalyzer.analyze()` on typical statements, uncached
 * (a unique trailing comment per call, so every call parses and walks); the parser alone on those
 * same texts (libpg-query's `parseSync`: the floor under the uncached path, the rest being the
 * walk); with a new constant every call (`aid = 17`, then `aid = 18`: the statement's shape is
 * known, so no parse; what `pgbench -M simple` and clients that inline values send); and cached
 * (one text).
 *
 * Uncached calls are timed one by one (a call is ~10–100 µs; the clock costs ~0.2 µs). A cached
 * call is a Map lookup well under the clock's own cost, so each cached sample is the mean of a
 * batch of {@linkcode CACHED_BATCH} calls: its p99 is the p99 of batch means, not of single calls.
 *
 * @module
 */

import { parseSync } from "libpg-query";
import { loadSqlParser, SqlAnalyzer } from "../src/protocols/postgres/mod.ts";

/** The statements measured, as the gateway sees them. */
export const STATEMENTS: Record<string, string> = {
  "pgbench select": "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
  "pgbench update": "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
  "3-table join": "SELECT o.id, c.name, sum(i.qty * i.price) FROM orders o " +
    "JOIN customers c ON c.id = o.customer_id JOIN order_items i ON i.order_id = o.id " +
    "WHERE o.created_at > now() - interval '1 day' GROUP BY o.id, c.name ORDER BY 3 DESC LIMIT 50",
  "CTE with DELETE": "WITH recent AS (SELECT * FROM events WHERE ts > $1), " +
    "moved AS (DELETE FROM inbox WHERE id IN (SELECT id FROM recent) RETURNING *) " +
    "INSERT INTO archive SELECT * FROM moved",
};

const CACHED_BATCH = 100;

/** p50/p99 in µs for one statement. */
export interface FactsRow {
  name: string;
  uncached: { p50: number; p99: number };
  /** libpg-query's `parseSync` alone on the same unique texts: the floor under `uncached`. */
  parser: { p50: number; p99: number };
  /** A text seen before apart from its constants, timed between the other calls (caches cold). */
  shaped: { p50: number; p99: number };
  /** The same, call after call as one session sends them (caches warm). */
  shapedInARow: { p50: number; p99: number };
  cached: { p50: number; p99: number };
}

/** `sql` with its parameters (and LIMIT) inlined as the constant `n`. */
function withConstant(sql: string, n: number): string {
  return sql.replace(/\$\d+|LIMIT \d+/g, (m) => m.startsWith("$") ? String(n) : `LIMIT ${n}`);
}

/** The `q` quantile (0..1) of `xs`, nearest rank. */
export function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function check(r: ReturnType<SqlAnalyzer["analyze"]>): void {
  if (!r.ok) throw new Error(`SQL facts bench: ${r.error}`);
}

/**
 * Measures every statement, `samples` samples each; the statements take turns per sample so
 * machine noise lands on all of them alike.
 */
export async function measureFacts(samples: number): Promise<FactsRow[]> {
  await loadSqlParser();
  const entries = Object.entries(STATEMENTS);
  // Warm the WASM parser and the JIT first, on an analyzer without a cache.
  const warm = new SqlAnalyzer({ cacheEntries: 0 });
  for (let i = 0; i < 1_000; i++) for (const [, sql] of entries) check(warm.analyze(sql));

  // The gateway's own default cache size; the unique texts churn through it as they would.
  const uncachedAnalyzer = new SqlAnalyzer();
  const shapedAnalyzer = new SqlAnalyzer();
  const cachedAnalyzer = new SqlAnalyzer();
  for (const [, sql] of entries) {
    check(cachedAnalyzer.analyze(sql));
    check(shapedAnalyzer.analyze(withConstant(sql, 1)));
  }
  const uncached = entries.map(() => new Array<number>(samples));
  const parser = entries.map(() => new Array<number>(samples));
  const shaped = entries.map(() => new Array<number>(samples));
  const cached = entries.map(() => new Array<number>(samples));
  let n = 0;
  for (let i = 0; i < samples; i++) {
    for (let s = 0; s < entries.length; s++) {
      const sql = entries[s][1];
      // A trailing comment keeps the facts identical while making every text distinct.
      const text = `${sql} -- ${n++}`;
      let t = performance.now();
      const r = uncachedAnalyzer.analyze(text);
      uncached[s][i] = (performance.now() - t) * 1000;
      check(r);
      t = performance.now();
      parseSync(`${text} `);
      parser[s][i] = (performance.now() - t) * 1000;
      const inlined = withConstant(sql, n + 2);
      t = performance.now();
      const shapedResult = shapedAnalyzer.analyze(inlined);
      shaped[s][i] = (performance.now() - t) * 1000;
      check(shapedResult);
      t = performance.now();
      for (let b = 0; b < CACHED_BATCH; b++) cachedAnalyzer.analyze(sql);
      cached[s][i] = (performance.now() - t) * 1000 / CACHED_BATCH;
    }
  }
  const { hits, misses } = uncachedAnalyzer.stats;
  if (hits !== 0 || misses !== samples * entries.length) {
    throw new Error(`SQL facts bench: 'uncached' hit the cache (${hits} hits, ${misses} misses)`);
  }
  // What a session sending one statement shape after another sees: nothing in between.
  const inARow = entries.map(([, sql]) => {
    const times = new Array<number>(samples);
    for (let i = 0; i < samples; i++) {
      const inlined = withConstant(sql, n++ + 2);
      const t = performance.now();
      const r = shapedAnalyzer.analyze(inlined);
      times[i] = (performance.now() - t) * 1000;
      check(r);
    }
    return times;
  });
  const { shapeHits } = shapedAnalyzer.stats;
  if (shapeHits !== 2 * samples * entries.length) {
    throw new Error(`SQL facts bench: only ${shapeHits} of the new-constant calls hit a shape`);
  }
  return entries.map(([name], s) => ({
    name,
    uncached: { p50: quantile(uncached[s], 0.5), p99: quantile(uncached[s], 0.99) },
    parser: { p50: quantile(parser[s], 0.5), p99: quantile(parser[s], 0.99) },
    shaped: { p50: quantile(shaped[s], 0.5), p99: quantile(shaped[s], 0.99) },
    shapedInARow: { p50: quantile(inARow[s], 0.5), p99: quantile(inARow[s], 0.99) },
    cached: { p50: quantile(cached[s], 0.5), p99: quantile(cached[s], 0.99) },
  }));
}
