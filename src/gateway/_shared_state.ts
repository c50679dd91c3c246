/**
 * What `gateway.store` adds to a gateway: the shared store opened and migrated before anything
 * serves, the lease on this gateway's id (a second process with the same id is refused), the
 * agents read from it, the approval queue mirrored to it (decided through any gateway), the LLM
 * verdict cache, its standing on `/healthz` and in the log, and its close. Without `store` none
 * of this exists and the gateway reads `state_dir` as always.
 *
 * @module
 */

import { join } from "node:path";
import type { Config } from "../config/mod.ts";
import { ConfigError, type Health, type Logger } from "../core/mod.ts";
import { AgentRegistry } from "../agents/mod.ts";
import { ApprovalQueue } from "../approvals/mod.ts";
// Types only: the store (and its PostgreSQL client) loads on first use, so a gateway without
// `store` carries none of it.
import type {
  GatewayLease,
  ReceiptMirror,
  SharedAgents,
  SharedApprovals,
  SharedVerdicts,
  Store,
} from "../store/mod.ts";
import { GATEWAY_ID_FILE, gatewayId } from "./_gateway_id.ts";

/** The store module, loaded when a config names a store. */
const storeModule = () => import("../store/mod.ts");

/** The verdict cache of the store a queue is mirrored to, for the approval chains built on it. */
const verdictsByQueue = new WeakMap<ApprovalQueue, SharedVerdicts>();

/** The shared LLM verdict cache of the gateway whose queue is `queue`; none without a store. */
export function sharedVerdictsFor(queue: ApprovalQueue): SharedVerdicts | undefined {
  return verdictsByQueue.get(queue);
}

/** The shared store a gateway runs on. */
export interface SharedState {
  store: Store;
  /** This gateway's stable id in the store. */
  gateway: string;
  agents: SharedAgents;
  /** The gateway's approval queue, mirrored to the store. */
  queue: ApprovalQueue;
  /** What the admin API lists and decides: held here and on the other gateways. */
  approvals: SharedApprovals;
  /** The LLM judges' verdicts, reused by every gateway of the store. */
  verdicts: SharedVerdicts;
  /** Why the store is not usable now (every agent refused meanwhile), or `null`. */
  problem(): string | null;
  /** Revokes on every gateway, for the dashboard's button; a failure is logged. */
  revokeAgent(name: string): void;
  /** Starts copying the local receipts at `path` into the store (this gateway's chain). */
  mirrorReceipts(path: string): void;
  close(): Promise<void>;
}

/**
 * Opens `config.gateway.store` (migrating its schema, refusing a newer one), its agents and the
 * approvals; `null` without a store.
 *
 * @example
 * ```ts
 * const shared = await openSharedState(config, stateDir, log);
 * ```
 */
export async function openSharedState(
  config: Config,
  stateDir: string,
  log: Logger,
): Promise<SharedState | null> {
  const settings = config.gateway.store;
  if (!settings) return null;
  const gateway = await gatewayId(stateDir);
  const { GatewayLease, openStore, ReceiptMirror, SharedAgents, SharedApprovals, SharedVerdicts } =
    await storeModule();
  const store = await openStore(settings);
  const { from, to, applied } = store.migration;
  if (applied.length > 0) {
    log.log("info", `store ${store.display}: schema migrated from version ${from} to ${to}`);
  }
  const onError = (err: Error) => log.log("warn", `store ${store.display}: ${err.message}`);
  let lost: string | null = null;
  let lease: GatewayLease;
  try {
    // Before anything is written under this id: a second process must not abandon the first's
    // held requests or write into its receipt chain.
    lease = await GatewayLease.take(store.sql, gateway, {
      stateDir: await Deno.realPath(stateDir),
      display: store.display,
      onError,
      onLost: (holder) => {
        lost = `gateway id ${gateway} was taken over by pid ${holder.pid} on host ` +
          `'${holder.host ?? "unknown"}' (state_dir '${holder.stateDir}'): stop this gateway`;
        log.log("error", `store ${store.display}: ${lost}`);
      },
    });
  } catch (err) {
    await store.close();
    if (!(err instanceof Error && err.name === "GatewayIdInUseError")) throw err;
    // Exit code 2, as for a config that cannot run: starting again will not help.
    throw new ConfigError([{
      file: join(stateDir, GATEWAY_ID_FILE),
      line: 0,
      message: err.message,
    }]);
  }
  let agents: SharedAgents | undefined;
  try {
    agents = await SharedAgents.open(store.sql, store.display, {
      onError,
      // One line each way; the agents are refused in between (fail closed).
      onHealth: (problem) =>
        problem === null
          ? log.log("info", `store ${store.display} answers again: agents are checked again`)
          : log.log("error", `store ${store.display}: ${problem}`),
    });
    const queue = new ApprovalQueue();
    const approvals = await SharedApprovals.open(store.sql, queue, { gateway, onError });
    const verdicts = new SharedVerdicts(store.sql, { onError });
    verdictsByQueue.set(queue, verdicts);
    log.log("info", `store ${store.display}: this is gateway ${gateway}`);
    const opened = agents;
    let mirror: ReceiptMirror | null = null;
    return {
      ...{ store, gateway, agents, queue, approvals, verdicts },
      problem: () => lost ?? opened.problem(),
      revokeAgent: (name) => {
        opened.revoke(name).catch((err) => log.log("error", `revoking '${name}': ${err.message}`));
      },
      mirrorReceipts: (path) => {
        mirror = new ReceiptMirror(store.sql, gateway, path, { onError });
        mirror.start();
      },
      close: async () => {
        await Promise.all([opened.close(), approvals.close(), mirror?.stop()]);
        await lease.release();
        await store.close();
      },
    };
  } catch (err) {
    await agents?.close();
    await lease.release();
    await store.close();
    throw new Error(`Cannot use the store ${store.display}: ${err}`);
  }
}

/** The agent registry over the shared store, else over `state_dir/agents.json`. */
export function openAgentRegistry(
  stateDir: string,
  shared: SharedState | null,
  log: Logger,
): AgentRegistry {
  const onError = (err: Error) => log.log("error", `agents: ${err.message}`);
  // Over the store, the registry asks at every check whether the agents changed (a number and a
  // clock read): a store that stopped answering refuses every agent from the moment /healthz
  // says so, not up to a file-style refresh interval later.
  return shared
    ? AgentRegistry.over(shared.agents, { onError, refreshIntervalMs: 0 })
    : AgentRegistry.open(stateDir, {
      onError,
    });
}

/** Puts the store's standing on `/healthz` (read at each probe, like the receipts'). */
export function reportStoreHealth(health: Health, shared: SharedState | null): void {
  const problem = shared?.problem() ?? null;
  if (problem === null) health.clear("store");
  else health.set("store", "unhealthy", problem);
}

/** The store's gauge for `/metrics`, when there is a store. */
export function storeReadings(shared: SharedState | null): { storeUp?: () => number } {
  return shared ? { storeUp: () => shared.problem() === null ? 1 : 0 } : {};
}

/** Changing enrolled agents, wherever they live. */
export interface AgentAdmin {
  add(name: string, profile: string): Promise<string>;
  revoke(name: string): Promise<void>;
  rotate(name: string): Promise<string>;
}

/** The agents a CLI command reads and changes: the file's, or the shared store's. */
export interface AgentDirectory {
  registry: AgentRegistry;
  admin: AgentAdmin;
  /** Ends the store's connections (nothing to do for the file). */
  close(): Promise<void>;
}

/**
 * Opens the agents for a CLI command: `state_dir/agents.json`, or with `gateway.store` the store
 * (its schema migrated first, as the gateway does).
 *
 * @example
 * ```ts
 * const { admin, close } = await openAgentDirectory(config, stateDir);
 * const token = await admin.add("oncall-bot", "default");
 * await close();
 * ```
 */
export async function openAgentDirectory(
  config: Config,
  stateDir: string,
): Promise<AgentDirectory> {
  const settings = config.gateway.store;
  if (!settings) {
    const registry = AgentRegistry.open(stateDir);
    return {
      registry,
      admin: {
        add: (name, profile) => Promise.resolve(registry.add(name, profile)),
        revoke: (name) => Promise.resolve(registry.revoke(name)),
        rotate: (name) => Promise.resolve(registry.rotate(name)),
      },
      close: () => Promise.resolve(),
    };
  }
  const { openStore, SharedAgents } = await storeModule();
  const store = await openStore(settings);
  try {
    const agents = await SharedAgents.open(store.sql, store.display);
    return {
      registry: AgentRegistry.over(agents),
      admin: agents,
      close: async () => {
        await agents.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
