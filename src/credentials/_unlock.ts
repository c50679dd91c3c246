/**
 * Turning what unlocks a vault (a key or a passphrase) into its keys: the key-encryption key
 * (KEK), the root key it wraps, and the data keys derived from the root. The root is zeroed as
 * soon as it has served.
 *
 * @module
 */

import type { Meta, UnlockKind } from "./_db.ts";
import { VaultError } from "./_error.ts";
import type { KeySource } from "./_keys.ts";
import {
  type DataKeys,
  deriveDataKeys,
  type KdfParams,
  kekFromKey,
  kekFromPassphrase,
  newKdfParams,
  newRoot,
  unwrapRoot,
  wrapRoot,
} from "./_seal.ts";

/** The keys of an unlocked vault. */
export interface VaultKeys {
  /** Wraps the root; replaced by a key rotation. */
  kek: CryptoKey;
  /** Seal values and fingerprint them; a rotation leaves them as they are. */
  keys: DataKeys;
}

/** A new vault's keys and the metadata that stores its root, wrapped. */
export interface NewVaultKeys extends VaultKeys {
  meta: Meta;
}

/**
 * A fresh random root wrapped under the KEK from `source`, and the data keys derived from it.
 *
 * @example
 * ```ts
 * const { kek, keys, meta } = await newVaultKeys({ kind: "key", key, origin: "master.key" });
 * ```
 */
export async function newVaultKeys(source: KeySource): Promise<NewVaultKeys> {
  const { kek, kdf } = await kekOf(source);
  const root = newRoot();
  try {
    const meta: Meta = {
      unlock: source.kind,
      root: await wrapRoot(kek, root),
      ...(kdf ? { kdf } : {}),
    };
    return { kek, keys: await deriveDataKeys(root), meta };
  } finally {
    root.fill(0);
  }
}

/**
 * The keys of the vault at `path` whose metadata is `meta`, unlocked with `source`.
 *
 * @throws {VaultError} when `source` is the wrong kind for the vault or does not unlock it.
 *
 * @example
 * ```ts
 * const { kek, keys } = await unlockKeys(path, meta, { kind: "passphrase", passphrase });
 * ```
 */
export async function unlockKeys(path: string, meta: Meta, source: KeySource): Promise<VaultKeys> {
  if (meta.unlock !== source.kind) throw wrongKind(path, meta.unlock);
  const { kek } = await kekOf(source, meta.kdf);
  const root = await unwrapRoot(kek, meta.root);
  if (root === null) {
    throw new VaultError(
      source.kind === "key"
        ? `Cannot unlock the vault '${path}': the key from ${source.origin} does not match ` +
          `(the vault was created or rotated with another key)`
        : `Cannot unlock the vault '${path}': the passphrase is wrong`,
    );
  }
  try {
    return { kek, keys: await deriveDataKeys(root) };
  } finally {
    root.fill(0);
  }
}

/**
 * The root wrapped in `before`, unwrapped with `kek` and wrapped again under the KEK from `next`:
 * the metadata to store and the new KEK. Sealed values need no change.
 *
 * @throws {VaultError} when `kek` no longer unwraps the root (another process rotated it).
 *
 * @example
 * ```ts
 * const { kek: next, meta } = await rewrapRoot(path, kek, before, { kind: "passphrase", passphrase });
 * ```
 */
export async function rewrapRoot(
  path: string,
  kek: CryptoKey,
  before: Meta,
  next: KeySource,
): Promise<{ kek: CryptoKey; meta: Meta }> {
  const root = await unwrapRoot(kek, before.root);
  if (root === null) throw changedUnderneath(path);
  try {
    const derived = await kekOf(next);
    const meta: Meta = {
      unlock: next.kind,
      root: await wrapRoot(derived.kek, root),
      ...(derived.kdf ? { kdf: derived.kdf } : {}),
    };
    return { kek: derived.kek, meta };
  } finally {
    root.fill(0);
  }
}

/** The error for a rotation that lost the race to another process's rotation. */
export function changedUnderneath(path: string): VaultError {
  return new VaultError(
    `Cannot rotate the key of the vault '${path}': another process changed its key since it ` +
      `was opened; open it again`,
  );
}

/** The KEK for `source`; for a passphrase, with `kdf` (read from the file) or new parameters. */
async function kekOf(
  source: KeySource,
  kdf?: KdfParams,
): Promise<{ kek: CryptoKey; kdf?: KdfParams }> {
  if (source.kind === "key") {
    if (!(source.key instanceof Uint8Array) || source.key.length !== 32) {
      throw new VaultError(`The key from ${source.origin} is not 32 bytes long`);
    }
    return { kek: await kekFromKey(source.key) };
  }
  if (typeof source.passphrase !== "string" || source.passphrase === "") {
    throw new VaultError("The vault passphrase is empty");
  }
  const params = kdf ?? newKdfParams();
  return { kek: await kekFromPassphrase(source.passphrase, params), kdf: params };
}

function wrongKind(path: string, needed: UnlockKind): VaultError {
  return new VaultError(
    needed === "passphrase"
      ? `Cannot unlock the vault '${path}': it is passphrase-protected, not unlocked by a key: ` +
        `pass --passphrase-stdin, or run in a terminal to be asked`
      : `Cannot unlock the vault '${path}': it is unlocked by a key (master.key or ` +
        `CLAWPATROL_MASTER_KEY), not a passphrase`,
  );
}
