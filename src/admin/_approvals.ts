/**
 * The admin API's approval routes: list the held requests, show one, approve or deny it.
 * Authentication is the caller's job ({@linkcode adminHandler}); these only parse and decide.
 *
 * @module
 */

import type { DecideResult, PendingApproval } from "../approvals/mod.ts";
import { readLimited } from "../core/mod.ts";

/** The approval queue as the admin API sees it (the gateway's {@linkcode ApprovalQueue}). */
export interface AdminApprovals {
  /** Requests waiting now, oldest first. */
  list(): PendingApproval[];
  /**
   * Records `who`'s decision on request `id`. With a shared store it is asynchronous, and rejects
   * when the store cannot take it.
   */
  decide(
    id: string,
    decision: "allow" | "deny",
    who: string,
    reason: string,
  ): DecideResult | Promise<DecideResult>;
}

/** Largest decision body accepted: a reason and a user name fit many times over. */
export const MAX_BODY_BYTES = 16 * 1024;
/** Longest reason accepted; it reaches the agent's deny response and the receipt. */
const MAX_REASON_CHARS = 1000;
/** The operator's OS user name, as the CLI sends it. */
const WHO_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** One held request as JSON (`GET /approvals`, `GET /approvals/ID`). */
export function approvalJson(pending: PendingApproval, now = Date.now()): Record<string, unknown> {
  const { request } = pending;
  return {
    id: request.id,
    fingerprint: request.fingerprint,
    agent: request.agent.name,
    profile: request.agent.profile,
    endpoint: request.endpoint,
    protocol: request.protocol,
    rule: request.rule,
    reason: request.reason,
    summary: request.summary,
    // Redacted when the request was made: no credential value is in here.
    facts: request.facts,
    approver: pending.approver,
    quorum: pending.quorum,
    allowed_by: [...pending.allowedBy],
    since: pending.since.toISOString(),
    waiting_ms: Math.max(0, now - pending.since.getTime()),
  };
}

/** A decision request's body, once checked. */
export interface DecisionBody {
  who: string;
  reason: string;
}

/** Why a decision body was refused: HTTP status and message. */
export class BodyError extends Error {
  readonly status: 400 | 413;
  constructor(status: 400 | 413, message: string) {
    super(message);
    this.name = "BodyError";
    this.status = status;
  }
}

/**
 * Reads and checks `{ "who": "<os user>", "reason": "..." }`, at most {@linkcode MAX_BODY_BYTES}
 * (counted as it streams in, whatever Content-Length claims).
 */
export async function readDecisionBody(req: Request): Promise<DecisionBody> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) {
    await req.body?.cancel();
    throw new BodyError(413, `body too large: at most ${MAX_BODY_BYTES} bytes`);
  }
  const bytes = await readLimited(req.body, MAX_BODY_BYTES);
  if (bytes === null) throw new BodyError(413, `body too large: at most ${MAX_BODY_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new BodyError(400, `body is not JSON: send {"who": "<user>", "reason": "<text>"}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new BodyError(400, `body must be a JSON object: {"who": "<user>", "reason": "<text>"}`);
  }
  const { who, reason = "" } = parsed as Record<string, unknown>;
  if (typeof who !== "string" || !WHO_PATTERN.test(who)) {
    throw new BodyError(
      400,
      `"who" must be the operator's user name: 1 to 64 letters, digits, '.', '_' or '-'`,
    );
  }
  if (typeof reason !== "string") throw new BodyError(400, `"reason" must be a string`);
  if (reason.length > MAX_REASON_CHARS) {
    throw new BodyError(400, `"reason" is too long: at most ${MAX_REASON_CHARS} characters`);
  }
  if (CONTROL.test(reason)) {
    throw new BodyError(400, `"reason" must be one line without control characters`);
  }
  return { who, reason: reason.trim() };
}
