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

/** "Block requests like this": the rule shown for editing, and what checking it found. */
export interface BlockView {
  /** The rule's text (generated, or as the operator last submitted it). */
  text: string;
  /** Whether the config allows the dashboard to write it. */
  writes: boolean;
  /** Where it would be written, relative to the config's directory. */
  rulesFile: string;
  problems?: string[];
  message?: string;
}

/**
 * The page; `fixture` says whether "Save as fixture" applies to this receipt, `block` whether
 * a rule can be generated from it.
 */
export function receiptPage(
  session: Session,
  r: Receipt,
  fixture: boolean,
  block?: BlockView,
): Html {
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
      ${block ? blockSection(session, r, block) : ""}
    `,
  );
}

function blockSection(session: Session, r: Receipt, block: BlockView): Html {
  const problems = block.problems ?? [];
  return html`
    <section id="block" aria-labelledby="block-title">
      <h2 id="block-title">Block requests like this</h2>
      <p>A deny rule for this endpoint and action. Edit it, check it against the whole config,
      then write it to <code>${block.rulesFile}</code> (the gateway reloads it).</p>
      ${block.writes ? "" : html`<p class="notice" id="writes-off">Writes from the dashboard are
      off: copy the rule into a rules file of the config, or set
      <code>dashboard_config_writes = true</code> in the <code>gateway</code> block to write it
      from here.</p>`}
      <form method="post" action="/ui/receipts/${r.id}/block">
        <input type="hidden" name="csrf" value="${session.csrf}">
        <label for="rule-text">Rule</label>
        <textarea id="rule-text" name="rule" rows="9" cols="90" spellcheck="false">${block
          .text}</textarea>
        <p>
          <button type="submit" name="action" value="check" id="check-rule">Check</button>
          ${block.writes
            ? html`<button type="submit" name="action" value="write" id="write-rule" class="deny">
Write to ${block.rulesFile}</button>`
            : ""}
        </p>
      </form>
      ${problems.length > 0
        ? html`
          <div class="error" role="alert" id="rule-problems">
            <p>Problems:</p>
            <ul>${problems.map((p) => html`<li>${p}</li>`)}</ul>
          </div>
        `
        : ""}
      ${block.message
        ? html`<p class="notice" role="status" id="rule-result">${block.message}</p>`
        : ""}
    </section>
  `;
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
