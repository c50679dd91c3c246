/**
 * The receipts database layout, its migration, and read-only connections for `clawpatrol log`
 * and `log verify`, which run while the gateway writes.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

/**
 * Bumped whenever the table layout or the canonical form changes. 2 added `outcomes`: an allowed
 * action's receipt is written before it is forwarded, and what happened comes after. 3 added
 * `policy`: the digest of the config that decided.
 */
export const SCHEMA_VERSION = 3;

// STRICT makes SQLite store exactly the types written, so a value reads back as the same JSON it
// was hashed as (a REAL column never hands back a numeric string, and so on).
const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS receipts (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  time TEXT NOT NULL,
  agent TEXT,
  profile TEXT,
  endpoint TEXT,
  protocol TEXT NOT NULL,
  summary TEXT NOT NULL,
  facts TEXT NOT NULL,
  rule TEXT,
  mode TEXT NOT NULL,
  verdict TEXT NOT NULL,
  would_be TEXT NOT NULL,
  reason TEXT NOT NULL,
  approvals TEXT NOT NULL,
  upstream_status INTEGER,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  ahead INTEGER NOT NULL DEFAULT 0,
  policy TEXT
) STRICT;
`;

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

/** Creates the tables if missing and refuses a database written by another schema version. */
export function migrate(db: DatabaseSync): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(SCHEMA_SQL);
    const version = schemaVersion(db);
    if (version === undefined) {
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(
        String(SCHEMA_VERSION),
      );
    } else if (version === "1" || version === "2") {
      // Older rows carry their outcome inline (1) and no policy (1, 2): they stay valid as
      // they are, the new columns empty.
      if (version === "1") {
        db.exec("ALTER TABLE receipts ADD COLUMN ahead INTEGER NOT NULL DEFAULT 0");
      }
      db.exec("ALTER TABLE receipts ADD COLUMN policy TEXT");
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
    // An older file (not yet opened by a newer gateway) reads fine: no outcomes (1), no policy.
    if (!["1", "2"].includes(schemaVersion(db) ?? "")) checkVersion(db);
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
