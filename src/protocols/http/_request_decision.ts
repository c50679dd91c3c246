/**
 * Deciding one request: its http facts (and its protocol's on top), the placeholders it carries,
 * then the guard's verdict, waiting out an approval. A refusal or a deny is answered here, with
 * its receipt; an allowed request goes on with everything forwarding needs.
 *
 * @module
 */

import type { Decided, Facts } from "../../core/mod.ts";
import { withLibraries } from "../../core/lazy.ts";
import type { HttpCredentialUse, HttpRequestParts } from "./context.ts";
import type { After, Exchange } from "./_exchange_context.ts";
import { httpFacts, type HttpRequestFacts, MethodRejected, PathRejected } from "./facts.ts";
import type { ReceivedRequest } from "./_request_intake.ts";
import { bad, refuse } from "./_request_refusal.ts";
import { type GatewayReply, reply } from "./_respond.ts";
import { headerValues, lowerName, type RequestHead, stripHopByHop } from "./_wire.ts";

const SET_BY_GATEWAY = new Set(["host", "expect", "content-length", "transfer-encoding"]);

/** An allowed request: its facts, the request as decided, and the decision. */
export interface AllowedRequest {
  facts: HttpRequestFacts;
  /** The request as decided, placeholders still in it. */
  parts: HttpRequestParts;
  /** The credentials its placeholders name, when the gateway injects any. */
  credentials: HttpCredentialUse | null;
  decided: Decided;
  /** It was held for an approval, which can outlast the upstream's idle timeout. */
  approvalHold: boolean;
}

/** What the guard decides on: the action's facts, those it lacks, and its summary. */
interface ActionFacts {
  facts: Facts;
  unknown: readonly string[];
  summary: string;
}

/** Decides the request, or answers its refusal or deny (with a receipt). */
export async function decideRequest(
  ex: Exchange,
  received: ReceivedRequest,
): Promise<AllowedRequest | After> {
  const made = requestFacts(ex, received);
  const facts = made instanceof Promise ? await made : made;
  if (typeof facts === "string") return facts;
  // Placeholders are found before the decision (rules and receipts see where they sat) and
  // secrets swapped in after it, so a denied request never has a secret in it.
  const parts: HttpRequestParts = {
    headers: forwardable(ex.head, received.upgrade, ex.flavor?.dropHeaders ?? []),
    target: facts.upstreamTarget,
    body: received.buffered,
    bodyTruncated: received.truncated,
    contentType: headerValues(ex.head.headers, "content-type")[0],
    method: facts.method,
    // The Host header forward() sends: signatures (AWS SigV4) cover it.
    authority: ex.req.port === (ex.req.scheme === "https" ? 443 : 80)
      ? ex.req.host
      : `${ex.req.host}:${ex.req.port}`,
  };
  const credentials = ex.ctx.credentials
    ? await ex.ctx.credentials(ex.req.agent, ex.req.endpoint?.name ?? null, parts)
    : null;
  if (credentials) {
    facts.facts.placeholders = credentials.placeholders;
    facts.facts.misplaced_placeholders = credentials.misplaced;
    facts.facts.unknown_placeholders = credentials.unknown;
    if (credentials.refusal !== null) {
      const receipt = ex.actions.refuse({
        protocol: ex.protocol,
        endpoint: ex.req.endpoint?.name ?? null,
        agent: ex.req.agent,
        summary: facts.summary,
        reason: credentials.refusal,
        facts: { http: facts.facts },
      });
      return await deny(ex, { reason: credentials.refusal, rule: null, receipt }, received);
    }
  }
  const making = actionFacts(ex, facts);
  const action = making instanceof Promise ? await making : making;
  if (typeof action === "string") return action;
  return decide(ex, received, { facts, parts, credentials }, action);
}

/**
 * The request's http facts; a path or method the proxy will not forward is refused. Not async:
 * facts are made in one synchronous pass unless a library loads first, and a promise per request
 * only to return them costs a microtask (likewise {@linkcode actionFacts}).
 */
function requestFacts(
  ex: Exchange,
  received: ReceivedRequest,
): HttpRequestFacts | Promise<HttpRequestFacts | After> {
  const { req, head } = ex;
  let made: HttpRequestFacts | Promise<HttpRequestFacts>;
  try {
    // A request carrying GraphQL loads the parser the first time (core/lazy.ts).
    made = withLibraries(() =>
      httpFacts({
        method: head.method,
        scheme: req.scheme,
        host: req.host,
        port: req.port,
        target: req.target,
        headers: head.headers,
        body: received.seen,
        bodyTruncated: received.truncated,
        allowEncodedSlash: req.endpoint?.allowEncodedSlash ?? false,
        allowDoubleEncoding: req.endpoint?.allowDoubleEncoding,
        allowPathParams: req.endpoint?.allowPathParams,
        allowMethodOverride: req.endpoint?.allowMethodOverride,
      })
    );
  } catch (err) {
    return refuseFacts(ex, received, err);
  }
  return made instanceof Promise ? made.catch((err) => refuseFacts(ex, received, err)) : made;
}

/** The refusal of a request whose http facts could not be made. */
async function refuseFacts(ex: Exchange, received: ReceivedRequest, err: unknown): Promise<After> {
  if (err instanceof PathRejected || err instanceof MethodRejected) {
    return await refuse(ex, bad(400, err.message), received.truncated);
  }
  ex.ctx.log("error", `facts failed: ${err}`, { agent: ex.req.agent.name });
  return await refuse(ex, bad(400, "request could not be parsed"), true);
}

/**
 * Another HTTP-based protocol adds its facts on top of http's (after placeholders were found,
 * so rules see them); a request it cannot make sense of is refused, never decided blind.
 */
function actionFacts(
  ex: Exchange,
  facts: HttpRequestFacts,
): ActionFacts | Promise<ActionFacts | After> {
  if (!ex.flavor) {
    return { facts: { http: facts.facts }, unknown: facts.unknown, summary: facts.summary };
  }
  const flavor = ex.flavor;
  const compose = (composed: ReturnType<typeof flavor.facts>): ActionFacts => ({
    facts: composed.facts,
    unknown: [...facts.unknown, ...(composed.unknown ?? [])],
    summary: composed.summary,
  });
  try {
    const making = withLibraries(() => flavor.facts(facts.facts));
    if (!(making instanceof Promise)) return compose(making);
    return making.then(compose).catch((err) => refuseActionFacts(ex, err));
  } catch (err) {
    return refuseActionFacts(ex, err);
  }
}

/** The refusal of a request another protocol could not make its facts of. */
async function refuseActionFacts(ex: Exchange, err: unknown): Promise<After> {
  ex.ctx.log("warn", `${ex.protocol} facts failed: ${(err as Error).message}`, {
    agent: ex.req.agent.name,
  });
  return await refuse(ex, bad(400, "request could not be parsed"), true);
}

/**
 * Asks the guard through the connection's ledger (or passes passthrough traffic) and waits for a
 * held decision; the ledger tracks what it settles with. An allow decided at once is returned
 * as it is, without a promise.
 */
function decide(
  ex: Exchange,
  received: ReceivedRequest,
  request: Omit<AllowedRequest, "decided" | "approvalHold">,
  action: ActionFacts,
): AllowedRequest | Promise<AllowedRequest | After> {
  const { req } = ex;
  const decided: Decided = req.endpoint
    ? ex.actions.decide({
      protocol: ex.protocol,
      endpoint: req.endpoint.name,
      agent: req.agent,
      facts: action.facts,
      unknown: action.unknown,
      summary: action.summary,
    }, { signal: ex.client.goneSignal() })
    : ex.actions.pass({
      protocol: "https",
      endpoint: null,
      agent: req.agent,
      summary: `${request.facts.summary} (passthrough)`,
      reason: "no endpoint claims this host; defaults.unknown_host = passthrough",
      facts: { http: request.facts.facts },
    });
  // Held for approval: the agent simply waits; if it goes away, the approval is cancelled.
  // An approval hold (provisional deny) can outlast the upstream's idle timeout; a wait for
  // the receipt to be on disk (an allow, held) takes milliseconds and keeps pooled connections.
  const approvalHold = decided.held !== undefined && decided.verdict.decision === "deny";
  if (decided.held === undefined && decided.verdict.decision !== "deny") {
    return { ...request, decided, approvalHold };
  }
  return settle(ex, received, { ...request, decided, approvalHold });
}

/** Waits for a held decision, and answers a deny. */
async function settle(
  ex: Exchange,
  received: ReceivedRequest,
  allowed: AllowedRequest,
): Promise<AllowedRequest | After> {
  let decided = allowed.decided;
  if (decided.held) decided = await decided.held;
  if (decided.verdict.decision === "deny") {
    const { reason, rule } = decided.verdict;
    return await deny(ex, { reason, rule, receipt: decided.receipt }, received);
  }
  return { ...allowed, decided };
}

/** Answers a denied request with the protocol's 403; a partly read body ends the connection. */
async function deny(
  ex: Exchange,
  denial: Pick<GatewayReply, "reason" | "rule" | "receipt">,
  received: ReceivedRequest,
): Promise<After> {
  const close = ex.clientClose || received.truncated;
  await reply(ex.client, { status: 403, error: "denied", ...denial, close, shape: ex.shape });
  return close ? "close" : "keep";
}

/** Headers the agent sent that may be forwarded: no hop-by-hop, no framing, no Host. */
export function forwardable(
  head: RequestHead,
  upgrade: boolean,
  dropped: readonly string[],
): [string, string][] {
  const kept: [string, string][] = [];
  for (const h of stripHopByHop(head.headers, upgrade ? ["upgrade"] : [])) {
    const name = lowerName(h[0]);
    if (dropped.includes(name)) continue;
    // Framing headers are always the gateway's own, matching the bytes it sends: an agent that
    // names Content-Length in Connection must not get a body forwarded without its length
    // (the upstream would read the body as a second, undecided request).
    if (SET_BY_GATEWAY.has(name)) continue;
    kept.push(h);
  }
  return kept;
}
