/**
 * The page frame: title, navigation, the signed-in operator, and the one script and stylesheet
 * (served from this origin; the CSP allows nothing else).
 *
 * @module
 */

import { type Html, html } from "./_html.ts";
import type { Session } from "./_sessions.ts";

/** The dashboard's pages, in navigation order. */
const NAV: readonly [string, string][] = [
  ["/", "Live feed"],
  ["/ui/approvals", "Approvals"],
  ["/ui/rules", "Rules"],
  ["/ui/agents", "Agents"],
  ["/ui/health", "Health"],
];

/** A whole page for a signed-in operator; `current` is the nav entry to mark. */
export function layout(title: string, session: Session, current: string, main: Html): Html {
  const nav = NAV.map(([href, label]) =>
    html`
      <a href="${href}" ${href === current
        ? html`
          aria-current="page"
        `
        : ""}>${label}</a>
    `
  );
  return frame(
    title,
    html`<header>
  <span class="brand">clawpatrol</span>
  <nav aria-label="Dashboard">${nav}</nav>
  <form method="post" action="/ui/signout" class="signout">
    <input type="hidden" name="csrf" value="${session.csrf}">
    <span>Signed in as <strong>${session.name}</strong></span>
    <button type="submit">Sign out</button>
  </form>
</header>
<main id="main" data-csrf="${session.csrf}">
<h1>${title}</h1>
${main}
</main>`,
  );
}

/** The document around `body` (also for the sign-in page). */
export function frame(title: string, body: Html): Html {
  return html`
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>${title} · clawpatrol</title>
        <link rel="stylesheet" href="/ui/static/app.css">
        <script src="/ui/static/app.js" defer></script>
      </head>
      <body>
    <a class="skip" href="#main">Skip to content</a>
    ${body}
      </body>
    </html>
  `;
}

/** Milliseconds as "4m 05s" (or "12s"). */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m > 0 ? `${m}m ${String(s).padStart(2, "0")}s` : `${s}s`;
}
