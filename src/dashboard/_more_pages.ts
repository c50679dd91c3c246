/**
 * The Agents page (enrolled agents, revoke) and the Health page (the gateway's readings).
 *
 * @module
 */

import type { DashboardOptions } from "./dashboard.ts";
import { type Html, html } from "./_html.ts";
import { layout } from "./_layout.ts";
import { htmlResponse, seeOther } from "./_respond.ts";
import type { Session } from "./_sessions.ts";

/** Enrolled agents, revoked ones last, each active one with a Revoke button. */
export function agentsPage(session: Session, options: DashboardOptions): Html {
  const agents = options.agents?.list() ?? [];
  const rows = [...agents]
    .sort((a, b) => Number(a.revokedAt !== null) - Number(b.revokedAt !== null))
    .map((a) =>
      html`
        <tr>
          <td>${a.name}</td>
          <td>${a.profile}</td>
          <td>${a.createdAt}</td>
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
      <p>Enrol agents with <code>clawpatrol agent add NAME --profile PROFILE</code> on the
      gateway host (the token is shown once there). Revoking ends the agent's open sessions.</p>
      <table id="agents">
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">Profile</th>
            <th scope="col">Enrolled</th>
            <th scope="col">Status</th>
            <th scope="col"></th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
    `,
  );
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

/** The gateway's readings, one row each, and the receipt chain's verification when known. */
export function healthPage(session: Session, options: DashboardOptions, chain?: string): Html {
  const readings = {
    ...(chain === undefined ? {} : { "Receipt chain": chain }),
    ...options.health?.(),
  };
  const rows = Object.entries(readings).map(([name, value]) =>
    html`
      <tr>
        <th scope="row">${name}</th>
        <td>
          <pre>${typeof value === "string" ? value : JSON.stringify(value, null, 2)}</pre>
        </td>
      </tr>
    `
  );
  return layout(
    "Health",
    session,
    "/ui/health",
    html`
      <table id="health">
        <tbody>${rows}</tbody>
      </table>
      <p>Metrics for scraping: <a href="/metrics">/metrics</a>; probe: <a href="/healthz">/healthz</a>.</p>
    `,
  );
}
