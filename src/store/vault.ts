/**
 * The vault in the shared store (`gateway.store_vault`): the vault's root key as every gateway's
 * vault file holds it (wrapped under the key each host keeps to itself, which never comes here)
 * and the values sealed under it, row for row as in `vault.db`. Nothing here can decrypt
 * anything; `src/gateway/_store_vault.ts` merges these rows with a gateway's vault file.
 *
 * @module
 */

import type { Query, Sql } from "./_connect.ts";

/** One sealed value, as the vault file holds it. */
export interface StoredSecret {
  name: string;
  slot: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  fingerprint: string;
  /** ISO time of the write, on the writing host's clock. */
  updatedAt: string;
}

/** A value removed on some host: kept so every other gateway drops it too. */
export interface RemovedSecret {
  name: string;
  slot: string;
  updatedAt: string;
}

/** The store's vault: its wrapped root (`null` before any gateway put one), values, removals. */
export interface StoreVault {
  root: Uint8Array | null;
  secrets: StoredSecret[];
  removed: RemovedSecret[];
}

/** Key of the advisory lock every vault merge holds: one merge at a time across gateways. */
const VAULT_LOCK = 0x636c61777661756cn; // "clawvaul"

/**
 * Runs `merge` in one transaction holding the vault lock, so two gateways (or a gateway and a
 * CLI) merging at once never interleave: the first to put a root there defines the shared vault.
 *
 * @example
 * ```ts
 * await withVaultLock(sql, async (tx) => console.log(await readStoreVault(tx)));
 * ```
 */
export async function withVaultLock<T>(
  sql: Sql,
  merge: (tx: Query) => Promise<T>,
): Promise<T> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${VAULT_LOCK.toString()}::bigint)`;
    return await merge(tx);
  }) as T;
}

/**
 * Everything the store holds of the vault.
 *
 * @example
 * ```ts
 * const { root, secrets } = await readStoreVault(sql);
 * ```
 */
export async function readStoreVault(sql: Query): Promise<StoreVault> {
  const [row] = await sql`SELECT root FROM clawpatrol_vault_root`;
  const secrets: StoredSecret[] = [];
  const removed: RemovedSecret[] = [];
  for (
    const r of await sql`SELECT name, slot, nonce, ciphertext, fingerprint, updated_at
      FROM clawpatrol_vault ORDER BY name, slot`
  ) {
    if (r.nonce === null) {
      removed.push({ name: r.name, slot: r.slot, updatedAt: r.updated_at });
      continue;
    }
    secrets.push({
      name: r.name,
      slot: r.slot,
      nonce: new Uint8Array(r.nonce),
      ciphertext: new Uint8Array(r.ciphertext),
      fingerprint: r.fingerprint,
      updatedAt: r.updated_at,
    });
  }
  return { root: row ? new Uint8Array(row.root) : null, secrets, removed };
}

/** Puts `root` as the shared vault's root unless one is there; returns the one that is. */
export async function putVaultRoot(sql: Query, root: Uint8Array): Promise<Uint8Array> {
  await sql`INSERT INTO clawpatrol_vault_root (root) VALUES (${root}) ON CONFLICT DO NOTHING`;
  const [row] = await sql`SELECT root FROM clawpatrol_vault_root`;
  return new Uint8Array(row.root);
}

/** Stores sealed values, replacing what is there (the caller merged first, under the lock). */
export async function putSecrets(sql: Query, secrets: readonly StoredSecret[]): Promise<void> {
  for (const s of secrets) {
    await sql`INSERT INTO clawpatrol_vault (name, slot, nonce, ciphertext, fingerprint, updated_at)
      VALUES (${s.name}, ${s.slot}, ${s.nonce}, ${s.ciphertext}, ${s.fingerprint}, ${s.updatedAt})
      ON CONFLICT (name, slot) DO UPDATE SET nonce = excluded.nonce,
        ciphertext = excluded.ciphertext, fingerprint = excluded.fingerprint,
        updated_at = excluded.updated_at`;
  }
}

/** Marks values removed (their sealed bytes go; the row stays as the removal). */
export async function removeSecrets(sql: Query, removed: readonly RemovedSecret[]): Promise<void> {
  for (const r of removed) {
    await sql`INSERT INTO clawpatrol_vault (name, slot, updated_at)
      VALUES (${r.name}, ${r.slot}, ${r.updatedAt})
      ON CONFLICT (name, slot) DO UPDATE SET nonce = NULL, ciphertext = NULL,
        fingerprint = NULL, updated_at = excluded.updated_at`;
  }
}
