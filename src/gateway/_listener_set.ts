/**
 * The running endpoint listeners (one per endpoint with `listen`, of every protocol that
 * declares `listen`), kept in line with the config: at start every one must open; on reload
 * those whose endpoint went, or whose `listen` or family changed, close; new and moved ones
 * open; unchanged ones are left alone, and their open sessions with them.
 *
 * Order within one reload: every listener that goes closes first, then the missing ones open,
 * in registry then config order. Closing first frees the ports an edit hands to another
 * endpoint (two endpoints swapping ports, one moving onto the port another leaves): opening
 * first would find them taken. The price: an endpoint moved to an address that cannot open has
 * no listener, rather than its old one, until a reload opens it; its old address is no longer
 * what its config says.
 *
 * Closing a listener ends its sessions: the protocol's `close()` cuts every connection and
 * waits for the receipts of the actions they left open (completed with the protocol's reason,
 * e.g. "client disconnected"); a session idle between actions has none open and just ends.
 *
 * A listener a reload cannot open (its port taken, say) is an error line naming the endpoint,
 * the address, its `file:line` and the fix, and a degraded `/healthz` problem; the rest of the
 * reload applies, and each later reload tries it again: the set compares the config with what
 * runs, not with the previous config.
 *
 * @module
 */

import type { Config } from "../config/mod.ts";
import type { Endpoint, Health, Protocol, ProtocolFamily } from "../core/mod.ts";
import type { Logger } from "./log.ts";
import {
  endpointListenerOpener,
  endpointListenSetting,
  type ListenerDeps,
  listenFailed,
  type OpenListener,
  type StartedListener,
} from "./_listeners.ts";

/** Options for {@linkcode ListenerSet}. */
export interface ListenerSetOptions {
  /** The registered protocols: those that declare `listen` get listeners, in this order. */
  protocols: readonly Protocol[];
  /** Opens one endpoint's listener (its protocol's `listen`, with the family's services). */
  open: OpenListener;
  log: Logger;
  /** Where a listener a reload could not open shows (`/healthz`, degraded) until it opens. */
  health: Health;
}

/** A running listener and the `listen` it was opened for. */
interface Running extends StartedListener {
  listen: string;
}

/** An endpoint the config wants a listener for. */
interface Wanted {
  protocol: Protocol;
  endpoint: Endpoint;
  listen: string;
}

/**
 * The endpoint listeners of one gateway.
 *
 * @example
 * ```ts
 * const listeners = ListenerSet.of(deps, PROTOCOLS);
 * await listeners.start(config); // throws naming the first listener that cannot open
 * await listeners.reconcile(reloaded); // never throws: failures are logged and returned
 * await listeners.close();
 * ```
 */
export class ListenerSet {
  readonly #options: ListenerSetOptions;
  /** In registry, then config order. */
  #running: Running[] = [];
  /** Endpoints whose listener a reload could not open, by name, with their health component. */
  readonly #failing = new Map<string, string>();
  /** Start, reconciles and close run one at a time, in call order. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: ListenerSetOptions) {
    this.#options = options;
  }

  /** The gateway's set: listeners opened with `deps`' services, problems to its log and health. */
  static of(deps: ListenerDeps, protocols: readonly Protocol[]): ListenerSet {
    const open = endpointListenerOpener(deps);
    return new ListenerSet({ protocols, open, log: deps.log, health: deps.health });
  }

  /** The listeners running now, in registry then config order. */
  get listeners(): readonly StartedListener[] {
    return this.#running;
  }

  /** `, kubernetes k8s on 127.0.0.1:16443…`: the running listeners, for the startup line. */
  summary(): string {
    return this.#running.map(({ family, listener: l }) => `, ${family} ${l.endpoint} on ${l.url}`)
      .join("");
  }

  /** Where each running listener of `family` listens, by endpoint name. */
  addresses(family: ProtocolFamily): Map<string, { hostname: string; port: number }> {
    const of = this.#running.filter((r) => r.family === family);
    return new Map(of.map(({ listener }) => [listener.endpoint, listener.address]));
  }

  /**
   * Opens the listener of every endpoint of `config` with `listen`. Rejects with the first that
   * cannot open (its setting, address, `file:line` and fix named), the others closed.
   */
  start(config: Config): Promise<void> {
    return this.#serially(async () => {
      if (this.#closed) return;
      try {
        for (const wanted of this.#wanted(config)) {
          if (!this.#find(wanted.endpoint.name)) await this.#open(wanted);
        }
      } catch (err) {
        await this.#closeAll();
        throw err;
      }
    });
  }

  /**
   * Brings the running listeners in line with `config` (see the module doc). Never rejects:
   * returns the errors of the listeners that could not open, each already logged.
   */
  reconcile(config: Config): Promise<Error[]> {
    return this.#serially(async () => {
      if (this.#closed) return [];
      const wanted = this.#wanted(config);
      const byName = new Map(wanted.map((w) => [w.endpoint.name, w]));
      const going = this.#running.filter((r) => {
        const w = byName.get(r.listener.endpoint);
        return w?.protocol.family !== r.family || w.listen !== r.listen;
      });
      this.#running = this.#running.filter((r) => !going.includes(r));
      await Promise.all(going.map((r) => this.#close(r, closeReason(r, config))));
      const failures: Error[] = [];
      for (const w of wanted) {
        if (this.#find(w.endpoint.name)) continue;
        try {
          const opened = await this.#open(w);
          this.#options.log.log(
            "info",
            `${opened.family} listener ${w.endpoint.name} opened on ${opened.listener.url}`,
          );
          this.#recovered(w.endpoint.name);
        } catch (err) {
          failures.push(err as Error);
          this.#failed(w, err as Error);
        }
      }
      for (const name of this.#failing.keys()) {
        if (!byName.has(name)) this.#recovered(name);
      }
      const order = wanted.map((w) => w.endpoint.name);
      this.#running.sort((a, b) =>
        order.indexOf(a.listener.endpoint) - order.indexOf(b.listener.endpoint)
      );
      return failures;
    });
  }

  /** Closes every listener (ending their sessions, waiting for their receipts); later calls wait too. */
  close(): Promise<void> {
    // A reconcile queued behind the one running now opens nothing.
    this.#closed = true;
    return this.#serially(() => this.#closeAll());
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Endpoints with `listen` of protocols that declare `listen`, registry then config order. */
  #wanted(config: Config): Wanted[] {
    const wanted: Wanted[] = [];
    for (const protocol of this.#options.protocols) {
      if (!protocol.listen) continue;
      for (const endpoint of config.endpoints.values()) {
        if (endpoint.protocol !== protocol.family || !endpoint.listen) continue;
        wanted.push({ protocol, endpoint, listen: endpoint.listen });
      }
    }
    return wanted;
  }

  #find(endpoint: string): Running | undefined {
    return this.#running.find((r) => r.listener.endpoint === endpoint);
  }

  async #open(wanted: Wanted): Promise<Running> {
    const { protocol, endpoint, listen } = wanted;
    let running: Running;
    try {
      const listener = await this.#options.open(protocol, endpoint);
      running = { family: protocol.family, listener, listen };
    } catch (err) {
      throw listenFailed(endpointListenSetting(endpoint), err);
    }
    this.#running.push(running);
    return running;
  }

  async #close(running: Running, why: string): Promise<void> {
    const { family, listener } = running;
    const which = `${family} listener ${listener.endpoint} on ${listener.url}`;
    try {
      await listener.close(`the endpoint's listener closed: ${why}`);
      this.#options.log.log("info", `${which} closed: ${why}`);
    } catch (err) {
      this.#options.log.log("error", `${which} failed to close: ${err}`);
    }
  }

  async #closeAll(): Promise<void> {
    const all = this.#running;
    this.#running = [];
    await Promise.all(all.map(({ listener }) => listener.close()));
  }

  #failed(wanted: Wanted, err: Error): void {
    const component = `listen:${wanted.protocol.family}:${wanted.endpoint.name}`;
    this.#failing.set(wanted.endpoint.name, component);
    this.#options.health.set(component, "degraded", err.message);
    this.#options.log.log(
      "error",
      `config reload: ${err.message}; the endpoint has no listener until a reload opens it`,
    );
  }

  #recovered(endpoint: string): void {
    const component = this.#failing.get(endpoint);
    if (component === undefined) return;
    this.#failing.delete(endpoint);
    this.#options.health.clear(component);
  }
}

/** Why a running listener goes, as its log line says. */
function closeReason(running: Running, config: Config): string {
  const endpoint = config.endpoints.get(running.listener.endpoint);
  if (!endpoint) return "endpoint removed";
  if (!endpoint.listen) return "its listen was removed";
  if (endpoint.protocol !== running.family) return `endpoint is now ${endpoint.protocol}`;
  return `listen is now '${endpoint.listen}'`;
}
