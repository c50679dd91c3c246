/**
 * The operator dashboard, served by the admin listener: live feed, approvals, receipts (with
 * "Save as fixture" and "Block requests like this"), rules (with "Promote to enforce"), agents
 * and health, behind a sign-in with the admin token or a one-time code.
 *
 * @example
 * ```ts
 * import { Dashboard, ReceiptFeed } from "./src/dashboard/mod.ts";
 *
 * const feed = new ReceiptFeed((filter) => queryReceipts(store, filter));
 * const dashboard = new Dashboard({ tokenMatches, approvals: queue, receipts, feed, … });
 * if (Dashboard.owns(new URL(req.url).pathname)) return await dashboard.handle(req);
 * ```
 *
 * @module
 */

export {
  CODES_PATH,
  Dashboard,
  type DashboardAgent,
  type DashboardAgents,
  type DashboardApprovals,
  type DashboardConfig,
  type DashboardOptions,
  type DashboardRule,
  type DashboardWriteResult,
} from "./dashboard.ts";
export { ReceiptFeed, type ReceiptQuery } from "./_feed.ts";
export { escapeHtml, Html, html } from "./_html.ts";
export { CONTENT_SECURITY_POLICY } from "./_respond.ts";
