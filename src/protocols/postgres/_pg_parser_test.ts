// The direct call into libpg-query's WASM must read exactly what the package's own parseSync
// reads: same trees, same syntax errors (with their positions), same refusals.
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { loadModule, parseSync } from "libpg-query";
import { isSqlError, loadPgParser, parsePg, PgSyntaxError } from "./_pg_parser.ts";

const STATEMENTS = [
  "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
  "WITH recent AS (SELECT * FROM events WHERE ts > $1), moved AS (DELETE FROM inbox WHERE id IN " +
  "(SELECT id FROM recent) RETURNING *) INSERT INTO archive SELECT * FROM moved",
  "select 1; select 2; DROP TABLE users",
  "SELECT 'héllo ☃ 𝄞', E'\\x41' AS \"Ünïcode\"",
  "COPY t FROM PROGRAM 'id'",
  // A tree larger than the WASM heap's first pages, so the heap may grow mid-call.
  "SELECT " + Array.from({ length: 3000 }, (_, i) => `c${i}`).join(", ") + " FROM wide",
];

Deno.test("parsePg() returns the tree libpg-query's parseSync returns", async () => {
  await Promise.all([loadModule(), loadPgParser()]);
  for (const sql of STATEMENTS) deepEqual(parsePg(sql), parseSync(sql), sql.slice(0, 40));
});

Deno.test("parsePg() throws the parser's syntax error, with its position, as a SQL error", async () => {
  await Promise.all([loadModule(), loadPgParser()]);
  for (const sql of ["SELEC 1", "SELECT * FROM t WHERE", "SELECT 'unterminated"]) {
    let theirs: { message: string; sqlDetails?: { cursorPosition?: number } } | undefined;
    try {
      parseSync(sql);
    } catch (e) {
      theirs = e as typeof theirs;
    }
    ok(theirs, `libpg-query accepted ${sql}`);
    const ours = (() => {
      try {
        parsePg(sql);
      } catch (e) {
        return e;
      }
    })();
    ok(ours instanceof PgSyntaxError && isSqlError(ours), `${sql}: ${ours}`);
    equal(ours.message, theirs!.message);
    equal(ours.cursorPosition, theirs!.sqlDetails?.cursorPosition);
  }
  // An empty text is refused as the package refuses it, and is not a SQL error.
  throws(() => parsePg(""), (e: Error) => !isSqlError(e) && /empty/.test(e.message));
  ok(!isSqlError(new Error("syntax error")), "any error passed for the parser's");
});
