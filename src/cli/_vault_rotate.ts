/**
 * `clawpatrol vault rotate-key [--to-passphrase | --to-key] [--new-key-stdin]`: re-wraps the
 * vault's root key under a new key or passphrase. Stored values are untouched, so a running
 * gateway keeps working; the old key or passphrase stops opening the vault.
 *
 * @module
 */

import { join } from "node:path";
import { pathExists, shredFile, zeroFile } from "../core/mod.ts";
import {
  generateMasterKey,
  MASTER_KEY_ENV,
  MASTER_KEY_FILE,
  openVault,
  parseMasterKey,
  PENDING_KEY_SUFFIX,
  type UnlockKind,
  Vault,
  VAULT_FILE,
  writeKeyFile,
} from "../credentials/mod.ts";
import { UsageError } from "./_args.ts";
import { err, out } from "./_io.ts";
import { readSecret, StdinReader } from "./_secret_input.ts";
import { refuseStrayPassphrase, unlockOptions, type VaultContext } from "./_vault_context.ts";

/** Passphrases shorter than this get a warning: a copy of vault.db can be attacked offline. */
const SHORT_PASSPHRASE = 12;

/** The options of `vault rotate-key`. */
export interface RotateOptions {
  toPassphrase: boolean;
  toKey: boolean;
  newKeyStdin: boolean;
}

/**
 * Runs `vault rotate-key`: to a new passphrase, or to a new key (in `master.key`, or given on
 * stdin when `CLAWPATROL_MASTER_KEY` holds the key).
 *
 * @example
 * ```ts
 * await vaultRotateKey(ctx, { toPassphrase: true, toKey: false, newKeyStdin: false });
 * ```
 */
export async function vaultRotateKey(ctx: VaultContext, options: RotateOptions): Promise<number> {
  const { current, target } = await rotation(ctx, options);
  await refuseStrayPassphrase(ctx, target);
  const keyFile = join(ctx.stateDir, MASTER_KEY_FILE);
  const vault = await openVault(ctx.stateDir, unlockOptions(ctx));
  try {
    if (target === "passphrase") {
      await rotateToPassphrase(ctx, vault, current, keyFile);
      return 0;
    }
    await rotateToKey(ctx, vault, current, { keyFile, newKeyStdin: options.newKeyStdin });
    out(
      "Stored credentials are unchanged; a running gateway keeps working. Backups of vault.db " +
        "made before now still open with the old key.",
    );
    return 0;
  } finally {
    vault.close();
  }
}

/** What unlocks the vault now and what will after; refuses option combinations that make no sense. */
async function rotation(
  ctx: VaultContext,
  options: RotateOptions,
): Promise<{ current: UnlockKind; target: UnlockKind }> {
  const { toPassphrase, toKey, newKeyStdin } = options;
  if (toPassphrase && toKey) {
    throw new UsageError("--to-passphrase and --to-key exclude each other");
  }
  if (!(await pathExists(ctx.vaultPath))) {
    throw new Error(`Vault file '${ctx.vaultPath}' does not exist: run 'clawpatrol init'`);
  }
  const current = Vault.unlockKind(ctx.vaultPath);
  if (toPassphrase && current === "passphrase") {
    throw new UsageError(
      "the vault is already passphrase-protected: leave out --to-passphrase to change the passphrase",
    );
  }
  if (toKey && current === "key") {
    throw new UsageError("the vault is already unlocked by a key: leave out --to-key to rotate it");
  }
  const target = toPassphrase ? "passphrase" : toKey ? "key" : current;
  if (newKeyStdin && target !== "key") {
    throw new UsageError("--new-key-stdin is for a vault unlocked by a key, not a passphrase");
  }
  if (target === "key" && ctx.envKey !== undefined && !newKeyStdin) {
    throw new UsageError(
      `the vault key comes from ${MASTER_KEY_ENV}: pass the new key on stdin with ` +
        `--new-key-stdin (e.g. 'openssl rand -base64 32'), then update the variable`,
    );
  }
  return { current, target };
}

/** A new passphrase (asked twice at a terminal); a key vault's `master.key` is shredded after. */
async function rotateToPassphrase(
  ctx: VaultContext,
  vault: Vault,
  current: UnlockKind,
  keyFile: string,
): Promise<void> {
  const passphrase = await readSecret("New vault passphrase: ", {
    stdinLines: ctx.passphraseStdin ? ctx.stdin : undefined,
    what: "the new vault passphrase",
    confirm: true,
  });
  if ([...passphrase].length < SHORT_PASSPHRASE) {
    err(
      `Warning: a passphrase shorter than ${SHORT_PASSPHRASE} characters can be guessed ` +
        `offline by anyone with a copy of ${VAULT_FILE}`,
    );
  }
  await vault.rotateKey({ kind: "passphrase", passphrase });
  if (current === "key") {
    const hadKeyFile = await pathExists(keyFile);
    if (hadKeyFile) await shredFile(keyFile);
    out(
      `The vault is now passphrase-protected${
        hadKeyFile ? `; ${keyFile} is deleted` : ""
      }. The gateway asks for the passphrase when it starts (serve --passphrase-stdin ` +
        `reads it from stdin).`,
    );
    if (ctx.envKey !== undefined) {
      err(`Note: ${MASTER_KEY_ENV} no longer opens the vault: unset it`);
    }
  } else {
    out("Changed the vault passphrase: the old one no longer opens the vault.");
  }
  out("Stored credentials are unchanged; a running gateway keeps working.");
}

/**
 * A new key: from stdin when the key lives in `CLAWPATROL_MASTER_KEY` (the operator updates the
 * variable), else generated and written to `master.key`.
 */
async function rotateToKey(
  ctx: VaultContext,
  vault: Vault,
  current: UnlockKind,
  where: { keyFile: string; newKeyStdin: boolean },
): Promise<void> {
  const { keyFile, newKeyStdin } = where;
  const key = newKeyStdin ? await readNewKey(ctx) : generateMasterKey();
  if (ctx.envKey !== undefined) {
    await vault.rotateKey({ kind: "key", key, origin: "the new key" });
    out(
      `${current === "key" ? "Rotated the vault key" : "The vault is now unlocked by a key"}: ` +
        `set ${MASTER_KEY_ENV} to the new key (the one given on stdin) wherever the gateway ` +
        `runs; the old ${current === "key" ? "key" : "passphrase"} no longer opens the vault.`,
    );
    if (await pathExists(keyFile)) {
      err(`Note: ${keyFile} does not hold the new key: remove it or replace its content`);
    }
    return;
  }
  // The new key is on disk before the rotation commits, and in place after: an interruption
  // leaves it in master.key.new, which openVault points out.
  const pending = keyFile + PENDING_KEY_SUFFIX;
  await writeKeyFile(pending, key, { overwrite: true });
  await vault.rotateKey({ kind: "key", key, origin: `'${keyFile}'` });
  if (await pathExists(keyFile)) await zeroFile(keyFile);
  await Deno.rename(pending, keyFile);
  out(
    `${
      current === "key" ? "Rotated the vault key" : "The vault is now unlocked by a key"
    }: the new key is in ${keyFile}; the old ${
      current === "key" ? "key" : "passphrase"
    } no longer opens the vault.`,
  );
}

/** The new key for `--new-key-stdin`: the next line of stdin, base64 of 32 bytes. */
async function readNewKey(ctx: VaultContext): Promise<Uint8Array> {
  const line = await (ctx.stdin ?? new StdinReader()).line();
  if (line === null) throw new UsageError("stdin ended before the new key (base64 of 32 bytes)");
  return parseMasterKey(line, "stdin");
}
