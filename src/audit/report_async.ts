/**
 * {@linkcode rolloutReport} over a store's receipts, computed in a Web Worker, for a process that
 * keeps serving while it runs (the gateway's dashboard).
 *
 * @module
 */

import type { ReceiptFilter } from "./query.ts";
import type { RolloutReport, RolloutReportOptions } from "./report.ts";
import { REPORT_WORKER_NAME, type ReportRequest } from "./_report_worker.ts";
import { callWorker } from "./_worker_call.ts";

/**
 * The report over the receipts of the store at `path` that match `filter`; rejects when the
 * worker cannot run or the store cannot be read.
 *
 * @example
 * ```ts
 * const since = new Date(Date.now() - 86_400_000);
 * const report = await rolloutReportInWorker("./state/receipts.db", { since }, { bucketMs: 3_600_000 });
 * ```
 */
export function rolloutReportInWorker(
  path: string,
  filter: ReceiptFilter,
  options: RolloutReportOptions = {},
): Promise<RolloutReport> {
  const url = new URL("./_report_worker.ts", import.meta.url).href;
  const request: ReportRequest = { path, filter, options };
  return callWorker<RolloutReport>(url, REPORT_WORKER_NAME, request);
}
