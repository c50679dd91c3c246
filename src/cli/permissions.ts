/**
 * `clawpatrol permissions [--json] [--] COMMAND [ARGS...]`: the Deno permissions COMMAND runs
 * with, one flag per line (what the launcher passes to `deno run`, and `deno task compile` to
 * `deno compile`), then the runtime's own flags; or the grant alone as JSON. It reads the config
 * when the grant depends on it and writes nothing.
 *
 * @module
 */

import { APP_DIR, grantFlags } from "../gateway/mod.ts";
import { commandGrant } from "./_grants.ts";
import { err, out } from "./_io.ts";
import { RUNTIME_FLAGS } from "./_runtime_flags.ts";

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
  for (const flag of RUNTIME_FLAGS) out(flag);
  return 0;
}
