/**
 * `clawpatrol report [--since 7d] [--receipts PATH | --local] [--json]`: the rollout questions
 * answered from the receipts (see `src/audit/report.ts`): rule hits by verdict and mode, the
 * observe-mode rules ready to enforce, approvals, denies per agent and endpoint, unknown hosts.
 * With `gateway.store` it reads every gateway's receipts there and adds how many each decided;
 * `--local` (or `--receipts`) reads one receipts database.
 *
 * @module
 */

import { join } from "node:path";
import { queryReceipts, type RolloutReport, rolloutReport } from "../audit/mod.ts";
import { loadAndCompile, RECEIPTS_FILE, stateDirOf } from "../gateway/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { out } from "./_io.ts";
import { parseSince } from "./log.ts";
import { receiptsAcrossGateways } from "./_store_receipts.ts";

/** Runs `clawpatrol report`. */
export async function reportCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    receipts: { type: "string" },
    since: { type: "string" },
    json: { type: "boolean" },
    local: { type: "boolean" },
  });
  if (positionals.length > 0) throw new UsageError("report takes no arguments");
  const since = typeof values.since === "string" ? parseSince(values.since) : undefined;
  if (typeof values.receipts === "string") {
    return print(rolloutReport(queryReceipts(values.receipts, { since })), values.json === true);
  }
  const { config } = await loadAndCompile(global.config);
  const store = values.local === true ? undefined : config.gateway.store;
  if (store) {
    const found = await receiptsAcrossGateways(store, since);
    const gateways: Record<string, number> = {};
    for (const { gateway } of found) gateways[gateway] = (gateways[gateway] ?? 0) + 1;
    const report = rolloutReport(found.map((f) => f.receipt));
    return print({ ...report, gateways }, values.json === true);
  }
  const path = join(await stateDirOf(config), RECEIPTS_FILE);
  return print(rolloutReport(queryReceipts(path, { since })), values.json === true);
}

/** The report, and (read from the store) how many receipts each gateway decided. */
type Printed = RolloutReport & { gateways?: Record<string, number> };

function print(report: Printed, json: boolean): number {
  if (json) out(JSON.stringify(report));
  else {
    for (const line of reportText(report)) out(line);
    if (report.gateways !== undefined) {
      for (const line of ["", "Receipts by gateway:", ...counts(report.gateways)]) out(line);
    }
  }
  return 0;
}

/** The report as text, one section after another. */
export function reportText(r: RolloutReport): string[] {
  const lines = [`${r.receipts} receipts${r.from ? `, ${r.from} to ${r.to}` : ""}`, ""];
  lines.push("Rules (hits by verdict and mode):");
  if (r.rules.length === 0) lines.push("  none matched");
  for (const h of r.rules) {
    lines.push(
      `  ${h.rule.padEnd(28)} ${
        h.mode.padEnd(7)
      }  allow ${h.allow}  deny ${h.deny}  held ${h.held}`,
    );
  }
  lines.push("", "Ready to enforce? Observe-mode rules' would-be denies:");
  if (r.candidates.length === 0) lines.push("  none");
  for (const c of r.candidates) {
    lines.push(
      `  ${c.rule}: would have denied ${c.wouldDeny} action${
        c.wouldDeny === 1 ? "" : "s"
      } of ${c.agents} agent${c.agents === 1 ? "" : "s"}`,
    );
    for (const e of c.examples) {
      lines.push(`    ${e.id} ${e.agent ?? "-"} ${JSON.stringify(e.summary.slice(0, 100))}`);
    }
  }
  const a = r.approvals;
  lines.push(
    "",
    `Approvals: ${a.count} (${a.approved} approved, ${a.denied} denied); time to decision ` +
      `median ${ms(a.medianMs)}, p95 ${ms(a.p95Ms)}; timed out ${
        a.timedOut.allow + a.timedOut.deny
      }` +
      ` (then allowed ${a.timedOut.allow}, denied ${a.timedOut.deny})`,
  );
  lines.push("", "Denies by agent:", ...counts(r.deniesByAgent));
  lines.push("", "Denies by endpoint:", ...counts(r.deniesByEndpoint));
  lines.push("", "Unknown hosts agents tried:");
  if (r.unknownHosts.length === 0) lines.push("  none");
  for (const u of r.unknownHosts) lines.push(`  ${u.host}: ${u.attempts}`);
  return lines;
}

function counts(byName: Record<string, number>): string[] {
  const entries = Object.entries(byName).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries.length === 0 ? ["  none"] : entries.map(([name, n]) => `  ${name}: ${n}`);
}

function ms(value: number | null): string {
  if (value === null) return "-";
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}
