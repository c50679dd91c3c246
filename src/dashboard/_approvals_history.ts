/**
 * The approvals page's history: recently decided holds, read from their receipts (which record
 * each stage's decision, who made it and when), newest first.
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";
import { type Html, html } from "./_html.ts";
import { actionInWords } from "./_words.ts";

/** Decided holds shown at most. */
export const HISTORY_SHOWN = 25;

/** The receipts among `recent` whose action an approval chain decided, newest first. */
export function decidedHolds(recent: readonly Receipt[]): Receipt[] {
  return recent.filter((r) => r.approvals.length > 0).reverse().slice(0, HISTORY_SHOWN);
}

/** The history table (or a line saying there is none yet). */
export function approvalsHistory(decided: readonly Receipt[]): Html {
  if (decided.length === 0) {
    return html`
      <h2>Decided</h2>
      <p id="history-none">No held request has been decided yet.</p>
    `;
  }
  const rows = decided.map((r) => {
    const time = r.time instanceof Date ? r.time.toISOString() : String(r.time);
    const who = r.approvals.map((s) => `${s.who} (${s.decision})`).join(", ");
    const reason = r.approvals.findLast((s) => s.reason)?.reason ?? "";
    return html`
      <tr>
        <td><time datetime="${time}">${time.replace("T", " ").slice(0, 19)}</time></td>
        <td><a href="/ui/receipts/${r.id}">${actionInWords(r)}</a></td>
        <td><span class="badge ${r.verdict}">${r.verdict === "allow"
          ? "approved"
          : "denied"}</span></td>
        <td class="who">${who}</td>
        <td>${reason}</td>
      </tr>
    `;
  });
  return html`
    <h2>Decided</h2>
    <table id="history">
      <thead>
        <tr>
          <th scope="col">Time (UTC)</th>
          <th scope="col">Action</th>
          <th scope="col">Outcome</th>
          <th scope="col">Decided by</th>
          <th scope="col">Reason</th>
        </tr>
      </thead>
      <tbody>${rows}</tbody>
    </table>
  `;
}
