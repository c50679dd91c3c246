/**
 * Responses with the dashboard's security headers: a strict Content-Security-Policy (scripts,
 * styles and connections from this origin only, no inline script, no framing), no caching, no
 * sniffing, no referrer.
 *
 * @module
 */

import type { Html } from "./_html.ts";

/** Only files this server serves may run or style a page; nothing may frame it. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

/** Headers every dashboard response carries. */
export function securityHeaders(extra: Record<string, string> = {}): Headers {
  return new Headers({
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    // Not no-referrer: under it browsers send `Origin: null` on form posts (Fetch standard,
    // "append a request `Origin` header"; chromium does), which the origin check must refuse.
    // same-origin still sends no referrer to any other site.
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-store",
    ...extra,
  });
}

/** A page. */
export function htmlResponse(body: Html, status = 200, extra: Record<string, string> = {}) {
  return new Response(`<!doctype html>\n${body}`, {
    status,
    headers: securityHeaders({ "content-type": "text/html; charset=utf-8", ...extra }),
  });
}

/** A JSON answer (BigInts, which CEL facts may hold, as strings). */
export function jsonResponse(body: unknown, status = 200, extra: Record<string, string> = {}) {
  const text = JSON.stringify(body, (_k, v) => typeof v === "bigint" ? v.toString() : v);
  return new Response(text, {
    status,
    headers: securityHeaders({ "content-type": "application/json", ...extra }),
  });
}

/** A redirect after a form post (303: the browser follows with GET). */
export function seeOther(location: string, extra: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: securityHeaders({ location, ...extra }) });
}
