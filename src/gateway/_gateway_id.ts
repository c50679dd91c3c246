/**
 * The gateway's stable id (`state_dir/gateway.id`): what names it in a shared store, for the
 * requests it holds and, later, its receipts' hash chain. Made once, kept across restarts, so a
 * restarted gateway recognises (and abandons) what it held before.
 *
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../core/mod.ts";

/** File name of the id inside the state directory. */
export const GATEWAY_ID_FILE = "gateway.id";

const ID_PATTERN = /^gw_[0-9a-f]{16}$/;

/**
 * Reads the id, making one on first use. A file that does not hold an id is an error naming it:
 * a copied or edited state directory must not silently become another gateway.
 *
 * @example
 * ```ts
 * const id = await gatewayId("./state"); // "gw_3f9c0a1b2c3d4e5f"
 * ```
 */
export async function gatewayId(stateDir: string): Promise<string> {
  const path = join(stateDir, GATEWAY_ID_FILE);
  try {
    const text = (await Deno.readTextFile(path)).trim();
    if (!ID_PATTERN.test(text)) {
      throw new Error(`'${path}' does not hold a gateway id (gw_ and 16 hex digits)`);
    }
    return text;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  const id = `gw_${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  await writeFileAtomic(path, new TextEncoder().encode(`${id}\n`));
  return id;
}
