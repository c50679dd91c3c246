// verifyChainParallel() splits the receipts into parts walked on their own threads. Whatever a
// tamperer does, its answer must be verifyChain()'s; and an intact chain must be answered by the
// parts, not by the one-thread walk it falls back to.

import { deepStrictEqual, equal } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { appendToReason, restoreReason, seededChain, tamper, withTempDir } from "./_testing.ts";
import { chainHash, claimedPrevHash } from "./_chain_text.ts";
import { outcomeHash, type StoredOutcome } from "./_outcome.ts";
import { pruneBatch } from "./prune.ts";
import { verifyChain } from "./verify.ts";
import {
  type ParallelVerifyOptions,
  type ParallelVerifyReport,
  verifyChainParallel,
  verifyWith,
} from "./verify_parallel.ts";

/** Three parts of 1,000 receipts: (0, 1000], (1000, 2000], (2000, 3000]. */
const ROWS = 3_000;
const THREE: ParallelVerifyOptions = { threads: 3, minRowsPerThread: 500 };

/** The parallel answer, checked against the one-thread walk; and how it was reached. */
async function both(path: string, options = THREE) {
  let how: ParallelVerifyReport | undefined;
  const result = await verifyChainParallel(path, { ...options, report: (r) => how = r });
  deepStrictEqual(result, verifyChain(path));
  return { result, how: how! };
}

Deno.test("verifyChainParallel() answers an intact chain from its parts", async () => {
  await withTempDir(async (dir) => {
    const path = await seededChain(dir, ROWS);
    for (const threads of [2, 3, 4]) {
      const { result, how } = await both(path, { threads, minRowsPerThread: 500 });
      deepStrictEqual(result, { ok: true, rows: ROWS });
      deepStrictEqual(how, { parts: threads, serial: false }, `${threads} threads`);
    }
    // Too few receipts per thread: one walk.
    deepStrictEqual((await both(path, { threads: 4, minRowsPerThread: 1_000 })).how, {
      parts: 3,
      serial: false,
    });
    deepStrictEqual((await both(path, { threads: 4, minRowsPerThread: 2_000 })).how, {
      parts: 1,
      serial: true,
    });
  });
});

Deno.test("verifyChainParallel() answers an edit inside or at the edge of any part as verifyChain() does", async () => {
  await withTempDir(async (dir) => {
    const path = await seededChain(dir, ROWS);
    for (const seq of [1, 999, 1000, 1001, 2001, 3000]) {
      tamper(path, appendToReason(seq));
      const { result, how } = await both(path);
      equal(result.ok, false, `edit at ${seq}`);
      if (!result.ok) equal(result.brokenSeq, seq);
      equal(how.serial, true);
      tamper(path, restoreReason(seq));
    }
  });
});

Deno.test("verifyChainParallel() finds a receipt deleted at either side of a part's edge", async () => {
  for (const seq of [1000, 1001, 1]) {
    await withTempDir(async (dir) => {
      const path = await seededChain(dir, ROWS);
      tamper(path, `DELETE FROM receipts WHERE seq = ${seq}`);
      const { result } = await both(path);
      equal(result.ok, false, `deleted ${seq}`);
    });
  }
});

/** Rewrites every receipt from `seq` on, chained onto `prevHash`, each hash recomputed. */
function rechain(path: string, seq: number, prevHash: string): void {
  const db = new DatabaseSync(path);
  try {
    const rows = db.prepare("SELECT seq, canonical FROM receipts WHERE seq >= ? ORDER BY seq")
      .all(seq) as { seq: number; canonical: string }[];
    const update = db.prepare("UPDATE receipts SET canonical = ?, hash = ? WHERE seq = ?");
    db.exec("BEGIN");
    for (const row of rows) {
      const claimed = `"prev_hash":"${claimedPrevHash(row.canonical)}"`;
      const canonical = row.canonical.replace(claimed, `"prev_hash":"${prevHash}"`);
      prevHash = chainHash(prevHash, canonical);
      update.run(canonical, prevHash, row.seq);
    }
    db.exec("COMMIT");
  } finally {
    db.close();
  }
}

Deno.test("verifyChainParallel() finds parts that are intact alone but do not join", async () => {
  await withTempDir(async (dir) => {
    const path = await seededChain(dir, ROWS);
    // Everything from the second part's first receipt on, re-chained onto a made-up
    // predecessor: each part is intact inside, and only the join with the first part shows it.
    rechain(path, 1001, "0".repeat(64));
    const { result, how } = await both(path);
    equal(result.ok, false);
    if (!result.ok) equal(result.brokenSeq, 1001);
    equal(how.serial, true);
  });
});

Deno.test("verifyChainParallel() counts rows no part can hold (a seq that is not a number)", async () => {
  await withTempDir(async (dir) => {
    const path = await seededChain(dir, ROWS);
    // Rebuilt without STRICT or its key, the table takes a row whose seq is NULL: no part's
    // range holds it, and max(seq) still reads a number.
    tamper(
      path,
      `CREATE TABLE loose AS SELECT * FROM receipts;
      INSERT INTO loose SELECT * FROM receipts WHERE seq = 1500;
      UPDATE loose SET seq = NULL WHERE rowid = (SELECT max(rowid) FROM loose);
      DROP TABLE receipts;
      ALTER TABLE loose RENAME TO receipts;`,
    );
    const { result, how } = await both(path);
    equal(result.ok, false);
    equal(how.serial, true);
  });
});

Deno.test("verifyChainParallel() walks a pruned chain from its checkpoint", async () => {
  await withTempDir(async (dir) => {
    const path = await seededChain(dir, ROWS);
    const pruned = pruneBatch(path, new Date(Date.now() + 60_000), 700);
    equal(pruned.receipts, 700);
    const { result, how } = await both(path, { threads: 2, minRowsPerThread: 500 });
    deepStrictEqual(result, { ok: true, rows: ROWS - 700 });
    deepStrictEqual(how, { parts: 2, serial: false });
  });
});

Deno.test("verifyChainParallel() answers with one walk when a part's worker fails", async () => {
  await withTempDir(async (dir) => {
    const path = await seededChain(dir, ROWS);
    const broken = `${dir}/broken_worker.ts`;
    // As the real worker answers when it cannot open the store.
    await Deno.writeTextFile(
      broken,
      `self.onmessage = () => self.postMessage({ error: "Cannot read receipts database" });\n`,
    );
    let how: ParallelVerifyReport | undefined;
    const result = await verifyWith(new URL(`file://${broken}`).href, path, {
      ...THREE,
      report: (r) => how = r,
    });
    deepStrictEqual(result, { ok: true, rows: ROWS });
    deepStrictEqual(how, { parts: 3, serial: true });
  });
});

/** Parts small enough that the 300 outcomes split three ways too: (0, 100], (100, 200], …. */
const WITH_OUTCOMES: ParallelVerifyOptions = { threads: 3, minRowsPerThread: 50 };

Deno.test("verifyChainParallel() splits the outcomes too, and answers their edits and deletions as verifyChain() does", async () => {
  await withTempDir(async (dir) => {
    const path = await seededChain(dir, ROWS);
    const { result, how } = await both(path, WITH_OUTCOMES);
    deepStrictEqual(result, { ok: true, rows: ROWS });
    deepStrictEqual(how, { parts: 3, serial: false });
    for (const seq of [1, 100, 101, 250, 300]) {
      tamper(path, `UPDATE outcomes SET bytes_out = bytes_out + 1 WHERE seq = ${seq}`);
      const edited = await both(path, WITH_OUTCOMES);
      equal(edited.result.ok, false, `outcome ${seq} edited`);
      if (!edited.result.ok) {
        equal(edited.result.table, "outcomes");
        equal(edited.result.brokenSeq, seq);
      }
      tamper(path, `UPDATE outcomes SET bytes_out = bytes_out - 1 WHERE seq = ${seq}`);
    }
    tamper(path, "DELETE FROM outcomes WHERE seq = 101");
    const deleted = await both(path, WITH_OUTCOMES);
    equal(deleted.result.ok, false);
    if (!deleted.result.ok) equal(deleted.result.table, "outcomes");
  });
});

Deno.test("verifyChainParallel() finds outcome parts that are intact alone but do not join", async () => {
  await withTempDir(async (dir) => {
    const path = await seededChain(dir, ROWS);
    // Every outcome from the second part on, re-chained onto a made-up predecessor.
    const db = new DatabaseSync(path);
    try {
      const rows = db.prepare("SELECT * FROM outcomes WHERE seq > 100 ORDER BY seq").all();
      const update = db.prepare("UPDATE outcomes SET prev_hash = ?, hash = ? WHERE seq = ?");
      let prevHash = "0".repeat(64);
      for (const raw of rows) {
        const row = { ...raw, prev_hash: prevHash } as unknown as StoredOutcome;
        prevHash = outcomeHash(row);
        update.run(row.prev_hash, prevHash, row.seq);
      }
    } finally {
      db.close();
    }
    const { result, how } = await both(path, WITH_OUTCOMES);
    equal(result.ok, false);
    if (!result.ok) {
      equal(result.table, "outcomes");
      equal(result.brokenSeq, 101);
    }
    equal(how.serial, true);
  });
});

Deno.test("verifyChainParallel() tells its progress, rising to every receipt and outcome", async () => {
  await withTempDir(async (dir) => {
    const path = await seededChain(dir, ROWS);
    const seen: [number, number][] = [];
    const result = await verifyChainParallel(path, {
      ...WITH_OUTCOMES,
      progress: (done, total) => seen.push([done, total]),
    });
    deepStrictEqual(result, { ok: true, rows: ROWS });
    // One call per part and table at least (each part is under TICK_ROWS rows).
    equal(seen.length >= 6, true, JSON.stringify(seen));
    for (let i = 1; i < seen.length; i++) equal(seen[i][0] > seen[i - 1][0], true);
    deepStrictEqual(seen.at(-1), [ROWS + ROWS / 10, ROWS + ROWS / 10]);
  });
});
