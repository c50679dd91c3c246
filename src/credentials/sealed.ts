/**
 * The vault's sealed rows as they are, for keeping them in a shared store (`gateway.store_vault`):
 * read and written without decrypting anything, because every gateway on that store holds the same
 * root key (wrapped under the same key-encryption key, `master.key` or `CLAWPATROL_MASTER_KEY`,
 * copied to each host). The key never leaves the host; only sealed values and the wrapped root do.
 * A host joining the store adopts the store's wrapped root, which its key must open.
 *
 * @module
 */

import { join } from "node:path";
import { guarded, openDatabase, prepareStatements, writeMeta } from "./_db.ts";
import { VaultError } from "./_error.ts";
import { keySource } from "./_open.ts";
import { deriveDataKeys, fingerprintOf, kekFromKey, seal, unseal, unwrapRoot } from "./_seal.ts";
import { VAULT_FILE } from "./vault.ts";

/** One stored value exactly as the vault file holds it (sealed under the root's data key). */
export interface SealedEntry {
  name: string;
  slot: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  fingerprint: string;
  /** ISO time of the write, as the writing host's clock had it. */
  updatedAt: string;
}

/** A vault file's wrapped root and sealed rows. */
export interface SealedVault {
  /** nonce ‖ AES-256-GCM(KEK, root) ‖ tag. */
  root: Uint8Array;
  entries: SealedEntry[];
}

/**
 * The wrapped root and every sealed row of `state_dir/vault.db`. Only a key-unlocked vault can
 * be shared (a passphrase could not be asked for by every gateway at start).
 *
 * @throws {VaultError} for a passphrase-protected vault.
 * @example
 * ```ts
 * const { root, entries } = readSealedVault("./state");
 * ```
 */
export function readSealedVault(stateDir: string): SealedVault {
  const path = join(stateDir, VAULT_FILE);
  const { db, meta } = openDatabase(path);
  try {
    if (meta.unlock !== "key") {
      throw new VaultError(
        `The vault '${path}' is passphrase-protected: a vault kept in the store must be ` +
          `unlocked by a key (master.key or CLAWPATROL_MASTER_KEY) on every gateway`,
      );
    }
    const rows = guarded(path, () =>
      db.prepare(
        "SELECT name, slot, nonce, ciphertext, fingerprint, updated_at FROM secrets ORDER BY name, slot",
      ).all());
    return {
      root: new Uint8Array(meta.root),
      entries: rows.map((r) => ({
        name: r.name as string,
        slot: r.slot as string,
        nonce: new Uint8Array(r.nonce as Uint8Array),
        ciphertext: new Uint8Array(r.ciphertext as Uint8Array),
        fingerprint: r.fingerprint as string,
        updatedAt: r.updated_at as string,
      })),
    };
  } finally {
    db.close();
  }
}

/**
 * Writes sealed rows into `state_dir/vault.db` as they are and removes others, in one
 * transaction; a running gateway's vault notices (its `version()` changes).
 *
 * @example
 * ```ts
 * writeSealedEntries("./state", fromStore, [{ name: "old_token", slot: "value" }]);
 * ```
 */
export function writeSealedEntries(
  stateDir: string,
  upserts: readonly SealedEntry[],
  removals: readonly { name: string; slot: string }[] = [],
): void {
  const path = join(stateDir, VAULT_FILE);
  const { db } = openDatabase(path);
  try {
    const statements = prepareStatements(db, path);
    guarded(path, () => {
      db.exec("BEGIN IMMEDIATE");
      try {
        for (const e of upserts) {
          statements.upsert.run(e.name, e.slot, e.nonce, e.ciphertext, e.fingerprint, e.updatedAt);
        }
        for (const r of removals) statements.removeSlot.run(r.name, r.slot);
        db.exec("COMMIT");
      } catch (err) {
        db.exec("ROLLBACK");
        throw err;
      }
    });
  } finally {
    db.close();
  }
}

/** Options for {@linkcode adoptSharedRoot}. */
export interface AdoptOptions {
  /** CLAWPATROL_MASTER_KEY, when set. */
  envKey?: string;
}

/** This host's vault key cannot open the shared vault: the gateway must not start (exit 2). */
export class VaultKeyMismatchError extends VaultError {
  override name = "VaultKeyMismatchError";
}

/**
 * Makes `state_dir/vault.db` a replica of a shared vault: checks this host's key opens `root`,
 * re-seals under it the local values the store does not hold (`shared` names what it holds; none
 * when the local vault was made under another key, as when a host's key file was replaced by the
 * shared one before joining), and replaces the local root and rows in one transaction. Returns the re-sealed local values, for the
 * caller to add to the store. Does nothing (returns none) when the roots already agree.
 *
 * @throws {VaultKeyMismatchError} when this host's key does not open the shared root.
 * @example
 * ```ts
 * const carried = await adoptSharedRoot("./state", storeRoot, storeEntries);
 * ```
 */
export async function adoptSharedRoot(
  stateDir: string,
  root: Uint8Array,
  shared: readonly SealedEntry[],
  options: AdoptOptions = {},
): Promise<SealedEntry[]> {
  const path = join(stateDir, VAULT_FILE);
  const source = await keySource(stateDir, options.envKey, false);
  if (source.kind !== "key") throw new VaultError(`The vault '${path}' is not unlocked by a key`);
  const kek = await kekFromKey(source.key);
  const sharedRoot = await unwrapRoot(kek, root);
  if (sharedRoot === null) {
    throw new VaultKeyMismatchError(
      `The vault key on this host (${source.origin}) does not open the vault kept in the ` +
        `store: every gateway on one store needs the same key; copy master.key (or ` +
        `CLAWPATROL_MASTER_KEY) from a gateway already on the store`,
    );
  }
  const local = readSealedVault(stateDir);
  if (equalBytes(local.root, root)) {
    sharedRoot.fill(0);
    return [];
  }
  // A vault made under another key (this host's key file was replaced by the shared one) holds
  // nothing this host can read any more: the store's values replace it.
  const localRoot = await unwrapRoot(kek, local.root);
  const theirs = await deriveDataKeys(sharedRoot);
  sharedRoot.fill(0);
  const mine = localRoot === null ? null : await deriveDataKeys(localRoot);
  localRoot?.fill(0);
  const held = new Set(shared.map((e) => `${e.name}\0${e.slot}`));
  const carried: SealedEntry[] = [];
  for (const e of mine === null ? [] : local.entries) {
    if (held.has(`${e.name}\0${e.slot}`)) continue;
    const value = await unseal(mine!.seal, e.name, e.slot, {
      nonce: new Uint8Array(e.nonce),
      ciphertext: new Uint8Array(e.ciphertext),
    });
    if (value === null) {
      throw new VaultError(
        `Credential '${e.name}' (slot '${e.slot}') in '${path}' fails authentication`,
      );
    }
    const sealed = await seal(theirs.seal, e.name, e.slot, value);
    carried.push({
      ...e,
      ...sealed,
      fingerprint: await fingerprintOf(theirs.fingerprint, value),
    });
  }
  const { db } = openDatabase(path);
  try {
    const statements = prepareStatements(db, path);
    guarded(path, () => {
      db.exec("BEGIN IMMEDIATE");
      try {
        writeMeta(db, { unlock: "key", root });
        db.exec("DELETE FROM secrets");
        for (const e of [...shared, ...carried]) {
          statements.upsert.run(e.name, e.slot, e.nonce, e.ciphertext, e.fingerprint, e.updatedAt);
        }
        db.exec("COMMIT");
      } catch (err) {
        db.exec("ROLLBACK");
        throw err;
      }
    });
    // The old wrapped root must not linger in the WAL for the old key to open.
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
  return carried;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
