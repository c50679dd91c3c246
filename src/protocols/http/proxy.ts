/**
 * The forward proxy on `gateway.proxy_listen`: authenticates agents, terminates TLS for hosts an
 * endpoint claims (CONNECT), relays or refuses the rest per `defaults.unknown_host`, and proxies
 * absolute-form `http://` requests. Each request is decided on its own by the guard.
 *
 * @module
 */

import tls from "node:tls";
import {
  acceptTls,
  type Admission,
  AGENT_CAP_REASON,
  type AgentFacts,
  ServerContexts,
  TcpListener,
} from "../../core/mod.ts";
import type { ExchangeFlavor, HttpEndpointRoute, HttpProxyContext } from "./context.ts";
import { exchange } from "./_exchange.ts";
import { passthrough } from "./_passthrough.ts";
import { authenticate, challenge, type ProxyAuth } from "./_proxy_auth.ts";
import { CONNECT_ESTABLISHED, reply } from "./_respond.ts";
import { routeRefusal } from "./_route_refusal.ts";
import { SocketStream } from "./_stream.ts";
import { hostMatches, parseAbsoluteTarget, parseAuthority, tunnelOrigin } from "./_target.ts";
import { UpstreamPool } from "./_upstream.ts";
import { headerValues, type RequestHead } from "./_wire.ts";
import { readHead } from "./_read_head.ts";

/** The running forward proxy. */
export class HttpProxy {
  readonly #ctx: HttpProxyContext;
  readonly #pool = new UpstreamPool();
  readonly #contexts = new ServerContexts();
  #tcp!: TcpListener;

  private constructor(ctx: HttpProxyContext) {
    this.#ctx = ctx;
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
    proxy.#tcp = await TcpListener.open(host, port, {
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

  /** Stops accepting, closes every agent connection and waits for their receipts. */
  async close(): Promise<void> {
    await this.#tcp.close();
    this.#pool.close();
  }

  /** Requests sent to the proxy itself: CONNECT or absolute-form, each authenticated. */
  async #serveProxyConnection(client: SocketStream, admission: Admission): Promise<void> {
    try {
      for (;;) {
        const head = await readHead(client, this.#ctx, null);
        if (!head) break;
        const agent = authenticate(this.#ctx, head);
        if (agent && !admission.authenticated(agent.agent.name)) {
          const summary = `${head.method.slice(0, 16)} ${head.target.split("?")[0].slice(0, 200)}`;
          await this.#gatewayDeny(
            client,
            agent.agent,
            null,
            summary,
            503,
            "unavailable",
            AGENT_CAP_REASON,
          );
          break;
        }
        if (head.method === "CONNECT") {
          await this.#connect(client, head, agent);
          return; // The socket now belongs to the tunnel (or was closed).
        }
        const after = await this.#absolute(client, head, agent);
        if (after === "close") break;
      }
      client.closeWrite();
    } catch (err) {
      this.#ctx.log("error", `proxy connection failed: ${err}`);
      client.destroy();
    }
  }

  async #connect(
    client: SocketStream,
    head: RequestHead,
    auth: ProxyAuth | null,
  ): Promise<void> {
    const target = parseAuthority(head.target, null);
    const summary = `CONNECT ${head.target.slice(0, 200)}`;
    if (!auth) return await challenge(client, this.#ctx, summary);
    const { agent } = auth;
    if (!target) {
      return await this.#gatewayDeny(
        client,
        agent,
        null,
        summary,
        400,
        "bad_request",
        "CONNECT target must be host:port",
      );
    }
    const route = this.#ctx.route(agent, target.host, target.port);
    const refused = routeRefusal(route, agent, target);
    if (refused) {
      return await this.#gatewayDeny(
        client,
        agent,
        refused.endpoint,
        summary,
        403,
        "denied",
        refused.reason,
      );
    }
    // Refused routes returned above: what is left is an endpoint or an unknown host to relay.
    if (route.kind !== "endpoint") {
      return await passthrough(client, this.#ctx, agent, target, summary);
    }
    let context: tls.SecureContext;
    try {
      context = this.#contexts.for(await this.#ctx.leaf(target.host));
    } catch (err) {
      this.#ctx.log("error", `cannot mint a certificate for ${target.host}: ${err}`);
      return await this.#gatewayDeny(
        client,
        agent,
        route.endpoint.name,
        summary,
        502,
        "bad_gateway",
        "the gateway could not set up TLS for this host",
      );
    }
    try {
      await client.write(CONNECT_ESTABLISHED);
    } catch {
      return;
    }
    const { socket, pending } = client.detach();
    for (const chunk of pending.reverse()) socket.unshift(chunk);
    const accepted = await acceptTls(socket, context, this.#ctx.limits().headerTimeoutMs);
    if (accepted.kind === "failed") {
      this.#ctx.guard.refuse({
        protocol: "https",
        endpoint: route.endpoint.name,
        agent,
        summary,
        reason: accepted.reason,
      });
    }
    if (accepted.kind !== "secure") return;
    await this.#serveTunnel(new SocketStream(accepted.socket), auth, target, route.endpoint);
  }

  /** Requests inside a terminated tunnel; each is re-authenticated and decided on its own. */
  async #serveTunnel(
    client: SocketStream,
    auth: ProxyAuth,
    target: { host: string; port: number },
    endpoint: HttpEndpointRoute,
  ): Promise<void> {
    const flavor = endpoint.flavor;
    const scope = flavor
      ? { protocol: flavor.protocol, endpoint: endpoint.name, shape: flavor.replyShape }
      : undefined;
    try {
      for (;;) {
        const head = await readHead(client, this.#ctx, auth.agent, scope);
        if (!head) break;
        // A revoked or rotated agent loses its open tunnels at the next request.
        const agent = this.#ctx.authenticate(auth.name, auth.token);
        const summary = `${head.method.slice(0, 16)} ${target.host}${
          head.target.split("?")[0].slice(0, 200)
        }`;
        if (!agent) {
          await this.#gatewayDeny(
            client,
            auth.agent,
            endpoint.name,
            summary,
            403,
            "denied",
            "agent credentials are no longer valid",
            flavor,
          );
          break;
        }
        const checked = tunnelOrigin(head.target, headerValues(head.headers, "host"), target);
        if ("problem" in checked) {
          await this.#gatewayDeny(
            client,
            agent,
            endpoint.name,
            summary,
            400,
            "bad_request",
            checked.problem,
            flavor,
          );
          break;
        }
        // The config may have been reloaded since the tunnel opened.
        const route = this.#ctx.route(agent, target.host, target.port);
        if (route.kind !== "endpoint") {
          await this.#gatewayDeny(
            client,
            agent,
            endpoint.name,
            summary,
            403,
            "denied",
            "this host is no longer reachable for this agent",
            flavor,
          );
          break;
        }
        const after = await exchange(
          client,
          head,
          {
            agent,
            scheme: "https",
            host: target.host,
            port: target.port,
            target: checked.origin,
            endpoint: route.endpoint,
          },
          this.#ctx,
          this.#pool,
        );
        if (after === "close") break;
      }
      client.closeWrite();
    } catch (err) {
      this.#ctx.log("error", `tunnel failed: ${err}`, { agent: auth.name });
      client.destroy();
    }
  }

  /** An absolute-form `http://` request to the proxy. */
  async #absolute(
    client: SocketStream,
    head: RequestHead,
    auth: { agent: AgentFacts } | null,
  ): Promise<"keep" | "close"> {
    const absolute = parseAbsoluteTarget(head.target);
    const summary = `${head.method.slice(0, 16)} ${head.target.split("?")[0].slice(0, 200)}`;
    if (!auth) {
      await challenge(client, this.#ctx, summary);
      return "close";
    }
    const { agent } = auth;
    if (!absolute) {
      await this.#gatewayDeny(
        client,
        agent,
        null,
        summary,
        400,
        "bad_request",
        "a proxy request needs an absolute http:// target, or CONNECT",
      );
      return "close";
    }
    if (absolute.scheme !== "http") {
      await this.#gatewayDeny(
        client,
        agent,
        null,
        summary,
        400,
        "bad_request",
        "use CONNECT for https:// targets",
      );
      return "close";
    }
    const hosts = headerValues(head.headers, "host");
    if (
      hosts.length > 1 || (hosts.length === 0 && head.version === "HTTP/1.1") ||
      (hosts.length === 1 && !hostMatches(hosts[0], absolute, 80))
    ) {
      await this.#gatewayDeny(
        client,
        agent,
        null,
        summary,
        400,
        "bad_request",
        "Host header does not match the request target",
      );
      return "close";
    }
    const route = this.#ctx.route(agent, absolute.host, absolute.port);
    // Plain http:// on the default port to a host an endpoint claims is most likely a URL
    // missing its "s": say so (below) rather than that port 80 is not the endpoint's.
    const cleartext = route.kind === "endpoint" ||
      (route.kind === "unclaimed_port" && absolute.port === 80);
    const refused = cleartext ? null : routeRefusal(route, agent, absolute);
    if (refused) {
      await this.#gatewayDeny(
        client,
        agent,
        refused.endpoint,
        summary,
        403,
        "denied",
        refused.reason,
      );
      return "close";
    }
    if (route.kind === "endpoint" || route.kind === "unclaimed_port") {
      // Cleartext to an https endpoint would carry its traffic (and, once injected, its
      // credentials) unencrypted to the upstream: refuse and point at https.
      const name = route.kind === "endpoint" ? route.endpoint.name : route.endpoint;
      await this.#gatewayDeny(
        client,
        agent,
        name,
        summary,
        400,
        "bad_request",
        `endpoint '${name}' takes https only: use https://${absolute.host}`,
      );
      return "close";
    }
    return await exchange(
      client,
      head,
      {
        agent,
        scheme: "http",
        host: absolute.host,
        port: absolute.port,
        target: absolute.target,
        endpoint: null,
      },
      this.#ctx,
      this.#pool,
    );
  }

  /** A deny the gateway decides without rules: receipt, then the JSON shape. */
  async #gatewayDeny(
    client: SocketStream,
    agent: AgentFacts | null,
    endpoint: string | null,
    summary: string,
    status: number,
    error: string,
    reason: string,
    flavor?: ExchangeFlavor,
  ): Promise<void> {
    const protocol = flavor?.protocol ?? "https";
    const receipt = this.#ctx.guard.refuse({ protocol, endpoint, agent, summary, reason });
    await reply(client, {
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
