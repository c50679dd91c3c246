/**
 * A terminated tunnel to one endpoint host: TLS with a leaf for the host, then each request inside
 * re-checked against the gateway as it is now and exchanged on its own. A CONNECT opens one on the
 * proxy connection; transparent interception opens one on a connection to a virtual IP, where the
 * TLS server name must agree with the name the address stands for.
 *
 * @module
 */

import type { Socket } from "node:net";
import type tls from "node:tls";
import type { AgentFacts, SessionActions } from "../../core/mod.ts";
import type { ExchangeFlavor, HttpEndpointRoute, HttpProxyContext } from "./context.ts";
import { exchange, type ExchangeOptions, type RequestTarget } from "./_exchange.ts";
import { reply } from "./_respond.ts";
import { SocketStream } from "./_stream.ts";
import { type Authority, tunnelOrigin } from "./_target.ts";
import { headerValues, type RequestHead } from "./_wire.ts";
import { readHead } from "./_read_head.ts";
import type { OpenTunnel, OpenTunnels } from "./_open_tunnels.ts";
import type { UpstreamPool } from "./_upstream.ts";

/** Who a tunnel's requests come from, and whether that still holds at each request. */
export interface TunnelAuth {
  agent: AgentFacts;
  /** The name in logs. */
  name: string;
  /** The agent as the gateway knows it now (its credentials, or its source address), or `null`. */
  recheck(): AgentFacts | null;
}

/** Where a terminated tunnel leads, and who opened it. */
export interface TunnelTarget {
  auth: TunnelAuth;
  target: Authority;
  endpoint: HttpEndpointRoute;
}

/** A deny the gateway decides without rules, and how it is answered. */
export interface GatewayDenial {
  agent: AgentFacts | null;
  /** The endpoint the receipt is recorded against, `null` when none claims the host. */
  endpoint: string | null;
  status: number;
  error: string;
  reason: string;
  /** The endpoint's protocol over HTTP, which sets the receipt's protocol and the reply shape. */
  flavor?: ExchangeFlavor;
}

/** Why a connection's ledger closes when its tunnel ends. */
export const CONNECTION_ENDED = "agent connection ended";
const TUNNEL_FAILED = "tunnel failed";

/** What a tunnel is served with: the proxy's shared pieces. */
export interface TunnelServer {
  ctx: HttpProxyContext;
  pool: UpstreamPool;
  tunnels: OpenTunnels;
}

/** What a tunnel serves and records against: where it leads, its connection's ledger. */
export interface TunnelOpening {
  to: TunnelTarget;
  actions: SessionActions;
  /** What a refusal of the tunnel itself is recorded as (`CONNECT host:port`, `TLS host:port`). */
  summary: string;
  /** The name the client asks for (SNI) must be absent or equal to the target host. */
  sni?: boolean;
}

/**
 * Runs the server side of TLS on `socket` with a leaf for `to.target.host`, then serves the
 * tunnel. `sni` set: the name the client asked for must be absent or equal to the target host.
 * Returns why the connection ended, for its ledger; the ledger itself is the caller's.
 */
export async function serveSecureTunnel(
  server: TunnelServer,
  socket: Socket,
  context: tls.SecureContext,
  opened: TunnelOpening,
): Promise<string> {
  const { to, actions, summary } = opened;
  const { ctx } = server;
  const protocol = to.endpoint.flavor?.protocol ?? "https";
  const accepted = await ctx.net.acceptTls(socket, context, ctx.limits().headerTimeoutMs);
  if (accepted.kind === "failed") {
    const { agent } = to.auth;
    actions.refuse({
      protocol,
      endpoint: to.endpoint.name,
      agent,
      summary,
      reason: accepted.reason,
    });
  }
  if (accepted.kind !== "secure") return CONNECTION_ENDED;
  const secure = new SocketStream(accepted.socket);
  const tunnel: ExchangeOptions = { ctx, pool: server.pool, client: secure, actions };
  // Set on the server side from the ClientHello (absent from the typings).
  const asked = (accepted.socket as { servername?: string | false }).servername;
  if (opened.sni && typeof asked === "string" && asked.toLowerCase() !== to.target.host) {
    await gatewayDeny(tunnel, `TLS ${to.target.host}`, {
      agent: to.auth.agent,
      endpoint: to.endpoint.name,
      status: 421,
      error: "misdirected_request",
      reason: `TLS server name '${
        asked.slice(0, 253)
      }' does not match the address it was sent to, which stands for '${to.target.host}'`,
      flavor: to.endpoint.flavor,
    });
    return CONNECTION_ENDED;
  }
  const open: OpenTunnel = {
    agent: to.auth.agent,
    client: secure,
    endpoint: to.endpoint,
    actions,
    ended: null,
  };
  server.tunnels.add(open);
  try {
    const ended = await serveTunnel(ctx, tunnel, to);
    return open.ended ?? ended;
  } finally {
    server.tunnels.delete(open);
  }
}

/**
 * Requests inside a terminated tunnel; each is re-authenticated and decided on its own.
 * Returns why the tunnel ended, for the connection's ledger.
 */
async function serveTunnel(
  ctx: HttpProxyContext,
  tunnel: ExchangeOptions,
  to: TunnelTarget,
): Promise<string> {
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
      const req = recheckTunnel(ctx, head, to);
      if ("reason" in req) {
        const { agent, status, error, reason } = req;
        const summary = `${head.method.slice(0, 16)} ${target.host}${
          head.target.split("?")[0].slice(0, 200)
        }`;
        await gatewayDeny(tunnel, summary, {
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
    ctx.log("error", `tunnel failed: ${err}`, { agent: auth.name });
    client.destroy();
    return TUNNEL_FAILED;
  }
}

/** Why a request inside a tunnel is refused, and the agent it is recorded against. */
interface TunnelRefusal {
  agent: AgentFacts;
  status: 400 | 403;
  error: "bad_request" | "denied";
  reason: string;
}

/**
 * A request inside a tunnel, checked against the gateway as it is now: the agent's credentials,
 * the request's origin, and where the host leads. Or why it is refused.
 */
function recheckTunnel(
  ctx: Pick<HttpProxyContext, "route">,
  head: RequestHead,
  { auth, target }: TunnelTarget,
): RequestTarget | TunnelRefusal {
  // A revoked or rotated agent loses its open tunnels at the next request.
  const agent = auth.recheck();
  if (!agent) {
    const reason = "agent credentials are no longer valid";
    return { agent: auth.agent, status: 403, error: "denied", reason };
  }
  const checked = tunnelOrigin(head.target, headerValues(head.headers, "host"), target);
  if ("problem" in checked) {
    return { agent, status: 400, error: "bad_request", reason: checked.problem };
  }
  // The config may have been reloaded since the tunnel opened.
  const route = ctx.route(agent, target.host, target.port);
  if (route.kind !== "endpoint") {
    const reason = "this host is no longer reachable for this agent";
    return { agent, status: 403, error: "denied", reason };
  }
  const { host, port } = target;
  return { agent, scheme: "https", host, port, target: checked.origin, endpoint: route.endpoint };
}

/** A deny the gateway decides without rules: receipt on `conn`'s ledger, then the JSON shape. */
export async function gatewayDeny(
  conn: ExchangeOptions,
  summary: string,
  denial: GatewayDenial,
): Promise<void> {
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

/**
 * Refuses an intercepted connection in words the agent can read: TLS with the host's leaf, then
 * the deny as the answer to whatever it sends. A failed handshake leaves only the receipt.
 */
export async function refuseInsideTls(
  server: TunnelServer,
  socket: Socket,
  context: tls.SecureContext,
  refused: { actions: SessionActions; summary: string; denial: GatewayDenial },
): Promise<void> {
  const { ctx } = server;
  const { actions, summary, denial } = refused;
  const accepted = await ctx.net.acceptTls(socket, context, ctx.limits().headerTimeoutMs);
  if (accepted.kind !== "secure") {
    const { agent, endpoint } = denial;
    actions.refuse({ protocol: "https", endpoint, agent, summary, reason: denial.reason });
    return;
  }
  const client = new SocketStream(accepted.socket);
  await gatewayDeny({ ctx, pool: server.pool, client, actions }, summary, denial);
}
