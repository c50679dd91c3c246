/**
 * Entry point of the Web Worker that computes `clawpatrol report`'s figures for the dashboard's
 * Rules page: reading a day of receipts takes long enough (hundreds of ms for tens of thousands)
 * that the gateway's event loop must not do it. `report_async.ts` imports this module, with no
 * effect outside the worker, so that `deno compile` embeds it.
 *
 * @module
 */

import { queryReceipts, type ReceiptFilter } from "./query.ts";
import { type RolloutReport, rolloutReport, type RolloutReportOptions } from "./report.ts";

/** The worker's name: only a worker so named computes reports. */
export const REPORT_WORKER_NAME = "clawpatrol-rollout-report";

/** What the worker is asked. */
export interface ReportRequest {
  path: string;
  filter: ReceiptFilter;
  options: RolloutReportOptions;
}

// The project type-checks against Deno's window globals; these are the worker's.
interface WorkerScope {
  name: string;
  onmessage: ((event: MessageEvent<ReportRequest>) => void) | null;
  postMessage(message: RolloutReport | { error: string }): void;
}

const scope = globalThis as unknown as Partial<WorkerScope>;
if ("WorkerGlobalScope" in globalThis && scope.name === REPORT_WORKER_NAME) {
  scope.onmessage = (event) => {
    const { path, filter, options } = event.data;
    try {
      scope.postMessage!(rolloutReport(queryReceipts(path, filter), options));
    } catch (err) {
      scope.postMessage!({ error: (err as Error).message });
    }
  };
}
