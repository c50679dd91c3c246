/**
 * The forward proxy on `gateway.proxy_listen`: authenticates agents, terminates TLS for hosts an
 * endpoint claims (CONNECT), relays or refuses the rest per `defaults.unknown_host`, and proxies
 * absolute-form `http://` requests. Each request is decided on its own by the guard, through its
 * agent connection's ledger (`guard.session()`): one per connection accepted, shared by the
 * tunnel a CONNECT turns it into (the same socket, the same agent), and closed once when the
 * connection ends, so nothing it allowed is left without an outcome.
 *
 * @module
 */

import type { Socket } from "node:net";
import tls from "node:tls";
import {
  type Admission,
  AGENT_CAP_REASON,
  type AgentFacts,
  type InterceptedConnection,
  type NetListener,
  type SessionActions,
} from "../../core/mod.ts";
import type { HttpProxyContext } from "./context.ts";
import { exchange, type ExchangeOptions, type RequestTarget } from "./_exchange.ts";
import { passthrough } from "./_passthrough.ts";
import { authenticate, challenge, type ProxyAuth } from "./_proxy_auth.ts";
import { CONNECT_ESTABLISHED } from "./_respond.ts";
import { cleartextRefusal, routeRefusal } from "./_route_refusal.ts";
import { SocketStream } from "./_stream.ts";
import { parseAuthority, proxyTarget } from "./_target.ts";
import { UpstreamPool } from "./_upstream.ts";
import { headerValues, type RequestHead } from "./_wire.ts";
import { readHead } from "./_read_head.ts";
import { OpenTunnels } from "./_open_tunnels.ts";
import {
  CONNECTION_ENDED,
  gatewayDeny,
  refuseInsideTls,
  serveSecureTunnel,
  type TunnelOpening,
  type TunnelServer,
} from "./_tunnel.ts";

/** Why a connection's ledger closes: the outcome of anything it left open. */
const CONNECTION_FAILED = "agent connection failed";
/** What `Guard.finishOpen()` records for exchanges cut short by a stop. */
const GATEWAY_STOPPED = "gateway stopped before the exchange ended";

/** One agent connection to the proxy: what its exchanges run on. */
interface ProxyConnection extends ExchangeOptions {
  /** Why it ended, what its ledger closes with: the agent leaving unless something failed. */
  ended: string;
}

/** A CONNECT accepted: the agent's socket is to be served as a TLS tunnel with these. */
interface TunnelStart {
  context: tls.SecureContext;
  opened: TunnelOpening;
}

/** The running forward proxy. */
export class HttpProxy {
  readonly #ctx: HttpProxyContext;
  readonly #pool: UpstreamPool;
  /** What tunnels (CONNECT or intercepted) are served with. */
  readonly #tunnelServer: TunnelServer;
  /** Tunnels open now, by agent, for revocation. */
  readonly #tunnels = new OpenTunnels();
  #tcp!: NetListener;
  /** Set by `close()`: connections ending now were ended by the stop. */
  #stopping = false;

  private constructor(ctx: HttpProxyContext) {
    this.#ctx = ctx;
    this.#pool = new UpstreamPool({ net: ctx.net });
    this.#tunnelServer = { ctx, pool: this.#pool, tunnels: this.#tunnels };
  }

  /**
   * Starts listening on `host:port`.
   *
   * @example
   * ```ts
   * const proxy = await HttpProxy.listen("127.0.0.1", 8080, context);
   * // … later
   * await proxy.close();
   * ```
   */
  static async listen(host: string, port: number, ctx: HttpProxyContext): Promise<HttpProxy> {
    const proxy = new HttpProxy(ctx);
    proxy.#tcp = await ctx.net.listen(host, port, {
      serve: (socket, admission) => proxy.#serveProxyConnection(socket, admission),
      onError: (err) => ctx.log("error", `proxy listener: ${(err as Error)?.message ?? err}`),
      connections: ctx.connections,
      // An agent that half-closes after its request (nc -N, HTTP/1.0 tools, a passthrough
      // client) still gets the response; the proxy closes its side when done.
      allowHalfOpen: true,
      hooks: ctx.listenerHooks?.(),
    });
    return proxy;
  }

  /** The address the proxy listens on. */
  get address(): { hostname: string; port: number } {
    return this.#tcp.address;
  }

  /**
   * Ends, each with a receipt, every open tunnel whose agent's credentials no longer hold: a
   * long response (a Kubernetes watch, a stream) does not outlive a revocation. Called when the
   * agents change; plain proxy requests are authenticated one by one anyway.
   */
  endRevokedSessions(): void {
    this.#tunnels.endRevoked(this.#ctx);
  }

  /** Stops accepting, closes every agent connection and waits for their receipts. */
  async close(): Promise<void> {
    this.#stopping = true;
    await this.#tcp.close();
    this.#pool.close();
  }

  /**
   * Serves a connection that reached a virtual IP standing for `conn.host` (transparent
   * interception) as a CONNECT to `host:port` from the agent its source address names: no
   * CONNECT, no proxy credentials, and the TLS server name must agree with the host. Its ledger
   * is closed here, once, however it ends.
   */
  async intercept(conn: InterceptedConnection): Promise<void> {
    const actions = this.#ctx.guard.session();
    let ended = CONNECTION_FAILED;
    try {
      ended = await this.#intercepted(conn, actions);
    } catch (err) {
      this.#ctx.log("error", `intercepted connection failed: ${err}`, { agent: conn.agent.name });
      conn.socket.destroy();
    } finally {
      actions.close(this.#stopping ? GATEWAY_STOPPED : ended);
    }
  }

  async #intercepted(conn: InterceptedConnection, actions: SessionActions): Promise<string> {
    const { socket, host, port, agent } = conn;
    const target = { host, port };
    const summary = `TLS ${host}:${port}`;
    let context: tls.SecureContext;
    try {
      context = this.#ctx.net.secureContext(await this.#ctx.leaf(host));
    } catch (err) {
      this.#ctx.log("error", `cannot mint a certificate for ${host}: ${err}`);
      const reason = "the gateway could not set up TLS for this host";
      actions.refuse({ protocol: "https", endpoint: conn.endpoint, agent, summary, reason });
      socket.destroy();
      return CONNECTION_ENDED;
    }
    const route = this.#ctx.route(agent, host, port);
    if (route.kind !== "endpoint") {
      // Only claimed names have virtual IPs: what is left is a profile or port refusal.
      const refused = routeRefusal(route, agent, target);
      const endpoint = refused?.endpoint ?? conn.endpoint;
      const reason = refused?.reason ?? `no endpoint claims host '${host}'`;
      const denial = { agent, endpoint, status: 403, error: "denied", reason };
      await refuseInsideTls(this.#tunnelServer, socket, context, { actions, summary, denial });
      return CONNECTION_ENDED;
    }
    const auth = { agent, name: agent.name, recheck: conn.still };
    return await serveSecureTunnel(this.#tunnelServer, socket, context, {
      to: { auth, target, endpoint: route.endpoint },
      actions,
      summary,
      sni: true,
    });
  }

  /**
   * Requests sent to the proxy itself: CONNECT or absolute-form, each authenticated. The
   * connection's ledger is closed here, once, however the connection ends.
   *
   * A CONNECT's tunnel is served from here, after the request loop has returned: an idle tunnel
   * then holds neither that loop's frames nor the CONNECT's head and plain stream (2.2 KB of
   * heap per tunnel, measured with 1,000 idle tunnels).
   */
  async #serveProxyConnection(socket: Socket, admission: Admission): Promise<void> {
    const actions = this.#ctx.guard.session();
    let ended = CONNECTION_FAILED;
    try {
      const served = await this.#proxyRequests(socket, actions, admission);
      if (typeof served === "string") ended = served;
      else {
        try {
          const { context, opened } = served;
          ended = await serveSecureTunnel(this.#tunnelServer, socket, context, opened);
        } catch (err) {
          this.#ctx.log("error", `proxy connection failed: ${err}`);
          socket.destroy();
        }
      }
    } finally {
      actions.close(this.#stopping ? GATEWAY_STOPPED : ended);
    }
  }

  /** Serves requests until the connection ends (why, for its ledger) or a CONNECT opens a tunnel. */
  async #proxyRequests(
    socket: Socket,
    actions: SessionActions,
    admission: Admission,
  ): Promise<string | TunnelStart> {
    const client = new SocketStream(socket);
    const conn: ProxyConnection = {
      client,
      ctx: this.#ctx,
      pool: this.#pool,
      actions,
      ended: CONNECTION_ENDED,
    };
    try {
      for (;;) {
        const head = await readHead(client, conn, null);
        if (!head) break;
        const agent = authenticate(this.#ctx, head);
        if (agent && !admission.authenticated(agent.agent.name)) {
          const summary = `${head.method.slice(0, 16)} ${head.target.split("?")[0].slice(0, 200)}`;
          await gatewayDeny(conn, summary, {
            agent: agent.agent,
            endpoint: null,
            status: 503,
            error: "unavailable",
            reason: AGENT_CAP_REASON,
          });
          break;
        }
        if (head.method === "CONNECT") {
          // The socket now belongs to the tunnel (or was closed).
          return await this.#connect(conn, head, agent) ?? conn.ended;
        }
        const after = await this.#absolute(conn, head, agent);
        if (after === "close") break;
      }
      client.closeWrite();
    } catch (err) {
      this.#ctx.log("error", `proxy connection failed: ${err}`);
      conn.ended = CONNECTION_FAILED;
      client.destroy();
    }
    return conn.ended;
  }

  /** A CONNECT: refused here, relayed, or the tunnel for the caller to serve. */
  async #connect(
    conn: ProxyConnection,
    head: RequestHead,
    auth: ProxyAuth | null,
  ): Promise<TunnelStart | void> {
    const { client, actions } = conn;
    const target = parseAuthority(head.target, null);
    const summary = `CONNECT ${head.target.slice(0, 200)}`;
    if (!auth) return await challenge(client, actions, summary);
    const { agent } = auth;
    if (!target) {
      return await gatewayDeny(conn, summary, {
        agent,
        endpoint: null,
        status: 400,
        error: "bad_request",
        reason: "CONNECT target must be host:port",
      });
    }
    const route = this.#ctx.route(agent, target.host, target.port);
    const refused = routeRefusal(route, agent, target);
    if (refused) {
      const { endpoint, reason } = refused;
      return await gatewayDeny(conn, summary, {
        agent,
        endpoint,
        status: 403,
        error: "denied",
        reason,
      });
    }
    // Refused routes returned above: what is left is an endpoint or an unknown host to relay.
    if (route.kind !== "endpoint") {
      return await passthrough(client, target, { actions, agent, summary, net: this.#ctx.net });
    }
    let context: tls.SecureContext;
    try {
      context = this.#ctx.net.secureContext(await this.#ctx.leaf(target.host));
    } catch (err) {
      this.#ctx.log("error", `cannot mint a certificate for ${target.host}: ${err}`);
      return await gatewayDeny(conn, summary, {
        agent,
        endpoint: route.endpoint.name,
        status: 502,
        error: "bad_gateway",
        reason: "the gateway could not set up TLS for this host",
      });
    }
    try {
      await client.write(CONNECT_ESTABLISHED);
    } catch {
      return;
    }
    const { socket, pending } = client.detach();
    for (const chunk of pending.reverse()) socket.unshift(chunk);
    // The tunnel is the same agent connection: it keeps the connection's ledger, which the
    // proxy connection's serve closes once the tunnel is done.
    const name = auth.name;
    const ctx = this.#ctx;
    const recheck = ctx.reauthenticate
      ? () => ctx.reauthenticate!(agent, name, auth.token)
      : () => ctx.authenticate(name, auth.token);
    const tunnelAuth = { agent, name, recheck };
    const to = { auth: tunnelAuth, target, endpoint: route.endpoint };
    return { context, opened: { to, actions, summary } };
  }

  /** An absolute-form `http://` request to the proxy, on the connection `conn`. */
  async #absolute(
    conn: ExchangeOptions,
    head: RequestHead,
    auth: { agent: AgentFacts } | null,
  ): Promise<"keep" | "close"> {
    const client = conn.client;
    const summary = `${head.method.slice(0, 16)} ${head.target.split("?")[0].slice(0, 200)}`;
    if (!auth) {
      await challenge(client, conn.actions, summary);
      return "close";
    }
    const { agent } = auth;
    const checked = proxyTarget(head.target, headerValues(head.headers, "host"), head.version);
    if ("problem" in checked) {
      await gatewayDeny(conn, summary, {
        agent,
        endpoint: null,
        status: 400,
        error: "bad_request",
        reason: checked.problem,
      });
      return "close";
    }
    const { host, port, target } = checked.absolute;
    const route = this.#ctx.route(agent, host, port);
    const refused = cleartextRefusal(route, agent, checked.absolute);
    if (refused) {
      const { endpoint, status, error, reason } = refused;
      await gatewayDeny(conn, summary, { agent, endpoint, status, error, reason });
      return "close";
    }
    const req: RequestTarget = { agent, scheme: "http", host, port, target, endpoint: null };
    return await exchange(head, req, conn);
  }
}
