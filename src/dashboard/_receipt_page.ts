/**
 * One receipt: the action in words, the decision (rule, mode, verdict, would-be verdict, each
 * approval stage), what the upstream answered, the facts, and its place in the hash chain.
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";
import { type Html, html } from "./_html.ts";
import { layout } from "./_layout.ts";
import type { Session } from "./_sessions.ts";
import { actionInWords } from "./_words.ts";
import { factsText } from "./_approvals_page.ts";

/** The page; `fixture` says whether "Save as fixture" applies to this receipt. */
export function receiptPage(session: Session, r: Receipt, fixture: boolean): Html {
  const stages = r.approvals.map((a) =>
    html`
      <tr>
        <td>${a.approver}</td>
        <td>${a.decision}</td>
        <td>${a.who}</td>
        <td>${a.reason}</td>
        <td>${Math.round(a.latencyMs)} ms</td>
      </tr>
    `
  );
  const time = r.time instanceof Date ? r.time.toISOString() : String(r.time);
  return layout(
    `Receipt ${r.id}`,
    session,
    "",
    html`
      <p class="words" id="words">${actionInWords(r)}</p>
      <dl class="facts-list" id="receipt">
        <dt>Time</dt>
        <dd><time datetime="${time}">${time}</time></dd>
        <dt>Agent</dt>
        <dd>${r.agent ?? "(unidentified)"} (profile ${r.profile ?? "none"})</dd>
        <dt>Endpoint</dt>
        <dd>${r.endpoint ?? "(none)"} (${r.protocol})</dd>
        <dt>Verdict</dt>
        <dd><span class="badge ${r.verdict}">${r.verdict}</span>${r.wouldBe !== r.verdict
          ? html`
            (would be ${r.wouldBe})
          `
          : ""}</dd>
        <dt>Rule</dt>
        <dd>${r.rule ?? "(no rule matched)"}</dd>
        <dt>Mode</dt>
        <dd>${r.mode}</dd>
        <dt>Reason</dt>
        <dd>${r.reason}</dd>
        <dt>Upstream</dt>
        <dd>${upstream(r)}</dd>
        <dt>Chain position</dt>
        <dd>seq ${r.seq}</dd>
        <dt>Previous hash</dt>
        <dd><code>${r.prevHash}</code></dd>
        <dt>Hash</dt>
        <dd><code>${r.hash}</code></dd>
      </dl>
      ${stages.length > 0
        ? html`
          <h2>Approvals</h2>
          <table id="stages">
            <thead>
              <tr>
                <th scope="col">Stage</th>
                <th scope="col">Decision</th>
                <th scope="col">Who</th>
                <th scope="col">Reason</th>
                <th scope="col">Latency</th>
              </tr>
            </thead>
            <tbody>${stages}</tbody>
          </table>
        `
        : ""}
      <h2>Facts</h2>
      <pre id="facts">${factsText(r.facts)}</pre>
      ${fixture
        ? html`<p><a class="button" id="save-fixture" href="/ui/receipts/${r.id}/fixture.yaml"
download="${r.id}.yaml">Save as fixture</a> (a case for <code>clawpatrol test</code>)</p>`
        : html`<p>This receipt names no endpoint (the gateway refused it before any rule):
no fixture can replay it.</p>`}
    `,
  );
}

function upstream(r: Receipt): string {
  if (r.outcome === null) return "unknown: the gateway stopped before the exchange ended";
  if (r.upstreamStatus === null && r.verdict === "deny") return "not forwarded";
  const status = r.upstreamStatus === null ? "no status" : `status ${r.upstreamStatus}`;
  const error = r.outcome?.error ? `, ${r.outcome.error}` : "";
  return `${status}, ${r.bytesIn} bytes in, ${r.bytesOut} bytes out, ${
    Math.round(r.latencyMs)
  } ms${error}`;
}
