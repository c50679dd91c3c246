/**
 * Admin HTTP API: health, status and Prometheus metrics.
 *
 * @module
 */

export { adminHandler, type AdminView } from "./server.ts";
export {
  type Counter,
  DECISION_LATENCY_BUCKETS_SECONDS,
  type Gauge,
  type Histogram,
  type MetricLabels,
  Metrics,
} from "./metrics.ts";
