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

import tls from "node:tls";
import {
  type Admission,
  AGENT_CAP_REASON,
  type AgentFacts,
  type NetListener,
} from "../../core/mod.ts";
import type { ExchangeFlavor, HttpEndpointRoute, HttpProxyContext } from "./context.ts";
import { exchange, type ExchangeOptions, type RequestTarget } from "./_exchange.ts";
import { passthrough } from "./_passthrough.ts";
import { authenticate, challenge, type ProxyAuth } from "./_proxy_auth.ts";
import { CONNECT_ESTABLISHED, reply } from "./_respond.ts";
import { cleartextRefusal, routeRefusal } from "./_route_refusal.ts";
import { SocketStream } from "./_stream.ts";
import { type Authority, parseAuthority, proxyTarget, tunnelOrigin } from "./_target.ts";
import { UpstreamPool } from "./_upstream.ts";
import { headerValues, type RequestHead } from "./_wire.ts";
import { readHead } from "./_read_head.ts";
import { type OpenTunnel, OpenTunnels } from "./_open_tunnels.ts";

/** Why a request inside a tunnel is refused, and the agent it is recorded against. */
interface TunnelRefusal {
  agent: AgentFacts;
  status: 400 | 403;
  error: "bad_request" | "denied";
  reason: string;
}

/** Where a terminated tunnel leads, and the credentials it was opened with. */
interface TunnelTarget {
  auth: ProxyAuth;
  target: Authority;
  endpoint: HttpEndpointRoute;
}

/** A deny the gateway decides without rules, and how it is answered. */
interface GatewayDenial {
  agent: AgentFacts | null;
  /** The endpoint the receipt is recorded against, `null` when none claims the host. */
  endpoint: string | null;
  status: number;
  error: string;
  reason: string;
  /** The endpoint's protocol over HTTP, which sets the receipt's protocol and the reply shape. */
  flavor?: ExchangeFlavor;
}

/** Why a connection's ledger closes: the outcome of anything it left open. */
const CONNECTION_ENDED = "agent connection ended";
const CONNECTION_FAILED = "agent connection failed";
const TUNNEL_FAILED = "tunnel failed";
/** What `Guard.finishOpen()` records for exchanges cut short by a stop. */
const GATEWAY_STOPPED = "gateway stopped before the exchange ended";

/** One agent connection to the proxy: what its exchanges (and its tunnel's) run on. */
interface ProxyConnection extends ExchangeOptions {
  /** Why it ended, what its ledger closes with: the agent leaving unless something failed. */
  ended: string;
}

/** The running forward proxy. */
export class HttpProxy {
  readonly #ctx: HttpProxyContext;
  readonly #pool: UpstreamPool;
  /** Tunnels open now, by agent, for revocation. */
  readonly #tunnels = new OpenTunnels();
  #tcp!: NetListener;
  /** Set by `close()`: connections ending now were ended by the stop. */
  #stopping = false;

  private constructor(ctx: HttpProxyContext) {
    this.#ctx = ctx;
    this.#pool = new UpstreamPool({ net: ctx.net });
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
      serve: (socket, admission) =>
        proxy.#serveProxyConnection(new SocketStream(socket), admission),
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
   * Requests sent to the proxy itself: CONNECT or absolute-form, each authenticated. The
   * connection's ledger is closed here, once, however the connection ends.
   */
  async #serveProxyConnection(client: SocketStream, admission: Admission): Promise<void> {
    const conn: ProxyConnection = {
      client,
      ctx: this.#ctx,
      pool: this.#pool,
      actions: this.#ctx.guard.session(),
      ended: CONNECTION_ENDED,
    };
    try {
      await this.#proxyRequests(conn, admission);
    } finally {
      conn.actions.close(this.#stopping ? GATEWAY_STOPPED : conn.ended);
    }
  }

  async #proxyRequests(conn: ProxyConnection, admission: Admission): Promise<void> {
    const client = conn.client;
    try {
      for (;;) {
        const head = await readHead(client, conn, null);
        if (!head) break;
        const agent = authenticate(this.#ctx, head);
        if (agent && !admission.authenticated(agent.agent.name)) {
          const summary = `${head.method.slice(0, 16)} ${head.target.split("?")[0].slice(0, 200)}`;
          await this.#gatewayDeny(conn, summary, {
            agent: agent.agent,
            endpoint: null,
            status: 503,
            error: "unavailable",
            reason: AGENT_CAP_REASON,
          });
          break;
        }
        if (head.method === "CONNECT") {
          await this.#connect(conn, head, agent);
          return; // The socket now belongs to the tunnel (or was closed).
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
  }

  async #connect(
    conn: ProxyConnection,
    head: RequestHead,
    auth: ProxyAuth | null,
  ): Promise<void> {
    const { client, actions } = conn;
    const target = parseAuthority(head.target, null);
    const summary = `CONNECT ${head.target.slice(0, 200)}`;
    if (!auth) return await challenge(client, actions, summary);
    const { agent } = auth;
    if (!target) {
      return await this.#gatewayDeny(conn, summary, {
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
      return await this.#gatewayDeny(conn, summary, {
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
      return await this.#gatewayDeny(conn, summary, {
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
    const accepted = await this.#ctx.net.acceptTls(
      socket,
      context,
      this.#ctx.limits().headerTimeoutMs,
    );
    if (accepted.kind === "failed") {
      actions.refuse({
        protocol: "https",
        endpoint: route.endpoint.name,
        agent,
        summary,
        reason: accepted.reason,
      });
    }
    if (accepted.kind !== "secure") return;
    // The tunnel is the same agent connection: it keeps the connection's ledger, which the
    // proxy connection's serve closes once the tunnel is done.
    const secure = new SocketStream(accepted.socket);
    const tunnel: ExchangeOptions = { client: secure, ctx: this.#ctx, pool: this.#pool, actions };
    const open: OpenTunnel = {
      agent,
      client: secure,
      endpoint: route.endpoint,
      actions,
      ended: null,
    };
    this.#tunnels.add(open);
    try {
      const ended = await this.#serveTunnel(tunnel, { auth, target, endpoint: route.endpoint });
      conn.ended = open.ended ?? ended;
    } finally {
      this.#tunnels.delete(open);
    }
  }

  /**
   * Requests inside a terminated tunnel; each is re-authenticated and decided on its own.
   * Returns why the tunnel ended, for the connection's ledger.
   */
  async #serveTunnel(tunnel: ExchangeOptions, to: TunnelTarget): Promise<string> {
    const { auth, target, endpoint } = to;
    const client = tunnel.client;
    const flavor = endpoint.flavor;
    const scope = flavor
      ? { protocol: flavor.protocol, endpoint: endpoint.name, shape: flavor.replyShape }
      : undefined;
    try {
      for (;;) {
        const head = await readHead(client, tunnel, auth.agent, scope);
        if (!head) break;
        const req = this.#recheckTunnel(head, auth, target);
        if ("reason" in req) {
          const { agent, status, error, reason } = req;
          const summary = `${head.method.slice(0, 16)} ${target.host}${
            head.target.split("?")[0].slice(0, 200)
          }`;
          await this.#gatewayDeny(tunnel, summary, {
            agent,
            endpoint: endpoint.name,
            status,
            error,
            reason,
            flavor,
          });
          break;
        }
        const after = await exchange(head, req, tunnel);
        if (after === "close") break;
      }
      client.closeWrite();
      return CONNECTION_ENDED;
    } catch (err) {
      this.#ctx.log("error", `tunnel failed: ${err}`, { agent: auth.name });
      client.destroy();
      return TUNNEL_FAILED;
    }
  }

  /**
   * A request inside a tunnel to `target`, checked against the gateway as it is now: the agent's
   * credentials, the request's origin, and where the host leads. Or why it is refused.
   */
  #recheckTunnel(
    head: RequestHead,
    auth: ProxyAuth,
    target: Authority,
  ): RequestTarget | TunnelRefusal {
    // A revoked or rotated agent loses its open tunnels at the next request.
    const agent = this.#ctx.authenticate(auth.name, auth.token);
    if (!agent) {
      const reason = "agent credentials are no longer valid";
      return { agent: auth.agent, status: 403, error: "denied", reason };
    }
    const checked = tunnelOrigin(head.target, headerValues(head.headers, "host"), target);
    if ("problem" in checked) {
      return { agent, status: 400, error: "bad_request", reason: checked.problem };
    }
    // The config may have been reloaded since the tunnel opened.
    const route = this.#ctx.route(agent, target.host, target.port);
    if (route.kind !== "endpoint") {
      const reason = "this host is no longer reachable for this agent";
      return { agent, status: 403, error: "denied", reason };
    }
    const { host, port } = target;
    return { agent, scheme: "https", host, port, target: checked.origin, endpoint: route.endpoint };
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
      await this.#gatewayDeny(conn, summary, {
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
      await this.#gatewayDeny(conn, summary, { agent, endpoint, status, error, reason });
      return "close";
    }
    const req: RequestTarget = { agent, scheme: "http", host, port, target, endpoint: null };
    return await exchange(head, req, conn);
  }

  /** A deny the gateway decides without rules: receipt on `conn`'s ledger, then the JSON shape. */
  async #gatewayDeny(conn: ExchangeOptions, summary: string, denial: GatewayDenial): Promise<void> {
    const { agent, endpoint, status, error, reason, flavor } = denial;
    const protocol = flavor?.protocol ?? "https";
    const receipt = conn.actions.refuse({ protocol, endpoint, agent, summary, reason });
    await reply(conn.client, {
      status,
      error,
      reason,
      ...(status === 403 ? { rule: null } : {}),
      receipt,
      close: true,
      shape: flavor?.replyShape,
    });
  }
}
