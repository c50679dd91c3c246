/**
 * The vault's SQLite file: schema, metadata, creating and opening it with validation, the
 * statements run on it, and turning SQLite errors into {@linkcode VaultError}s that say what is
 * wrong with the file.
 *
 * @module
 */

import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { writeFileAtomicSync } from "../core/mod.ts";
import { VaultError } from "./_error.ts";
import { checkPrivateSync } from "./_keys.ts";
import { type KdfParams, PBKDF2_ALGORITHM, SALT_BYTES, WRAPPED_ROOT_BYTES } from "./_seal.ts";

/** Version of the file layout this code reads and writes (meta key `format`). */
export const FORMAT_VERSION = 1;

/** How the vault's root key is unlocked. */
export type UnlockKind = "key" | "passphrase";

/** The metadata of an opened vault. */
export interface Meta {
  unlock: UnlockKind;
  /** The wrapped root: nonce ‖ AES-256-GCM ciphertext ‖ tag. */
  root: Uint8Array;
  /** PBKDF2 parameters; present exactly when `unlock` is `"passphrase"`. */
  kdf?: KdfParams;
}

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE secrets (
  name TEXT NOT NULL,
  slot TEXT NOT NULL,
  nonce BLOB NOT NULL,
  ciphertext BLOB NOT NULL,
  fingerprint TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (name, slot)
);
`;

/** Meta keys written for a key or passphrase vault; the rest are removed on rotation. */
export const KDF_META_KEYS = ["kdf", "kdf_iterations", "kdf_salt"] as const;

/** The error for a file that is not a sound vault. */
export function damaged(path: string, detail: string): VaultError {
  return new VaultError(
    `Vault file '${path}' is damaged: ${detail} (restore it from a backup)`,
  );
}

/**
 * A SQLite failure as a {@linkcode VaultError} about the file; any other error unchanged. The
 * statements are fixed and take values as bound parameters, so SQLite's message never holds a
 * secret.
 */
export function sqliteError(err: unknown, path: string): unknown {
  const e = err as { code?: string; errcode?: number; errstr?: string; message?: string };
  if (err instanceof VaultError || e?.code !== "ERR_SQLITE_ERROR") return err;
  const detail = (e.errstr ?? e.message ?? "unknown error").split("\n")[0];
  switch ((e.errcode ?? 0) & 0xff) {
    case 5: // SQLITE_BUSY
    case 6: // SQLITE_LOCKED
      return new VaultError(`Vault file '${path}' is locked by another process: try again`);
    case 3: // SQLITE_PERM
    case 8: // SQLITE_READONLY
    case 14: // SQLITE_CANTOPEN
      return new VaultError(`Cannot open vault file '${path}' for writing: ${detail}`);
    case 10: // SQLITE_IOERR
      return new VaultError(`Cannot read or write vault file '${path}': ${detail}`);
    case 13: // SQLITE_FULL
      return new VaultError(`Cannot write vault file '${path}': the disk is full`);
    default:
      // CORRUPT, NOTADB, and "no such table" from a file that is a database but not a vault.
      return damaged(path, detail);
  }
}

/** Runs `fn`, turning SQLite errors into {@linkcode VaultError}s about `path`. */
export function guarded<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw sqliteError(err, path);
  }
}

/** Creates the schema and metadata in an empty database. */
export function initialise(db: DatabaseSync, meta: Meta): void {
  db.exec(SCHEMA);
  const insert = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
  db.exec("BEGIN");
  try {
    insert.run("format", FORMAT_VERSION);
    insert.run("created_at", new Date().toISOString());
    writeMeta(db, meta);
    db.exec("COMMIT");
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}

/** Writes the unlock kind, wrapped root and KDF parameters (removing them for a key vault). */
export function writeMeta(db: DatabaseSync, meta: Meta): void {
  const put = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
  const entries: [string, SQLInputValue][] = [["unlock", meta.unlock], ["root", meta.root]];
  if (meta.kdf) {
    entries.push(
      ["kdf", PBKDF2_ALGORITHM],
      ["kdf_iterations", meta.kdf.iterations],
      ["kdf_salt", meta.kdf.salt],
    );
  } else {
    const drop = db.prepare("DELETE FROM meta WHERE key = ?");
    for (const key of KDF_META_KEYS) drop.run(key);
  }
  for (const [key, value] of entries) put.run(key, value);
}

/** Reads and validates the metadata; anything missing or malformed means a damaged file. */
export function readMeta(db: DatabaseSync, path: string): Meta {
  const rows = db.prepare("SELECT key, value FROM meta").all();
  const meta = new Map(rows.map((r) => [r.key as string, r.value]));
  const format = meta.get("format");
  if (format === undefined) throw damaged(path, "it holds no vault format version");
  if (typeof format !== "number" || !Number.isInteger(format) || format < 1) {
    throw damaged(path, "its format version is not a positive integer");
  }
  if (format > FORMAT_VERSION) {
    throw new VaultError(
      `Vault file '${path}' has format version ${format}, newer than this clawpatrol reads ` +
        `(${FORMAT_VERSION}): upgrade clawpatrol`,
    );
  }
  const unlock = meta.get("unlock");
  if (unlock !== "key" && unlock !== "passphrase") {
    throw damaged(path, "it does not say whether a key or a passphrase unlocks it");
  }
  const root = meta.get("root");
  if (!(root instanceof Uint8Array) || root.length !== WRAPPED_ROOT_BYTES) {
    throw damaged(path, "its wrapped root key is missing or has the wrong length");
  }
  if (unlock === "key") return { unlock, root };
  const kdf = meta.get("kdf");
  const iterations = meta.get("kdf_iterations");
  const salt = meta.get("kdf_salt");
  if (kdf !== PBKDF2_ALGORITHM) {
    throw damaged(path, `its passphrase KDF is not ${PBKDF2_ALGORITHM}`);
  }
  // Bounded so a tampered file cannot make opening spin for hours.
  if (
    typeof iterations !== "number" || !Number.isInteger(iterations) || iterations < 1 ||
    iterations > 100_000_000
  ) {
    throw damaged(path, "its PBKDF2 iteration count is missing or out of range");
  }
  if (!(salt instanceof Uint8Array) || salt.length !== SALT_BYTES) {
    throw damaged(path, "its PBKDF2 salt is missing or has the wrong length");
  }
  return { unlock, root, kdf: { iterations, salt: new Uint8Array(salt) } };
}

/**
 * Opens an existing vault file after checking it is a private regular file, checks its pages
 * (so a truncated file is reported here, not as a crash mid-request), and reads its metadata.
 * A missing file is never created.
 */
export function openDatabase(path: string): { db: DatabaseSync; meta: Meta } {
  checkPrivateSync(path, "Vault file");
  if (!Deno.statSync(path).isFile) throw new VaultError(`Vault file '${path}' is not a file`);
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    // Another process (the gateway, the CLI) may hold the write lock for a moment.
    db.exec("PRAGMA busy_timeout = 5000");
    const check = db.prepare("PRAGMA quick_check(1)").get();
    if (check?.quick_check !== "ok") throw damaged(path, String(check?.quick_check));
    const meta = readMeta(db, path);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    // Deleted and replaced cells are zeroed, so a rotated-away wrapped root does not linger in
    // the file's free space for the old key to open.
    db.exec("PRAGMA secure_delete = ON");
    return { db, meta };
  } catch (err) {
    try {
      db?.close();
    } catch {
      // Closing a connection to a damaged file may fail too; the first error is the one to report.
    }
    throw sqliteError(err, path);
  }
}

/**
 * Creates a vault file holding the schema and `meta`: mode 0600 from its first byte, and complete
 * or absent (built under a temporary name and linked into place).
 *
 * @throws {VaultError} when `path` exists, even if another process created it a moment ago.
 */
export function createDatabase(path: string, meta: Meta): void {
  try {
    writeFileAtomicSync(path, (tmp) => {
      const db = new DatabaseSync(tmp);
      try {
        guarded(tmp, () => initialise(db, meta));
      } finally {
        db.close();
        // A failed transaction may leave its rollback journal beside the temporary file.
        try {
          Deno.removeSync(`${tmp}-journal`);
        } catch {
          // Never created, or removed by SQLite.
        }
      }
    }, { overwrite: false });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) {
      throw new VaultError(`Vault file '${path}' already exists`);
    }
    throw err;
  }
}

/** The statements the vault runs on its secrets table, prepared once per connection. */
export interface Statements {
  get: StatementSync;
  upsert: StatementSync;
  list: StatementSync;
  removeSlot: StatementSync;
  removeAll: StatementSync;
  dataVersion: StatementSync;
}

/** Prepares {@linkcode Statements} on `db`; values are always bound, never spliced into SQL. */
export function prepareStatements(db: DatabaseSync, path: string): Statements {
  return guarded(path, () => ({
    get: db.prepare("SELECT nonce, ciphertext FROM secrets WHERE name = ? AND slot = ?"),
    upsert: db.prepare(
      `INSERT INTO secrets (name, slot, nonce, ciphertext, fingerprint, updated_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (name, slot) DO UPDATE SET nonce = excluded.nonce,
         ciphertext = excluded.ciphertext, fingerprint = excluded.fingerprint,
         updated_at = excluded.updated_at`,
    ),
    list: db.prepare("SELECT name, slot, updated_at, fingerprint FROM secrets ORDER BY name, slot"),
    removeSlot: db.prepare("DELETE FROM secrets WHERE name = ? AND slot = ?"),
    removeAll: db.prepare("DELETE FROM secrets WHERE name = ?"),
    dataVersion: db.prepare("PRAGMA data_version"),
  }));
}
