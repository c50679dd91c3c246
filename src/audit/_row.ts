/**
 * A receipt on its way to the chain: input validation and the JSON of its facts and approvals,
 * done in `record()` so a malformed input throws to its caller. The writer turns the row into
 * the stored text (`_chain_text.ts`).
 *
 * @module
 */

import type { ReceiptInput } from "../core/mod.ts";
import { isoTime } from "./_iso_time.ts";

/** A validated receipt awaiting its place in the chain. */
export interface PendingRow {
  id: string;
  time: string;
  agent: string | null;
  profile: string | null;
  endpoint: string | null;
  protocol: string;
  summary: string;
  facts: string;
  rule: string | null;
  mode: string;
  verdict: string;
  would_be: string;
  reason: string;
  approvals: string;
  upstream_status: number | null;
  bytes_in: number;
  bytes_out: number;
  latency_ms: number;
  /**
   * 1: written ahead of forwarding, its outcome in `outcomes` (none: the gateway stopped before
   * the exchange ended). 0: the row says it all (a deny, or an outcome known before writing).
   */
  ahead: 0 | 1;
  /** The digest of the config that decided (schema 3); `null` in older rows. */
  policy: string | null;
}

/** Receipts of the gateway's own refusals (no endpoint, no protocol session) carry this name. */
export const GATEWAY_PROTOCOL = "gateway";
/** What a protocol name looks like, when the store was not told the registered families. */
const PROTOCOL_NAME = /^[a-z][a-z0-9_-]*$/;
const MODES = new Set(["enforce", "observe"]);
const DECISIONS = new Set(["allow", "deny"]);

// SQLite stores UTF-8 and node:sqlite cuts text at the first NUL, so a lone surrogate or a NUL
// would read back different from what was hashed (and a NUL would hide the rest of a summary
// from the log). Both become U+FFFD before the row is hashed.
function text(field: string, value: unknown): string {
  if (typeof value !== "string") throw fieldError(field, value);
  const wellFormed = value.toWellFormed();
  return wellFormed.includes("\0") ? wellFormed.replaceAll("\0", "\uFFFD") : wellFormed;
}

function optionalText(field: string, value: unknown): string | null {
  return value === null ? null : text(field, value);
}

function oneOf(field: string, value: unknown, allowed: ReadonlySet<string> | RegExp): string {
  if (typeof value !== "string") throw fieldError(field, value);
  const ok = allowed instanceof RegExp ? allowed.test(value) : allowed.has(value);
  if (!ok) throw fieldError(field, value);
  return value;
}

function count(field: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw fieldError(field, value);
  return value as number;
}

function fieldError(field: string, value: unknown): TypeError {
  const shown = typeof value === "string" ? `'${value}'` : String(value);
  return new TypeError(`Cannot record receipt: invalid ${field} ${shown}`);
}

// JSON.stringify rejects a BigInt. One is stored as a JSON number, or as a decimal string where
// a number would lose precision.
function bigIntJson(value: bigint): unknown {
  return value >= Number.MIN_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER
    ? Number(value)
    : value.toString();
}

// Protocols' facts hold no BigInt (CEL ints stay plain numbers until a rule reads them), so V8
// serialises them without a replacer: on its fast path where the value allows it (Postgres facts
// 1.3 → 0.4 µs alone), and without a call per key where not. A BigInt from elsewhere throws, and
// is converted by a replacer.
function json(field: string, value: unknown): string {
  try {
    return JSON.stringify(value) ?? "null";
  } catch {
    // A BigInt (or a cycle, which fails below too).
  }
  try {
    return JSON.stringify(value, (_key, v) => typeof v === "bigint" ? bigIntJson(v) : v) ?? "null";
  } catch {
    // The replacer costs stack per level, so nesting past ~2,000 (a deep request body) overflows
    // here; V8's serialiser without it goes far deeper, on a copy with the BigInts converted.
  }
  try {
    return JSON.stringify(withoutBigInts(value)) ?? "null";
  } catch (error) {
    throw new TypeError(`Cannot record receipt: ${field} are not serialisable: ${error}`);
  }
}

/**
 * `value` as plain data with each BigInt as {@linkcode bigIntJson} writes it, copied without
 * recursion. An object met twice (a cycle, or shared) is refused: this is the rare deep path.
 */
function withoutBigInts(value: unknown): unknown {
  const convert = (v: unknown) => typeof v === "bigint" ? bigIntJson(v) : v;
  const nested = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null &&
    typeof (v as { toJSON?: unknown }).toJSON !== "function";
  if (!nested(value)) return convert(value);
  const seen = new Set<object>([value]);
  const root: Record<string, unknown> = Array.isArray(value) ? [] as never : {};
  const stack: [Record<string, unknown>, Record<string, unknown>][] = [[value, root]];
  for (let next; (next = stack.pop());) {
    const [from, to] = next;
    for (const key of Object.keys(from)) {
      const item = from[key];
      if (!nested(item)) {
        to[key] = convert(item);
        continue;
      }
      if (seen.has(item)) throw new TypeError("an object appears twice (cyclic?)");
      seen.add(item);
      const copy: Record<string, unknown> = Array.isArray(item) ? [] as never : {};
      to[key] = copy;
      stack.push([item, copy]);
    }
  }
  return root;
}

/**
 * Validates and serialises a receipt input. Everything that could make the insert fail is
 * rejected here, so a malformed input throws to its caller instead of wedging the queue.
 * `protocols`: the names a receipt may carry (registered families and `gateway`); `null` takes
 * any lowercase name.
 */
export function toPendingRow(
  id: string,
  input: ReceiptInput,
  protocols: ReadonlySet<string> | null = null,
): PendingRow {
  const time = input.time;
  if (!(time instanceof Date) || Number.isNaN(time.getTime())) throw fieldError("time", time);
  if (!Array.isArray(input.approvals)) throw fieldError("approvals", input.approvals);
  const status = input.upstreamStatus;
  if (status !== null && !Number.isSafeInteger(status)) throw fieldError("upstreamStatus", status);
  if (typeof input.latencyMs !== "number" || !Number.isFinite(input.latencyMs)) {
    throw fieldError("latencyMs", input.latencyMs);
  }
  return {
    id,
    time: isoTime(time),
    agent: optionalText("agent", input.agent),
    profile: optionalText("profile", input.profile),
    endpoint: optionalText("endpoint", input.endpoint),
    protocol: protocols
      ? oneOf("protocol", input.protocol, protocols)
      : oneOf("protocol", input.protocol, PROTOCOL_NAME),
    summary: text("summary", input.summary),
    facts: json("facts", input.facts),
    rule: optionalText("rule", input.rule),
    mode: oneOf("mode", input.mode, MODES),
    verdict: oneOf("verdict", input.verdict, DECISIONS),
    would_be: oneOf("wouldBe", input.wouldBe, DECISIONS),
    reason: text("reason", input.reason),
    approvals: json("approvals", input.approvals),
    upstream_status: status,
    bytes_in: count("bytesIn", input.bytesIn),
    bytes_out: count("bytesOut", input.bytesOut),
    latency_ms: input.latencyMs,
    ahead: 0,
    policy: input.policy === undefined || input.policy === null
      ? null
      : oneOf("policy", input.policy, POLICY_DIGEST),
  };
}

/** What a policy digest looks like (`clawpatrol check` prints it). */
const POLICY_DIGEST = /^[0-9a-f]{16}$/;
