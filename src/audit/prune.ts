/**
 * Retention (`gateway.receipts.keep`): receipts older than the cut-off go, oldest first, in small
 * transactions of their own connection so the writer (in its worker) waits a millisecond at most,
 * never a scan. Each batch leaves a checkpoint in `meta`, the seq and hash of the last receipt it
 * removed, so `log verify` still proves the remaining chain intact from the cut onward: the first
 * receipt left must point at exactly that hash. Outcomes (their own chain) are cut the same way.
 *
 * What a checkpoint cannot prove is that the receipts before it were not rewritten along with it:
 * signed checkpoints of the chain head, kept outside the state directory, are what proves that.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { migrate } from "./_schema.ts";

/** Receipts (and outcomes) removed per transaction. */
export const PRUNE_BATCH = 500;

/** Where a pruned chain now starts: the last removed row's seq and hash. */
export interface Checkpoint {
  seq: number;
  hash: string;
}

/** What one {@linkcode pruneBatch} removed. */
export interface Pruned {
  receipts: number;
  outcomes: number;
}

/**
 * Removes up to `batch` receipts (and outcomes) older than `cutoff`, oldest first, and moves the
 * checkpoints past them. Returns how many went; zero of both: nothing older is left.
 *
 * @example
 * ```ts
 * while ((await pruneBatch(path, cutoff)).receipts > 0) await new Promise((r) => setTimeout(r));
 * ```
 */
export function pruneBatch(path: string, cutoff: Date, batch = PRUNE_BATCH): Pruned {
  const db = new DatabaseSync(path, { timeout: 5_000 });
  try {
    // A file no gateway has opened since schema 4 is brought to it first, as the gateway would.
    migrate(db);
    return pruneIn(db, cutoff, batch);
  } finally {
    db.close();
  }
}

/**
 * {@linkcode pruneBatch} on an open connection: the receipt writer's own, while the gateway runs
 * (see `ReceiptStore.prune`), so pruning never holds the lock the writer needs.
 */
export function pruneIn(db: DatabaseSync, cutoff: Date, batch = PRUNE_BATCH): Pruned {
  db.exec("BEGIN IMMEDIATE");
  try {
    const cut = cutoff.toISOString();
    const receipts = prefix(db, "receipts", cut, batch);
    const outcomes = hasTable(db, "outcomes") ? prefix(db, "outcomes", cut, batch) : 0;
    db.exec("COMMIT");
    return { receipts, outcomes };
  } catch (err) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw err;
  }
}

/** The checkpoint `table`'s chain starts from, or `null` when nothing was pruned from it. */
export function checkpointOf(db: DatabaseSync, table: "receipts" | "outcomes"): Checkpoint | null {
  const read = (key: string) =>
    (db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)
      ?.value;
  const seq = read(`${table}_pruned_seq`);
  const hash = read(`${table}_pruned_hash`);
  return seq === undefined || hash === undefined ? null : { seq: Number(seq), hash };
}

/** Deletes the oldest rows of `table` older than `cut`, at most `batch`; how many. */
function prefix(db: DatabaseSync, table: "receipts" | "outcomes", cut: string, batch: number) {
  // By seq, the primary key: times follow seq, so the old rows are the first ones.
  const time = table === "receipts" ? "canonical ->> '$.time'" : "time";
  const rows = db.prepare(`SELECT seq, hash, ${time} AS time FROM ${table} ORDER BY seq LIMIT ?`)
    .all(batch) as { seq: number; hash: string; time: string }[];
  // The newest row always stays: the writer continues the chain from the last row it finds.
  const newest = (db.prepare(`SELECT max(seq) AS seq FROM ${table}`).get() as { seq: number }).seq;
  let last: { seq: number; hash: string } | undefined;
  for (const row of rows) {
    if (row.time >= cut || row.seq === newest) break;
    last = row;
  }
  if (!last) return 0;
  const removed = db.prepare(`DELETE FROM ${table} WHERE seq <= ?`).run(last.seq).changes;
  const set = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
  set.run(`${table}_pruned_seq`, String(last.seq));
  set.run(`${table}_pruned_hash`, last.hash);
  return Number(removed);
}

function hasTable(db: DatabaseSync, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !==
    undefined;
}
