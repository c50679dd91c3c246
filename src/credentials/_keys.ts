/**
 * Key-encryption keys for the vault: where they come from (`master.key`, `CLAWPATROL_MASTER_KEY`,
 * a passphrase), their text format, and the permission checks on the files that hold them.
 *
 * @module
 */

import { writeFileAtomic } from "../core/mod.ts";
import { VaultError } from "./_error.ts";

/** File name of the vault's key-encryption key inside the state directory (base64, mode 0600). */
export const MASTER_KEY_FILE = "master.key";

/** Environment variable that may hold the key instead of `master.key` (callers read it). */
export const MASTER_KEY_ENV = "CLAWPATROL_MASTER_KEY";

/** Length in bytes of a vault key. */
export const MASTER_KEY_BYTES = 32;

/** Largest key file read: a key is 45 bytes; anything much larger is not one. */
const MAX_KEY_FILE_BYTES = 4096;

/**
 * What unlocks the vault: a 32-byte key (from `master.key` or `CLAWPATROL_MASTER_KEY`; `origin`
 * names it in messages) or a passphrase (stretched with PBKDF2-SHA256).
 */
export type KeySource =
  | { kind: "key"; key: Uint8Array; origin: string }
  | { kind: "passphrase"; passphrase: string };

/**
 * Decodes a key written as base64 of 32 bytes (surrounding whitespace ignored). Errors name
 * `origin` and never repeat the text.
 *
 * @example
 * ```ts
 * const key = parseMasterKey(Deno.env.get("CLAWPATROL_MASTER_KEY")!, "CLAWPATROL_MASTER_KEY");
 * ```
 */
export function parseMasterKey(text: string, origin: string): Uint8Array {
  const trimmed = text.trim();
  const hint = "expected base64 of 32 random bytes, e.g. from 'openssl rand -base64 32'";
  if (trimmed === "") throw new VaultError(`The key from ${origin} is empty: ${hint}`);
  let binary: string;
  try {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new Error("not base64");
    binary = atob(trimmed);
  } catch {
    throw new VaultError(`The key from ${origin} is not valid base64: ${hint}`);
  }
  if (binary.length !== MASTER_KEY_BYTES) {
    throw new VaultError(
      `The key from ${origin} is ${binary.length} bytes long, not ${MASTER_KEY_BYTES}: ${hint}`,
    );
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * The text form of a key: base64 and a newline, as in `master.key`.
 *
 * @example
 * ```ts
 * encodeMasterKey(generateMasterKey()); // "q83v…=\n"
 * ```
 */
export function encodeMasterKey(key: Uint8Array): string {
  if (key.length !== MASTER_KEY_BYTES) {
    throw new RangeError(`A vault key is ${MASTER_KEY_BYTES} bytes, not ${key.length}`);
  }
  return btoa(String.fromCharCode(...key)) + "\n";
}

/**
 * A new random 32-byte key.
 *
 * @example
 * ```ts
 * const key = generateMasterKey();
 * ```
 */
export function generateMasterKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(MASTER_KEY_BYTES));
}

/**
 * Refuses a file or directory that group or others may access, with the `chmod` that fixes it
 * (600 for files, 700 for directories). `what` starts the message ("State directory").
 *
 * @example
 * ```ts
 * await checkPrivate("./state", "State directory");
 * // VaultError: State directory './state' is readable by other users (mode 755): run 'chmod 700 ./state'
 * ```
 */
export async function checkPrivate(path: string, what: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    throw statError(err, path, what);
  }
  refuseShared(info, path, what);
}

/** {@linkcode checkPrivate}, synchronously. */
export function checkPrivateSync(path: string, what: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (err) {
    throw statError(err, path, what);
  }
  refuseShared(info, path, what);
}

/** Throws when `info` (of `path`) grants group or others any access. */
export function refuseShared(info: Deno.FileInfo, path: string, what: string): void {
  // mode is null on Windows, where POSIX permission bits do not apply.
  if (info.mode === null || (info.mode & 0o077) === 0) return;
  const mode = info.mode & 0o777;
  const how = mode & 0o044 ? "readable" : mode & 0o022 ? "writable" : "accessible";
  throw new VaultError(
    `${what} '${path}' is ${how} by other users (mode ${mode.toString(8)}): run 'chmod ${
      info.isDirectory ? 700 : 600
    } ${path}'`,
  );
}

function statError(err: unknown, path: string, what: string): Error {
  if (err instanceof Deno.errors.NotFound) {
    return new VaultError(`${what} '${path}' does not exist`);
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new VaultError(`Cannot read ${lower(what)} '${path}': permission denied`);
  }
  return err as Error;
}

function lower(what: string): string {
  return what.charAt(0).toLowerCase() + what.slice(1);
}

/**
 * Reads a key file (`master.key`): base64 of 32 bytes. Refuses a file group or others may access,
 * so a key leaked by a careless `chmod` is noticed rather than used.
 *
 * @example
 * ```ts
 * const key = await readKeyFile("./state/master.key");
 * ```
 */
export async function readKeyFile(path: string): Promise<Uint8Array> {
  const what = "Vault key file";
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    throw statError(err, path, what);
  }
  const buf = new Uint8Array(MAX_KEY_FILE_BYTES + 1);
  let size = 0;
  try {
    // Checked on the open file, so a swap between the check and the read changes nothing.
    const info = await file.stat();
    if (!info.isFile) throw new VaultError(`${what} '${path}' is not a regular file`);
    refuseShared(info, path, what);
    while (size < buf.length) {
      const n = await file.read(buf.subarray(size));
      if (n === null) break;
      size += n;
    }
  } finally {
    file.close();
  }
  try {
    if (size > MAX_KEY_FILE_BYTES) {
      throw new VaultError(`${what} '${path}' is too large to be a key (base64 of 32 bytes)`);
    }
    return parseMasterKey(new TextDecoder().decode(buf.subarray(0, size)), `'${path}'`);
  } finally {
    buf.fill(0);
  }
}

/** Options for {@linkcode writeKeyFile}. */
export interface WriteKeyFileOptions {
  /**
   * Replace an existing file (atomically: readers see the old or the new key, never half).
   * @default {false}
   */
  overwrite?: boolean;
}

/**
 * Writes `key` to `path` as base64 plus a newline, mode 0600 from the first byte, through a temp
 * file that is synced and then linked (or, with `overwrite`, renamed) into place.
 *
 * @example
 * ```ts
 * await writeKeyFile("./state/master.key", generateMasterKey());
 * ```
 */
export async function writeKeyFile(
  path: string,
  key: Uint8Array,
  options: WriteKeyFileOptions = {},
): Promise<void> {
  const data = new TextEncoder().encode(encodeMasterKey(key));
  try {
    await writeFileAtomic(path, data, { overwrite: options.overwrite === true });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) {
      throw new VaultError(`Vault key file '${path}' already exists: not replacing it`);
    }
    throw err;
  } finally {
    data.fill(0);
  }
}
