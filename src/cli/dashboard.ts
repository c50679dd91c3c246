/**
 * `clawpatrol dashboard [--admin-url URL]`: the dashboard's address and a one-time sign-in code,
 * asked of the running gateway with the admin token (so only someone who can read
 * `state_dir/admin.token`, or holds `CLAWPATROL_ADMIN_TOKEN`, gets one).
 *
 * @module
 */

import { parseCommand, UsageError } from "./_args.ts";
import { openAdminClient } from "./_admin_client.ts";
import { out } from "./_io.ts";

/**
 * Runs `clawpatrol dashboard`.
 *
 * @example
 * ```ts
 * await dashboardCommand(["--admin-url", "http://127.0.0.1:8081"]);
 * ```
 */
export async function dashboardCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    "admin-url": { type: "string" },
  });
  if (positionals.length > 0) throw new UsageError("dashboard takes no arguments");
  const admin = await openAdminClient(global, { adminUrl: values["admin-url"] as string });
  const { status, body } = await admin.request("POST", "/ui/api/codes");
  const code = body.code;
  if (status !== 200 || typeof code !== "string" || !/^[A-Z0-9-]{1,40}$/.test(code)) {
    throw new Error(
      `${admin.url} did not issue a sign-in code (${status}): ${body.error ?? "unexpected answer"}`,
    );
  }
  const minutes = Math.round(Number(body.expires_in_seconds ?? 300) / 60);
  // The code rides in the fragment, which browsers never send to a server or its logs.
  out(`Dashboard: ${admin.url}/`);
  out(`Sign in:   ${admin.url}/ui/signin#code=${code}`);
  out(`One-time code (works once, for ${minutes} minutes): ${code}`);
  return 0;
}
