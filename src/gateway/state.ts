/**
 * The state directory: gateway CA, vault key, receipts. Created by `init` with mode 0700.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { createGatewayCa } from "../tls/mod.ts";
import { pathExists } from "../core/mod.ts";
import type { Config } from "../config/mod.ts";

/** File name of the vault's key-encryption key inside the state directory. */
export const MASTER_KEY_FILE = "master.key";
/** File name of the receipts database inside the state directory. */
export const RECEIPTS_FILE = "receipts.db";

/**
 * The config's `state_dir`, resolved relative to the config (its directory, or the config
 * directory itself), never to the process's cwd.
 */
export async function stateDirOf(config: Config): Promise<string> {
  const isDirectory = (await Deno.stat(config.path)).isDirectory;
  return resolve(isDirectory ? config.path : join(config.path, ".."), config.gateway.stateDir);
}

/**
 * Creates the state directory (0700), the gateway CA (key 0600) and the vault key (0600).
 * Existing files are kept unless `force`; returns which files were created.
 */
export async function createState(stateDir: string, force = false): Promise<string[]> {
  await Deno.mkdir(stateDir, { recursive: true, mode: 0o700 });
  await Deno.chmod(stateDir, 0o700);
  const created: string[] = [];
  const caExists = await pathExists(join(stateDir, "ca.pem"));
  if (!caExists || force) {
    await createGatewayCa(stateDir, { force });
    created.push(join(stateDir, "ca.pem"), join(stateDir, "ca.key"));
  }
  const keyPath = join(stateDir, MASTER_KEY_FILE);
  if (!(await pathExists(keyPath)) || force) {
    const key = crypto.getRandomValues(new Uint8Array(32));
    // Created 0600 from the first byte: the key is never briefly readable by others.
    const file = await Deno.open(keyPath, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    try {
      await Deno.chmod(keyPath, 0o600);
      await file.write(new TextEncoder().encode(btoa(String.fromCharCode(...key)) + "\n"));
    } finally {
      file.close();
    }
    created.push(keyPath);
  }
  return created;
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
