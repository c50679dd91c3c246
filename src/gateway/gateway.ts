/**
 * Composition root: builds everything from a config, starts listeners, hot-reloads the config,
 * stops cleanly.
 *
 * @module
 */

import type { Config } from "../config/mod.ts";
import {
  ConfigError,
  Health,
  type HealthReport,
  type Protocol,
  type ProtocolFamily,
} from "../core/mod.ts";
import type { Policy } from "../policy/mod.ts";
import { ReceiptStore } from "../audit/mod.ts";
import { LeafCache } from "../tls/mod.ts";
import type { OpenVaultOptions, Vault } from "../credentials/mod.ts";
import type { HttpProxy } from "../protocols/http/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { ApprovalQueue, type Approvals, SlackNotifier } from "../approvals/mod.ts";
import { Guard } from "../pipeline/mod.ts";
import { netServices } from "../net/mod.ts";
import { RunningGrant } from "./_permissions.ts";
import { type OpenedState, openState } from "./_open_state.ts";
import { loadAndCompile, type Loaded } from "./_loaded.ts";
import { TransparentDns } from "./_transparent.ts";
import type { Logger } from "./log.ts";
import { acquireStateLock, checkStateDir, stateDirOf, type StateLock } from "./state.ts";
import { HttpCredentials } from "./_http_credentials.ts";
import { SecretCache, warnMissingSecrets } from "./_secrets.ts";
import { GatewayMetrics } from "./_metrics.ts";
import { restartOnlySettings, watchConfig } from "./reload.ts";
import { type AdminServer, openAdminServer } from "./_admin_server.ts";
import { dashboardOptions } from "./_dashboard.ts";
import { buildApprovals } from "./_build_approvals.ts";
import { adminListenFailed, type ListenerDeps, startProxy, watchAgents } from "./_listeners.ts";
import { ListenerSet } from "./_listener_set.ts";
import { gatewayStatus } from "./_status.ts";
import { ReceiptUpkeep } from "./_receipt_upkeep.ts";
import { reportStoreHealth, type SharedState, storeReadings } from "./_shared_state.ts";

/** Options for {@linkcode Gateway.start}. */
export interface GatewayOptions {
  log: Logger;
  version: string;
  /** Watch the config files and reload on change. @default {true} */
  watch?: boolean;
  /** Quiet period after the last file event before reloading. @default {200} */
  reloadDebounceMs?: number;
  /** How to unlock the vault (passphrase prompt, `CLAWPATROL_MASTER_KEY`); default: master.key. */
  vault?: OpenVaultOptions;
  /**
   * The registered protocols: config, policy, receipts and listeners all read this list.
   * @default {PROTOCOLS}
   */
  protocols?: readonly Protocol[];
}

/** What {@linkcode Gateway.start} opened before it builds the gateway around them. */
interface GatewayParts {
  stateDir: string;
  permissions: RunningGrant;
  lock: StateLock;
  receipts: ReceiptStore;
  vault: Vault;
  options: GatewayOptions;
  /** For the dashboard: its live feed and the Agents page. */
  opened: Pick<OpenedState, "feed" | "agents" | "shared">;
}

/** What {@linkcode Gateway.start} checked and holds before it opens the state. */
interface Opened extends Pick<GatewayParts, "permissions" | "stateDir" | "lock" | "options"> {
  loaded: Loaded;
  protocols: readonly Protocol[];
}

/** The running gateway. */
export class Gateway {
  readonly guard: Guard;
  readonly stateDir: string;
  /** Problems `/healthz` reports: receipts failing, listeners backing off. */
  readonly health = new Health();
  readonly adminAddress: Deno.NetAddr;
  #loaded: Loaded;
  readonly #receipts: ReceiptStore;
  /** With `gateway.store`: the PostgreSQL the agents live in, shared with other gateways. */
  readonly #shared: SharedState | null;
  /** Retention and anchoring of the receipts. */
  readonly #upkeep: ReceiptUpkeep;
  readonly #admin: AdminServer;
  readonly #log: Logger;
  readonly #stopWatching: () => void;
  /** Stops watching the agents file (revocations end open sessions). */
  #stopWatchingAgents: () => void = () => {};
  readonly #configPath: string;
  /** The permissions it runs under, checked against its config. */
  readonly #permissions: RunningGrant;
  /** Held while it runs: one gateway per state directory. */
  readonly #lock: StateLock;
  readonly metrics: GatewayMetrics;
  readonly #vault: Vault;
  readonly #secrets: SecretCache;
  #credentials: HttpCredentials;
  /** Requests held for a human: one queue for the gateway's life (mirrored to a store). */
  readonly approvalQueue: ApprovalQueue;
  #approvals: Approvals;
  /** Posts held requests to Slack and takes clicks back; idle without Slack configured. */
  readonly #slack: SlackNotifier;
  readonly #protocols: readonly Protocol[];
  #proxy: HttpProxy | undefined;
  /** The DNS responder of transparent interception, when configured. */
  #dns: TransparentDns | null = null;
  /** One per endpoint with `listen`, of every protocol that declares `listen`; reloads change them. */
  #listeners: ListenerSet | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(configPath: string, loaded: Loaded, parts: GatewayParts) {
    const { stateDir, receipts, vault, options } = parts;
    this.approvalQueue = parts.opened.shared?.queue ?? new ApprovalQueue();
    this.#permissions = parts.permissions;
    this.#lock = parts.lock;
    this.#configPath = configPath;
    this.#vault = vault;
    this.#secrets = new SecretCache(vault);
    this.#slack = new SlackNotifier(parts.opened.shared?.approvals ?? this.approvalQueue, {
      secret: (name, slot) => this.#secrets.get(name, slot),
      log: (level, message, fields) =>
        options.log.log(level, message, fields as Record<string, unknown>),
    });
    this.#credentials = new HttpCredentials(loaded.config, this.#secrets, options.log);
    this.#protocols = options.protocols ?? PROTOCOLS;
    this.#approvals = buildApprovals(loaded.config, {
      queue: this.approvalQueue,
      secrets: this.#secrets,
      log: options.log,
    });
    this.#loaded = loaded;
    this.stateDir = stateDir;
    this.#receipts = receipts;
    this.#shared = parts.opened.shared;
    this.#log = options.log;
    this.metrics = new GatewayMetrics({
      rules: () => this.#loaded.config.rules.length,
      endpoints: () => this.#loaded.config.endpoints.size,
      receiptsQueued: () => receipts.queued,
      receiptsInFlight: () => receipts.reserved,
      receiptsWritable: () => receipts.problem() === null ? 1 : 0,
      ...storeReadings(this.#shared),
    });
    const upkeep = { receipts, stateDir, vault, log: options.log, metrics: this.metrics.registry };
    this.#upkeep = new ReceiptUpkeep({ ...upkeep, config: () => this.#loaded.config });
    this.guard = new Guard(() => this.#loaded.policy, receipts, {
      log: options.log,
      durability: () => this.#loaded.config.gateway.limits.receiptDurability,
      bodies: () => this.#loaded.config.gateway.receipts,
      observe: this.metrics.decided,
      approvals: () => this.#approvals,
    });
    this.#admin = openAdminServer({
      stateDir,
      listen: loaded.config.gateway.adminListen,
      view: {
        version: options.version,
        health: () => this.#healthReport(),
        metrics: this.metrics.registry,
        status: () => gatewayStatus(this.#loaded, this.#permissions, this.#dns),
        approvals: parts.opened.shared?.approvals ?? this.approvalQueue,
      },
      dashboard: dashboardOptions({
        ...parts.opened,
        ...{ queue: this.approvalQueue, receipts, metrics: this.metrics },
        config: () => this.#loaded.config,
        ...{ configPath, protocols: this.#protocols, reload: () => this.reload() },
        health: () => this.#healthReport(),
      }),
      slackInteractivity: (req) => this.#slack.handleInteractivity(req),
      log: options.log,
      health: this.health,
    });
    this.adminAddress = this.#admin.addr;
    this.#stopWatching = options.watch === false ? () => {} : watchConfig(
      loaded.config.files.length > 0 ? loaded.config.files : [configPath],
      configPath,
      options.reloadDebounceMs ?? 200,
      () => this.reload(),
    );
  }

  /**
   * Loads the config, opens state and starts listeners.
   *
   * @throws {ConfigError} when the config is invalid; Error when state cannot be opened.
   */
  static async start(configPath: string, options: GatewayOptions): Promise<Gateway> {
    const protocols = options.protocols ?? PROTOCOLS;
    const loaded = await loadAndCompile(configPath, protocols);
    // Before anything is opened: a gateway short of what its config needs stops here.
    const permissions = await RunningGrant.check(loaded.config, protocols, options.log);
    const stateDir = await stateDirOf(loaded.config);
    await checkStateDir(stateDir);
    // One gateway per state directory: a second refuses, naming the first's pid.
    const lock = await acquireStateLock(stateDir);
    try {
      return await Gateway.#open(configPath, {
        loaded,
        protocols,
        permissions,
        stateDir,
        lock,
        options,
      });
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /** The rest of {@linkcode Gateway.start}, under the state directory's lock. */
  static async #open(configPath: string, opened: Opened): Promise<Gateway> {
    const { loaded, protocols, permissions, stateDir, options } = opened;
    const { vault, ca, agents, shared, sources, receipts, feed } = await openState(stateDir, {
      config: loaded.config,
      protocols,
      log: options.log,
      vault: options.vault ?? {},
    });
    let gateway: Gateway;
    try {
      // The receipt writer runs in a worker; fail startup, not every later action, if it cannot.
      await receipts.ready();
      const parts = {
        ...{ stateDir, permissions, receipts, vault, options, lock: opened.lock },
        opened: { feed, agents, shared },
      };
      gateway = new Gateway(configPath, loaded, parts);
      await gateway.#configureSlack(loaded.config);
    } catch (err) {
      await Promise.all([receipts.close(), shared?.close()]);
      vault.close();
      throw adminListenFailed(err, loaded.config);
    }
    try {
      const deps: ListenerDeps = {
        guard: gateway.guard,
        health: gateway.health,
        agents,
        leaves: new LeafCache(ca),
        net: netServices(),
        log: options.log,
        metrics: gateway.metrics,
        secrets: gateway.#secrets,
        config: () => gateway.#loaded.config,
        policy: () => gateway.#loaded.policy,
        routes: () => gateway.#loaded.routes,
        credentials: () => gateway.#credentials,
      };
      gateway.#proxy = await startProxy(deps);
      gateway.#listeners = ListenerSet.of(deps, protocols);
      await gateway.#listeners.start(loaded.config);
      const interception = { listeners: deps, protocols, sources, proxy: () => gateway.#proxy };
      const dnsDeps = { guard: gateway.guard, log: options.log, protocols, interception };
      gateway.#dns = await TransparentDns.start(loaded.config, dnsDeps);
      // Whatever `watch` says: a revoked agent's open sessions end.
      gateway.#stopWatchingAgents = watchAgents(deps, () => [
        ...gateway.#listeners?.listeners ?? [],
        ...[gateway.#proxy, gateway.#dns].flatMap((listener) => listener ? [{ listener }] : []),
      ]);
    } catch (err) {
      await gateway.stop();
      throw err;
    }
    warnMissingSecrets(gateway.#vault, loaded.config, options.log);
    const proxy = gateway.proxyAddress;
    const listeners = gateway.#listeners.summary();
    options.log.log(
      "info",
      `serving: ${loaded.config.endpoints.size} endpoints, ${loaded.config.rules.length} rules, proxy on http://${proxy.hostname}:${proxy.port}${listeners}, admin on http://${gateway.adminAddress.hostname}:${gateway.adminAddress.port}`,
    );
    gateway.#upkeep.start();
    return gateway;
  }

  /** Where each endpoint of `family` with its own listener listens, by endpoint name. */
  listenerAddresses(family: ProtocolFamily): Map<string, { hostname: string; port: number }> {
    return this.#listeners?.addresses(family) ?? new Map();
  }

  /** The forward proxy's address (agents' HTTPS_PROXY). */
  get proxyAddress(): { hostname: string; port: number } {
    if (!this.#proxy) throw new Error("The proxy is not running");
    return this.#proxy.address;
  }

  /**
   * Resolves once no allowed exchange is open (up to `timeoutMs`) and every receipt decided so
   * far is committed. For tests and orderly shutdown.
   */
  async settled(timeoutMs = 5_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.guard.open > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await this.#receipts.flushed();
  }

  /** The config in force. */
  get config(): Config {
    return this.#loaded.config;
  }

  /** The policy in force. */
  get policy(): Policy {
    return this.#loaded.policy;
  }

  /**
   * Reloads the config. An invalid edit keeps the old config and logs every problem; a valid
   * one is swapped in atomically (one assignment between actions); listeners follow it.
   */
  async reload(): Promise<boolean> {
    try {
      const next = await loadAndCompile(this.#configPath, this.#protocols);
      const restartNeeded = restartOnlySettings(this.#loaded.config, next.config);
      this.#loaded = next;
      this.#credentials.close();
      this.#credentials = new HttpCredentials(next.config, this.#secrets, this.#log);
      this.#approvals = buildApprovals(next.config, {
        queue: this.approvalQueue,
        secrets: this.#secrets,
        log: this.#log,
      });
      await this.#configureSlack(next.config);
      this.metrics.reloads.inc();
      this.#log.log(
        "info",
        `config reloaded: ${next.config.endpoints.size} endpoints, ${next.config.rules.length} rules`,
      );
      warnMissingSecrets(this.#vault, this.#loaded.config, this.#log);
      await this.#permissions.reloaded(next.config);
      this.#dns?.reloaded(next.config);
      await this.#listeners?.reconcile(next.config);
      for (const setting of restartNeeded) {
        this.#log.log("warn", `'${setting}' changed: takes effect after a restart`);
      }
      return true;
    } catch (err) {
      this.metrics.reloadFailures.inc();
      if (err instanceof ConfigError) {
        this.#log.log("error", `config reload rejected, keeping the previous config:`);
        for (const line of err.message.split("\n")) this.#log.log("error", `  ${line}`);
      } else {
        this.#log.log("error", `config reload failed, keeping the previous config: ${err}`);
      }
      return false;
    }
  }

  /** Stops listeners, flushes receipts. Calling it again waits for the same stop. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stopWatching();
      this.#stopWatchingAgents();
      // The listeners first: closing them finishes every open exchange's receipt.
      await Promise.all([this.#proxy?.close(), this.#dns?.close(), this.#listeners?.close()]);
      this.guard.finishOpen();
      await this.#slack.stop();
      await this.#admin.shutdown();
      await this.#upkeep.stopPruning();
      await Promise.all([this.#receipts.close(), this.#shared?.close()]);
      await this.#upkeep.stopAnchoring();
      this.#credentials.close();
      this.#secrets.clear();
      this.#vault.close();
      // Last: a next gateway may open the receipts and the vault only once they are closed.
      this.#lock.release();
      this.#log.log("info", "stopped");
    })();
    return this.#stopping;
  }

  /** Slack trouble (a vault error, say) is logged: held requests still go to the CLI queue. */
  async #configureSlack(config: Config): Promise<void> {
    try {
      await this.#slack.configure(config);
    } catch (err) {
      this.#log.log("error", `Slack: ${(err as Error).message}`);
    }
  }

  // The receipt store's state is read, not pushed: a hung writer shows on the next probe.
  #healthReport(): HealthReport {
    reportStoreHealth(this.health, this.#shared);
    const problem = this.#receipts.problem();
    if (problem === null) this.health.clear("receipts");
    else this.health.set("receipts", "unhealthy", `${problem}: every action is denied`);
    return this.health.report();
  }
}
