/**
 * The dashboard's routes for a signed-in operator: pages (HTML, forms) and the API (JSON, the
 * live feed). A state change is refused unless it carries the session's CSRF token and, when
 * the browser says where it comes from, comes from this origin.
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";
import { readLimited } from "../core/mod.ts";
import { fixturesYaml, receiptFixture } from "../audit/mod.ts";
import type { DashboardOptions } from "./dashboard.ts";
import { approvalJsonOf, deadlineOf } from "./_approvals_json.ts";
import { approvalsPage } from "./_approvals_page.ts";
import { decidedHolds } from "./_approvals_history.ts";
import { decideHeld } from "./_decide.ts";
import { feedPage, matchesFilter, parseFeedFilter } from "./_feed_page.ts";
import { healthPage } from "./_more_pages.ts";
import { addAgent, agentsPage, revokeAgent } from "./_agents_page.ts";
import { blockRoute, blockViewOf, promoteRoute, resultMessage } from "./_config_routes.ts";
import { rulesPage, rulesReport } from "./_rules_page.ts";
import type { ChainStatus } from "./_chain_status.ts";
import { receiptPage } from "./_receipt_page.ts";
import { htmlResponse, jsonResponse, securityHeaders, seeOther } from "./_respond.ts";
import { csrfMatches, type Session } from "./_sessions.ts";
import { MAX_FORM_BYTES, readForm, sameOrigin } from "./_signin.ts";
import { feedStream, type OpenStreams, streamStart } from "./_sse.ts";
import { html } from "./_html.ts";
import { layout } from "./_layout.ts";

/** One request, with what every route needs. */
export interface RouteContext {
  req: Request;
  url: URL;
  session: Session;
  options: DashboardOptions;
  streams: OpenStreams;
  /** `log verify` for the Health page, when the gateway gave a way to run it. */
  chain?: ChainStatus;
}

const RECEIPT_ID = /^rcpt_[0-9A-Z]{1,64}$/;
/** How many recent receipts the feed page filters through. */
const RECENT = 1000;
const SHOWN = 100;

/** 403 unless the request carries the CSRF token (`csrf` field or `X-CSRF-Token`), else null. */
export function refuseWithoutCsrf(
  req: Request,
  session: Session,
  form?: URLSearchParams | null,
): Response | null {
  const token = req.headers.get("x-csrf-token") ?? form?.get("csrf");
  if (sameOrigin(req) && csrfMatches(session, token)) return null;
  return jsonResponse({ error: "forbidden: missing or invalid CSRF token" }, 403);
}

/** The JSON API's status for a dashboard decision that did not go through. */
const DECISION_STATUS: Partial<Record<string, number>> = {
  unknown: 404,
  refused: 409,
  already: 409,
  invalid: 400,
  unavailable: 503,
};

/** The pages. */
export async function pageRoute(ctx: RouteContext): Promise<Response> {
  const { req, url, session, options } = ctx;
  const path = url.pathname;
  const parts = path.split("/").slice(1);
  if (req.method === "POST") {
    const form = await readForm(req);
    const refused = refuseWithoutCsrf(req, session, form);
    if (refused) return refused;
    if (form === null) return jsonResponse({ error: "expected a form" }, 400);
    if (parts[0] === "ui" && parts[1] === "approvals" && parts.length === 3) {
      const action = form.get("decision") === "deny" ? "deny" : "approve";
      const reason = form.get("reason") ?? "";
      const result = await decideHeld(options, session, parts[2], action, reason);
      return seeOther(`/ui/approvals?result=${result}`);
    }
    if (path === "/ui/agents") return await addAgent(options, session, form);
    if (parts[0] === "ui" && parts[1] === "agents" && parts[3] === "revoke") {
      return revokeAgent(options, session, decodeURIComponent(parts[2] ?? ""));
    }
    if (parts[1] === "receipts" && parts[3] === "block" && parts.length === 4) {
      const receipt = receiptById(ctx, parts[2]);
      if (!receipt) return notFound(session);
      return await blockRoute(options, session, receipt, form, fixtureOf(ctx, receipt) !== null);
    }
    if (parts[1] === "rules" && parts[3] === "promote" && parts.length === 4) {
      return await promoteRoute(options, session, decoded(parts[2]));
    }
    if (path === "/ui/signout") return seeOther("/ui/signin");
    return notFound(session);
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    return jsonResponse({ error: "method not allowed" }, 405, { allow: "GET, HEAD, POST" });
  }
  if (path === "/" || path === "/ui" || path === "/ui/") {
    const filter = parseFeedFilter(url.searchParams);
    const recent = options.receipts({ ...narrowing(filter), limit: RECENT });
    return htmlResponse(
      feedPage(session, recent.filter((r) => matchesFilter(r, filter)).slice(-SHOWN), filter),
    );
  }
  if (path === "/ui/approvals") {
    const result = url.searchParams.get("result") ?? undefined;
    const decided = decidedHolds(options.receipts({ limit: RECENT }));
    const page = approvalsPage(
      session,
      options.approvals.list(),
      (p) => deadlineOf(options, p),
      result,
      decided,
    );
    return htmlResponse(page);
  }
  if (parts[1] === "receipts" && (parts.length === 3 || parts[3] === "fixture.yaml")) {
    return await receiptRoute(ctx, parts[2], parts[3] === "fixture.yaml");
  }
  if (path === "/ui/rules") {
    const message = resultMessage(url.searchParams.get("result"));
    return htmlResponse(rulesPage(session, options, await rulesReport(options), { message }));
  }
  if (path === "/ui/agents") return htmlResponse(agentsPage(session, options));
  if (path === "/ui/health") {
    return htmlResponse(healthPage(session, options, await ctx.chain?.text()));
  }
  return notFound(session);
}

/** The API (JSON, the live feed). */
export async function apiRoute(ctx: RouteContext): Promise<Response> {
  const { req, url, session, options } = ctx;
  const parts = url.pathname.split("/").slice(3);
  if (req.method === "POST") {
    const refused = refuseWithoutCsrf(req, session);
    if (refused) {
      await req.body?.cancel();
      return refused;
    }
    if (parts[0] === "approvals" && parts.length === 3 && /^(approve|deny)$/.test(parts[2])) {
      const reason = await jsonReason(req);
      if (reason === null) return jsonResponse({ error: 'body must be {"reason": "<text>"}' }, 400);
      const action = parts[2] as "approve" | "deny";
      const result = await decideHeld(options, session, parts[1], action, reason);
      const status = DECISION_STATUS[result] ?? 200;
      return jsonResponse({ result, id: parts[1], who: `dashboard:${session.name}` }, status);
    }
    return jsonResponse({ error: "not found" }, 404);
  }
  if (req.method !== "GET") {
    return jsonResponse({ error: "method not allowed" }, 405, { allow: "GET, POST" });
  }
  const filter = parseFeedFilter(url.searchParams);
  switch (parts.join("/")) {
    case "feed": {
      const latest = () => options.receipts({ limit: 1 }).at(-1)?.seq ?? 0;
      const sources = {
        feed: options.feed,
        receipts: options.receipts,
        approvals: options.approvals,
      };
      return feedStream(sources, ctx.streams, filter, streamStart(req, url, latest));
    }
    case "receipts": {
      const recent = options.receipts({ ...narrowing(filter), limit: RECENT });
      return jsonResponse({
        receipts: recent.filter((r) => matchesFilter(r, filter)).slice(-SHOWN),
      });
    }
    case "approvals":
      return jsonResponse({
        approvals: options.approvals.list().map((p) => approvalJsonOf(options, p)),
      });
    default:
      return jsonResponse({ error: "not found" }, 404);
  }
}

async function receiptRoute(ctx: RouteContext, id: string, fixture: boolean): Promise<Response> {
  const { options, session } = ctx;
  const receipt = receiptById(ctx, id);
  if (!receipt) return notFound(session);
  const made = fixtureOf(ctx, receipt);
  if (!fixture) {
    const block = await blockViewOf(options, receipt);
    return htmlResponse(receiptPage(session, receipt, made !== null, block));
  }
  if (made === null) return notFound(session);
  const comment = `Saved from receipt ${receipt.id} (seq ${receipt.seq}) by the clawpatrol ` +
    `dashboard.\nRun: clawpatrol test THIS_FILE`;
  return new Response(await fixturesYaml([made], comment), {
    headers: securityHeaders({
      "content-type": "application/yaml; charset=utf-8",
      "content-disposition": `attachment; filename="${receipt.id}.yaml"`,
    }),
  });
}

function receiptById(ctx: RouteContext, id: string | undefined): Receipt | undefined {
  return id !== undefined && RECEIPT_ID.test(id) ? ctx.options.receipts({ id }).at(0) : undefined;
}

/** The receipt's fixture case, or null when the gateway decided it without rules. */
function fixtureOf(ctx: RouteContext, receipt: Receipt): Record<string, unknown> | null {
  const { options } = ctx;
  const made = receiptFixture(receipt, {
    gatewayMode: options.gatewayMode(),
    ruleMode: (name) => options.ruleMode?.(name),
  });
  return typeof made === "string" ? null : made;
}

/** The part of a feed filter the database narrows by (the rest is matched in memory). */
function narrowing(filter: ReturnType<typeof parseFeedFilter>) {
  return { verdict: filter.verdict, agent: filter.agent };
}

async function jsonReason(req: Request): Promise<string | null> {
  const bytes = await readLimited(req.body, MAX_FORM_BYTES);
  if (bytes === null) return null;
  if (bytes.length === 0) return "";
  try {
    const body = JSON.parse(new TextDecoder().decode(bytes));
    const reason = body?.reason ?? "";
    return typeof reason === "string" ? reason : null;
  } catch {
    return null;
  }
}

/** A path segment decoded; a malformed %-escape is no name (it matches no rule). */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return "";
  }
}

function notFound(session: Session): Response {
  return htmlResponse(layout("Not found", session, "", html`<p>No such page or receipt.</p>`), 404);
}
