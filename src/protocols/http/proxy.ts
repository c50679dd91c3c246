/**
 * The forward proxy on `gateway.proxy_listen`: authenticates agents, terminates TLS for hosts an
 * endpoint claims (CONNECT), relays or refuses the rest per `defaults.unknown_host`, and proxies
 * absolute-form `http://` requests. Each request is decided on its own by the guard.
 *
 * @module
 */

import tls from "node:tls";
import { acceptTls, type AgentFacts, ServerContexts, TcpListener } from "../../core/mod.ts";
import type { ExchangeFlavor, HostRoute, HttpEndpointRoute, HttpProxyContext } from "./context.ts";
import { exchange } from "./_exchange.ts";
import { CONNECT_ESTABLISHED, reply } from "./_respond.ts";
import { ConnStream, pump, SocketStream } from "./_stream.ts";
import { basicCredentials, hostMatches, parseAbsoluteTarget, parseAuthority } from "./_target.ts";
import { UpstreamPool } from "./_upstream.ts";
import { headerValues, type RequestHead } from "./_wire.ts";
import { readHead } from "./_read_head.ts";

/** Reason given to an agent without valid proxy credentials. */
export const PROXY_AUTH_REQUIRED = "proxy authentication required: NAME:TOKEN of an enrolled agent";

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
      serve: (socket) => proxy.#serveProxyConnection(new SocketStream(socket)),
      onError: (err) => ctx.log("error", `proxy listener: ${(err as Error)?.message ?? err}`),
      connections: ctx.connections,
      // An agent that half-closes after its request (nc -N, HTTP/1.0 tools, a passthrough
      // client) still gets the response; the proxy closes its side when done.
      allowHalfOpen: true,
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
  async #serveProxyConnection(client: SocketStream): Promise<void> {
    try {
      for (;;) {
        const head = await readHead(client, this.#ctx, null);
        if (!head) break;
        const agent = this.#authenticate(head);
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

  #authenticate(head: RequestHead): { agent: AgentFacts; name: string; token: string } | null {
    const creds = basicCredentials(headerValues(head.headers, "proxy-authorization"));
    if (!creds) return null;
    const agent = this.#ctx.authenticate(creds.name, creds.token);
    return agent ? { agent, ...creds } : null;
  }

  async #challenge(client: SocketStream, summary: string): Promise<void> {
    const receipt = this.#ctx.guard.refuse({
      protocol: "https",
      endpoint: null,
      agent: null,
      summary,
      reason: PROXY_AUTH_REQUIRED,
    });
    await reply(client, {
      status: 407,
      error: "proxy_authentication_required",
      reason: PROXY_AUTH_REQUIRED,
      receipt,
      close: true,
      headers: [["Proxy-Authenticate", 'Basic realm="clawpatrol"']],
    });
  }

  async #connect(
    client: SocketStream,
    head: RequestHead,
    auth: { agent: AgentFacts; name: string; token: string } | null,
  ): Promise<void> {
    const target = parseAuthority(head.target, null);
    const summary = `CONNECT ${head.target.slice(0, 200)}`;
    if (!auth) return await this.#challenge(client, summary);
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
    const route = this.#ctx.route(agent, target.host);
    const refused = routeRefusal(route, agent, target.host);
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
    if (route.kind !== "endpoint") return await this.#passthrough(client, agent, target, summary);
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
    auth: { agent: AgentFacts; name: string; token: string },
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
        let origin = head.target;
        const absolute = parseAbsoluteTarget(head.target);
        if (absolute) {
          if (
            absolute.host !== target.host || absolute.port !== target.port ||
            absolute.scheme !== "https"
          ) {
            await this.#gatewayDeny(
              client,
              agent,
              endpoint.name,
              summary,
              400,
              "bad_request",
              "request target does not match the CONNECT target",
              flavor,
            );
            break;
          }
          origin = absolute.target;
        } else if (!head.target.startsWith("/")) {
          await this.#gatewayDeny(
            client,
            agent,
            endpoint.name,
            summary,
            400,
            "bad_request",
            "request target must be a path inside a tunnel",
            flavor,
          );
          break;
        }
        const hosts = headerValues(head.headers, "host");
        if (hosts.length !== 1 || !hostMatches(hosts[0], target, 443)) {
          // RFC 9112 §3.2: exactly one Host; and it must name the tunnel's host, or the
          // upstream could route the request somewhere the rules never looked at.
          await this.#gatewayDeny(
            client,
            agent,
            endpoint.name,
            summary,
            400,
            "bad_request",
            "Host header does not match the CONNECT target",
            flavor,
          );
          break;
        }
        // The config may have been reloaded since the tunnel opened.
        const route = this.#ctx.route(agent, target.host);
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
            target: origin,
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
      await this.#challenge(client, summary);
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
    const route = this.#ctx.route(agent, absolute.host);
    const refused = routeRefusal(route, agent, absolute.host);
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
    if (route.kind === "endpoint") {
      // Cleartext to an https endpoint would carry its traffic (and, once injected, its
      // credentials) unencrypted to the upstream: refuse and point at https.
      await this.#gatewayDeny(
        client,
        agent,
        route.endpoint.name,
        summary,
        400,
        "bad_request",
        `endpoint '${route.endpoint.name}' takes https only: use https://${absolute.host}`,
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

  /** A blind TCP relay to a host no endpoint claims (`unknown_host = "passthrough"`). */
  async #passthrough(
    client: SocketStream,
    agent: AgentFacts,
    target: { host: string; port: number },
    summary: string,
  ): Promise<void> {
    const decided = this.#ctx.guard.pass({
      protocol: "https",
      endpoint: null,
      agent,
      summary: `${summary} (passthrough)`,
      reason: "no endpoint claims this host; defaults.unknown_host = passthrough",
    });
    if (decided.verdict.decision === "deny") {
      await reply(client, {
        status: 403,
        error: "denied",
        reason: decided.verdict.reason,
        rule: null,
        receipt: decided.receipt,
        close: true,
      });
      return;
    }
    let upstream: ConnStream;
    try {
      upstream = new ConnStream(await Deno.connect({ hostname: target.host, port: target.port }));
    } catch {
      const reason = `cannot connect to ${target.host}:${target.port}`;
      decided.finish({ upstreamStatus: 502, bytesIn: 0, bytesOut: 0, error: reason });
      await reply(client, {
        status: 502,
        error: "bad_gateway",
        reason,
        receipt: decided.receipt,
        close: true,
      });
      return;
    }
    try {
      await client.write(CONNECT_ESTABLISHED);
    } catch {
      upstream.destroy();
      decided.finish({ upstreamStatus: null, bytesIn: 0, bytesOut: 0, error: "agent closed" });
      return;
    }
    const [bytesIn, bytesOut] = await Promise.all([pump(client, upstream), pump(upstream, client)]);
    upstream.destroy();
    client.destroy();
    decided.finish({ upstreamStatus: null, bytesIn, bytesOut });
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

/** Why a route refuses the agent (outside its profile, or an unknown host under `deny`), or `null`. */
function routeRefusal(
  route: HostRoute,
  agent: AgentFacts,
  host: string,
): { endpoint: string | null; reason: string } | null {
  if (route.kind === "outside_profile") {
    return {
      endpoint: route.endpoint,
      reason: `endpoint '${route.endpoint}' is not in profile '${agent.profile}'`,
    };
  }
  if (route.kind === "unknown" && route.unknownHost === "deny") {
    return {
      endpoint: null,
      reason: `no endpoint claims host '${host}' (defaults.unknown_host = deny)`,
    };
  }
  return null;
}
