/**
 * How `init`, `serve` and `start` unlock (or create) the vault: `CLAWPATROL_MASTER_KEY` when set,
 * else `state_dir/master.key`, or a passphrase from stdin (`--passphrase-stdin`) or a prompt.
 *
 * @module
 */

import { MASTER_KEY_ENV, type OpenVaultOptions } from "../credentials/mod.ts";
import { readSecret, StdinReader } from "./_secret_input.ts";

/** Options for {@linkcode vaultUnlock}. */
export interface VaultUnlockOptions {
  /** The passphrase is the first line of stdin instead of a terminal prompt. */
  passphraseStdin: boolean;
  /** Create a passphrase-protected vault when none exists (`init --passphrase…`). */
  createWithPassphrase?: boolean;
}

/**
 * The unlock options for the vault; the passphrase is asked for only when the vault needs one.
 *
 * @example
 * ```ts
 * const vault = await openVault(stateDir, vaultUnlock({ passphraseStdin: false }));
 * ```
 */
export function vaultUnlock(options: VaultUnlockOptions): OpenVaultOptions {
  const stdin = options.passphraseStdin ? new StdinReader() : undefined;
  let asked: Promise<string> | undefined;
  return {
    envKey: Deno.env.get(MASTER_KEY_ENV) || undefined,
    // Asked at most once per command, whoever opens the vault first.
    passphrase: () =>
      asked ??= readSecret("Vault passphrase: ", {
        stdinLines: stdin,
        what: "the vault passphrase",
        confirm: options.createWithPassphrase === true,
      }),
    ...(options.createWithPassphrase ? { create: { passphrase: true } as const } : {}),
  };
}
