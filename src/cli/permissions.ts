/**
 * `clawpatrol permissions [--json] [--] COMMAND [ARGS...]`: the Deno permissions COMMAND runs
 * with, one flag per line (what the launcher passes to `deno run`), or as JSON. It reads the
 * config when the grant depends on it and writes nothing.
 *
 * @module
 */

import { APP_DIR, grantFlags } from "../gateway/mod.ts";
import { commandGrant } from "./_grants.ts";
import { err, out } from "./_io.ts";

/** Runs `clawpatrol permissions`. */
export async function permissionsCommand(args: string[]): Promise<number> {
  const json = args[0] === "--json";
  const rest = json ? args.slice(1) : args;
  const target = rest[0] === "--" ? rest.slice(1) : rest;
  const grant = await commandGrant(target, APP_DIR);
  if (json) {
    out(JSON.stringify(grant, null, 2));
    return 0;
  }
  for (const warning of grant.warnings) err(`Warning: ${warning}`);
  for (const flag of grantFlags(grant)) out(flag);
  return 0;
}
