/**
 * Transparent interception, the accepting side (DESIGN.md §9): a listener on each virtual IP the
 * table holds, on the ports its endpoint's family is dialled on (443, a database's 5432). A
 * connection's local address names the host and endpoint; its source address names the agent
 * (`sources.json`), so no token travels in it. What is left is served by the family: the forward
 * proxy as if the agent had sent CONNECT (HTTPS, Kubernetes), or the family's own interceptor
 * (PostgreSQL). Unknown sources and addresses get nothing, and a receipt within a budget.
 *
 * The addresses must be local to the gateway's host: a route such as
 * `ip route add local 10.79.0.0/16 dev lo`, which the privileged setup step adds. Until it exists,
 * listening fails; each answer the responder gives for a name tries again.
 *
 * @module
 */

import type { Socket } from "node:net";
import type {
  Admission,
  AgentFacts,
  InterceptedConnection,
  Interceptor,
  NetListener,
  Protocol,
  ProtocolFamily,
} from "../core/mod.ts";
import { normaliseAddress, type SourceRegistry } from "../agents/mod.ts";
import type { VipEntry, VipTable } from "../transparent/mod.ts";
import { type ListenerDeps, listenerHooks, servicesOf } from "./_listeners.ts";
import { ReceiptBudget } from "./_receipt_budget.ts";

/** What interception needs from the gateway beyond the listeners' shared services. */
export interface InterceptionDeps {
  listeners: ListenerDeps;
  protocols: readonly Protocol[];
  sources: SourceRegistry;
  /** The forward proxy, for families served `via: "proxy"`. */
  proxy(): { intercept(connection: InterceptedConnection): Promise<void> } | undefined;
}

/** Ports below this need privilege to listen on: `port_offset` moves only these. */
const PRIVILEGED_PORTS = 1024;

/**
 * Where the gateway listens for `port` agents dial: a privileged port moved up by `offset`
 * (`transparent.port_offset`), any other as it is.
 */
export function listenedPort(port: number, offset: number): number {
  return port < PRIVILEGED_PORTS ? port + offset : port;
}

/** A failed listen is retried no sooner than this. */
const RETRY_AFTER_MS = 250;

interface VipListener {
  name: string;
  listener: NetListener | null;
  /** When listening last failed, and why. */
  failed: { at: number; message: string } | null;
}

/** The virtual-IP listeners and the interceptors they hand connections to. */
export class Interception {
  readonly #deps: InterceptionDeps;
  readonly #byFamily: ReadonlyMap<ProtocolFamily, Protocol>;
  /** By `vip:port`. */
  readonly #listeners = new Map<string, VipListener>();
  readonly #interceptors = new Map<ProtocolFamily, Promise<Interceptor>>();
  readonly #budget = new ReceiptBudget();
  #table: VipTable;
  #closing: string | null = null;

  constructor(table: VipTable, deps: InterceptionDeps) {
    this.#table = table;
    this.#deps = deps;
    this.#byFamily = new Map(deps.protocols.map((p) => [p.family, p]));
  }

  /**
   * Brings the listeners in line with `table`: every name it holds accepts on its endpoint's
   * ports, and addresses whose name is gone (a reload, a wildcard name evicted) close.
   */
  async sync(table: VipTable = this.#table): Promise<void> {
    this.#table = table;
    const wanted = new Map<string, VipEntry>();
    for (const entry of table.entries()) {
      for (const port of this.#ports(entry.endpoint)) {
        wanted.set(`${entry.vip}:${this.#listened(port)}`, entry);
      }
    }
    const closing: Promise<void>[] = [];
    for (const [key, held] of this.#listeners) {
      if (wanted.get(key)?.name === held.name) continue;
      this.#listeners.delete(key);
      if (held.listener) closing.push(held.listener.close());
    }
    const opening = [...wanted].map(([key, entry]) => this.#open(key, entry));
    await Promise.all([...closing, ...opening]);
  }

  /** Makes sure `entry` (a name the responder just answered) accepts on its ports. */
  async ensure(entry: VipEntry): Promise<void> {
    const missing = this.#ports(entry.endpoint).some((port) => {
      const held = this.#listeners.get(`${entry.vip}:${this.#listened(port)}`);
      return held?.name !== entry.name || held.listener === null;
    });
    if (missing) await this.sync();
  }

  /** The family services' interceptors end their revoked agents' sessions. */
  endRevokedSessions(): void {
    for (const interceptor of this.#interceptors.values()) {
      void interceptor.then((i) => i.endRevokedSessions(), () => {});
    }
  }

  /** Stops accepting and ends every intercepted connection. */
  async close(reason?: string): Promise<void> {
    this.#closing = reason ?? "gateway stopped";
    const listeners = [...this.#listeners.values()];
    this.#listeners.clear();
    const interceptors = await Promise.allSettled(this.#interceptors.values());
    await Promise.all(
      interceptors.map((i) => i.status === "fulfilled" ? i.value.close(reason) : undefined),
    );
    await Promise.all(listeners.map((l) => l.listener?.close()));
  }

  /** For `/status`. */
  status(): Record<string, unknown> {
    const held = [...this.#listeners.entries()];
    const failing = held.filter(([, l]) => l.failed !== null);
    return {
      listening: held.length - failing.length,
      failing: failing.slice(0, 10).map(([key, l]) => `${key} (${l.name}): ${l.failed!.message}`),
    };
  }

  /** The ports `endpointName` is dialled on. */
  #ports(endpointName: string): number[] {
    const endpoint = this.#deps.listeners.config().endpoints.get(endpointName);
    if (!endpoint) return [];
    return this.#byFamily.get(endpoint.protocol)?.intercept?.ports(endpoint) ?? [];
  }

  /** Where the gateway listens for a dialled port: a privileged one moved up by the offset. */
  #listened(port: number): number {
    return listenedPort(port, this.#deps.listeners.config().gateway.transparent?.portOffset ?? 0);
  }

  /** The port an agent dialled, from the one its connection arrived on. */
  #dialled(port: number): number {
    const offset = this.#deps.listeners.config().gateway.transparent?.portOffset ?? 0;
    return offset > 0 && port >= offset && port - offset < PRIVILEGED_PORTS ? port - offset : port;
  }

  async #open(key: string, entry: VipEntry): Promise<void> {
    let held = this.#listeners.get(key);
    if (held?.listener) return;
    const now = performance.now();
    if (held?.failed && now - held.failed.at < RETRY_AFTER_MS) return;
    if (!held) this.#listeners.set(key, held = { name: entry.name, listener: null, failed: null });
    const { listeners: deps } = this.#deps;
    const port = Number(key.slice(key.lastIndexOf(":") + 1));
    try {
      const listener = await deps.net.listen(entry.vip, port, {
        serve: (socket, admission) => this.#serve(socket, admission),
        onError: (err) => deps.log.log("error", `intercept listener ${key}: ${err}`),
        allowHalfOpen: true,
        hooks: listenerHooks(deps, "transparent", key),
      });
      // Closed or replaced while it was opening: it is not wanted any more.
      if (this.#listeners.get(key) !== held || this.#closing !== null) {
        await listener.close();
        return;
      }
      held.listener = listener;
      if (held.failed) deps.log.log("info", `intercepting ${entry.name} on ${key} now`);
      held.failed = null;
    } catch (err) {
      const message = listenProblem(err, entry.vip, port);
      if (held.failed?.message !== message) {
        deps.log.log("warn", `cannot intercept ${entry.name} on ${key}: ${message}`);
      }
      held.failed = { at: now, message };
    }
  }

  async #serve(socket: Socket, admission: Admission): Promise<void> {
    const local = normaliseAddress(socket.localAddress ?? "");
    const source = normaliseAddress(socket.remoteAddress ?? "");
    // The port the agent dialled: the root step mapped a privileged one up by the offset.
    const port = this.#dialled(socket.localPort ?? 0);
    const entry = this.#table.lookup(local);
    const agent = this.#agentAt(source);
    const summary = `${entry?.name ?? local}:${port} from ${source}`;
    if (!agent) {
      return this.#refuse(socket, source, summary, {
        endpoint: entry?.endpoint ?? null,
        agent: null,
        reason: `no agent is enrolled at address ${source}`,
      });
    }
    const endpoint = entry && this.#deps.listeners.config().endpoints.get(entry.endpoint);
    const family = endpoint && this.#byFamily.get(endpoint.protocol);
    const intercept = family?.intercept;
    if (!entry || !endpoint || !intercept || !intercept.ports(endpoint).includes(port)) {
      return this.#refuse(socket, source, summary, {
        endpoint: entry?.endpoint ?? null,
        agent,
        reason: `no endpoint is reached at ${local}:${port} any more`,
      });
    }
    if (!admission.authenticated(agent.name)) {
      return this.#refuse(socket, source, summary, {
        endpoint: endpoint.name,
        agent,
        reason: "too many open connections for this agent",
      }, endpoint.protocol);
    }
    const connection: InterceptedConnection = {
      socket,
      host: entry.name,
      port,
      endpoint: endpoint.name,
      agent,
      still: () => this.#agentAt(source, agent.name),
    };
    if (intercept.via === "proxy") {
      const proxy = this.#deps.proxy();
      if (proxy) return await proxy.intercept(connection);
    } else {
      const interceptor = await this.#interceptor(family);
      if (interceptor) return await interceptor.serve(connection);
    }
    this.#refuse(socket, source, summary, {
      endpoint: endpoint.name,
      agent,
      reason: "the gateway cannot serve this endpoint now",
    }, endpoint.protocol);
  }

  /** The active agent `source` stands for (and only if it is `expected`, when given). */
  #agentAt(source: string, expected?: string): AgentFacts | null {
    const name = this.#deps.sources.agentAt(source);
    if (name === null || (expected !== undefined && name !== expected)) return null;
    return this.#deps.listeners.agents.active(name);
  }

  async #interceptor(family: Protocol): Promise<Interceptor | undefined> {
    const intercept = family.intercept;
    if (intercept?.via !== "own") return undefined;
    let interceptor = this.#interceptors.get(family.family);
    if (!interceptor) {
      interceptor = intercept.open(servicesOf(this.#deps.listeners, family.family));
      this.#interceptors.set(family.family, interceptor);
    }
    try {
      return await interceptor;
    } catch (err) {
      this.#interceptors.delete(family.family);
      this.#deps.listeners.log.log("error", `cannot intercept ${family.family}: ${err}`);
      return undefined;
    }
  }

  /** Closes the connection unserved; its receipt counts against the source's budget. */
  #refuse(
    socket: Socket,
    source: string,
    summary: string,
    refusal: { endpoint: string | null; agent: AgentFacts | null; reason: string },
    protocol = "transparent",
  ): void {
    socket.destroy();
    const budget = this.#budget.take(source, Date.now());
    if (budget === "none") return;
    const reason = budget === "last"
      ? "too many refused connections from this address in a minute: the rest are not recorded"
      : refusal.reason;
    this.#deps.listeners.guard.refuse({
      protocol,
      endpoint: refusal.endpoint,
      agent: refusal.agent,
      summary,
      reason,
    });
  }
}

/** What went wrong listening on `vip:port`, and what to do about it. */
function listenProblem(err: unknown, vip: string, port: number): string {
  const code = (err as { code?: string })?.code ?? (err as Error)?.name;
  if (code === "EADDRNOTAVAIL" || code === "AddrNotAvailable") {
    return `${vip} is not local to this host: add the virtual IP range as a local route ` +
      `(clawpatrol isolate setup does, as root)`;
  }
  if (code === "EACCES" || code === "PermissionDenied") {
    return `port ${port} needs CAP_NET_BIND_SERVICE (the systemd unit grants it with transparent)`;
  }
  return (err as Error)?.message ?? String(err);
}
