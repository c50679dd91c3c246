/**
 * `clawpatrol approvals list [--json] | approve ID [--reason TEXT] | deny ID [--reason TEXT]`:
 * the requests held for a human, decided through the gateway's admin API as `cli:<OS user>`.
 *
 * @module
 */

import { parseCommand, UsageError } from "./_args.ts";
import { AdminClient, openAdminClient, osUser } from "./_admin_client.ts";
import { out } from "./_io.ts";

const SUBCOMMANDS = "list, approve or deny";

/**
 * Runs `clawpatrol approvals SUBCOMMAND`.
 *
 * @example
 * ```ts
 * await approvalsCommand(["approve", "apr_3f9c…", "--reason", "planned release"]);
 * ```
 */
export async function approvalsCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    json: { type: "boolean" },
    reason: { type: "string" },
    "admin-url": { type: "string" },
  });
  const [sub, ...rest] = positionals;
  if (sub === undefined) throw new UsageError(`approvals needs a subcommand: ${SUBCOMMANDS}`);
  if (sub !== "list" && sub !== "approve" && sub !== "deny") {
    throw new UsageError(`unknown approvals subcommand '${sub}': use ${SUBCOMMANDS}`);
  }
  if (values.json !== undefined && sub !== "list") {
    throw new UsageError(`--json is for 'approvals list', not 'approvals ${sub}'`);
  }
  if (values.reason !== undefined && sub === "list") {
    throw new UsageError("--reason is for 'approvals approve' and 'approvals deny'");
  }
  if (sub === "list" && rest.length > 0) throw new UsageError("approvals list takes no arguments");
  if (sub !== "list" && rest.length !== 1) {
    throw new UsageError(
      `approvals ${sub} takes one request ID (from 'clawpatrol approvals list')`,
    );
  }
  const admin = await openAdminClient(global, { adminUrl: values["admin-url"] as string });
  if (sub === "list") return await list(admin, values.json === true);
  return await decide(admin, sub, rest[0], (values.reason as string | undefined) ?? "");
}

async function list(admin: AdminClient, json: boolean): Promise<number> {
  const { status, body } = await admin.request("GET", "/approvals");
  if (status !== 200 || !Array.isArray(body.approvals)) failed(admin, status, body);
  const approvals = body.approvals as Record<string, unknown>[];
  if (json) {
    out(JSON.stringify(approvals));
    return 0;
  }
  if (approvals.length === 0) {
    out("No requests waiting for approval");
    return 0;
  }
  const rows = [
    ["ID", "AGE", "AGENT", "ENDPOINT", "RULE", "SUMMARY"],
    ...approvals.map((a) => {
      const quorum = Number(a.quorum);
      const votes = Array.isArray(a.allowed_by) ? a.allowed_by.length : 0;
      return [
        a.id,
        age(Number(a.waiting_ms)),
        a.agent,
        `${a.protocol}.${a.endpoint}`,
        a.rule,
        `${a.summary}${quorum > 1 ? ` [${votes}/${quorum} approvals]` : ""}`,
      ].map((cell) => printable(String(cell)));
    }),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  for (const row of rows) {
    out(row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  "));
  }
  return 0;
}

async function decide(
  admin: AdminClient,
  sub: "approve" | "deny",
  id: string,
  reason: string,
): Promise<number> {
  const who = osUser();
  const { status, body } = await admin.request(
    "POST",
    `/approvals/${encodeURIComponent(id)}/${sub}`,
    { who, reason },
  );
  if (status !== 200) failed(admin, status, body);
  const shown = printable(id);
  if (body.result === "recorded") {
    out(`Recorded cli:${who}'s approval of ${shown}: it waits for more approvals (quorum)`);
  } else if (sub === "approve") {
    out(`Approved ${shown} as cli:${who}: the request goes ahead`);
  } else {
    out(`Denied ${shown} as cli:${who}: the agent gets the deny${reason ? ` ("${reason}")` : ""}`);
  }
  return 0;
}

/** Throws the admin API's refusal as one line (exit code 1). */
function failed(admin: AdminClient, status: number, body: Record<string, unknown>): never {
  const error = typeof body.error === "string" ? printable(body.error) : `status ${status}`;
  if (status === 404 && body.result === "unknown") throw new Error(capitalise(error));
  if (status === 409) throw new Error(`Refused: ${error}`);
  throw new Error(`The gateway's admin API at ${admin.url} answered ${status}: ${error}`);
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** How long a request has waited: `45s`, `3m07s`, `2h05m`. */
function age(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d`;
}

// deno-lint-ignore no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` safe for the operator's terminal: the agent chose the summary (its path, its SQL), so
 * control characters and bidi overrides are shown escaped rather than interpreted.
 */
function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
