/**
 * SQL facts cost per statement: `deno bench -A src/protocols/postgres/sql_facts_bench.ts`.
 *
 * "uncached" appends a unique comment to every text so each iteration parses and walks; "cached"
 * repeats one text, which is what pgbench-style traffic (the same parameterised statements over
 * and over) costs after warm-up. "parseSync only" is the bare parser, to show the walk's share.
 *
 * @module
 */

import { parseSync } from "libpg-query";
import { loadSqlParser, SqlAnalyzer } from "./sql_facts.ts";

await loadSqlParser();

const STATEMENTS: Record<string, string> = {
  "pgbench select": "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
  "pgbench update": "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
  "3-table join": "SELECT o.id, c.name, sum(i.qty * i.price) FROM orders o " +
    "JOIN customers c ON c.id = o.customer_id JOIN order_items i ON i.order_id = o.id " +
    "WHERE o.created_at > now() - interval '1 day' GROUP BY o.id, c.name ORDER BY 3 DESC LIMIT 50",
  "CTE": "WITH recent AS (SELECT * FROM events WHERE ts > $1), " +
    "moved AS (DELETE FROM inbox WHERE id IN (SELECT id FROM recent) RETURNING *) " +
    "INSERT INTO archive SELECT * FROM moved",
};

// Warm the WASM and JIT up so the first group does not pay for it.
const warm = new SqlAnalyzer({ cacheEntries: 0 });
for (let i = 0; i < 2000; i++) {
  for (const sql of Object.values(STATEMENTS)) warm.analyze(sql);
}

for (const [name, sql] of Object.entries(STATEMENTS)) {
  let p = 0;
  Deno.bench({ name: `${name} (parseSync only)`, group: name }, () => {
    parseSync(`${sql} -- ${p++}`);
  });
  const uncached = new SqlAnalyzer({ cacheEntries: 0 });
  let n = 0;
  Deno.bench({ name: `${name} (uncached)`, group: name, baseline: true }, () => {
    // A trailing comment keeps the facts identical while making every text distinct.
    const r = uncached.analyze(`${sql} -- ${n++}`);
    if (!r.ok) throw new Error(r.error);
  });
  const cached = new SqlAnalyzer();
  cached.analyze(sql);
  Deno.bench({ name: `${name} (cached)`, group: name }, () => {
    const r = cached.analyze(sql);
    if (!r.ok) throw new Error(r.error);
  });
}
