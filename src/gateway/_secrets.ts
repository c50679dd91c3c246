/**
 * Secrets from the vault, decrypted on demand and kept in memory only briefly: a value unused for
 * `idleMs` is dropped, and every value is dropped as soon as the vault changes on disk (another
 * process ran `clawpatrol vault set` or `rm`). Also the warning for configured credentials the
 * vault holds no value for.
 *
 * @module
 */

import type { Config } from "../config/mod.ts";
import { DEFAULT_SLOT, type Vault } from "../credentials/mod.ts";
import type { Logger } from "./log.ts";
import { commandName } from "./command_name.ts";

/** Options for {@linkcode SecretCache}. */
export interface SecretCacheOptions {
  /**
   * A decrypted value unused this long is forgotten.
   * @default {60_000}
   */
  idleMs?: number;
  /**
   * How often the vault is asked whether it changed (a cheap SQLite pragma).
   * @default {250}
   */
  changeCheckMs?: number;
}

interface Entry {
  value: string;
  usedAt: number;
}

/** Decrypted secrets by credential name, over one open vault. */
export class SecretCache {
  readonly #vault: Vault;
  readonly #entries = new Map<string, Entry>();
  readonly #idleMs: number;
  readonly #changeCheckMs: number;
  #version: number;
  #checkedAt = 0;
  #sweep: ReturnType<typeof setInterval> | undefined;
  readonly #forgetListeners = new Set<() => void>();

  constructor(vault: Vault, options: SecretCacheOptions = {}) {
    this.#vault = vault;
    this.#idleMs = options.idleMs ?? 60_000;
    this.#changeCheckMs = options.changeCheckMs ?? 250;
    this.#version = vault.version();
  }

  /**
   * The secret stored for `name` (in `slot`), or `null` when the vault has none.
   *
   * @throws {VaultError} when the stored row fails authentication (tampered, or another key).
   */
  async get(name: string, slot: string = DEFAULT_SLOT): Promise<string | null> {
    const held = this.held(name, slot);
    if (held !== undefined) return held;
    const value = await this.#vault.get(name, slot);
    if (value === null) return null;
    this.#entries.set(entryKey(name, slot), { value, usedAt: performance.now() });
    this.#scheduleSweep();
    return value;
  }

  /**
   * The value held decrypted for `name` (in `slot`), read as `get` reads it (a vault changed on
   * disk is noticed first), or `undefined` when none is held and only `get` can read it. Spares
   * a request's hot path the promise `get` returns.
   */
  held(name: string, slot: string = DEFAULT_SLOT): string | undefined {
    const now = performance.now();
    if (now - this.#checkedAt >= this.#changeCheckMs) {
      this.#checkedAt = now;
      const version = this.#vault.version();
      if (version !== this.#version) {
        this.#version = version;
        this.#forget(() => this.#entries.clear());
      }
    }
    const hit = this.#entries.get(entryKey(name, slot));
    if (hit === undefined) return undefined;
    hit.usedAt = now;
    return hit.value;
  }

  /**
   * Stores `value` for `name` in `slot` (a refresh token the provider rotated). The gateway's
   * own write does not count as the vault changing: held values stay.
   */
  async set(name: string, slot: string, value: string): Promise<void> {
    await this.#vault.set(name, slot, value);
    this.#version = this.#vault.version();
    this.#entries.set(entryKey(name, slot), { value, usedAt: performance.now() });
    this.#scheduleSweep();
  }

  /**
   * Calls `listener` whenever values are forgotten, so whatever was derived from them (a
   * compiled scrubber) is dropped too. Returns the unsubscribe function.
   */
  onForget(listener: () => void): () => void {
    this.#forgetListeners.add(listener);
    return () => this.#forgetListeners.delete(listener);
  }

  /** Forgets every decrypted value (reload, shutdown). */
  clear(): void {
    this.#forget(() => this.#entries.clear());
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  /** How long a value may go unused before it is dropped. */
  get idleMs(): number {
    return this.#idleMs;
  }

  /** Number of values held decrypted right now. */
  get size(): number {
    return this.#entries.size;
  }

  #forget(drop: () => void): void {
    drop();
    for (const listener of this.#forgetListeners) listener();
  }

  #scheduleSweep(): void {
    if (this.#sweep !== undefined) return;
    this.#sweep = setInterval(() => {
      const now = performance.now();
      const idle = [...this.#entries].filter(([, entry]) => now - entry.usedAt >= this.#idleMs);
      if (idle.length > 0) this.#forget(() => idle.forEach(([name]) => this.#entries.delete(name)));
      if (this.#entries.size === 0) {
        clearInterval(this.#sweep);
        this.#sweep = undefined;
      }
    }, Math.max(50, Math.min(this.#idleMs, 10_000)));
    // The sweep must never keep a stopping gateway (or a test) alive.
    Deno.unrefTimer(this.#sweep as unknown as number);
  }
}

/** Names every configured credential the vault holds no value for (listing decrypts nothing). */
export function warnMissingSecrets(vault: Vault, config: Config, log: Logger): void {
  let stored: Set<string>;
  try {
    stored = new Set(vault.list().map((e) => e.name));
  } catch (err) {
    log.log("error", `vault: ${(err as Error).message}`);
    return;
  }
  for (const credential of config.credentials.values()) {
    if (stored.has(credential.name)) continue;
    log.log(
      "warn",
      `credential '${credential.name}' has no value in the vault: requests that need it are refused`,
      { fix: `${commandName()} vault set ${credential.name}` },
    );
  }
}

/** NUL cannot occur in credential or slot names, so keys never collide. */
function entryKey(name: string, slot: string): string {
  return slot === DEFAULT_SLOT ? name : `${name}\0${slot}`;
}
