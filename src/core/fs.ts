/**
 * File-system helpers every module shares: existence, atomic writes of private files, shredding.
 *
 * @module
 */

/**
 * Whether `path` exists (a dangling symlink counts: it is not followed). Other errors, such as
 * permission denied, propagate rather than read as "absent".
 *
 * @example
 * ```ts
 * if (await pathExists("gateway.hcl")) throw new Error("refusing to overwrite");
 * ```
 */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Overwrites a file's bytes with zeros in place and syncs, so the blocks it used stop holding a
 * key. (A copy-on-write or journaling file system may keep old blocks; this is best effort.)
 *
 * @example
 * ```ts
 * await zeroFile("state/master.key");
 * ```
 */
export async function zeroFile(path: string): Promise<void> {
  const size = (await Deno.stat(path)).size;
  const file = await Deno.open(path, { write: true });
  try {
    let written = 0;
    const zeros = new Uint8Array(size);
    while (written < size) written += await file.write(zeros.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

/**
 * {@linkcode zeroFile}, then removes the file.
 *
 * @example
 * ```ts
 * await shredFile("state/ca.key");
 * ```
 */
export async function shredFile(path: string): Promise<void> {
  await zeroFile(path);
  await Deno.remove(path);
}

/** Options for {@linkcode writeFileAtomic} and {@linkcode writeFileAtomicSync}. */
export interface WriteFileAtomicOptions {
  /** The file's permission bits, exactly: the umask narrowing them is undone. @default {0o600} */
  mode?: number;
  /**
   * Replace a file already at `path` (rename). When `false`, the file is linked into place
   * instead, which fails with `Deno.errors.AlreadyExists` if `path` exists, even if it appeared
   * a moment ago in another process.
   * @default {true}
   */
  overwrite?: boolean;
}

/**
 * Writes `data` to `path` through a temporary file in the same directory, created with `mode`
 * (0600 unless told), synced, then moved into place. A reader sees the old file or the whole new
 * one, never half of one; a secret never sits in a file others can read; a failed write leaves
 * nothing behind.
 *
 * @throws {Deno.errors.AlreadyExists} with `overwrite: false` when `path` exists.
 *
 * @example
 * ```ts
 * await writeFileAtomic("state/master.key", new TextEncoder().encode(keyText), { overwrite: false });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const { mode = 0o600, overwrite = true } = options;
  const tmp = tempPathFor(path);
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode });
    try {
      // open's mode went through the umask, which can only narrow it; make it exact before the
      // first byte lands.
      await Deno.chmod(tmp, mode);
      let written = 0;
      while (written < data.length) written += await file.write(data.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    if (overwrite) await Deno.rename(tmp, path);
    else await Deno.link(tmp, path);
  } finally {
    // Gone already after a rename; a link leaves it as a second name to drop.
    await Deno.remove(tmp).catch(() => {});
  }
}

/**
 * {@linkcode writeFileAtomic}, synchronously. `content` is the bytes, or a function that fills the
 * temporary file by its path (for writers that open files themselves, such as SQLite: the file
 * exists, empty and with its final mode, when the function runs; syncing is then its job).
 *
 * @throws {Deno.errors.AlreadyExists} with `overwrite: false` when `path` exists.
 *
 * @example
 * ```ts
 * writeFileAtomicSync("state/agents.json", new TextEncoder().encode(json));
 * writeFileAtomicSync("state/vault.db", (tmp) => initialiseDatabase(tmp), { overwrite: false });
 * ```
 */
export function writeFileAtomicSync(
  path: string,
  content: Uint8Array | ((tmpPath: string) => void),
  options: WriteFileAtomicOptions = {},
): void {
  const { mode = 0o600, overwrite = true } = options;
  const tmp = tempPathFor(path);
  try {
    const file = Deno.openSync(tmp, { write: true, createNew: true, mode });
    try {
      // As in writeFileAtomic: exact mode before anything is written.
      Deno.chmodSync(tmp, mode);
      if (content instanceof Uint8Array) {
        let written = 0;
        while (written < content.length) written += file.writeSync(content.subarray(written));
        file.syncSync();
      }
    } finally {
      file.close();
    }
    if (!(content instanceof Uint8Array)) content(tmp);
    if (overwrite) Deno.renameSync(tmp, path);
    else Deno.linkSync(tmp, path);
  } finally {
    try {
      Deno.removeSync(tmp);
    } catch {
      // Renamed into place, or never created.
    }
  }
}

/** A fresh name beside `path`: same directory, so the final rename or link never crosses devices. */
function tempPathFor(path: string): string {
  const suffix = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16))
    .join("");
  return `${path}.tmp-${suffix}`;
}
