/**
 * `clawpatrol check`: validate the config and print a one-line summary or every error.
 *
 * @module
 */

import { loadAndCompile } from "../gateway/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { out } from "./_io.ts";

/** Runs `clawpatrol check`. Config errors propagate as ConfigError (exit 2). */
export async function checkCommand(args: string[]): Promise<number> {
  const { positionals, global } = parseCommand(args, {});
  if (positionals.length > 0) throw new UsageError("check takes no arguments (use -c CONFIG)");
  const { config, policy } = await loadAndCompile(global.config);
  const families = new Map<string, number>();
  for (const e of config.endpoints.values()) {
    families.set(e.protocol, (families.get(e.protocol) ?? 0) + 1);
  }
  const byFamily = [...families].map(([k, n]) => `${n} ${k}`).join(", ");
  out(
    `${global.config}: ok: ${config.endpoints.size} endpoints${
      byFamily ? ` (${byFamily})` : ""
    }, ` +
      `${config.rules.length} rules, ${config.profiles.size} profiles, ` +
      `${config.credentials.size} credentials, ${config.approvers.size} approvers; mode ${config.gateway.mode}` +
      // What every receipt this config decides carries.
      `; policy ${policy.digest}`,
  );
  return 0;
}
