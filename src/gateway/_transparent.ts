/**
 * Transparent interception, step one: the DNS responder agents are given as their only resolver
 * (`gateway { transparent { … } }`). Every name an endpoint claims resolves to a stable virtual IP
 * from `vip_range`; names no endpoint claims follow `defaults.unknown_host` (NXDOMAIN, or the real
 * address), and each refusal or passthrough is recorded. The table is rebuilt on reload from the
 * config in force; its addresses stay put for names that stay.
 *
 * @module
 */

import type { ActionGuard, Logger, Protocol } from "../core/mod.ts";
import type { Config, TransparentConfig } from "../config/mod.ts";
import { type DnsPeer, DnsServer } from "../net/mod.ts";
import {
  type DnsEvent,
  formatIpv4,
  parseVipRange,
  respondResolving,
  type VipClaim,
  type VipEntry,
  VipTable,
} from "../transparent/mod.ts";
import { Interception, type InterceptionDeps } from "./_interception.ts";
import { splitHostPort } from "./_listeners.ts";
import { BUDGET_WINDOW_MS, ReceiptBudget, RECEIPTS_PER_WINDOW } from "./_receipt_budget.ts";

/** Receipts for the same refused name from the same address: one per this long. */
const REPEAT_WINDOW_MS = BUDGET_WINDOW_MS;
/** Remembered (address, name) pairs: a flood of random names cannot grow memory. */
const MAX_REMEMBERED = 4_096;
/** The names every endpoint claims, from the protocols' declarations. */
export function vipClaims(config: Config, protocols: readonly Protocol[]): VipClaim[] {
  const byFamily = new Map(protocols.map((p) => [p.family, p]));
  return [...config.endpoints.values()].flatMap((e) =>
    (byFamily.get(e.protocol)?.names?.(e) ?? []).map((host) => ({ host, endpoint: e.name }))
  );
}

/** What the resolver needs from the gateway. */
export interface TransparentDeps {
  guard: ActionGuard;
  log: Logger;
  protocols: readonly Protocol[];
  /** Accepting connections to the virtual IPs; absent: the responder alone (tests). */
  interception?: InterceptionDeps;
}

/** The running DNS responder and the virtual IP table behind it. */
export class TransparentDns {
  #server: DnsServer | null = null;
  readonly #deps: TransparentDeps;
  #table: VipTable;
  #unknownHost: "deny" | "passthrough";
  /** When each (address, name) refusal was last recorded. */
  readonly #recorded = new Map<string, number>();
  /** Receipts per address in its current window. */
  readonly #budget = new ReceiptBudget();

  /** The virtual-IP listeners, when the gateway intercepts. */
  readonly #interception: Interception | null;

  /** Set by `close()`: a pending retry to listen gives up. */
  #closed = false;
  #retry: ReturnType<typeof setTimeout> | undefined;

  private constructor(table: VipTable, config: Config, deps: TransparentDeps) {
    this.#table = table;
    this.#unknownHost = config.defaults.unknownHost;
    this.#deps = deps;
    this.#interception = deps.interception ? new Interception(table, deps.interception) : null;
  }

  /**
   * Starts the responder on `transparent.dns_listen`. An address not local yet (the privileged
   * step has not added the virtual IPs' route) is waited for, retrying each second, with a log
   * line that says what to run; any other failure to listen throws.
   *
   * @example
   * ```ts
   * const dns = await TransparentDns.start(config, { guard, log, protocols });
   * ```
   */
  static async start(config: Config, deps: TransparentDeps): Promise<TransparentDns | null> {
    const settings = config.gateway.transparent;
    if (!settings) return null;
    const dns = new TransparentDns(tableOf(settings, config, deps.protocols), config, deps);
    await dns.#interception?.sync();
    const [host, port] = splitHostPort(settings.dnsListen);
    if (!await dns.#listen(host, port)) {
      deps.log.log(
        "warn",
        `dns responder waits for ${host}:${port} to be local: add the virtual IPs' route (as ` +
          `root: sh isolate.sh prepare …, which clawpatrol run --isolate also does)`,
      );
      dns.#retryListen(host, port);
    }
    return dns;
  }

  /** Listens; `false` when the address is not local yet. */
  async #listen(host: string, port: number): Promise<boolean> {
    const { log } = this.#deps;
    try {
      this.#server = await DnsServer.open(host, port, {
        respond: (query, peer) => this.#respond(query, peer),
        onError: (err) => log.log("error", `dns responder: ${(err as Error)?.message ?? err}`),
      });
    } catch (err) {
      if (!notLocal(err)) throw err;
      return false;
    }
    const { hostname, port: bound } = this.#server.address;
    log.log("info", `dns responder on ${hostname}:${bound} for ${this.#table.size} names`);
    return true;
  }

  #retryListen(host: string, port: number): void {
    this.#retry = setTimeout(async () => {
      if (this.#closed) return;
      try {
        if (!await this.#listen(host, port)) this.#retryListen(host, port);
        else if (this.#closed) await this.#server?.close();
      } catch (err) {
        this.#deps.log.log("error", `dns responder cannot listen on ${host}:${port}: ${err}`);
      }
    }, LISTEN_RETRY_MS);
    Deno.unrefTimer(this.#retry);
  }

  /** Where the responder listens (port 0 resolved), `null` while it waits for its address. */
  get address(): { hostname: string; port: number } | null {
    return this.#server?.address ?? null;
  }

  /** The virtual IP table in force. */
  get table(): VipTable {
    return this.#table;
  }

  /** A reloaded config: the table is rebuilt; a name that stays keeps its address. */
  reloaded(config: Config): void {
    const settings = config.gateway.transparent;
    if (!settings) return;
    try {
      this.#table = tableOf(settings, config, this.#deps.protocols);
      this.#unknownHost = config.defaults.unknownHost;
    } catch (err) {
      this.#deps.log.log("error", `virtual IPs kept as they were: ${(err as Error).message}`);
    }
    this.#interception?.sync(this.#table).catch((err) =>
      this.#deps.log.log("error", `virtual IP listeners not in line with the config: ${err}`)
    );
  }

  /** Ends intercepted sessions of agents revoked since they connected. */
  endRevokedSessions(): void {
    this.#interception?.endRevokedSessions();
  }

  /** For `/status`. */
  status(): Record<string, unknown> {
    const address = this.address;
    const { range } = this.#table;
    return {
      vip_range: `${formatIpv4(range.base)}/${range.prefix}`,
      gateway_address: range.gateway,
      dns: address ? `${address.hostname}:${address.port}` : null,
      names: this.#table.size,
      ...this.#interception ? { intercept: this.#interception.status() } : {},
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#server?.close();
    await this.#interception?.close();
  }

  async #respond(query: Uint8Array, peer: DnsPeer): Promise<Uint8Array | null> {
    const table = this.#table;
    const answered: VipEntry[] = [];
    const result = await respondResolving(query, {
      claimant: (name) => table.claimant(name),
      assign: (name) => {
        const entry = table.assign(name);
        if (entry) answered.push(entry);
        return entry;
      },
      unknownHost: this.#unknownHost,
    }, resolveUpstream);
    if (result.event) this.#record(result.event, peer);
    // The address answered accepts before the agent can dial it (a wildcard name's is new).
    for (const entry of answered) await this.#interception?.ensure(entry);
    return result.reply;
  }

  /** One receipt per refused or passed-through name per address per window. */
  #record(event: DnsEvent, peer: DnsPeer): void {
    if (event.kind === "malformed") return;
    const key = `${peer.hostname} ${event.kind} ${event.name}`;
    const now = Date.now();
    const last = this.#recorded.get(key);
    if (last !== undefined && now - last < REPEAT_WINDOW_MS) return;
    this.#recorded.delete(key);
    this.#recorded.set(key, now);
    if (this.#recorded.size > MAX_REMEMBERED) {
      this.#recorded.delete(this.#recorded.keys().next().value!);
    }
    const allowance = this.#budget.take(peer.hostname, now);
    if (allowance === "none") return;
    if (allowance === "last") {
      this.#deps.guard.refuse({
        protocol: "dns",
        endpoint: null,
        agent: null,
        summary: `DNS from ${peer.hostname}`,
        reason:
          `more than ${RECEIPTS_PER_WINDOW} names refused in a minute: the rest are not recorded`,
      });
      this.#deps.log.log("warn", `dns: ${peer.hostname} is flooding the resolver with names`);
      return;
    }
    const summary = `DNS ${event.name} from ${peer.hostname}`;
    if (event.kind === "refused") {
      this.#deps.guard.refuse({
        protocol: "dns",
        endpoint: null,
        agent: null,
        summary,
        reason: event.reason,
      });
      return;
    }
    // Passed through to the real address: recorded like other passthrough traffic.
    const passed = this.#deps.guard.pass({
      protocol: "dns",
      endpoint: null,
      agent: null,
      summary,
      reason: "no endpoint claims this name; defaults.unknown_host = passthrough",
    });
    passed.finish({ upstreamStatus: null, bytesIn: 0, bytesOut: 0 });
  }
}

/** Each retry to listen on an address not local yet is this far apart. */
const LISTEN_RETRY_MS = 250;

/** The address is not this host's (yet): `EADDRNOTAVAIL` from UDP or TCP. */
function notLocal(err: unknown): boolean {
  return err instanceof Deno.errors.AddrNotAvailable ||
    (err as { code?: string })?.code === "EADDRNOTAVAIL";
}

function tableOf(settings: TransparentConfig, config: Config, protocols: readonly Protocol[]) {
  return new VipTable(parseVipRange(settings.vipRange), vipClaims(config, protocols));
}

/** The real addresses of a name no endpoint claims (passthrough). */
async function resolveUpstream(
  name: string,
  type: "A" | "AAAA",
): Promise<readonly string[] | "NXDOMAIN"> {
  try {
    return await Deno.resolveDns(name, type);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "NXDOMAIN";
    throw err;
  }
}
