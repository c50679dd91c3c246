/**
 * Shared by the receipt store tests: what a store really committed, read from its file.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { queryReceipts } from "./query.ts";

/** Rows in the receipts table of the database at `path`. */
export function countRows(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM receipts").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Ids of the stored receipts, in order. */
export function storedIds(path: string): string[] {
  return queryReceipts(path).map((r) => r.id);
}
