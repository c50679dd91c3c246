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
