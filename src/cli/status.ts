/**
 * `clawpatrol status [--json] [--admin-url URL]`: the running gateway's `/status` (mode,
 * endpoints, rules, and the permissions it runs under), read through its admin API.
 *
 * @module
 */

import { parseCommand, UsageError } from "./_args.ts";
import { openAdminClient } from "./_admin_client.ts";
import { out } from "./_io.ts";

/** Runs `clawpatrol status`. */
export async function statusCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    json: { type: "boolean" },
    "admin-url": { type: "string" },
  });
  if (positionals.length > 0) throw new UsageError("status takes no arguments");
  const admin = await openAdminClient(global, { adminUrl: values["admin-url"] as string });
  const { status, body } = await admin.request("GET", "/status");
  if (status !== 200) throw new Error(`${admin.url}/status answered ${status}`);
  if (values.json === true) {
    out(JSON.stringify(body, null, 2));
    return 0;
  }
  out(`mode: ${body.mode}; rules: ${body.rules}; loaded ${body.loaded_at}`);
  out(`endpoints: ${(body.endpoints as string[]).join(", ")}`);
  const p = body.permissions as Record<string, unknown> | undefined;
  if (p) {
    out("permissions:");
    for (const kind of ["read", "write", "net", "env", "run", "sys"]) {
      const scope = p[kind];
      const text = Array.isArray(scope) ? (scope.length ? scope.join(", ") : "none") : "any";
      out(`  ${kind}: ${text}`);
    }
    const unrestricted = p.unrestricted as string[];
    if (unrestricted.length > 0) out(`  unrestricted: ${unrestricted.join(", ")}`);
    const restart = p.needs_restart_for as string[];
    if (restart.length > 0) out(`  needs a restart for: ${restart.join(", ")}`);
  }
  return 0;
}
