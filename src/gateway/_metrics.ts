/**
 * The gateway's metric set: what `/metrics` exports and the hooks that feed it.
 *
 * @module
 */

import {
  type Counter,
  DECISION_LATENCY_BUCKETS_SECONDS,
  type Gauge,
  type Histogram,
  Metrics,
} from "../admin/mod.ts";
import type { ProtocolFamily, Verdict } from "../core/mod.ts";

/**
 * Buckets for `clawpatrol_approval_wait_seconds`, 100 ms to an hour: an LLM judge or a webhook
 * answers in seconds, a human in minutes (`human_timeout` defaults to 10 minutes).
 */
export const APPROVAL_WAIT_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.1,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300,
  600,
  1800,
  3600,
]);

/** Live readings the metric set polls at scrape time. */
export interface GatewayReadings {
  rules(): number;
  endpoints(): number;
  receiptsQueued(): number;
  receiptsInFlight(): number;
  /** 1 while receipts are being written, 0 while the store refuses them (every action denied). */
  receiptsWritable(): number;
  /** With `gateway.store`: 1 while the shared store answers, 0 while it does not. */
  storeUp?(): number;
}

/** Every metric the gateway exports, registered once per gateway. */
export class GatewayMetrics {
  readonly registry = new Metrics();
  readonly reloads: Counter;
  readonly reloadFailures: Counter;
  readonly #actions: Counter;
  readonly #latency: Histogram;
  readonly #approvalWait: Histogram;
  /** Open agent connections by protocol (`https` counts proxy client connections). */
  readonly connections: Gauge;
  /** Failed accepts by protocol and cause (`EMFILE`, `ENFILE`, `ENOMEM`, …). */
  readonly acceptErrors: Counter;
  /** Connections closed unserved by protocol and cause (`agent_cap`, `unauthenticated_cap`, `handshake_timeout`). */
  readonly connectionsRefused: Counter;
  /** Upstream failures by protocol, endpoint and cause (`refused`, `reset`, `eof`, `timeout`, `tls`, …). */
  readonly upstreamFailures: Counter;
  /** Requests retried on a fresh upstream connection, by endpoint and cause. */
  readonly upstreamRetries: Counter;
  /** Agent sessions the gateway ended, by protocol and cause (`revoked`, `rotated`, …). */
  readonly sessionsEnded: Counter;

  constructor(readings: GatewayReadings) {
    const m = this.registry;
    this.#actions = m.counter(
      "clawpatrol_actions_total",
      "Decided actions by protocol, verdict and rule (rule is empty for gateway decisions).",
      ["protocol", "verdict", "rule"],
    );
    this.#latency = m.histogram(
      "clawpatrol_decision_seconds",
      "Time the gateway spent deciding an action (rules and receipt; not approval waits), in seconds.",
      DECISION_LATENCY_BUCKETS_SECONDS,
      ["protocol"],
    );
    this.#approvalWait = m.histogram(
      "clawpatrol_approval_wait_seconds",
      "Time held actions waited for their approval chain, by protocol and final verdict, in seconds.",
      APPROVAL_WAIT_BUCKETS_SECONDS,
      ["protocol", "verdict"],
    );
    this.connections = m.gauge(
      "clawpatrol_open_connections",
      "Agent connections currently open, by protocol.",
      ["protocol"],
    );
    this.acceptErrors = m.counter(
      "clawpatrol_accept_errors_total",
      "Failed accepts on agent listeners (the listener backs off and retries), by protocol and cause.",
      ["protocol", "cause"],
    );
    this.connectionsRefused = m.counter(
      "clawpatrol_connections_refused_total",
      "Agent connections closed before being served, by protocol and cause.",
      ["protocol", "cause"],
    );
    this.upstreamFailures = m.counter(
      "clawpatrol_upstream_failures_total",
      "Forwarded actions whose upstream failed, by protocol, endpoint and cause.",
      ["protocol", "endpoint", "cause"],
    );
    this.upstreamRetries = m.counter(
      "clawpatrol_upstream_retries_total",
      "Requests retried once on a fresh upstream connection, by endpoint and cause.",
      ["endpoint", "cause"],
    );
    this.sessionsEnded = m.counter(
      "clawpatrol_sessions_ended_total",
      "Open agent sessions the gateway ended, by protocol and cause.",
      ["protocol", "cause"],
    );
    this.reloads = m.counter("clawpatrol_config_reloads_total", "Config reloads applied.");
    this.reloadFailures = m.counter(
      "clawpatrol_config_reload_failures_total",
      "Config reloads rejected (the previous config stayed in force).",
    );
    m.gaugeFn("clawpatrol_rules", "Rules in the config in force.", readings.rules);
    m.gaugeFn("clawpatrol_endpoints", "Endpoints in the config in force.", readings.endpoints);
    m.gaugeFn(
      "clawpatrol_receipts_queued",
      "Receipts waiting to be committed to the receipts database.",
      readings.receiptsQueued,
    );
    m.gaugeFn(
      "clawpatrol_receipts_writable",
      "1 while receipts are written; 0 while they cannot be and every action is denied.",
      readings.receiptsWritable,
    );
    m.gaugeFn(
      "clawpatrol_receipts_in_flight",
      "Receipts reserved for allowed actions still being forwarded.",
      readings.receiptsInFlight,
    );
    if (readings.storeUp) {
      m.gaugeFn(
        "clawpatrol_store_up",
        "1 while the shared store answers; 0 while it does not and agents are refused.",
        readings.storeUp,
      );
    }
  }

  /**
   * The guard's decision observer: one call per action, with the approval wait apart from the
   * decision time, so minutes spent waiting for a human do not swamp decision latency.
   */
  readonly decided = (
    protocol: ProtocolFamily,
    verdict: Verdict,
    decisionMs: number,
    approvalWaitMs: number | null = null,
  ): void => {
    this.#actions.inc({ protocol, verdict: verdict.decision, rule: verdict.rule ?? "" });
    this.#latency.observe(decisionMs / 1000, { protocol });
    if (approvalWaitMs !== null) {
      this.#approvalWait.observe(approvalWaitMs / 1000, { protocol, verdict: verdict.decision });
    }
  };
}
