/**
 * `gateway { store_vault = true }`: the vault kept in the shared store too, so every gateway on
 * that store injects the same credentials and presents certificates from one CA. Only sealed
 * values and the root key wrapped under the vault key go to the database; the key itself stays on
 * each host (`master.key` or `CLAWPATROL_MASTER_KEY`, the same on every gateway).
 *
 * Each host's `vault.db` stays the vault its gateway and CLI read; a merge (at start, each second
 * while serving, and after `vault set` / `vault rm`) makes it and the store agree, under a lock
 * so merges never interleave. The first host to merge puts its root and values in the store; a
 * host whose vault has another root adopts the store's (its own values the store lacks are sealed
 * again under it and added), and refuses to start when its key cannot open it. Per value, the side
 * that changed since the last merge (`vault.synced.json`, the sealed values' nonces both sides
 * agreed on) wins; changed on both, the later write. The CA certificate travels as a vault value
 * beside the CA key, so `state/ca.pem` is rewritten to the store's.
 *
 * @module
 */

import { join } from "node:path";
import type { Config } from "../config/mod.ts";
import { writeFileAtomic } from "../core/mod.ts";
import {
  adoptSharedRoot,
  openVault,
  type OpenVaultOptions,
  readSealedVault,
  type SealedEntry,
  writeSealedEntries,
} from "../credentials/mod.ts";
import type { Query, RemovedSecret, Sql, StoreVault } from "../store/mod.ts";
import { CA_CERT_FILE } from "../tls/mod.ts";
import type { Logger } from "./log.ts";
import { CA_KEY_ENTRY } from "./state.ts";

/** The gateway CA's certificate, kept beside its key (`CA_KEY_ENTRY`) when the vault is shared. */
export const CA_CERT_ENTRY = { name: CA_KEY_ENTRY.name, slot: "ca_cert" } as const;

/** What the last merge agreed on: each value's nonce by `name\0slot`. */
const SYNCED_FILE = "vault.synced.json";

/** How often a serving gateway merges. */
const ROUND_MS = 1_000;

const storeModule = () => import("../store/mod.ts");

/** What one merge changed. */
export interface VaultMerge {
  pushed: number;
  pulled: number;
}

/**
 * Merges `state_dir/vault.db` with the store's vault. `join`: adopt the store's root when it
 * differs (at start, or for a CLI command); without it a different root is an error.
 *
 * @throws {VaultKeyMismatchError} when this host's key cannot open the store's vault.
 * @example
 * ```ts
 * await mergeStoreVault(store.sql, "./state", { join: true, vault: {} });
 * ```
 */
export async function mergeStoreVault(
  sql: Sql,
  stateDir: string,
  options: { join: boolean; vault: OpenVaultOptions },
): Promise<VaultMerge> {
  const store = await storeModule();
  const { synced, agreed, merge } = await store.withVaultLock(sql, async (tx) => {
    const held = await store.readStoreVault(tx);
    let agreed = await readSynced(stateDir);
    if (held.root === null) {
      // The first to merge: this host's vault (and its CA) becomes the shared one.
      await keepCaCert(stateDir, options.vault);
      await store.putVaultRoot(tx, readSealedVault(stateDir).root);
      agreed = {};
    } else if (!sameBytes(readSealedVault(stateDir).root, held.root)) {
      if (!options.join) {
        throw new Error("The store's vault has another root than this host's: restart to join it");
      }
      await adoptSharedRoot(stateDir, held.root, held.secrets, options.vault);
      agreed = Object.fromEntries(held.secrets.map((s) => [keyOf(s), hex(s.nonce)]));
    }
    return { ...await reconcile(tx, stateDir, held, agreed), agreed };
  });
  // What was agreed only once the store committed (pulls were written under the lock, so a CLI
  // merging on this host meanwhile never has its change overwritten by an older pull).
  if (sorted(synced) !== sorted(agreed)) {
    await writeFileAtomic(join(stateDir, SYNCED_FILE), new TextEncoder().encode(sorted(synced)));
  }
  return merge;
}

/**
 * At a gateway's start with `store_vault`: joins the store's vault (before the vault and the CA
 * are opened) and rewrites `ca.pem` to the shared CA's certificate; `null` without `store_vault`.
 */
export async function joinStoreVault(
  config: Config,
  stateDir: string,
  sql: Sql | undefined,
  vault: OpenVaultOptions,
  log: Logger,
): Promise<StoreVaultReplica | null> {
  if (!config.gateway.store?.vault || sql === undefined) return null;
  const { pushed, pulled } = await mergeStoreVault(sql, stateDir, { join: true, vault });
  await keepCaCert(stateDir, vault);
  log.log("info", `vault kept in the store: ${pulled} values taken, ${pushed} added`);
  return new StoreVaultReplica(sql, stateDir, vault, log);
}

/** A serving gateway's merges, each second. */
export class StoreVaultReplica {
  readonly #sql: Sql;
  readonly #stateDir: string;
  readonly #vault: OpenVaultOptions;
  readonly #log: Logger;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | null = null;
  #failing = false;

  constructor(sql: Sql, stateDir: string, vault: OpenVaultOptions, log: Logger) {
    this.#sql = sql;
    this.#stateDir = stateDir;
    this.#vault = vault;
    this.#log = log;
  }

  /** Starts the rounds. */
  start(): void {
    this.#timer = setInterval(() => this.round(), ROUND_MS);
    Deno.unrefTimer(this.#timer);
  }

  /** One merge now (a running one is joined); a failure is logged once until one succeeds. */
  round(): Promise<void> {
    this.#running ??= mergeStoreVault(this.#sql, this.#stateDir, {
      join: false,
      vault: this.#vault,
    })
      .then((merged) => {
        if (this.#failing) this.#log.log("info", "vault merges with the store again");
        this.#failing = false;
        if (merged.pulled > 0) {
          this.#log.log("info", `vault: ${merged.pulled} values from the store`);
        }
      })
      .catch((err) => {
        if (!this.#failing) {
          this.#log.log("warn", `vault not merged with the store: ${err.message}`);
        }
        this.#failing = true;
      })
      .finally(() => this.#running = null);
    return this.#running;
  }

  /** Stops the rounds and waits for the one running. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }
}

/**
 * Per value: the side that changed since the last agreement wins; changed on both, the later
 * write. Pushes and removals go to the store (in the transaction), pulls to the vault file; what
 * both now agree on is returned, to be remembered once the transaction committed.
 */
async function reconcile(
  tx: Query,
  stateDir: string,
  held: StoreVault,
  agreed: Record<string, string>,
) {
  const store = await storeModule();
  const local = new Map(readSealedVault(stateDir).entries.map((e) => [keyOf(e), e]));
  const theirs = new Map(held.secrets.map((s) => [keyOf(s), s]));
  const gone = new Map(held.removed.map((r) => [keyOf(r), r]));
  const keys = new Set([...local.keys(), ...theirs.keys(), ...gone.keys(), ...Object.keys(agreed)]);
  const pushes: SealedEntry[] = [];
  const storeRemovals: RemovedSecret[] = [];
  const pulls: SealedEntry[] = [];
  const removals: { name: string; slot: string }[] = [];
  const synced: Record<string, string> = {};
  for (const key of keys) {
    const mine = local.get(key);
    const stored = theirs.get(key);
    const mineNonce = mine ? hex(mine.nonce) : null;
    const storedNonce = stored ? hex(stored.nonce) : null;
    const before = agreed[key] ?? null;
    let now: string | null = mineNonce;
    if (mineNonce !== storedNonce) {
      const mineChanged = mineNonce !== before;
      const storeChanged = storedNonce !== before;
      const storeWrote = stored?.updatedAt ?? gone.get(key)?.updatedAt ?? "";
      const ours = mineChanged && (!storeChanged || (mine?.updatedAt ?? "") > storeWrote);
      if (ours) {
        if (mine) pushes.push(mine);
        else if (stored) storeRemovals.push({ ...split(key), updatedAt: new Date().toISOString() });
      } else {
        if (stored) pulls.push(stored);
        else if (mine) removals.push(split(key));
        now = storedNonce;
      }
    }
    if (now !== null) synced[key] = now;
  }
  await store.putSecrets(tx, pushes);
  await store.removeSecrets(tx, storeRemovals);
  // Each second on every gateway: the file is written only when something changed.
  if (pulls.length + removals.length > 0) writeSealedEntries(stateDir, pulls, removals);
  return {
    synced,
    merge: { pushed: pushes.length + storeRemovals.length, pulled: pulls.length + removals.length },
  };
}

/**
 * Keeps the CA certificate in the vault beside its key: `ca.pem` is written from the vault's copy
 * when they differ (a host that joined), else the vault takes `ca.pem` (the first host).
 */
async function keepCaCert(stateDir: string, unlock: OpenVaultOptions): Promise<void> {
  const vault = await openVault(stateDir, unlock);
  try {
    const path = join(stateDir, CA_CERT_FILE);
    const shared = await vault.get(CA_CERT_ENTRY.name, CA_CERT_ENTRY.slot);
    const own = await Deno.readTextFile(path);
    if (shared === null) await vault.set(CA_CERT_ENTRY.name, CA_CERT_ENTRY.slot, own);
    else if (shared !== own) {
      await writeFileAtomic(path, new TextEncoder().encode(shared), { mode: 0o644 });
    }
  } finally {
    vault.close();
  }
}

async function readSynced(stateDir: string): Promise<Record<string, string>> {
  try {
    return JSON.parse(await Deno.readTextFile(join(stateDir, SYNCED_FILE)));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return {};
    throw err;
  }
}

function sorted(agreed: Record<string, string>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(agreed).sort()));
}

function split(key: string): { name: string; slot: string } {
  const [name, slot] = key.split("\0");
  return { name, slot };
}

function keyOf(e: { name: string; slot: string }): string {
  return `${e.name}\0${e.slot}`;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
