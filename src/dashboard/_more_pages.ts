/**
 * The Health page (the gateway's readings, the upstreams per endpoint).
 *
 * @module
 */

import type { DashboardOptions } from "./dashboard.ts";
import { type Html, html } from "./_html.ts";
import { layout } from "./_layout.ts";
import type { Session } from "./_sessions.ts";
import { upstreamRows, upstreamsTable } from "./_upstreams.ts";

/** How many recent receipts the upstreams table is computed over. */
const RECENT = 1000;

/**
 * The gateway's readings, one row each, the receipt chain's verification when known, and each
 * endpoint's upstream errors and latency over the recent receipts.
 */
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
  const upstreams = upstreamRows(options.receipts({ limit: RECENT }));
  return layout(
    "Health",
    session,
    "/ui/health",
    html`
      ${upstreamsTable(upstreams, RECENT)}
      <h2>Gateway</h2>
      <table id="health">
        <tbody>${rows}</tbody>
      </table>
      <p>Metrics for scraping: <a href="/metrics">/metrics</a>; probe: <a href="/healthz">/healthz</a>.</p>
    `,
  );
}
