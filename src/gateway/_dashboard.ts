/**
 * What the dashboard reads from the running gateway: the approval queue, the receipts and their
 * feed, the agents, the config in force (mode, stage timeouts) and the health readings.
 *
 * @module
 */

import type { Config } from "../config/mod.ts";
import type { HealthReport, Protocol } from "../core/mod.ts";
import type { ApprovalQueue } from "../approvals/mod.ts";
import {
  queryReceipts,
  type ReceiptStore,
  rolloutReportInWorker,
  verifyChainInWorker,
} from "../audit/mod.ts";
import type { AgentRegistry } from "../agents/mod.ts";
import type { DashboardConfig, DashboardOptions, ReceiptFeed } from "../dashboard/mod.ts";
import type { GatewayMetrics } from "./_metrics.ts";
import { ConfigWrites } from "./_config_writes.ts";
import type { SharedState } from "./_shared_state.ts";

/** The gateway's parts the dashboard needs. */
export interface DashboardParts {
  queue: ApprovalQueue;
  receipts: ReceiptStore;
  feed: ReceiptFeed;
  agents: AgentRegistry;
  /** With `gateway.store`, revocations go to the store (every gateway) instead of the file. */
  shared?: SharedState | null;
  config: () => Config;
  /** The config path the gateway loads, its protocols and its reload, for rule writes. */
  configPath: string;
  protocols: readonly Protocol[];
  reload: () => Promise<boolean>;
  metrics: GatewayMetrics;
  health: () => HealthReport;
}

/** Metric families the Health page shows, from the same registry `/metrics` renders. */
const HEALTH_METRICS = [
  "clawpatrol_upstream_failures_total",
  "clawpatrol_upstream_retries_total",
  "clawpatrol_receipts_queued",
  "clawpatrol_accept_errors_total",
];

/** The dashboard's options over the gateway's parts (the token check and log are added later). */
export function dashboardOptions(
  parts: DashboardParts,
): Omit<DashboardOptions, "tokenMatches" | "log"> {
  const { queue, receipts, feed, agents, config } = parts;
  return {
    // With a store: every gateway's requests, decided in the store as the admin API does.
    approvals: parts.shared?.approvals ?? queue,
    receipts: (filter) => queryReceipts(receipts, filter),
    feed,
    gatewayMode: () => config().gateway.mode,
    ruleMode: (name) => config().rules.find((r) => r.name === name)?.mode ?? undefined,
    config: dashboardConfig(parts),
    verifyChain: () => verifyChainInWorker(receipts.path),
    rulesReport: (filter, options) => rolloutReportInWorker(receipts.path, filter, options),
    // Keyed `kind.name`, as the queue names the stage.
    stageTimeoutMs: (approver) =>
      config().approvers.get(approver)?.timeoutMs ?? config().defaults.humanTimeoutMs,
    agents: {
      // Named fields only: a record also holds its token's hash and SCRAM verifier.
      list: () =>
        agents.list().map(({ name, profile, createdAt, revokedAt }) => ({
          name,
          profile,
          createdAt,
          revokedAt,
        })),
      revoke: (name) => parts.shared ? parts.shared.revokeAgent(name) : agents.revoke(name),
      // Where `clawpatrol agent add` enrols (the store's agents, else the file), through this
      // gateway's registry, so the token works at once; the profile is checked first, as there.
      add: async (name, profile) => {
        if (!config().profiles.has(profile)) {
          throw new RangeError(`Unknown profile '${profile}': the config has no such profile`);
        }
        // Over the store the registry checks the store's version at every authenticate, and
        // add() returns once that version is read: the token works here the moment it is shown.
        return parts.shared
          ? await parts.shared.agents.add(name, profile)
          : agents.add(name, profile);
      },
      profiles: () => [...config().profiles.keys()].sort(),
    },
    health: () => {
      const lines = parts.metrics.registry.render().split("\n");
      const metric = (name: string) =>
        lines.filter((l) => l.startsWith(name) && !l.startsWith("#")).join("\n") || "none";
      return {
        "Gateway": parts.health(),
        "Receipts waiting to be written": receipts.queued,
        "Receipt store problem": receipts.problem() ?? "none",
        ...Object.fromEntries(HEALTH_METRICS.map((name) => [name, metric(name)])),
      };
    },
  };
}

/** The config's rules and the dashboard's validated writes into its files. */
function dashboardConfig(parts: DashboardParts): DashboardConfig {
  const { config, configPath, protocols, reload } = parts;
  const writes = new ConfigWrites({ configPath, config, protocols, reload });
  return {
    rules: () =>
      config().rules.map((r) => ({
        name: r.name,
        endpoints: r.endpoints,
        priority: r.priority,
        mode: r.mode,
        outcome: r.approve.length > 0 ? `approve by ${r.approve.join(", ")}` : r.verdict ?? "deny",
        file: writes.shown(r.source.file),
        line: r.source.line,
      })),
    writesEnabled: () => writes.enabled(),
    rulesFile: () => writes.rulesFileName(),
    checkRule: (text) => writes.checkAppend(text),
    appendRule: (text) => writes.append(text),
    promoteRule: (name) => writes.promote(name),
  };
}
