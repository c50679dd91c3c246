// verifyChain() reads the chain a page at a time (`_seq_pages.ts`): the walk must see every row
// exactly once across page boundaries, however the table was tampered with there.

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { appendToReason, restoreReason, seededChain, tamper, withTempDir } from "./_testing.ts";
import { verifyChain } from "./verify.ts";
import { rowsInSeqOrder } from "./_seq_pages.ts";

/** More rows than two pages hold, so the walk crosses page boundaries twice. */
const ROWS = 2_500;

const seeded = (dir: string) => seededChain(dir, ROWS);

Deno.test("verifyChain() walks a chain longer than a page, and its outcomes", async () => {
  await withTempDir(async (dir) => {
    deepStrictEqual(verifyChain(await seeded(dir)), { ok: true, rows: ROWS });
  });
});

Deno.test("verifyChain() finds edits on either side of a page boundary", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir);
    for (const seq of [1000, 1001, 2000, 2001]) {
      tamper(path, appendToReason(seq));
      const result = verifyChain(path);
      equal(result.ok, false, `edit at ${seq}`);
      if (!result.ok) {
        equal(result.brokenSeq, seq);
        equal(result.rows, seq - 1);
        match(result.problem, /edited/);
      }
      tamper(path, restoreReason(seq));
      deepStrictEqual(verifyChain(path), { ok: true, rows: ROWS }, `restored ${seq}`);
    }
  });
});

Deno.test("verifyChain() finds a receipt deleted at a page boundary", async () => {
  await withTempDir(async (dir) => {
    const path = await seeded(dir);
    tamper(path, "DELETE FROM receipts WHERE seq = 1001");
    const result = verifyChain(path);
    equal(result.ok, false);
    if (!result.ok) match(result.problem, /jumps from 1000 to 1002/);
  });
});

Deno.test("verifyChain() finds a repeated seq at a page boundary in a table without its key", async () => {
  await withTempDir(async (dir) => {
    // A tamperer rebuilds the table without its primary key, so a seq can repeat; an exact copy
    // of the row a page ends on is the case a page reader could skip.
    for (const [n, copy] of ["", "json_set(canonical, '$.reason', 'forged')"].entries()) {
      await Deno.mkdir(`${dir}/${n}`);
      const path = await seeded(`${dir}/${n}`);
      tamper(
        path,
        `CREATE TABLE loose AS SELECT * FROM receipts;
        INSERT INTO loose SELECT * FROM receipts WHERE seq = 1000;
        UPDATE loose SET canonical = ${copy || "canonical"}
          WHERE rowid = (SELECT max(rowid) FROM loose);
        DROP TABLE receipts;
        ALTER TABLE loose RENAME TO receipts;`,
      );
      const result = verifyChain(path);
      equal(result.ok, false, `copy '${copy}'`);
      if (!result.ok) {
        equal(result.brokenSeq, 1000);
        match(result.problem, /jumps from 1000 to 1000|edited/);
      }
    }
  });
});

Deno.test("rowsInSeqOrder() reads rows by column name where statements cannot return arrays", async () => {
  await withTempDir(async (dir) => {
    const db = new DatabaseSync(await seeded(dir), { readOnly: true });
    try {
      // The same database, its statements without setReturnArrays.
      const objectsOnly = {
        prepare(sql: string) {
          const statement = db.prepare(sql);
          return new Proxy(statement, {
            get(target, key) {
              if (key === "setReturnArrays") return undefined;
              const value = Reflect.get(target, key);
              return typeof value === "function" ? value.bind(target) : value;
            },
          });
        },
      } as unknown as DatabaseSync;
      const shape = (column: (name: string) => number) => (r: unknown[]) => ({
        seq: r[column("seq")] as number,
        hash: r[column("hash")] as string,
      });
      const viaObjects = [...rowsInSeqOrder(objectsOnly, "receipts", shape)];
      const viaArrays = [...rowsInSeqOrder(db, "receipts", shape)];
      equal(viaObjects.length, ROWS);
      deepStrictEqual(viaObjects, viaArrays);
      deepStrictEqual(viaObjects.map((r) => r.seq), Array.from({ length: ROWS }, (_, i) => i + 1));
    } finally {
      db.close();
    }
  });
});
