/**
 * The gateway's DNS answers for agents behind transparent interception (DESIGN.md §9), as a pure
 * function: query bytes in, reply bytes and what to record out. A name an endpoint claims gets
 * its VIP; any other name follows `unknown_host`. No I/O: a passthrough name comes back as a
 * {@linkcode Passthrough} step the caller resolves, or {@linkcode respondResolving} runs it with
 * an injected resolver.
 *
 * The question is read by a bounded walker of our own (`_wire.ts`), never by a general decoder,
 * and the reply is written here: it echoes the question's bytes exactly (original case, which
 * resolvers using 0x20 randomisation check) and needs no compression beyond one pointer.
 *
 * @module
 */

import { ipv4Bytes, ipv6Bytes, isHostName, presentName, readName } from "./_wire.ts";

/** What the server decides from `unknown_host`. */
export type UnknownHost = "deny" | "passthrough";

/** What a responder needs to know of the gateway. */
export interface DnsContext {
  /** The endpoint claiming `name` (lower case, presentation form), or null. Assigns nothing. */
  claimant(name: string): string | null;
  /** The VIP for claimed `name`, assigning one if needed; null when none is free. */
  assign(name: string): { vip: string } | null;
  /** What names no endpoint claims get. */
  unknownHost: UnknownHost;
}

/** What the caller records for a query. */
export type DnsEvent =
  /** The gateway refused to resolve `name` (an agent-visible NXDOMAIN, REFUSED or SERVFAIL). */
  | { kind: "refused"; name: string; reason: string }
  /** `name` is resolved upstream under `unknown_host = "passthrough"`. */
  | { kind: "passthrough"; name: string }
  /** Not a query we could read (FORMERR) or an opcode we do not serve (NOTIMP). */
  | { kind: "malformed"; reason: string };

/** A passthrough query waiting for the real addresses. */
export interface Passthrough {
  name: string;
  type: "A" | "AAAA";
  /** The reply carrying `addresses` (of `type`; others skipped, at most {@linkcode MAX_PASSTHROUGH_ADDRESSES}). */
  answer(addresses: readonly string[]): Uint8Array;
  /** The reply when upstream says the name does not exist, or could not be asked. */
  fail(rcode: "NXDOMAIN" | "SERVFAIL"): Uint8Array;
}

/** A responder's verdict on one query. */
export interface DnsResult {
  /** Bytes to send back; null: send nothing (not a query, or a passthrough still pending). */
  reply: Uint8Array | null;
  event?: DnsEvent;
  /** Set for passthrough: `reply` is null until the caller resolves and calls `answer`/`fail`. */
  passthrough?: Passthrough;
}

/** TTL of every answer: short, so a changed config or evicted VIP is noticed within a minute. */
export const ANSWER_TTL_S = 60;
/**
 * Addresses in one passthrough answer: 8 AAAA records after a 255-byte name still fit the
 * 512 bytes of a plain UDP reply (RFC 1035 §4.2.1), so no truncation logic is needed.
 */
export const MAX_PASSTHROUGH_ADDRESSES = 8;

const HEADER = 12;
const QR = 0x8000;
const AA = 0x0400;
const RD = 0x0100;
const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type Rcode = keyof typeof RCODE;
/** IXFR, AXFR, MAILB, MAILA, ANY (RFC 1035 §3.2.3, RFC 1995, RFC 8482): never served. */
const REFUSED_TYPES = new Map<number, string>([
  [251, "IXFR"],
  [252, "AXFR"],
  [253, "MAILB"],
  [254, "MAILA"],
  [255, "ANY"],
]);

/** The parts of a query a reply echoes. */
interface Query {
  id: number;
  opcode: number;
  rd: boolean;
  question: Question | null;
}

interface Question {
  labels: Uint8Array[];
  type: number;
  class: number;
}

/** One answer record's type and data. */
interface AnswerRecord {
  type: number;
  data: Uint8Array;
}

/**
 * Answers one DNS query. Never throws: garbage gets FORMERR (or nothing when there is no header
 * to answer), responses get nothing.
 *
 * @example
 * ```ts
 * const table = new VipTable(parseVipRange("10.79.0.0/16"), claims);
 * const ctx = { claimant: (n) => table.claimant(n), assign: (n) => table.assign(n), unknownHost: "deny" };
 * const { reply, event } = respond(queryBytes, ctx);
 * ```
 */
export function respond(query: Uint8Array, ctx: DnsContext): DnsResult {
  // Shorter than a header: no ID to echo, so nothing to answer.
  if (query.length < HEADER) return { reply: null };
  const view = new DataView(query.buffer, query.byteOffset, query.byteLength);
  const flags = view.getUint16(2);
  // A response sent to us is never answered: answering would let two servers loop.
  if (flags & QR) return { reply: null };
  const head = { id: view.getUint16(0), opcode: (flags >> 11) & 0xf, rd: (flags & RD) !== 0 };
  const qdcount = view.getUint16(4);
  const read = qdcount === 1 ? readQuestion(query) : `QDCOUNT ${qdcount}, expected 1`;
  const question = typeof read === "string" ? null : read;
  const q: Query = { ...head, question };
  if (head.opcode !== 0) {
    return malformed(q, "NOTIMP", `opcode ${head.opcode} not served`);
  }
  if (typeof read === "string") return malformed(q, "FORMERR", read);
  return answerQuestion(q, read, ctx);
}

/**
 * {@linkcode respond}, with a passthrough resolved by `resolve` (which returns the addresses, or
 * `"NXDOMAIN"`; a rejection answers SERVFAIL).
 *
 * @example
 * ```ts
 * const { reply } = await respondResolving(bytes, ctx, async (name, type) =>
 *   await Deno.resolveDns(name, type).catch((e) => e instanceof Deno.errors.NotFound ? "NXDOMAIN" : Promise.reject(e)));
 * ```
 */
export async function respondResolving(
  query: Uint8Array,
  ctx: DnsContext,
  resolve: (name: string, type: "A" | "AAAA") => Promise<readonly string[] | "NXDOMAIN">,
): Promise<DnsResult> {
  const result = respond(query, ctx);
  const pending = result.passthrough;
  if (!pending) return result;
  let reply: Uint8Array;
  try {
    const found = await resolve(pending.name, pending.type);
    reply = found === "NXDOMAIN" ? pending.fail("NXDOMAIN") : pending.answer(found);
  } catch {
    reply = pending.fail("SERVFAIL");
  }
  return { reply, event: result.event };
}

function answerQuestion(q: Query, question: Question, ctx: DnsContext): DnsResult {
  const name = presentName(question.labels);
  if (question.class !== CLASS_IN) {
    return refuse(q, "REFUSED", name, `class ${question.class} not served`);
  }
  const refusedType = REFUSED_TYPES.get(question.type);
  if (refusedType) return refuse(q, "REFUSED", name, `query type ${refusedType} not served`);
  // A context that throws must not take the responder down: it fails closed.
  let endpoint: string | null;
  try {
    endpoint = ctx.claimant(name);
  } catch {
    return refuse(q, "SERVFAIL", name, "claim lookup failed");
  }
  if (endpoint !== null) return answerClaimed(q, question, name, ctx);
  if (ctx.unknownHost !== "passthrough") {
    return refuse(q, "NXDOMAIN", name, "no endpoint claims this host");
  }
  if (!isHostName(name)) return refuse(q, "NXDOMAIN", name, "not a host name");
  if (question.type !== TYPE_A && question.type !== TYPE_AAAA) {
    // Only addresses pass through: other types could carry data out through a foreign server.
    return { reply: encode(q, "NOERROR", false, []) };
  }
  const type = question.type === TYPE_A ? "A" : "AAAA";
  return {
    reply: null,
    event: { kind: "passthrough", name },
    passthrough: {
      name,
      type,
      answer: (addresses) => encode(q, "NOERROR", false, records(type, addresses)),
      fail: (rcode) => encode(q, rcode, false, []),
    },
  };
}

function answerClaimed(q: Query, question: Question, name: string, ctx: DnsContext): DnsResult {
  // VIPs are IPv4: AAAA and every other type get NOERROR with no data, so clients fall back to A.
  if (question.type !== TYPE_A) return { reply: encode(q, "NOERROR", true, []) };
  let vip: Uint8Array | null = null;
  try {
    const assigned = ctx.assign(name);
    vip = assigned && ipv4Bytes(assigned.vip);
  } catch {
    vip = null;
  }
  if (!vip) return refuse(q, "SERVFAIL", name, "no virtual address free");
  return { reply: encode(q, "NOERROR", true, [{ type: TYPE_A, data: vip }]) };
}

function refuse(q: Query, rcode: Rcode, name: string, reason: string): DnsResult {
  return {
    reply: encode(q, rcode, rcode === "NXDOMAIN", []),
    event: { kind: "refused", name, reason },
  };
}

function malformed(q: Query, rcode: Rcode, reason: string): DnsResult {
  return { reply: encode(q, rcode, false, []), event: { kind: "malformed", reason } };
}

/** The question at offset 12, or why it cannot be read. */
function readQuestion(buf: Uint8Array): Question | string {
  const name = readName(buf, HEADER, HEADER);
  if (!name.ok) return name.reason;
  if (name.end + 4 > buf.length) return "question runs past the end of the packet";
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    labels: name.labels,
    type: view.getUint16(name.end),
    class: view.getUint16(name.end + 2),
  };
}

function records(type: "A" | "AAAA", addresses: readonly string[]): AnswerRecord[] {
  const parse = type === "A" ? ipv4Bytes : ipv6Bytes;
  const out: AnswerRecord[] = [];
  for (const address of addresses) {
    const data = parse(address);
    if (data) out.push({ type: type === "A" ? TYPE_A : TYPE_AAAA, data });
    if (out.length === MAX_PASSTHROUGH_ADDRESSES) break;
  }
  return out;
}

/**
 * A reply: header (ID, opcode and RD echoed, RA clear), the question as asked, and `answers`
 * owned by the question's name through a pointer to offset 12.
 */
function encode(
  q: Query,
  rcode: Rcode,
  authoritative: boolean,
  answers: AnswerRecord[],
): Uint8Array {
  const labels = q.question?.labels ?? [];
  const nameLength = labels.reduce((n, l) => n + 1 + l.length, 1);
  const questionLength = q.question ? nameLength + 4 : 0;
  const answerLength = answers.reduce((n, r) => n + 12 + r.data.length, 0);
  const out = new Uint8Array(HEADER + questionLength + answerLength);
  const view = new DataView(out.buffer);
  const flags = QR | (q.opcode << 11) | (authoritative ? AA : 0) | (q.rd ? RD : 0) | RCODE[rcode];
  view.setUint16(0, q.id);
  view.setUint16(2, flags);
  view.setUint16(4, q.question ? 1 : 0);
  view.setUint16(6, answers.length);
  let pos = HEADER;
  if (q.question) {
    for (const label of labels) {
      out[pos++] = label.length;
      out.set(label, pos);
      pos += label.length;
    }
    out[pos++] = 0;
    view.setUint16(pos, q.question.type);
    view.setUint16(pos + 2, q.question.class);
    pos += 4;
  }
  for (const r of answers) {
    view.setUint16(pos, 0xc000 | HEADER);
    view.setUint16(pos + 2, r.type);
    view.setUint16(pos + 4, CLASS_IN);
    view.setUint32(pos + 6, ANSWER_TTL_S);
    view.setUint16(pos + 10, r.data.length);
    out.set(r.data, pos + 12);
    pos += 12 + r.data.length;
  }
  return out;
}
