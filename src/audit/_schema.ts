/**
 * The receipts database layout, its migration, and read-only connections for `clawpatrol log`
 * and `log verify`, which run while the gateway writes.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

/** Bumped whenever the table layout or the canonical form changes. */
export const SCHEMA_VERSION = 1;

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
  hash TEXT NOT NULL
) STRICT;
`;

/** Creates the tables if missing and refuses a database written by another schema version. */
export function migrate(db: DatabaseSync): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(SCHEMA_SQL);
    if (schemaVersion(db) === undefined) {
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(
        String(SCHEMA_VERSION),
      );
    }
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
    checkVersion(db);
    return db;
  } catch (error) {
    if (db?.isOpen) db.close();
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot read receipts database '${path}': ${detail}`, { cause: error });
  }
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
