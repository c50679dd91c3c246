/**
 * Webhook approvals that are answered later: a receiver that replied `202 Accepted` posts its
 * decision to `POST /approvals/webhook` on the admin API, signed like the request it got. This
 * registry knows which approval ids are waiting for which webhook approver, and verifies and
 * routes those callbacks.
 *
 * @module
 */

import type { Decision, StageDecision } from "../core/mod.ts";
import {
  REPLAY_WINDOW_SECONDS,
  type SignatureProblem,
  signedHeaders,
  verifyWebhook,
} from "./_webhook_signature.ts";
import { readLimited } from "../core/mod.ts";

/** Largest callback body accepted. */
export const MAX_CALLBACK_BYTES = 64 * 1024;
/** Longest reason kept from a receiver (it reaches the receipt and the agent). */
export const MAX_REASON_CHARS = 500;

/** Ids and signatures are remembered this long: past it, the timestamp check alone refuses them. */
const REMEMBER_MS = 2 * REPLAY_WINDOW_SECONDS * 1000;

/** Which approver an approval id waits for, and how to check who answers. */
export interface CallbackWait {
  /** The approver's `kind.name`. */
  approver: string;
  /** Recorded as the stage's decider (`webhook:<name>`). */
  who: string;
  /** The request's fingerprint: a callback must name the same one. */
  fingerprint: string;
  /** The approver's HMAC key (its `webhook_secret`). */
  key: CryptoKey;
  /** Operator log, for callbacks that reach this wait (accepted or refused). */
  log?: (level: "info" | "warn", message: string, fields?: object) => void;
}

/** One open wait, from {@linkcode WebhookCallbacks.open}. */
export interface OpenWait {
  /** Settles with the first answer: a callback, {@linkcode settle}, or {@linkcode fail}. */
  readonly answer: Promise<StageDecision>;
  /** Decides the wait (the synchronous reply); `false` when it was already decided. */
  settle(answer: StageDecision): boolean;
  /** Fails the wait (network error, cancelled) unless already decided. */
  fail(err: unknown): void;
  /** Ends the wait: the id stops accepting callbacks. Always call it, in `finally`. */
  close(): void;
}

interface Pending extends CallbackWait {
  settled: boolean;
  resolve(answer: StageDecision): void;
  reject(err: unknown): void;
}

/** Outcome of one callback, before it becomes an HTTP response. */
type Verdict = { status: number; error?: string; about?: { id: string; wait: CallbackWait } };

/**
 * The approval ids waiting for a webhook callback. One registry serves every webhook approver
 * of the process (ids are random, so gateways in one process do not collide).
 *
 * @example
 * ```ts
 * const callbacks = new WebhookCallbacks();
 * const wait = callbacks.open(request.id, { approver, who, fingerprint, key });
 * try {
 *   return await wait.answer;
 * } finally {
 *   wait.close();
 * }
 * // on the admin API: POST /approvals/webhook → callbacks.handle(req)
 * ```
 */
export class WebhookCallbacks {
  readonly #pending = new Map<string, Pending>();
  /** Ids no longer waiting, with the keys of the approvers that waited: "already decided". */
  readonly #finished = new Map<string, { keys: CryptoKey[]; until: number }>();
  /** MACs of verified callbacks, until their timestamp is stale anyway. */
  readonly #seen = new Map<string, number>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Ids currently waiting for a callback. */
  get size(): number {
    return this.#pending.size;
  }

  /** Whether `id` is waiting for a callback. */
  has(id: string): boolean {
    return this.#pending.has(id);
  }

  /** Starts waiting for a decision on `id`. Throws when `id` already waits. */
  open(id: string, wait: CallbackWait): OpenWait {
    if (this.#pending.has(id)) {
      throw new Error(`approval '${id}' is already waiting for a webhook`);
    }
    let resolve!: (answer: StageDecision) => void;
    let reject!: (err: unknown) => void;
    const answer = new Promise<StageDecision>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    answer.catch(() => {}); // a wait closed before anyone awaited it is not an unhandled error
    const entry: Pending = { ...wait, settled: false, resolve, reject };
    this.#pending.set(id, entry);
    return {
      answer,
      settle: (decision) => this.#settle(entry, decision),
      fail: (err) => {
        if (entry.settled) return;
        entry.settled = true;
        entry.reject(err);
      },
      close: () => {
        if (this.#pending.get(id) !== entry) return;
        this.#pending.delete(id);
        if (!entry.settled) {
          entry.settled = true;
          entry.reject(new Error("the webhook wait was closed"));
        }
        const finished = this.#finished.get(id);
        this.#finished.delete(id); // re-insert, so the map stays ordered by expiry
        this.#finished.set(id, {
          keys: [...(finished?.keys ?? []), entry.key],
          until: this.#now() + REMEMBER_MS,
        });
      },
    };
  }

  /**
   * Handles `POST /approvals/webhook`: body `{id, fingerprint, decision, reason}`, signed with
   * the approver's `webhook_secret`. No admin token: the signature is the authentication.
   * Answers 200 accepted, 400 malformed, 401 bad or stale signature, 404 unknown id, 409
   * fingerprint mismatch, already decided or replayed, 405 not POST, 413 body too large.
   */
  async handle(req: Request): Promise<Response> {
    const verdict = await this.#verdict(req);
    if (!req.bodyUsed) await req.body?.cancel().catch(() => {});
    if (verdict.about) {
      const { id, wait } = verdict.about;
      const fields = { approver: wait.approver, approval: id };
      if (verdict.error) wait.log?.("warn", `webhook callback refused: ${verdict.error}`, fields);
      else wait.log?.("info", "webhook callback accepted", fields);
    }
    const body = verdict.error ? { error: verdict.error } : { status: "accepted" };
    return new Response(JSON.stringify(body), {
      status: verdict.status,
      headers: { "content-type": "application/json" },
    });
  }

  async #verdict(req: Request): Promise<Verdict> {
    if (req.method !== "POST") return { status: 405, error: "use POST" };
    this.#prune();
    // Cheap checks first: an unsigned or stale caller costs no body read.
    const signed = signedHeaders(req.headers, this.#now());
    if (typeof signed === "string") return { status: 401, error: problemText(signed) };
    const declared = Number(req.headers.get("content-length") ?? "0");
    const raw = declared > MAX_CALLBACK_BYTES
      ? null
      : await readLimited(req.body, MAX_CALLBACK_BYTES).catch(() => null);
    if (raw === null) return { status: 413, error: `body larger than ${MAX_CALLBACK_BYTES} bytes` };
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
    } catch {
      return { status: 400, error: "body is not JSON" };
    }
    const id = isRecord(parsed) ? parsed.id : undefined;
    if (typeof id !== "string" || id === "") return { status: 400, error: "'id' must be a string" };
    const entry = this.#pending.get(id);
    const finished = this.#finished.get(id);
    if (!entry && !finished) {
      return { status: 404, error: `no approval '${id.slice(0, 80)}' is waiting` };
    }
    const about = entry ? { id, wait: entry } : undefined;
    // The key is the approver's that `id` waits for; a key of an approver that already answered
    // for `id` (an earlier stage) authenticates the caller but decides nothing.
    let current = false;
    if (entry && await verifyWebhook(entry.key, signed, raw)) current = true;
    else if (!await anyVerifies(finished?.keys ?? [], signed, raw)) {
      return { status: 401, error: "bad signature", about };
    }
    const mac = hex(signed.mac);
    if (this.#seen.has(mac)) return { status: 409, error: "replayed callback", about };
    this.#seen.set(mac, this.#now() + REMEMBER_MS);
    if (!current || !entry || entry.settled) {
      return { status: 409, error: `approval '${id}' was already decided`, about };
    }
    const shape = callbackShape(parsed as Record<string, unknown>);
    if (typeof shape === "string") return { status: 400, error: shape, about };
    if (shape.fingerprint !== entry.fingerprint) {
      return { status: 409, error: `fingerprint does not match approval '${id}'`, about };
    }
    this.#settle(entry, { decision: shape.decision, who: entry.who, reason: shape.reason });
    return { status: 200, about };
  }

  #settle(entry: Pending, answer: StageDecision): boolean {
    if (entry.settled) return false;
    entry.settled = true;
    entry.resolve(answer);
    return true;
  }

  /** Forgets what is old enough for the timestamp check to refuse on its own. */
  #prune(): void {
    const now = this.#now();
    for (const [mac, until] of this.#seen) {
      if (until > now) break;
      this.#seen.delete(mac);
    }
    for (const [id, { until }] of this.#finished) {
      if (until > now) break;
      this.#finished.delete(id);
    }
  }
}

/**
 * A receiver's `{decision, reason}` (sync reply or callback): `decision` must be exactly
 * `allow` or `deny`, `reason` a string when present. Anything else is a string saying why not.
 */
export function decisionOf(
  value: unknown,
): { decision: Decision; reason: string } | string {
  if (!isRecord(value)) return "expected a JSON object {decision, reason}";
  const { decision, reason } = value;
  if (decision !== "allow" && decision !== "deny") {
    return `'decision' must be "allow" or "deny", got ${
      JSON.stringify(decision)?.slice(0, 40) ?? "nothing"
    }`;
  }
  if (reason !== undefined && typeof reason !== "string") return "'reason' must be a string";
  const text = (reason ?? "").replace(/\p{Cc}+/gu, " ").trim().slice(0, MAX_REASON_CHARS);
  return { decision, reason: text || `webhook answered ${decision}` };
}

function callbackShape(
  value: Record<string, unknown>,
): { fingerprint: string; decision: Decision; reason: string } | string {
  if (typeof value.fingerprint !== "string") return "'fingerprint' must be a string";
  const decided = decisionOf(value);
  if (typeof decided === "string") return decided;
  return { fingerprint: value.fingerprint, ...decided };
}

async function anyVerifies(
  keys: CryptoKey[],
  signed: Parameters<typeof verifyWebhook>[1],
  raw: Uint8Array,
): Promise<boolean> {
  for (const key of keys) if (await verifyWebhook(key, signed, raw)) return true;
  return false;
}

function problemText(problem: SignatureProblem): string {
  switch (problem) {
    case "missing":
      return "missing X-Clawpatrol-Timestamp or X-Clawpatrol-Signature";
    case "malformed":
      return "malformed X-Clawpatrol-Timestamp or X-Clawpatrol-Signature";
    case "stale":
      return `timestamp outside the ${REPLAY_WINDOW_SECONDS / 60}-minute window`;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
