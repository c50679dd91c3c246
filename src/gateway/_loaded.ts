/**
 * A config loaded and its policy compiled: what a reload swaps as one unit.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { dirname, relative } from "node:path";
import type { Protocol } from "../core/mod.ts";
import { type Config, loadConfig } from "../config/mod.ts";
import { checkRuleConditions, compilePolicy, type Policy } from "../policy/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { HttpRoutes } from "./_routes.ts";

/** A config and the policy compiled from it: swapped as one unit on reload. */
export interface Loaded {
  config: Config;
  policy: Policy;
  routes: HttpRoutes;
  loadedAt: Date;
}

/** Loads a config and compiles its policy; throws ConfigError with every problem. */
export async function loadAndCompile(
  path: string,
  protocols: readonly Protocol[] = PROTOCOLS,
): Promise<Loaded> {
  const config = await loadConfig(path, { protocols, checkRules: checkRuleConditions });
  const policy = compilePolicy(config, { protocols, digest: await policyDigest(config) });
  return { config, policy, routes: new HttpRoutes(config), loadedAt: new Date() };
}

/**
 * The digest of a config: SHA-256 over its files (the main file or directory's `.hcl` files and
 * everything they include), each named relative to the first, in name order; its first 16 hex
 * digits. Every receipt carries the digest of the config that decided it, and `clawpatrol check`
 * prints it, so a receipt can be traced to the policy text.
 *
 * @example
 * ```ts
 * await policyDigest(config); // "3f2a9c1e5b7d0a44"
 * ```
 */
export async function policyDigest(config: Config): Promise<string> {
  const base = dirname(config.files[0] ?? config.path);
  const named = config.files.map((file) => ({ file, name: relative(base, file) }))
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const hash = createHash("sha256");
  for (const { file, name } of named) {
    hash.update(name).update("\0").update(await Deno.readFile(file)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}
