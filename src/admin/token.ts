/**
 * The admin token: the bearer secret for the admin API's approval routes. `init` (and the first
 * `serve` on an older state directory) writes it to `state_dir/admin.token`, mode 0600; the
 * gateway keeps only its SHA-256, and the CLI on the gateway host reads the file.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { writeFileAtomicSync } from "../core/mod.ts";

/** File name of the admin token inside the state directory (mode 0600). */
export const ADMIN_TOKEN_FILE = "admin.token";

const PREFIX = "cpadm_";
const TOKEN_BYTES = 32;
/** `cpadm_` + unpadded base64url of 32 bytes. */
const TOKEN_PATTERN = /^cpadm_[A-Za-z0-9_-]{43}$/;
/** Anything longer is not a token file: refuse it rather than read it whole. */
const MAX_FILE_BYTES = 256;

/**
 * A fresh random admin token: `cpadm_` + base64url (no padding) of 32 random bytes.
 *
 * @example
 * ```ts
 * generateAdminToken(); // "cpadm_Jx3…" (49 characters)
 * ```
 */
export function generateAdminToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
  const b64 = btoa(String.fromCharCode(...bytes));
  return PREFIX + b64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * The SHA-256 of `token`: what the gateway keeps in memory instead of the token.
 *
 * @example
 * ```ts
 * const hash = hashAdminToken(generateAdminToken()); // 32 bytes
 * ```
 */
export function hashAdminToken(token: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(token, "utf8").digest());
}

/**
 * Whether `presented` is the token whose hash is `expected`. Digests of equal length are
 * compared in constant time, so timing tells nothing about how much of a guess was right.
 *
 * @example
 * ```ts
 * adminTokenMatches(hashAdminToken("cpadm_x"), "cpadm_x"); // true
 * ```
 */
export function adminTokenMatches(expected: Uint8Array, presented: string): boolean {
  if (expected.length !== 32) return false;
  return timingSafeEqual(expected, hashAdminToken(presented));
}

/**
 * Reads an admin token file. Refuses a file group or others may access (naming the `chmod` that
 * fixes it) and one that does not hold a token; the error never contains the file's content.
 *
 * @example
 * ```ts
 * const token = readAdminTokenFile("./state/admin.token");
 * ```
 */
export function readAdminTokenFile(path: string): string {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Admin token file '${path}' does not exist`);
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new Error(`Cannot read admin token file '${path}': permission denied`);
    }
    throw err;
  }
  const buf = new Uint8Array(MAX_FILE_BYTES + 1);
  let size = 0;
  try {
    // Checked on the open file, so a swap between the check and the read changes nothing.
    const info = file.statSync();
    if (!info.isFile) throw new Error(`Admin token file '${path}' is not a regular file`);
    // mode is null on Windows, where POSIX permission bits do not apply.
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      const mode = info.mode & 0o777;
      const how = mode & 0o044 ? "readable" : mode & 0o022 ? "writable" : "accessible";
      throw new Error(
        `Admin token file '${path}' is ${how} by other users (mode ${
          mode.toString(8)
        }): run 'chmod 600 ${path}'`,
      );
    }
    while (size < buf.length) {
      const n = file.readSync(buf.subarray(size));
      if (n === null) break;
      size += n;
    }
  } finally {
    file.close();
  }
  const token = new TextDecoder().decode(buf.subarray(0, size)).trim();
  buf.fill(0);
  if (size > MAX_FILE_BYTES || !TOKEN_PATTERN.test(token)) {
    throw new Error(
      `Admin token file '${path}' does not hold an admin token: remove it and restart the gateway to create a new one`,
    );
  }
  return token;
}

/** What {@linkcode ensureAdminToken} found or made. */
export interface EnsuredAdminToken {
  /** SHA-256 of the token (the token itself is not returned). */
  hash: Uint8Array;
  /** The file's path. */
  path: string;
  /** Whether the file was created by this call. */
  created: boolean;
}

/** Options for {@linkcode ensureAdminToken}. */
export interface EnsureAdminTokenOptions {
  /** Called with the file's path when this call created it (for the operator log). */
  onCreated?: (path: string) => void;
}

/**
 * Returns the hash of the admin token in `stateDir`, creating the token file (mode 0600 from
 * its first byte; written to a temp file and linked into place, so it appears whole or not at
 * all) when there is none. Synchronous: it runs once, while the gateway starts.
 *
 * @example
 * ```ts
 * const { hash, created } = ensureAdminToken("./state", {
 *   onCreated: (path) => console.error(`created ${path}`),
 * });
 * ```
 */
export function ensureAdminToken(
  stateDir: string,
  options: EnsureAdminTokenOptions = {},
): EnsuredAdminToken {
  const path = join(stateDir, ADMIN_TOKEN_FILE);
  try {
    return { hash: hashAdminToken(readAdminTokenFile(path)), path, created: false };
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const token = generateAdminToken();
  try {
    writeFileAtomicSync(path, new TextEncoder().encode(`${token}\n`), { overwrite: false });
  } catch (err) {
    // Another process created it between our read and link: theirs stands.
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    return { hash: hashAdminToken(readAdminTokenFile(path)), path, created: false };
  }
  options.onCreated?.(path);
  return { hash: hashAdminToken(token), path, created: true };
}
