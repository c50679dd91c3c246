/**
 * The approvals page: each held request with its facts, the stage it waits on, quorum progress
 * and time left, and a form to approve or deny it with a reason. Plain forms: they work from
 * the keyboard and without script.
 *
 * @module
 */

import type { PendingApproval } from "../approvals/mod.ts";
import type { Receipt } from "../core/mod.ts";
import { type Html, html } from "./_html.ts";
import { approvalsHistory } from "./_approvals_history.ts";
import { formatDuration, layout } from "./_layout.ts";
import type { Session } from "./_sessions.ts";

/** What the last decision came to, shown once after the redirect (fixed texts only). */
export const RESULTS: Readonly<Record<string, string>> = {
  approved: "Approved: the request goes ahead.",
  denied: "Denied: the agent gets the reason.",
  recorded: "Your approval is recorded; the stage waits for more approvers (quorum).",
  unknown: "That request is no longer waiting (decided, timed out, or the agent went away).",
  refused: "You cannot decide that request: already voted, or not allowed at this stage.",
  invalid: "The reason must be one line of at most 1000 characters.",
  already: "Someone else decided that request first: your decision was not applied.",
  unavailable: "The decision could not be recorded (the shared store does not answer): try again.",
};

/**
 * The page: `deadline(p)` is when each stage times out (ms since the epoch); `decided` are the
 * receipts of recently decided holds, newest first.
 */
export function approvalsPage(
  session: Session,
  pending: PendingApproval[],
  deadline: (p: PendingApproval) => number,
  result?: string,
  decided: readonly Receipt[] = [],
): Html {
  const message = result && Object.hasOwn(RESULTS, result)
    ? html`<p class="notice" role="status" id="result">${RESULTS[result]}</p>`
    : "";
  const list = pending.length === 0
    ? html`<p id="none">No requests are waiting for approval.</p>`
    : pending.map((p) => held(session, p, deadline(p)));
  return layout(
    "Approvals",
    session,
    "/ui/approvals",
    html`${message}<div id="approvals" data-count="${pending.length}" data-ids="${
      pending.map((p) => p.request.id).join(" ")
    }">${list}</div>
${approvalsHistory(decided)}`,
  );
}

function held(session: Session, p: PendingApproval, deadline: number): Html {
  const { request } = p;
  const id = request.id;
  const left = deadline - Date.now();
  return html`
    <section class="held" id="${id}" aria-labelledby="${id}-title">
      <h2 id="${id}-title">agent ${request.agent.name}: ${request.summary}</h2>
      <dl class="facts-list">
        <dt>Endpoint</dt>
        <dd>${request.endpoint} (${request.protocol})</dd>
        <dt>Rule</dt>
        <dd>${request.rule}: ${request.reason}</dd>
        <dt>Waiting on</dt>
        <dd>${p.approver}</dd>
        <dt>Quorum</dt>
        <dd>${p.allowedBy.length} of ${p.quorum} approvals${p.allowedBy.length > 0
          ? html`
            (${p.allowedBy.join(", ")})
          `
          : ""}</dd>
        <dt>Time left</dt>
        <dd><time class="countdown" data-deadline="${deadline}">${formatDuration(left)}</time></dd>
        <dt>Fingerprint</dt>
        <dd><code>${request.fingerprint}</code></dd>
      </dl>
      <details>
        <summary>Facts</summary>
        <pre>${factsText(request.facts)}</pre>
      </details>
      <form method="post" action="/ui/approvals/${id}" class="decide">
        <input type="hidden" name="csrf" value="${session.csrf}">
        <label for="${id}-reason">Reason</label>
        <input id="${id}-reason" name="reason" maxlength="1000" size="40">
        <button type="submit" name="decision" value="approve" class="approve">Approve</button>
        <button type="submit" name="decision" value="deny" class="deny">Deny</button>
      </form>
    </section>
  `;
}

/** Facts as indented JSON text (BigInts as numbers' text). */
export function factsText(facts: unknown): string {
  return JSON.stringify(facts, (_k, v) => typeof v === "bigint" ? v.toString() : v, 2) ?? "";
}
