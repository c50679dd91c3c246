/**
 * A config loaded and its policy compiled: what a reload swaps as one unit.
 *
 * @module
 */

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
  const policy = compilePolicy(config, { protocols });
  return { config, policy, routes: new HttpRoutes(config), loadedAt: new Date() };
}
