/**
 * `clawpatrol replay -c CANDIDATE [--receipts PATH] [--since 7d] [--agent A] [--endpoint E]
 * [--json]`: re-decides the recorded actions with a candidate config and prints what would
 * change, grouped by rule: allow → deny, deny → allow, hold ↔ other, another rule. Exit code 1
 * when anything the recorded policy denied or held would now be allowed (for CI on policy pull
 * requests), 0 otherwise.
 *
 * @module
 */

import { join } from "node:path";
import { queryReceipts } from "../audit/mod.ts";
import { loadAndCompile, RECEIPTS_FILE, stateDirOf } from "../gateway/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { out } from "./_io.ts";
import { type Conclusion, type Replayed, replayReceipt } from "./_replay.ts";
import { parseSince } from "./log.ts";

/** Changes that loosen the policy: what was denied or held would go through. */
function loosens(r: Replayed): boolean {
  return r.status === "changed" && r.before.kind !== "allow" && r.after.kind === "allow";
}

/** Runs `clawpatrol replay`. */
export async function replayCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    receipts: { type: "string" },
    since: { type: "string" },
    agent: { type: "string" },
    endpoint: { type: "string" },
    json: { type: "boolean" },
  });
  if (positionals.length > 0) throw new UsageError("replay takes no arguments (-c CANDIDATE)");
  const candidate = await loadAndCompile(global.config);
  const path = (values.receipts as string | undefined) ??
    join(await stateDirOf(candidate.config), RECEIPTS_FILE);
  const receipts = queryReceipts(path, {
    since: typeof values.since === "string" ? parseSince(values.since) : undefined,
    agent: values.agent as string | undefined,
  }).filter((r) => values.endpoint === undefined || r.endpoint === values.endpoint);
  const replayed = receipts.map((r) => replayReceipt(r, candidate.policy, PROTOCOLS));
  if (values.json) {
    out(JSON.stringify({
      policy: candidate.policy.digest,
      receipts: replayed.length,
      results: replayed.filter((r) => r.status === "changed" || r.status === "cannot").map((r) => ({
        id: r.receipt.id,
        status: r.status,
        before: "before" in r ? r.before : undefined,
        after: "after" in r ? r.after : undefined,
        why: "why" in r ? r.why : undefined,
        summary: r.receipt.summary,
      })),
    }));
  } else {
    for (const line of textReport(replayed, candidate.policy.digest)) out(line);
  }
  return replayed.some(loosens) ? 1 : 0;
}

/** One line per kind of change, with how many and an example; a summary line first. */
export function textReport(replayed: Replayed[], policy: string | null): string[] {
  const count = (status: Replayed["status"]) => replayed.filter((r) => r.status === status).length;
  const lines = [
    `replayed ${replayed.length} receipts against policy ${policy ?? "?"}: ` +
    `${count("changed")} would change, ${count("cannot")} cannot be replayed, ` +
    `${count("same")} the same, ${count("skipped")} decided without rules`,
  ];
  const groups = new Map<string, Replayed[]>();
  for (const r of replayed) {
    if (r.status !== "changed" && r.status !== "cannot") continue;
    const key = r.status === "changed"
      ? `${show(r.before)} → ${show(r.after)}`
      : `cannot replay (${r.why}), was ${show(r.before)}`;
    groups.set(key, [...groups.get(key) ?? [], r]);
  }
  for (const [key, group] of groups) {
    const example = group[0].receipt;
    const loose = loosens(group[0]) ? "  NEWLY ALLOWED" : "";
    lines.push(
      `${key}: ${group.length} receipt${group.length === 1 ? "" : "s"}, e.g. ${example.id} ` +
        `${JSON.stringify(example.summary.slice(0, 120))}${loose}`,
    );
  }
  return lines;
}

function show(c: Conclusion): string {
  const kind = c.kind === "approve" ? "hold" : c.kind;
  return c.rule === null ? `${kind} (no rule)` : `${kind} (rule ${c.rule})`;
}
