/**
 * Admin HTTP API: health, status, Prometheus metrics, and the approval queue behind the admin
 * token.
 *
 * @module
 */

export { type AdminApprovals, adminHandler, type AdminView } from "./server.ts";
export {
  ADMIN_TOKEN_FILE,
  adminTokenMatches,
  ensureAdminToken,
  type EnsureAdminTokenOptions,
  type EnsuredAdminToken,
  generateAdminToken,
  hashAdminToken,
  readAdminTokenFile,
} from "./token.ts";
export {
  type Counter,
  DECISION_LATENCY_BUCKETS_SECONDS,
  type Gauge,
  type Histogram,
  type MetricLabels,
  Metrics,
} from "./metrics.ts";
