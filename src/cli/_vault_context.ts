/**
 * What every `clawpatrol vault` subcommand starts from: the config, its state directory, where
 * secrets come from, and how the vault there is unlocked.
 *
 * @module
 */

import { join } from "node:path";
import type { Config } from "../config/mod.ts";
import { pathExists } from "../core/mod.ts";
import {
  MASTER_KEY_ENV,
  MASTER_KEY_FILE,
  type OpenVaultOptions,
  Vault,
  VAULT_FILE,
} from "../credentials/mod.ts";
import { checkStateDir, loadAndCompile, stateDirOf } from "../gateway/mod.ts";
import { type GlobalOptions, UsageError } from "./_args.ts";
import { readSecret, StdinReader } from "./_secret_input.ts";

/** The config, its state directory and how to unlock the vault in it. */
export interface VaultContext {
  config: Config;
  stateDir: string;
  vaultPath: string;
  /** Set when `--passphrase-stdin` or `--new-key-stdin`: stdin holds secrets line by line. */
  stdin?: StdinReader;
  passphraseStdin: boolean;
  envKey?: string;
}

/**
 * Loads the config, checks its state directory, and notes how secrets arrive (stdin or a prompt)
 * and whether `CLAWPATROL_MASTER_KEY` holds the vault key.
 *
 * @example
 * ```ts
 * const ctx = await vaultContext(global, values);
 * ```
 */
export async function vaultContext(
  global: GlobalOptions,
  values: Record<string, unknown>,
): Promise<VaultContext> {
  const passphraseStdin = values["passphrase-stdin"] === true;
  const usesStdin = passphraseStdin || values["new-key-stdin"] === true;
  if (usesStdin && Deno.stdin.isTerminal()) {
    throw new UsageError(
      `--${
        passphraseStdin ? "passphrase-stdin" : "new-key-stdin"
      } reads stdin, which is a terminal: pipe the input in, or leave the option out to be asked`,
    );
  }
  const { config } = await loadAndCompile(global.config);
  const stateDir = await stateDirOf(config);
  await checkStateDir(stateDir);
  return {
    config,
    stateDir,
    vaultPath: join(stateDir, VAULT_FILE),
    stdin: usesStdin ? new StdinReader() : undefined,
    passphraseStdin,
    // An empty variable (`export CLAWPATROL_MASTER_KEY=`) means unset.
    envKey: Deno.env.get(MASTER_KEY_ENV) || undefined,
  };
}

/** How to unlock: the env key, else master.key; the passphrase from stdin or a prompt. */
export function unlockOptions(ctx: VaultContext): OpenVaultOptions {
  return {
    envKey: ctx.envKey,
    passphrase: () =>
      readSecret("Vault passphrase: ", {
        stdinLines: ctx.passphraseStdin ? ctx.stdin : undefined,
        what: "the vault passphrase",
      }),
  };
}

/** Refuses `--passphrase-stdin` for a key vault: its first line would be taken for nothing. */
export async function refuseStrayPassphrase(
  ctx: VaultContext,
  kindAfter?: "key" | "passphrase",
): Promise<void> {
  if (!ctx.passphraseStdin) return;
  if (!(await pathExists(ctx.vaultPath))) {
    throw new UsageError(
      `the vault '${ctx.vaultPath}' does not exist, so no passphrase opens it: run ` +
        `'clawpatrol init', or leave out --passphrase-stdin`,
    );
  }
  if (Vault.unlockKind(ctx.vaultPath) === "key" && kindAfter !== "passphrase") {
    throw new UsageError(
      `the vault '${ctx.vaultPath}' is unlocked by a key (${MASTER_KEY_FILE} or ` +
        `${MASTER_KEY_ENV}), not a passphrase: leave out --passphrase-stdin`,
    );
  }
}

/** Whether the config declares credential `name`. */
export function isConfigured(config: Config, name: string): boolean {
  return [...config.credentials.values()].some((c) => c.name === name);
}
