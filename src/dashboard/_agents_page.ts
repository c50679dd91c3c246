/**
 * The Agents page: enrolled agents, revoke, and enrolling one. A new agent's token appears once,
 * in the answer to the form that enrolled it: it is not kept, logged or put in a receipt, and
 * no later page can show it again.
 *
 * @module
 */

import type { DashboardOptions } from "./dashboard.ts";
import { type Html, html } from "./_html.ts";
import { layout } from "./_layout.ts";
import { htmlResponse, seeOther } from "./_respond.ts";
import type { Session } from "./_sessions.ts";

/** What a form may say (the registry checks the name again; this only bounds the echo). */
const NAME_PATTERN = "[a-z0-9][a-z0-9._\\-]{0,62}";

/** How many recent receipts "last seen" looks through (one read; no scan per agent). */
const RECENT = 1000;

/**
 * Enrolled agents (last seen: their latest decision among the recent receipts), revoked ones
 * last, each active one with a Revoke button; the add form above.
 */
export function agentsPage(session: Session, options: DashboardOptions, notice?: Html): Html {
  const agents = options.agents?.list() ?? [];
  const seen = new Map<string, string>();
  for (const r of options.receipts({ limit: RECENT })) {
    if (r.agent !== null) seen.set(r.agent, r.time.toISOString());
  }
  const rows = [...agents]
    .sort((a, b) => Number(a.revokedAt !== null) - Number(b.revokedAt !== null))
    .map((a) =>
      html`
        <tr>
          <td>${a.name}</td>
          <td>${a.profile}</td>
          <td>${a.createdAt}</td>
          <td>${seen.get(a.name) ?? `not in the last ${RECENT} decisions`}</td>
          <td>${a.revokedAt === null ? "active" : `revoked ${a.revokedAt}`}</td>
          <td>${a.revokedAt === null
            ? html`<form method="post" action="/ui/agents/${
              encodeURIComponent(a.name)
            }/revoke" class="inline">
<input type="hidden" name="csrf" value="${session.csrf}">
<button type="submit" class="deny" aria-label="Revoke ${a.name}">Revoke</button></form>`
            : ""}</td>
        </tr>
      `
    );
  return layout(
    "Agents",
    session,
    "/ui/agents",
    html`
      ${notice ?? ""} ${addForm(session, options)}
      <p>Or on the gateway host: <code>clawpatrol agent add NAME --profile PROFILE</code>.
      Revoking ends the agent's open sessions; a name is never reused.</p>
      <table id="agents">
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">Profile</th>
            <th scope="col">Enrolled</th>
            <th scope="col">Last seen</th>
            <th scope="col">Status</th>
            <th scope="col"></th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
    `,
  );
}

function addForm(session: Session, options: DashboardOptions): Html {
  const agents = options.agents;
  if (!agents?.add) return html``;
  const profiles = agents.profiles?.() ?? [];
  if (profiles.length === 0) {
    return html`<p id="add-agent">No profiles in the config: add one to enrol agents.</p>`;
  }
  return html`
    <form method="post" action="/ui/agents" id="add-agent">
      <input type="hidden" name="csrf" value="${session.csrf}">
      <label for="agent-name">Name</label>
      <input id="agent-name" name="name" required maxlength="63" pattern="${NAME_PATTERN}"
        autocomplete="off">
      <label for="agent-profile">Profile</label>
      <select id="agent-profile" name="profile">${profiles.map((p) =>
        html`<option value="${p}">${p}</option>`
      )}</select>
      <button type="submit">Add agent</button>
    </form>
  `;
}

/**
 * Enrols the form's agent for the signed-in operator and answers with its token, shown this
 * once; a refusal (taken name, unknown profile, invalid name) enrols nothing and says why.
 */
export async function addAgent(
  options: DashboardOptions,
  session: Session,
  form: URLSearchParams,
): Promise<Response> {
  const name = (form.get("name") ?? "").trim();
  const profile = form.get("profile") ?? "";
  const add = options.agents?.add;
  if (!add) return refused(session, options, "Agents cannot be added here", 404);
  let token: string;
  try {
    token = await add(name, profile);
  } catch (err) {
    // Invalid input is the operator's to fix (400); a taken name conflicts with an agent (409).
    const status = err instanceof TypeError || err instanceof RangeError ? 400 : 409;
    return refused(session, options, (err as Error).message, status);
  }
  // The name and profile only: the token never reaches the log.
  options.log?.(
    "info",
    `dashboard:${session.name} added agent '${name}' with profile '${profile}'`,
  );
  const notice = html`
    <section class="notice" role="status" id="added">
      <p
        id="result">Added agent '${name}' with profile '${profile}'. Its token is below, shown only
      this once: store it now (it is not kept, and this page cannot show it again).</p>
      <p><code id="agent-token">${token}</code></p>
      <p>The agent uses it as its proxy password (<code>http://${name}:TOKEN@…</code>) or its
      PostgreSQL password; <code>clawpatrol env --agent ${name}</code> prints its settings (it asks
      for the token).</p>
    </section>
  `;
  // no-store (every dashboard answer has it) keeps the token out of the browser's cache.
  return htmlResponse(agentsPage(session, options, notice));
}

function refused(session: Session, options: DashboardOptions, message: string, status: number) {
  const notice = html`<p class="error" role="alert" id="error">Nothing was added: ${message}</p>`;
  return htmlResponse(agentsPage(session, options, notice), status);
}

/** Revokes `name` for the signed-in operator, then back to the list. */
export function revokeAgent(options: DashboardOptions, session: Session, name: string): Response {
  try {
    options.agents?.revoke(name);
  } catch (err) {
    const page = layout(
      "Agents",
      session,
      "/ui/agents",
      html`<p class="error" role="alert">${(err as Error).message}</p>
<p><a href="/ui/agents">Back to the agents</a></p>`,
    );
    return htmlResponse(page, 409);
  }
  options.log?.("info", `dashboard:${session.name} revoked agent '${name}'`);
  return seeOther("/ui/agents");
}
