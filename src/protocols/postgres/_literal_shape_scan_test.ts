/**
 * `literalShape` passes over runs of plain text with one native scan; the character-at-a-time
 * scanner it replaced (`_literal_shape_testing.ts`) is the reference it must equal on every text:
 * generated ones built from the pieces each branch reads, and real statements cut and spliced.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { literalShape, MARK } from "./_literal_shape.ts";
import { literalShapeByCharacter } from "./_literal_shape_testing.ts";

/** mulberry32: a small seeded generator, so a failure names a reproducible case. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What texts are built from: every character class, and the pairs that open something. */
const PIECES = [
  ..."aEeUXBNx_zQ0123456789$'\"-/*.\\&+ \n\r\t\f;(),=<>:[]^`{|}~!#%?@",
  "\u0001",
  "\u007f",
  "\u0000",
  "é",
  "€",
  "--",
  "/*",
  "*/",
  "''",
  '""',
  "$1",
  "$$",
  "$a$",
  "1.5",
  ".5",
  "1.",
  "1e5",
  "1E-3",
  "1e",
  "0x1F",
  "1_000",
  "U&",
  "E'",
  "2147483647",
  "2147483648",
  "007",
  "select ",
  " from t ",
  "where id = ",
  "o.id",
  "t1.c2",
  "a$b",
  "'it''s'",
  '"Quoted ""x"""',
  "-- note\n",
  "/* a /* b */ c */",
];

const STATEMENTS = [
  "SELECT abalance FROM pgbench_accounts WHERE aid = 17",
  "UPDATE pgbench_accounts SET abalance = abalance + -5 WHERE aid = 3",
  "SELECT o.id, c.name, sum(i.qty * i.price) FROM orders o JOIN customers c ON c.id = " +
  "o.customer_id WHERE o.created_at > now() - interval '1 day' GROUP BY 1 ORDER BY 3 DESC LIMIT 50",
  "WITH r AS (SELECT * FROM events WHERE ts > 1.5e3) DELETE FROM inbox WHERE id IN (SELECT id FROM r)",
  "select $1::int, 'a'\n'b', \"T1\".x2 from t1 -- c 5\nwhere y/2 = 4 /* 7 */",
];

function same(sql: string): void {
  equal(literalShape(sql), literalShapeByCharacter(sql), JSON.stringify(sql));
}

Deno.test("literalShape equals the character-at-a-time scan on generated texts", () => {
  const next = random(0x5eed);
  let shaped = 0;
  let marked = 0;
  for (let n = 0; n < 30_000; n++) {
    let sql = "";
    const length = Math.floor(next() * 24);
    for (let k = 0; k < length; k++) sql += PIECES[Math.floor(next() * PIECES.length)];
    same(sql);
    const shape = literalShape(sql);
    if (shape !== null) shaped++;
    if (shape?.includes(MARK)) marked++;
  }
  // Both answers must be common, or the comparison proves little.
  ok(shaped >= 3_000, `only ${shaped} texts had a shape`);
  ok(marked >= 1_000, `only ${marked} shapes blanked a constant`);
});

Deno.test("literalShape equals the character-at-a-time scan on real statements cut and spliced", () => {
  const next = random(0xc0ffee);
  for (const sql of STATEMENTS) {
    same(sql);
    for (let i = 0; i <= sql.length; i++) {
      same(sql.slice(0, i));
      same(sql.slice(i));
    }
  }
  for (let n = 0; n < 20_000; n++) {
    const base = STATEMENTS[Math.floor(next() * STATEMENTS.length)];
    const at = Math.floor(next() * (base.length + 1));
    const cut = Math.floor(next() * 4);
    const piece = PIECES[Math.floor(next() * PIECES.length)];
    same(base.slice(0, at) + piece + base.slice(at + cut));
  }
});
