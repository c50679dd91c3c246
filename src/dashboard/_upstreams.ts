/**
 * The Health page's upstreams: per endpoint, over the recent forwarded actions (their receipts),
 * how many there were, how many failed upstream (answered 5xx, or ended with an error) and the
 * median and 95th-percentile latency.
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";
import { type Html, html } from "./_html.ts";

/** One endpoint's upstream figures. */
export interface UpstreamRow {
  endpoint: string;
  forwarded: number;
  errors: number;
  p50Ms: number;
  p95Ms: number;
  /** The latest failure in words (`HTTP 503`, the outcome's error), or null. */
  lastError: string | null;
}

/**
 * Figures per endpoint over `receipts` (oldest first): allowed actions that were forwarded;
 * denied, never-run and gateway-decided ones are not the upstream's.
 *
 * @example
 * ```ts
 * upstreamRows(receipts); // [{ endpoint: "github", forwarded: 12, errors: 1, p50Ms: 80, … }]
 * ```
 */
export function upstreamRows(receipts: readonly Receipt[]): UpstreamRow[] {
  const by = new Map<string, { latencies: number[]; errors: number; lastError: string | null }>();
  for (const r of receipts) {
    if (r.verdict !== "allow" || r.endpoint === null || r.outcome?.notRun) continue;
    const row = by.get(r.endpoint) ?? { latencies: [], errors: 0, lastError: null };
    by.set(r.endpoint, row);
    row.latencies.push(r.latencyMs);
    const failed = r.outcome?.error ??
      (r.upstreamStatus !== null && r.upstreamStatus >= 500 ? `HTTP ${r.upstreamStatus}` : null);
    if (failed !== null) {
      row.errors++;
      row.lastError = failed;
    }
  }
  return [...by.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([endpoint, row]) => {
    const sorted = row.latencies.sort((a, b) => a - b);
    return {
      endpoint,
      forwarded: sorted.length,
      errors: row.errors,
      p50Ms: nearestRank(sorted, 0.5),
      p95Ms: nearestRank(sorted, 0.95),
      lastError: row.lastError,
    };
  });
}

/** The nearest-rank percentile of ascending `sorted` (not empty). */
function nearestRank(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

/** The table the Health page shows; `of` says over how many recent receipts. */
export function upstreamsTable(rows: UpstreamRow[], of: number): Html {
  const heading = html`<h2>Upstreams</h2>`;
  if (rows.length === 0) {
    return html`${heading}<p id="upstreams-none">No forwarded actions in the last ${of} receipts.</p>`;
  }
  const ms = (n: number) => `${Math.round(n)} ms`;
  return html`
    ${heading}
    <p>Per endpoint, over the forwarded actions among the last ${of} receipts.</p>
    <table id="upstreams">
      <thead>
        <tr>
          <th scope="col">Endpoint</th>
          <th scope="col">Forwarded</th>
          <th scope="col">Errors</th>
          <th scope="col">Latency p50</th>
          <th scope="col">Latency p95</th>
          <th scope="col">Last error</th>
        </tr>
      </thead>
      <tbody>${rows.map((r) =>
        html`
          <tr>
            <th scope="row">${r.endpoint}</th>
            <td>${r.forwarded}</td>
            <td>${r.errors}</td>
            <td>${ms(r.p50Ms)}</td>
            <td>${ms(r.p95Ms)}</td>
            <td>${r.lastError ?? "none"}</td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
}
