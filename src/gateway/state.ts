/**
 * The state directory: gateway CA, vault key, admin token, receipts. Created by `init` with mode
 * 0700.
 *
 * @module
 */

import { join, resolve } from "node:path";
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  createGatewayCa,
  type GatewayCa,
  loadGatewayCa,
  readGatewayCaKey,
} from "../tls/mod.ts";
import {
  MASTER_KEY_FILE,
  openVault,
  type OpenVaultOptions,
  type Vault,
  VAULT_FILE,
} from "../credentials/mod.ts";
import { pathExists, shredFile } from "../core/mod.ts";
import type { Config } from "../config/mod.ts";
import { ensureAdminToken } from "../admin/mod.ts";

export { MASTER_KEY_FILE, VAULT_FILE };
export { acquireStateLock, LOCK_FILE, type StateLock } from "./_state_lock.ts";
/** File name of the receipts database inside the state directory. */
export const RECEIPTS_FILE = "receipts.db";

/**
 * The config's `state_dir`, resolved relative to the config (its directory, or the config
 * directory itself), never to the process's cwd.
 */
export async function stateDirOf(config: Config): Promise<string> {
  return resolve(await configDirOf(config), config.gateway.stateDir);
}

/** The directory relative paths in `config` are resolved against: its own, or its file's. */
export async function configDirOf(config: Config): Promise<string> {
  const isDirectory = (await Deno.stat(config.path)).isDirectory;
  return resolve(isDirectory ? config.path : join(config.path, ".."));
}

/** Vault entry holding the gateway CA's private key (no configured credential can be named so). */
export const CA_KEY_ENTRY = { name: "@gateway", slot: "ca_key" } as const;

/**
 * Creates the state directory (0700), the gateway CA, the vault (with its key file unless the
 * vault is passphrase- or env-keyed) and the admin token (`admin.token`, 0600), then moves the CA
 * key into the vault. Existing files are kept unless `force` (which only replaces the CA; the
 * admin token is never replaced); returns which files were created.
 */
export async function createState(
  stateDir: string,
  force = false,
  vaultOptions: OpenVaultOptions = {},
): Promise<string[]> {
  await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
  await Deno.chmod(stateDir, 0o700);
  const created: string[] = [];
  const newCa = force || !(await pathExists(join(stateDir, CA_CERT_FILE)));
  if (newCa) {
    await createGatewayCa(stateDir, { force });
    created.push(join(stateDir, CA_CERT_FILE));
  }
  const keyFile = join(stateDir, MASTER_KEY_FILE);
  const vaultFile = join(stateDir, VAULT_FILE);
  const hadKey = await pathExists(keyFile);
  const hadVault = await pathExists(vaultFile);
  const vault = await openVault(stateDir, { ...vaultOptions, create: vaultOptions.create ?? true });
  try {
    if (!hadVault) created.push(vaultFile);
    if (!hadKey && await pathExists(keyFile)) created.push(keyFile);
    // A replaced CA must replace the vaulted key too, or the two would no longer match.
    if (newCa) vault.remove(CA_KEY_ENTRY.name, CA_KEY_ENTRY.slot);
    await openGatewayCa(stateDir, vault);
  } finally {
    vault.close();
  }
  const adminToken = ensureAdminToken(stateDir);
  if (adminToken.created) created.push(adminToken.path);
  return created;
}

/**
 * Loads the gateway CA with its key from the vault. A state directory from before the vault
 * still has `ca.key`: its key is checked against the certificate, sealed into the vault, and the
 * file is overwritten and removed, so the key exists only encrypted.
 */
export async function openGatewayCa(stateDir: string, vault: Vault): Promise<GatewayCa> {
  const keyFile = join(stateDir, CA_KEY_FILE);
  const sealed = await vault.get(CA_KEY_ENTRY.name, CA_KEY_ENTRY.slot);
  const onDisk = await pathExists(keyFile);
  if (sealed !== null) {
    const ca = await loadGatewayCa(stateDir, { privateKeyPem: sealed });
    // A leftover key file (a restored backup) is removed once the vault's copy is known good.
    if (onDisk) await shredFile(keyFile);
    return ca;
  }
  if (!onDisk) {
    throw new Error(
      `The gateway CA key is neither in the vault nor in '${keyFile}': run 'clawpatrol init --force' to create a new CA (agents must then trust the new ${CA_CERT_FILE})`,
    );
  }
  const pem = await readGatewayCaKey(stateDir);
  const ca = await loadGatewayCa(stateDir, { privateKeyPem: pem, privateKeySource: keyFile });
  await vault.set(CA_KEY_ENTRY.name, CA_KEY_ENTRY.slot, pem);
  await shredFile(keyFile);
  return ca;
}

/**
 * Checks the state directory is private: refuses a directory other users can read or enter,
 * with the `chmod` that fixes it.
 */
export async function checkStateDir(stateDir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(stateDir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(`State directory '${stateDir}' does not exist: run 'clawpatrol init'`);
    }
    throw err;
  }
  if (!info.isDirectory) throw new Error(`State directory '${stateDir}' is not a directory`);
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw new Error(
      `State directory '${stateDir}' is accessible by other users (mode ${
        (info.mode & 0o777).toString(8)
      }): run 'chmod 700 ${stateDir}'`,
    );
  }
}
