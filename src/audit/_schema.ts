/**
 * The receipts database layout, its migration, and read-only connections for `clawpatrol log`
 * and `log verify`, which run while the gateway writes.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { hasColumn, legacyCanonicalSql } from "./_legacy_rows.ts";

/**
 * Bumped whenever the table layout or the canonical form changes. 2 added `outcomes`: an allowed
 * action's receipt is written before it is forwarded, and what happened comes after. 3 added
 * `policy`: the digest of the config that decided. 4 stores each receipt as the one JSON text its
 * hash covers (`_chain_text.ts`) instead of a column per field.
 */
export const SCHEMA_VERSION = 4;

// STRICT makes SQLite store exactly the types written. A receipt's fields live in `canonical`
// only: each column bound costs the writer, and a column per field (schema 3's 23) cost ~1.5 µs
// more per row than these four. Queries read fields with `canonical ->> '$.field'`; generated
// columns would cost the insert ~1 µs more even as VIRTUAL (measured), so there are none.
const RECEIPTS_SQL = (table: string) => `
CREATE TABLE IF NOT EXISTS ${table} (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  canonical TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;
`;

const META_SQL =
  "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;";

// What happened to an allowed action whose receipt was written ahead of forwarding: append-only
// and hash-chained like the receipts, so an outcome can be neither edited nor dropped from the
// middle unnoticed. No row: the gateway stopped before the exchange ended (a crash).
const OUTCOMES_SQL = `
CREATE TABLE IF NOT EXISTS outcomes (
  seq INTEGER PRIMARY KEY,
  receipt TEXT NOT NULL UNIQUE,
  time TEXT NOT NULL,
  upstream_status INTEGER,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  error TEXT,
  not_run INTEGER NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;
`;

/** How far a migration of older receipts has come: told at its start, as it goes and at its end. */
export interface MigrationStep {
  /** The schema version the file had. */
  from: string;
  /** Receipts rewritten so far, of `total`. */
  done: number;
  total: number;
}

/** Receipts rewritten between two progress steps: 1–2 s apart on a 2-core test machine. */
const PROGRESS_EVERY = 100_000;

/**
 * Creates the tables if missing, brings a file of schema 1–3 to 4, and refuses a database written
 * by another schema version. Rewriting a large older file takes a while (~19 s per million
 * receipts, measured), so `progress` hears how far it has come.
 */
export function migrate(db: DatabaseSync, progress?: (step: MigrationStep) => void): void {
  let migrated: { from: string; total: number } | undefined;
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(META_SQL);
    const version = schemaVersion(db);
    if (version === undefined) {
      db.exec(RECEIPTS_SQL("receipts"));
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(
        String(SCHEMA_VERSION),
      );
    } else if (version === "1" || version === "2" || version === "3") {
      migrated = { from: version, total: toSchema4(db, version, progress) };
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(
        String(SCHEMA_VERSION),
      );
    }
    db.exec(OUTCOMES_SQL);
    checkVersion(db);
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
  // After the commit: writing a large rewrite out takes a good part of its time.
  if (migrated) progress?.({ from: migrated.from, done: migrated.total, total: migrated.total });
}

/**
 * Rewrites a schema 1–3 receipts table as schema 4's: each row's text is the canonical form its
 * hash was computed over, so every hash (and every tampered row's mismatch) carries over as is.
 * Older rows carry their outcome inline (1) and no policy (1, 2). Returns how many it rewrote.
 */
function toSchema4(
  db: DatabaseSync,
  from: string,
  progress?: (step: MigrationStep) => void,
): number {
  const { total } = db.prepare("SELECT count(*) AS total FROM receipts").get() as { total: number };
  let done = 0;
  const has = {
    ahead: hasColumn(db, "receipts", "ahead"),
    policy: hasColumn(db, "receipts", "policy"),
  };
  const canonical = legacyCanonicalSql(db, "receipts", has, () => {
    if (++done % PROGRESS_EVERY === 0 && done < total) progress?.({ from, done, total });
  });
  // An empty table has nothing to wait for: only the end is told.
  if (total > 0) progress?.({ from, done: 0, total });
  db.exec(RECEIPTS_SQL("receipts_v4"));
  db.exec(`INSERT INTO receipts_v4 (seq, id, canonical, hash)
    SELECT seq, id, ${canonical}, hash FROM receipts ORDER BY seq`);
  db.exec("DROP TABLE receipts");
  db.exec("ALTER TABLE receipts_v4 RENAME TO receipts");
  return total;
}

/**
 * Opens an existing receipts database read-only. WAL lets it read a consistent snapshot while
 * the gateway keeps appending; the busy timeout covers the brief locks of WAL recovery, which is
 * harmless here because readers are never on the request path.
 */
export function openReadOnly(path: string): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { readOnly: true, timeout: 1000 });
    // An older file (not yet opened by a newer gateway) reads through a temporary view with
    // schema 4's columns, which shadows its table on this connection only.
    const version = schemaVersion(db) ?? "";
    if (["1", "2", "3"].includes(version)) {
      const canonical = legacyCanonicalSql(db, "main.receipts", {
        ahead: hasColumn(db, "receipts", "ahead"),
        policy: hasColumn(db, "receipts", "policy"),
      });
      db.exec(`CREATE TEMP VIEW receipts AS
        SELECT seq, id, ${canonical} AS canonical, hash FROM main.receipts`);
    } else checkVersion(db);
    return db;
  } catch (error) {
    if (db?.isOpen) db.close();
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot read receipts database '${path}': ${detail}`, { cause: error });
  }
}

/** Whether `db` has the outcomes table (version 2 and later). */
export function hasOutcomes(db: DatabaseSync): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outcomes'")
    .get() !== undefined;
}

function schemaVersion(db: DatabaseSync): string | undefined {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get();
  return row?.value as string | undefined;
}

function checkVersion(db: DatabaseSync): void {
  const version = schemaVersion(db);
  if (version !== String(SCHEMA_VERSION)) {
    throw new Error(
      `schema version '${version ?? "none"}' is not supported (expected ${SCHEMA_VERSION})`,
    );
  }
}
