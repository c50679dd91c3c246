/**
 * The one file-system question every module asks.
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
