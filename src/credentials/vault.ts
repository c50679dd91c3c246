/**
 * The encrypted credential vault: `state_dir/vault.db`, one AES-256-GCM sealed row per
 * credential value and slot, unlocked by a key (`master.key`, `CLAWPATROL_MASTER_KEY`) or a
 * passphrase.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { pathExists } from "../core/mod.ts";
import {
  createDatabase,
  damaged,
  guarded,
  openDatabase,
  prepareStatements,
  readMeta,
  type Statements,
  type UnlockKind,
  writeMeta,
} from "./_db.ts";
import { VaultError } from "./_error.ts";
import type { KeySource } from "./_keys.ts";
import { type DataKeys, fingerprintOf, seal, unseal } from "./_seal.ts";
import { changedUnderneath, newVaultKeys, rewrapRoot, unlockKeys } from "./_unlock.ts";

export { VaultError, type VaultErrorOptions } from "./_error.ts";
export type { UnlockKind } from "./_db.ts";

/** File name of the vault inside the state directory. */
export const VAULT_FILE = "vault.db";

/** The slot a credential's value is stored in unless another is named. */
export const DEFAULT_SLOT = "value";

/** Largest value stored, in bytes of UTF-8. */
export const MAX_VALUE_BYTES = 1024 * 1024;

/** What {@linkcode Vault.list} reports about a stored value: never the value. */
export interface VaultEntry {
  name: string;
  slot: string;
  updatedAt: Date;
  /** First 12 hex digits of an HMAC of the value under a vault key: compares values, reveals none. */
  fingerprint: string;
}

/** The unlocked keys an open {@linkcode Vault} holds. */
interface VaultKeys {
  /** The key-encryption key the data keys are wrapped with. */
  kek: CryptoKey;
  keys: DataKeys;
  /** How the vault is unlocked: a key file or a passphrase. */
  unlock: UnlockKind;
}

/**
 * An open vault. Values are sealed with a key derived from a random root key, which is stored
 * only wrapped under the key-encryption key (KEK); rotating the KEK re-wraps the root and leaves
 * every sealed row as it is.
 *
 * @example
 * ```ts
 * const vault = await Vault.open("./state/vault.db", { kind: "passphrase", passphrase });
 * try {
 *   await vault.set("github_pat", DEFAULT_SLOT, token);
 *   await vault.get("github_pat"); // token
 * } finally {
 *   vault.close();
 * }
 * ```
 */
export class Vault {
  /** The vault file. */
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #statements: Statements;
  readonly #keys: DataKeys;
  #kek: CryptoKey;
  #unlock: UnlockKind;
  #version = 0;
  #dataVersion: number;
  #closed = false;

  private constructor(path: string, db: DatabaseSync, { kek, keys, unlock }: VaultKeys) {
    this.path = path;
    this.#db = db;
    this.#kek = kek;
    this.#keys = keys;
    this.#unlock = unlock;
    this.#statements = prepareStatements(db, path);
    this.#dataVersion = this.#readDataVersion();
  }

  /**
   * Creates a new vault file, mode 0600 from its first byte. The file appears complete or not at
   * all (it is built under a temporary name and linked into place). Refuses an existing file.
   *
   * @example
   * ```ts
   * const vault = await Vault.create("./state/vault.db", { kind: "key", key, origin: "master.key" });
   * ```
   */
  static async create(path: string, source: KeySource): Promise<Vault> {
    if (await pathExists(path)) throw new VaultError(`Vault file '${path}' already exists`);
    const { kek, keys, meta } = await newVaultKeys(source);
    createDatabase(path, meta);
    const { db } = openDatabase(path);
    return new Vault(path, db, { kek, keys, unlock: source.kind });
  }

  /**
   * Opens an existing vault file with its key or passphrase.
   *
   * @throws {VaultError} when the file is missing, readable by others or damaged, when `source`
   * is the wrong kind (a key for a passphrase vault or the reverse), or does not unlock it.
   *
   * @example
   * ```ts
   * const vault = await Vault.open("./state/vault.db", { kind: "key", key, origin: "master.key" });
   * ```
   */
  static async open(path: string, source: KeySource): Promise<Vault> {
    const { db, meta } = openDatabase(path);
    try {
      const { kek, keys } = await unlockKeys(path, meta, source);
      return new Vault(path, db, { kek, keys, unlock: meta.unlock });
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /**
   * What unlocks the vault at `path`, read without a key, so a caller knows whether to ask for a
   * passphrase.
   *
   * @example
   * ```ts
   * if (Vault.unlockKind("./state/vault.db") === "passphrase") passphrase = await ask();
   * ```
   */
  static unlockKind(path: string): UnlockKind {
    const { db, meta } = openDatabase(path);
    db.close();
    return meta.unlock;
  }

  /** What unlocks this vault now (changes with {@linkcode Vault.rotateKey}). */
  get unlockedBy(): UnlockKind {
    return this.#unlock;
  }

  /**
   * Seals and stores `value` for credential `name` in `slot`, replacing what was there. Every
   * write uses a fresh random nonce.
   *
   * @example
   * ```ts
   * await vault.set("pg_ro", "password", password);
   * ```
   */
  async set(name: string, slot: string, value: string): Promise<void> {
    this.#checkOpen();
    checkName(name, slot);
    if (typeof value !== "string" || value === "") {
      throw new VaultError(`Refusing to store an empty value for credential '${name}'`, {
        credential: name,
      });
    }
    if (
      value.length > MAX_VALUE_BYTES || new TextEncoder().encode(value).length > MAX_VALUE_BYTES
    ) {
      throw new VaultError(
        `The value for credential '${name}' is larger than ${MAX_VALUE_BYTES} bytes`,
        { credential: name },
      );
    }
    const sealed = await seal(this.#keys.seal, name, slot, value);
    const fingerprint = await fingerprintOf(this.#keys.fingerprint, value);
    this.#checkOpen();
    guarded(this.path, () =>
      this.#statements.upsert.run(
        name,
        slot,
        sealed.nonce,
        sealed.ciphertext,
        fingerprint,
        new Date().toISOString(),
      ));
    this.#version++;
  }

  /**
   * The value of credential `name` in `slot`, or `null` when none is stored.
   *
   * @throws {VaultError} naming the credential when the stored row fails authentication
   * (altered, or copied from another credential or slot).
   *
   * @example
   * ```ts
   * const token = await vault.get("github_pat");
   * ```
   */
  async get(name: string, slot: string = DEFAULT_SLOT): Promise<string | null> {
    this.#checkOpen();
    checkName(name, slot);
    const row = guarded(this.path, () => this.#statements.get.get(name, slot));
    if (row === undefined) return null;
    const { nonce, ciphertext } = row;
    const value = nonce instanceof Uint8Array && ciphertext instanceof Uint8Array
      ? await unseal(this.#keys.seal, name, slot, {
        nonce: new Uint8Array(nonce),
        ciphertext: new Uint8Array(ciphertext),
      })
      : null;
    if (value === null) {
      throw new VaultError(
        `Credential '${name}' (slot '${slot}') in '${this.path}' fails authentication: the ` +
          `stored value was altered or copied from another credential; store it again with ` +
          `'clawpatrol vault set ${name}${slot === DEFAULT_SLOT ? "" : ` --slot ${slot}`}'`,
        { credential: name },
      );
    }
    return value;
  }

  /**
   * Every stored value's name, slot, update time and fingerprint, sorted by name then slot.
   *
   * @example
   * ```ts
   * for (const e of vault.list()) console.log(e.name, e.slot, e.fingerprint);
   * ```
   */
  list(): VaultEntry[] {
    this.#checkOpen();
    const rows = guarded(this.path, () => this.#statements.list.all());
    return rows.map((r) => {
      const updatedAt = new Date(String(r.updated_at));
      if (
        typeof r.name !== "string" || typeof r.slot !== "string" ||
        typeof r.fingerprint !== "string" || Number.isNaN(updatedAt.getTime())
      ) {
        throw damaged(this.path, "a row of the secrets table is malformed");
      }
      return { name: r.name, slot: r.slot, updatedAt, fingerprint: r.fingerprint };
    });
  }

  /**
   * Removes credential `name`'s value in `slot`, or in every slot when none is given; returns how
   * many rows were removed.
   *
   * @example
   * ```ts
   * if (vault.remove("github_pat") === 0) console.error("nothing stored");
   * ```
   */
  remove(name: string, slot?: string): number {
    this.#checkOpen();
    checkName(name, slot ?? DEFAULT_SLOT);
    const result = guarded(
      this.path,
      () =>
        slot === undefined
          ? this.#statements.removeAll.run(name)
          : this.#statements.removeSlot.run(name, slot),
    );
    const removed = Number(result.changes);
    if (removed > 0) this.#version++;
    return removed;
  }

  /**
   * Re-wraps the root key under a new key or passphrase, in one transaction: sealed values are
   * untouched and the old key or passphrase stops opening the vault. Switching between key and
   * passphrase is allowed. Copies of the file made before (backups) still open with the old one.
   *
   * @example
   * ```ts
   * await vault.rotateKey({ kind: "key", key: generateMasterKey(), origin: "master.key" });
   * ```
   */
  async rotateKey(next: KeySource): Promise<void> {
    this.#checkOpen();
    const before = guarded(this.path, () => readMeta(this.#db, this.path));
    const { kek, meta } = await rewrapRoot(this.path, this.#kek, before, next);
    this.#checkOpen();
    guarded(this.path, () => {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        // Compare and swap: a rotation by another process since we read would be undone otherwise.
        const current = readMeta(this.#db, this.path);
        if (!equalBytes(current.root, before.root)) throw changedUnderneath(this.path);
        writeMeta(this.#db, meta);
        this.#db.exec("COMMIT");
      } catch (err) {
        this.#db.exec("ROLLBACK");
        throw err;
      }
    });
    this.#kek = kek;
    this.#unlock = next.kind;
    this.#version++;
    try {
      // Moves the new pages into the main file and empties the WAL, so the old wrapped root
      // survives in neither; fails harmlessly while another process is reading.
      this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch {
      // The next checkpoint gets it.
    }
  }

  /**
   * A number that changes whenever the vault's contents may have changed, by this connection or
   * any other process (`PRAGMA data_version`): for invalidating caches of decrypted values.
   *
   * @example
   * ```ts
   * if (vault.version() !== seen) cache.clear();
   * ```
   */
  version(): number {
    this.#checkOpen();
    const current = this.#readDataVersion();
    if (current !== this.#dataVersion) {
      this.#dataVersion = current;
      this.#version++;
    }
    return this.#version;
  }

  /** Closes the file. Further calls throw; closing twice is harmless. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #readDataVersion(): number {
    const row = guarded(this.path, () => this.#statements.dataVersion.get());
    return Number(row?.data_version);
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`The vault '${this.path}' is closed`);
  }
}

/** Names and slots are bound into each value's AAD with NUL separators, so NUL is refused. */
function checkName(name: string, slot: string): void {
  for (const [what, text] of [["credential name", name], ["slot", slot]]) {
    if (typeof text !== "string" || text === "" || text.length > 256 || text.includes("\0")) {
      throw new VaultError(
        `Invalid ${what} ${JSON.stringify(text)}: use 1 to 256 characters, no NUL`,
      );
    }
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
