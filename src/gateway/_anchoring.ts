/**
 * Anchoring (`gateway.receipts.anchor_*`): every `anchor_every`, when the chains moved, the
 * gateway signs their heads with its anchor key and writes the anchor to the log, appends it to
 * `anchor_file` and POSTs it to `anchor_url`. What fails is logged and tried again next round;
 * decisions never wait on it.
 *
 * The key is an Ed25519 key sealed in the vault in the gateway's own entry (`@gateway`, like the
 * CA's key: no config credential can be named so). It is made on first use; `clawpatrol log pubkey --rotate` retires it (its public half stays listed,
 * so anchors it signed keep verifying).
 *
 * @module
 */

import { isAbsolute, relative, resolve } from "node:path";
import {
  type AnchorKey,
  type ChainHeads,
  chainHeads,
  importAnchorKey,
  keyId,
  newAnchorKey,
  signAnchor,
} from "../audit/mod.ts";
import type { Config } from "../config/mod.ts";
import type { Vault } from "../credentials/mod.ts";
import type { Logger } from "./log.ts";

/** The gateway's own vault entry (see `CA_KEY_ENTRY`). */
const ANCHOR_VAULT_NAME = "@gateway";
/** Slots: the private key (PKCS#8, base64url) and the retired public keys (JSON list). */
const PRIVATE_SLOT = "anchor_key";
const RETIRED_SLOT = "anchor_retired_keys";
/** How long a POST to `anchor_url` may take. */
const POST_TIMEOUT_MS = 10_000;

/** The anchor key from the vault, made and sealed there on first use. */
export async function anchorKey(vault: Vault): Promise<AnchorKey> {
  const sealed = await vault.get(ANCHOR_VAULT_NAME, PRIVATE_SLOT);
  if (sealed !== null) return await importAnchorKey(sealed);
  const made = await newAnchorKey();
  await vault.set(ANCHOR_VAULT_NAME, PRIVATE_SLOT, made.pkcs8);
  return { privateKey: made.privateKey, publicKey: made.publicKey };
}

/** Every public key anchors may be signed with: the current one first, then the retired. */
export async function trustedAnchorKeys(vault: Vault): Promise<string[]> {
  const current = (await anchorKey(vault)).publicKey;
  const retired = JSON.parse(await vault.get(ANCHOR_VAULT_NAME, RETIRED_SLOT) ?? "[]");
  return [current, ...(Array.isArray(retired) ? retired.filter((k) => typeof k === "string") : [])];
}

/** Retires the current key (kept as trusted) and makes a new one; returns the new public key. */
export async function rotateAnchorKey(vault: Vault): Promise<string> {
  const trusted = await trustedAnchorKeys(vault);
  const made = await newAnchorKey();
  await vault.set(ANCHOR_VAULT_NAME, RETIRED_SLOT, JSON.stringify(trusted));
  await vault.set(ANCHOR_VAULT_NAME, PRIVATE_SLOT, made.pkcs8);
  return made.publicKey;
}

/** Signs and ships anchors of the receipts at `path` while the gateway runs. */
export class Anchoring {
  readonly #path: string;
  readonly #vault: Vault;
  readonly #config: () => Config;
  readonly #log: Logger;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | null = null;
  #last: ChainHeads | null = null;
  #stopped = false;

  /** Throws when `anchor_file` is inside `stateDir` (whoever rewrites one would reach both). */
  constructor(path: string, stateDir: string, vault: Vault, config: () => Config, log: Logger) {
    const file = config().gateway.receipts.anchorFile;
    const inside = relative(resolve(stateDir), resolve(file ?? "/"));
    if (file !== null && !inside.startsWith("..") && !isAbsolute(inside)) {
      throw new Error(
        `gateway.receipts.anchor_file '${file}' is inside state_dir '${stateDir}': put anchors ` +
          "where whoever can write the receipts cannot (another disk, user or host)",
      );
    }
    this.#path = path;
    this.#vault = vault;
    this.#config = config;
    this.#log = log;
  }

  /** Starts the rounds; the first one comes after one interval (there is nothing to anchor yet). */
  start(): void {
    this.#schedule();
  }

  /** One round now (a round already running is joined). */
  round(): Promise<void> {
    this.#running ??= this.#anchor().finally(() => this.#running = null);
    return this.#running;
  }

  /**
   * Stops the rounds, then, when anchors leave the gateway (`anchor_file`, `anchor_url`),
   * anchors the heads once more: call it once the receipts are closed, so the last anchor covers
   * the last receipt (a tail cut while the gateway is down is caught).
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    const { anchorFile, anchorUrl } = this.#config().gateway.receipts;
    if (anchorFile || anchorUrl) await this.#anchor();
  }

  // A timeout re-armed each round, not an interval: a reload may change `anchor_every`.
  #schedule(): void {
    const every = this.#config().gateway.receipts.anchorEveryMs;
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.round().finally(() => this.#schedule());
    }, every ?? 60_000);
    Deno.unrefTimer(this.#timer);
  }

  async #anchor(): Promise<void> {
    const { anchorEveryMs, anchorFile, anchorUrl } = this.#config().gateway.receipts;
    if (anchorEveryMs === null) return;
    try {
      const heads = chainHeads(this.#path);
      if (this.#last && sameHeads(this.#last, heads)) return;
      const anchor = await signAnchor(heads, new Date(), await anchorKey(this.#vault));
      const line = JSON.stringify(anchor);
      this.#log.log(
        "info",
        `anchor: receipts ${heads.receipts.seq} ${heads.receipts.hash.slice(0, 16)}…, outcomes ` +
          `${heads.outcomes.seq}, signed by key ${await keyId(anchor.key)}`,
        { anchor },
      );
      this.#last = heads;
      if (anchorFile) await this.#append(resolve(anchorFile), line);
      if (anchorUrl) await this.#post(anchorUrl, line);
    } catch (err) {
      this.#log.log("error", `anchor not made this round: ${(err as Error).message}`);
    }
  }

  async #append(file: string, line: string): Promise<void> {
    try {
      await Deno.writeTextFile(file, line + "\n", { append: true, create: true, mode: 0o600 });
    } catch (err) {
      this.#log.log("error", `anchor not appended to ${file}: ${(err as Error).message}`);
    }
  }

  async #post(url: string, line: string): Promise<void> {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: line,
        signal: AbortSignal.timeout(POST_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`answered ${response.status}`);
    } catch (err) {
      // The URL is the operator's; its query could hold a token: log the origin only.
      const origin = new URL(url).origin;
      this.#log.log("error", `anchor not posted to ${origin}: ${(err as Error).message}`);
    }
  }
}

function sameHeads(a: ChainHeads, b: ChainHeads): boolean {
  return a.receipts.seq === b.receipts.seq && a.receipts.hash === b.receipts.hash &&
    a.outcomes.seq === b.outcomes.seq && a.outcomes.hash === b.outcomes.hash;
}
