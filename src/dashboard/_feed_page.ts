/**
 * The live feed page: recent decisions, newest first, filtered by agent, endpoint, verdict, rule
 * and mode; `static/app.js` adds new ones as the feed streams them.
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";
import { type Html, html } from "./_html.ts";
import { layout } from "./_layout.ts";
import type { Session } from "./_sessions.ts";
import { actionInWords } from "./_words.ts";

/** Which receipts the feed shows; each field narrows. */
export interface FeedFilter {
  agent?: string;
  endpoint?: string;
  verdict?: "allow" | "deny";
  rule?: string;
  mode?: "enforce" | "observe";
}

const FIELDS = ["agent", "endpoint", "verdict", "rule", "mode"] as const;

/** The filter in a feed URL's query (`?agent=bot&verdict=deny`); unknown values are ignored. */
export function parseFeedFilter(params: URLSearchParams): FeedFilter {
  const filter: FeedFilter = {};
  for (const field of FIELDS) {
    const value = params.get(field)?.trim();
    if (!value || value.length > 200) continue;
    if (field === "verdict" && value !== "allow" && value !== "deny") continue;
    if (field === "mode" && value !== "enforce" && value !== "observe") continue;
    (filter as Record<string, string>)[field] = value;
  }
  return filter;
}

/** Whether `receipt` passes `filter`. */
export function matchesFilter(receipt: Receipt, filter: FeedFilter): boolean {
  return FIELDS.every((field) => {
    const want = filter[field];
    return want === undefined || (receipt[field] ?? "") === want;
  });
}

/** One feed row as the stream sends it; the browser sets each field as text. */
export function feedRow(receipt: Receipt): Record<string, string | number> {
  return {
    seq: receipt.seq,
    id: receipt.id,
    time: receipt.time instanceof Date ? receipt.time.toISOString() : String(receipt.time),
    verdict: receipt.verdict,
    words: actionInWords(receipt),
    endpoint: receipt.endpoint ?? "",
    rule: receipt.rule ?? "",
    mode: receipt.mode,
    reason: receipt.reason,
  };
}

/** The feed page: filter form and the newest matching receipts (newest first). */
export function feedPage(session: Session, receipts: Receipt[], filter: FeedFilter): Html {
  const rows = receipts.map((r) => rowHtml(feedRow(r)));
  return layout(
    "Live feed",
    session,
    "/",
    html`
      <form method="get" action="/" class="filters" aria-label="Filter the feed">
        ${input("agent", "Agent", filter.agent)}
        ${input("endpoint", "Endpoint", filter.endpoint)}
        ${select("verdict", "Verdict", ["allow", "deny"], filter.verdict)}
        ${input("rule", "Rule", filter.rule)}
        ${select("mode", "Mode", ["enforce", "observe"], filter.mode)}
        <button type="submit">Filter</button> <a href="/">Clear</a>
      </form>
      <p class="status" id="feed-status" role="status">Connecting to the live feed…</p>
      <table class="feed" id="feed" data-after="${receipts.at(-1)?.seq ?? 0}">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Verdict</th>
            <th scope="col">Action</th>
            <th scope="col">Endpoint</th>
            <th scope="col">Rule</th>
            <th scope="col">Mode</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>${rows.reverse()}</tbody>
      </table>
    `,
  );
}

function rowHtml(row: Record<string, string | number>): Html {
  return html`
    <tr class="verdict-${row.verdict}" data-seq="${row.seq}">
      <td><time datetime="${row.time}">${String(row.time).slice(11, 23)}</time></td>
      <td><span class="badge ${row.verdict}">${row.verdict}</span></td>
      <td><a href="/ui/receipts/${row.id}">${row.words}</a></td>
      <td>${row.endpoint}</td>
      <td>${row.rule}</td>
      <td>${row.mode}</td>
      <td>${row.reason}</td>
    </tr>
  `;
}

function input(name: string, label: string, value: string | undefined): Html {
  return html`<label>${label} <input name="${name}" value="${value ?? ""}" size="12"></label>`;
}

function select(name: string, label: string, options: string[], value: string | undefined) {
  const choices = options.map((o) =>
    html`<option${
      o === value
        ? html`
          selected
        `
        : ""
    }>${o}</option>`
  );
  return html`<label>${label} <select name="${name}"><option value="">any</option>${choices}</select></label>`;
}
