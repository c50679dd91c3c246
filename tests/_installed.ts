/**
 * clawpatrol installed the way users install it (`install.sh --launcher` into a temporary
 * prefix, from a copy of the checkout), so tests run commands under the launcher's computed
 * permissions instead of `deno run -A`.
 *
 * @module
 */

import { join } from "node:path";
import { REPO } from "./_helpers.ts";

/** What install.sh copies from a checkout. */
export const APP_FILES = [
  "install.sh",
  "launcher.sh",
  "isolate.sh",
  "tunnel.sh",
  "main.ts",
  "deno.json",
  "deno.lock",
  "src",
  "rules",
  "tools",
];

/** An installed clawpatrol; `remove()` deletes the prefix. */
export interface Installed {
  /** The launcher, `PREFIX/bin/clawpatrol`. */
  bin: string;
  root: string;
  remove(): Promise<void>;
}

/**
 * Installs the checkout into a fresh temporary prefix with the launcher. Deno's module cache is
 * the shared one, so no network is needed.
 *
 * @example
 * ```ts
 * const installed = await installLauncher();
 * await cli(["check", "-c", config], { bin: installed.bin });
 * ```
 */
export async function installLauncher(): Promise<Installed> {
  const root = await Deno.makeTempDir({ prefix: "clawpatrol_installed_" });
  const remove = () => Deno.remove(root, { recursive: true });
  try {
    const checkout = join(root, "checkout");
    await Deno.mkdir(checkout);
    for (const name of APP_FILES) {
      const cp = await new Deno.Command("cp", { args: ["-R", join(REPO, name), checkout] })
        .output();
      if (cp.code !== 0) throw new Error(`cannot copy ${name}`);
    }
    const prefix = join(root, "prefix");
    const out = await new Deno.Command("sh", {
      args: [join(checkout, "install.sh"), "--prefix", prefix, "--launcher"],
      cwd: root,
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
    }).output();
    if (out.code !== 0) {
      throw new Error(`install.sh failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    return { bin: join(prefix, "bin", "clawpatrol"), root, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
