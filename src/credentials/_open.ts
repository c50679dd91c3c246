/**
 * Opening the vault of a state directory: which key unlocks it (`CLAWPATROL_MASTER_KEY`,
 * `master.key`, a passphrase), and creating it when asked.
 *
 * @module
 */

import { join } from "node:path";
import { pathExists } from "../core/mod.ts";
import { VaultError } from "./_error.ts";
import {
  checkPrivate,
  generateMasterKey,
  type KeySource,
  MASTER_KEY_ENV,
  MASTER_KEY_FILE,
  parseMasterKey,
  readKeyFile,
  writeKeyFile,
} from "./_keys.ts";
import { Vault, VAULT_FILE } from "./vault.ts";

/** Suffix of the key file `clawpatrol vault rotate-key` writes before it commits the rotation. */
export const PENDING_KEY_SUFFIX = ".new";

/** Options for {@linkcode openVault}. */
export interface OpenVaultOptions {
  /** Called only when the vault is passphrase-protected (or when creating with passphrase: true). */
  passphrase?: () => Promise<string>;
  /** The value of CLAWPATROL_MASTER_KEY when set (callers read the env). Takes precedence over master.key. */
  envKey?: string;
  /**
   * Create vault.db when missing. With `passphrase: true` the new vault is passphrase-protected
   * (no master.key is written); otherwise with envKey when given, else state_dir/master.key,
   * which is created (0600, atomically) when missing.
   * @default {false}
   */
  create?: boolean | { passphrase: true };
}

/**
 * Resolves the key-encryption key and opens (or, with `create`, creates) `state_dir/vault.db`.
 * Refuses a state directory, key file or vault file that other users may access.
 *
 * @example
 * ```ts
 * const vault = await openVault("./state", {
 *   envKey: Deno.env.get("CLAWPATROL_MASTER_KEY") || undefined,
 *   passphrase: () => askPassphrase(),
 * });
 * ```
 */
export async function openVault(stateDir: string, options: OpenVaultOptions = {}): Promise<Vault> {
  try {
    await checkPrivate(stateDir, "State directory");
  } catch (err) {
    if (err instanceof VaultError && !(await pathExists(stateDir))) {
      throw new VaultError(`State directory '${stateDir}' does not exist: run 'clawpatrol init'`);
    }
    throw err;
  }
  if (!(await Deno.stat(stateDir)).isDirectory) {
    throw new VaultError(`State directory '${stateDir}' is not a directory`);
  }
  const path = join(stateDir, VAULT_FILE);
  if (!(await pathExists(path))) {
    if (!options.create) {
      throw new VaultError(`Vault file '${path}' does not exist: run 'clawpatrol init'`);
    }
    if (typeof options.create === "object" && options.create.passphrase) {
      return Vault.create(path, { kind: "passphrase", passphrase: await askPassphrase(options) });
    }
    return Vault.create(path, await keySource(stateDir, options.envKey, true));
  }
  if (Vault.unlockKind(path) === "passphrase") {
    if (!options.passphrase) {
      throw new VaultError(
        `The vault '${path}' is passphrase-protected: pass --passphrase-stdin, or run in a ` +
          `terminal to be asked`,
      );
    }
    return Vault.open(path, { kind: "passphrase", passphrase: await askPassphrase(options) });
  }
  try {
    return await Vault.open(path, await keySource(stateDir, options.envKey, false));
  } catch (err) {
    const pending = join(stateDir, MASTER_KEY_FILE + PENDING_KEY_SUFFIX);
    if (err instanceof VaultError && options.envKey === undefined && await pathExists(pending)) {
      throw new VaultError(
        `${err.message}; '${pending}' is left from an interrupted 'clawpatrol vault rotate-key': ` +
          `if it is the new key, run 'mv ${pending} ${join(stateDir, MASTER_KEY_FILE)}'`,
      );
    }
    throw err;
  }
}

async function askPassphrase(options: OpenVaultOptions): Promise<string> {
  if (!options.passphrase) {
    throw new VaultError("A passphrase-protected vault needs a passphrase, and none was given");
  }
  const passphrase = await options.passphrase();
  if (passphrase === "") throw new VaultError("The vault passphrase is empty");
  return passphrase;
}

/** The key from `envKey`, else `master.key` (created when `create` and missing); `sealed.ts` too. */
export async function keySource(
  stateDir: string,
  envKey: string | undefined,
  create: boolean,
): Promise<KeySource> {
  if (envKey !== undefined) {
    return { kind: "key", key: parseMasterKey(envKey, MASTER_KEY_ENV), origin: MASTER_KEY_ENV };
  }
  const keyFile = join(stateDir, MASTER_KEY_FILE);
  const origin = `'${keyFile}'`;
  if (await pathExists(keyFile)) return { kind: "key", key: await readKeyFile(keyFile), origin };
  if (!create) {
    throw new VaultError(
      `The vault '${join(stateDir, VAULT_FILE)}' is unlocked by a key, but '${keyFile}' does ` +
        `not exist and ${MASTER_KEY_ENV} is not set: restore the key file or set the variable`,
    );
  }
  const key = generateMasterKey();
  await writeKeyFile(keyFile, key);
  return { kind: "key", key, origin };
}
