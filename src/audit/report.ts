/**
 * The rollout questions answered from receipts (`clawpatrol report`, and the dashboard): what each
 * rule did and in which mode; which observe-mode rules would have denied what, for whom (the
 * candidates for enforcing); how approvals went; who was denied where; which unknown hosts agents
 * tried. Pure: receipts in, figures out.
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";

/** What one rule did. */
export interface RuleHits {
  rule: string;
  mode: "enforce" | "observe";
  allow: number;
  deny: number;
  /** Actions its approval chain decided. */
  held: number;
  /** The same counts per time bucket, oldest first, when asked for (`bucketMs`). */
  timeline?: RuleBucket[];
}

/** A rule's hits in one time bucket. */
export interface RuleBucket {
  /** The bucket's start (ISO 8601); buckets are `bucketMs` long, aligned to the epoch. */
  start: string;
  allow: number;
  deny: number;
  held: number;
}

/** Options for {@linkcode rolloutReport}. */
export interface RolloutReportOptions {
  /** Also count each rule's hits per bucket of this many milliseconds (the dashboard's chart). */
  bucketMs?: number;
}

/** An observe-mode rule's would-be denies: evidence for promoting it. */
export interface Candidate {
  rule: string;
  wouldDeny: number;
  agents: number;
  examples: { id: string; agent: string | null; summary: string }[];
}

/** How approval chains went. */
export interface ApprovalFigures {
  count: number;
  approved: number;
  denied: number;
  /** Time from hold to decision, over every chain, in ms. */
  medianMs: number | null;
  p95Ms: number | null;
  /** Chains a stage of which timed out, and what the action ended as. */
  timedOut: { allow: number; deny: number };
}

/** The report. */
export interface RolloutReport {
  receipts: number;
  from: string | null;
  to: string | null;
  rules: RuleHits[];
  candidates: Candidate[];
  approvals: ApprovalFigures;
  deniesByAgent: Record<string, number>;
  deniesByEndpoint: Record<string, number>;
  unknownHosts: { host: string; attempts: number }[];
}

/** Examples kept per promotion candidate. */
const EXAMPLES = 3;

/**
 * Figures for `receipts` (any order).
 *
 * @example
 * ```ts
 * const report = rolloutReport(queryReceipts(path, { since }));
 * report.candidates[0]?.rule; // an observe-mode rule that would have denied something
 * ```
 */
export function rolloutReport(
  receipts: readonly Receipt[],
  options: RolloutReportOptions = {},
): RolloutReport {
  const rules = new Map<string, RuleHits>();
  const candidates = new Map<string, Candidate & { who: Set<string> }>();
  const deniesByAgent: Record<string, number> = {};
  const deniesByEndpoint: Record<string, number> = {};
  const unknown = new Map<string, number>();
  const waits: number[] = [];
  const approvals: ApprovalFigures = {
    count: 0,
    approved: 0,
    denied: 0,
    medianMs: null,
    p95Ms: null,
    timedOut: { allow: 0, deny: 0 },
  };
  for (const r of receipts) {
    if (r.rule !== null) countRule(rules, r, options.bucketMs);
    if (r.mode === "observe" && r.wouldBe === "deny" && r.verdict === "allow" && r.rule) {
      const c = candidates.get(r.rule) ??
        { rule: r.rule, wouldDeny: 0, agents: 0, examples: [], who: new Set<string>() };
      c.wouldDeny++;
      c.who.add(r.agent ?? "-");
      if (c.examples.length < EXAMPLES) {
        c.examples.push({ id: r.id, agent: r.agent, summary: r.summary });
      }
      candidates.set(r.rule, c);
    }
    if (r.approvals.length > 0) {
      approvals.count++;
      approvals[r.verdict === "allow" ? "approved" : "denied"]++;
      waits.push(r.approvals.reduce((sum, s) => sum + s.latencyMs, 0));
      if (r.approvals.some((s) => s.who === "timeout")) approvals.timedOut[r.verdict]++;
    }
    if (r.verdict === "deny") {
      const agent = r.agent ?? "(unauthenticated)";
      deniesByAgent[agent] = (deniesByAgent[agent] ?? 0) + 1;
      const endpoint = r.endpoint ?? "(no endpoint)";
      deniesByEndpoint[endpoint] = (deniesByEndpoint[endpoint] ?? 0) + 1;
    }
    const host = unknownHost(r);
    if (host !== null) unknown.set(host, (unknown.get(host) ?? 0) + 1);
  }
  waits.sort((a, b) => a - b);
  approvals.medianMs = quantile(waits, 0.5);
  approvals.p95Ms = quantile(waits, 0.95);
  const times = receipts.map((r) => r.time.getTime());
  return {
    receipts: receipts.length,
    from: times.length ? new Date(Math.min(...times)).toISOString() : null,
    to: times.length ? new Date(Math.max(...times)).toISOString() : null,
    rules: [...rules.values()].sort((a, b) => a.rule.localeCompare(b.rule)),
    candidates: [...candidates.values()]
      .map(({ who, ...c }) => ({ ...c, agents: who.size }))
      .sort((a, b) => b.wouldDeny - a.wouldDeny),
    approvals,
    deniesByAgent,
    deniesByEndpoint,
    unknownHosts: [...unknown].map(([host, attempts]) => ({ host, attempts }))
      .sort((a, b) => b.attempts - a.attempts || a.host.localeCompare(b.host)),
  };
}

function countRule(rules: Map<string, RuleHits>, r: Receipt, bucketMs?: number): void {
  const key = `${r.rule}\0${r.mode}`;
  const hits = rules.get(key) ??
    { rule: r.rule!, mode: r.mode, allow: 0, deny: 0, held: 0 };
  const column = r.approvals.length > 0 ? "held" : r.verdict;
  hits[column]++;
  if (bucketMs !== undefined && bucketMs > 0) {
    const start = new Date(Math.floor(r.time.getTime() / bucketMs) * bucketMs).toISOString();
    hits.timeline ??= [];
    let bucket = hits.timeline.find((b) => b.start === start);
    if (!bucket) {
      bucket = { start, allow: 0, deny: 0, held: 0 };
      hits.timeline.push(bucket);
      hits.timeline.sort((a, b) => a.start < b.start ? -1 : a.start > b.start ? 1 : 0);
    }
    bucket[column]++;
  }
  rules.set(key, hits);
}

/** The host an agent tried that no endpoint claims, from a refusal or a passthrough, else null. */
function unknownHost(r: Receipt): string | null {
  if (r.endpoint !== null) return null;
  const refused = /no endpoint claims host '([^']+)'/.exec(r.reason);
  if (refused) return refused[1];
  if (r.protocol === "dns") return /^DNS (\S+) from /.exec(r.summary)?.[1] ?? null;
  return null;
}

/** The `q` quantile of sorted `values` (nearest rank), `null` for none. */
function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  return values[Math.min(values.length - 1, Math.ceil(q * values.length) - 1)];
}
