/**
 * Re-deciding recorded actions with a candidate policy (`clawpatrol replay`): the facts a
 * receipt stored become an action again, typed as the protocol types them, and the candidate's
 * rules run on it. What the receipt cannot tell (facts redacted or unknown when it was recorded,
 * or fields its protocol has added since) is reported as "cannot replay", never guessed.
 *
 * @module
 */

import type { Action, Facts, Outcome, Protocol, Receipt } from "../core/mod.ts";
import { completeFacts, type Policy } from "../policy/mod.ts";
import { REDACTED } from "../credentials/mod.ts";

/** What the rules concluded for an action, as replay compares it: allow, deny or a hold. */
export interface Conclusion {
  kind: "allow" | "deny" | "approve";
  rule: string | null;
}

/** One receipt re-decided. */
export type Replayed =
  | { receipt: Receipt; status: "same"; before: Conclusion; after: Conclusion }
  | { receipt: Receipt; status: "changed"; before: Conclusion; after: Conclusion }
  /** The receipt does not hold what the candidate's rules read. */
  | { receipt: Receipt; status: "cannot"; before: Conclusion; why: string }
  /** The gateway decided it without rules (a refusal before any rule, a passthrough). */
  | { receipt: Receipt; status: "skipped" };

/**
 * What the recorded decision was, as enforce mode would have it: a hold when an approval chain
 * ran, else the would-be verdict (an observe-mode rule's too).
 */
export function recorded(receipt: Receipt): Conclusion {
  if (receipt.approvals.length > 0) return { kind: "approve", rule: receipt.rule };
  return { kind: receipt.wouldBe, rule: receipt.rule };
}

/** Re-decides `receipt` with `policy`. */
export function replayReceipt(
  receipt: Receipt,
  policy: Policy,
  protocols: readonly Protocol[],
): Replayed {
  const protocol = protocols.find((p) => p.family === receipt.protocol);
  const stored = receipt.facts as Record<string, unknown> | null;
  const families = protocol?.facets.map((f) => f.variable) ?? [];
  if (
    !protocol || receipt.endpoint === null || receipt.agent === null || !stored ||
    !families.some((family) => typeof stored[family] === "object" && stored[family] !== null)
  ) {
    return { receipt, status: "skipped" };
  }
  const before = recorded(receipt);
  const { facts, unknown } = rebuild(protocol, stored);
  const gaps = gapIndex(unknown);
  const read = policy.rulesFor(receipt.endpoint).find((r) => readsAnyGap(r.reads, gaps));
  if (read) {
    const fact = unknown.find((u) => readsFact(read.reads, u))!;
    return { receipt, status: "cannot", before, why: `rule '${read.rule.name}' reads ${fact}` };
  }
  const action: Action = {
    protocol: receipt.protocol,
    endpoint: receipt.endpoint,
    agent: { name: receipt.agent, profile: receipt.profile ?? "" },
    facts,
    summary: receipt.summary,
  };
  const { outcome, observed } = policy.evaluate(action);
  const after = conclusion(observed ?? outcome);
  const same = after.kind === before.kind && after.rule === before.rule;
  return { receipt, status: same ? "same" : "changed", before, after };
}

function conclusion(outcome: Outcome): Conclusion {
  return { kind: outcome.kind, rule: outcome.rule };
}

/**
 * The stored facts typed as the protocol types them, and what they cannot vouch for: facts the
 * gateway could not establish then (`unknown`), credential headers it redacted, and fields the
 * protocol has added since (an old receipt has no value for them, and zero is not one).
 */
function rebuild(
  protocol: Protocol,
  stored: Record<string, unknown>,
): { facts: Facts; unknown: string[] } {
  const unknown = Array.isArray(stored.unknown) ? stored.unknown.map(String) : [];
  const partial: Record<string, Record<string, unknown>> = {};
  for (const facet of protocol.facets) {
    const given = stored[facet.variable];
    if (typeof given !== "object" || given === null) {
      unknown.push(`${facet.variable}.*`);
      continue;
    }
    const fields: Record<string, unknown> = {};
    for (const field of Object.keys(facet.fields)) {
      if (Object.hasOwn(given, field)) fields[field] = (given as Record<string, unknown>)[field];
      else unknown.push(`${facet.variable}.${field}`);
    }
    partial[facet.variable] = fields;
  }
  const headers = (partial.http?.headers ?? {}) as Record<string, string[]>;
  if (Object.values(headers).some((values) => values.some((v) => v.includes(REDACTED)))) {
    unknown.push("http.headers");
  }
  return { facts: completeFacts(protocol, partial), unknown };
}

/** A rule's reads as `family.field` pairs and whole families, built once per rule. */
interface ReadIndex {
  fields: Set<string>;
  whole: Set<string>;
  families: Set<string>;
  /** `fields`, each with its family. */
  pairs: [string, string][];
}

/** What a receipt lacks, in the same shape: `http.body`, `http.*` (the whole family), families. */
export function gapIndex(unknown: readonly string[]): ReadIndex {
  const index: ReadIndex = { fields: new Set(), whole: new Set(), families: new Set(), pairs: [] };
  for (const fact of unknown) {
    const [family, field] = familyAndField(fact);
    index.families.add(family);
    if (field === "*") index.whole.add(family);
    else index.fields.add(`${family}.${field}`);
  }
  return index;
}

/** Whether a rule reading `reads` reads any fact in `gaps` (see {@linkcode readsFact}). */
export function readsAnyGap(reads: ReadonlySet<string>, gaps: ReadIndex): boolean {
  if (gaps.families.size === 0) return false;
  const index = readIndex(reads);
  for (const [family, key] of index.pairs) {
    if (gaps.fields.has(key) || gaps.whole.has(family)) return true;
  }
  for (const family of index.whole) if (gaps.families.has(family)) return true;
  return false;
}

const readIndexes = new WeakMap<ReadonlySet<string>, ReadIndex>();

/** `family.field` of a fact or a read (deeper parts, as in `http.headers.x`, are the field's). */
function familyAndField(name: string): [string, string] {
  const [family, field = ""] = name.split(".", 2);
  return [family, field];
}

function readIndex(reads: ReadonlySet<string>): ReadIndex {
  let index = readIndexes.get(reads);
  if (!index) {
    index = { fields: new Set(), whole: new Set(), families: new Set(), pairs: [] };
    for (const read of reads) {
      const [family, field] = familyAndField(read);
      index.families.add(family);
      if (field === "*") index.whole.add(family);
      else {
        index.fields.add(`${family}.${field}`);
        index.pairs.push([family, `${family}.${field}`]);
      }
    }
    readIndexes.set(reads, index);
  }
  return index;
}

/**
 * Whether a rule reading `reads` (`family.field`, `family.*`) reads fact `fact` (same form). The
 * rule's reads are indexed once: replay asks for every rule of every receipt.
 */
function readsFact(reads: ReadonlySet<string>, fact: string): boolean {
  const index = readIndex(reads);
  const [family, field] = familyAndField(fact);
  if (field === "*") return index.families.has(family);
  return index.whole.has(family) || index.fields.has(`${family}.${field}`);
}
