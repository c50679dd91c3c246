/**
 * Shared by the vault tests: temporary directories, key sources, and raw access to the vault's
 * SQLite file as an attacker with write access would have it.
 *
 * @module
 */

import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { DEFAULT_SLOT, generateMasterKey, type KeySource, Vault, VAULT_FILE } from "./mod.ts";

/** Runs `fn` with a fresh temporary directory and removes it afterwards. */
export async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_vault_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A key source holding `key`, named `origin` in errors. */
export const keySource = (key = generateMasterKey(), origin = "test key"): KeySource => ({
  kind: "key",
  key,
  origin,
});

/** Runs `fn` against the raw SQLite file, as an attacker with write access would. */
export function raw<T>(path: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** A row of the secrets table, as stored. */
export interface Row {
  name: string;
  slot: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  fingerprint: string;
}

/** Every row of the secrets table, by name and slot. */
export function rows(path: string): Row[] {
  return raw(
    path,
    (db) =>
      db.prepare(
        "SELECT name, slot, nonce, ciphertext, fingerprint FROM secrets ORDER BY name, slot",
      )
        .all() as unknown as Row[],
  );
}

/** The meta table as a map. */
export function meta(path: string): Map<string, unknown> {
  return raw(path, (db) =>
    new Map(
      db.prepare("SELECT key, value FROM meta").all().map((r) => [r.key as string, r.value]),
    ));
}

/** True when `needle` occurs in `haystack` byte for byte. */
export function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** vault.db and its -wal/-shm files, those that exist. */
export function vaultFiles(path: string): Uint8Array[] {
  const files: Uint8Array[] = [];
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    try {
      files.push(Deno.readFileSync(p));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return files;
}

/** Creates a vault holding `github_pat` and `pg_ro/password`; returns its path and key. */
export async function twoSecrets(dir: string): Promise<{ path: string; source: KeySource }> {
  const path = join(dir, VAULT_FILE);
  const source = keySource();
  const vault = await Vault.create(path, source);
  await vault.set("github_pat", DEFAULT_SLOT, "ghp_tamper_target");
  await vault.set("pg_ro", "password", "pg-tamper-target");
  vault.close();
  return { path, source };
}
