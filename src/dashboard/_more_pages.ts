/**
 * The Health page (the gateway's readings).
 *
 * @module
 */

import type { DashboardOptions } from "./dashboard.ts";
import { type Html, html } from "./_html.ts";
import { layout } from "./_layout.ts";
import type { Session } from "./_sessions.ts";

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
