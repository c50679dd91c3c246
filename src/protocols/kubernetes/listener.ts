/**
 * One TLS listener per `kubernetes` endpoint with `listen`: kubectl points its kubeconfig here,
 * trusting the gateway CA, with its clawpatrol token as bearer token. Every request is
 * authenticated, decided on Kubernetes facts, and forwarded to the API server with the
 * gateway-held credential; refusals are `Status` objects kubectl prints as server errors. Each
 * agent connection has its ledger (`guard.session()`) from the TLS handshake on, closed once
 * when the connection ends, so nothing it allowed is left without an outcome.
 *
 * @module
 */

import type net from "node:net";
import type tls from "node:tls";
import {
  type Admission,
  AGENT_CAP_REASON,
  type AgentFacts,
  type NetListener,
  type SessionActions,
} from "../../core/mod.ts";
import {
  exchange,
  type ExchangeOptions,
  headerValues,
  type HeadScope,
  readHead,
  reply,
  type RequestHead,
  SocketStream,
  UpstreamPool,
} from "../http/mod.ts";
import type { KubernetesContext } from "./context.ts";

/** Agent-facing reason for a request without a valid agent token. */
export const TOKEN_REQUIRED = "a valid clawpatrol agent token is required as the bearer token";

/** Why a connection's ledger closes: the outcome of anything it left open. */
const CONNECTION_ENDED = "agent connection ended";
const CONNECTION_FAILED = "agent connection failed";
const HANDSHAKE_FAILED = "TLS handshake did not complete";
/** What `Guard.finishOpen()` records for exchanges cut short by a stop. */
const GATEWAY_STOPPED = "gateway stopped before the exchange ended";

/**
 * One agent connection, and the agent its latest request authenticated as. It is also what its
 * exchanges run on, so a request allocates no options of its own.
 */
interface Connection extends ExchangeOptions {
  agent: AgentFacts | null;
  /** The bearer token `agent` authenticated with, so the next request's same token skips a hash. */
  token: string | null;
  /**
   * Why the gateway ended it (agent revoked or rotated), `null` while it has not: its failing
   * exchange is no error to log, and its ledger closes with this reason.
   */
  ended: string | null;
}

/** A refusal answered with a Kubernetes `Status`. */
interface KubernetesDenial {
  agent: AgentFacts | null;
  status: number;
  error: string;
  reason: string;
}

/** Accepts kubectl (and any Kubernetes client) for one endpoint. */
export class KubernetesListener {
  readonly endpoint: string;
  readonly #ctx: KubernetesContext;
  readonly #pool: UpstreamPool;
  readonly #scope: HeadScope;
  /** Open agent connections, so those of an agent revoked or rotated since can be closed. */
  readonly #open = new Set<Connection>();
  #tcp!: NetListener;
  /** Set by `close()`: why connections ending now ended (the stop, or a reload's reason). */
  #stopping: string | null = null;

  private constructor(endpoint: string, ctx: KubernetesContext) {
    this.endpoint = endpoint;
    this.#ctx = ctx;
    this.#pool = new UpstreamPool({ net: ctx.net });
    this.#scope = { protocol: "kubernetes", endpoint, shape: "k8s_status" };
  }

  /**
   * Listens on `host:port` for the endpoint named `endpoint`.
   *
   * @example
   * ```ts
   * const listener = await KubernetesListener.listen("k8s", "127.0.0.1", 16443, ctx);
   * await listener.close();
   * ```
   */
  static async listen(
    endpoint: string,
    host: string,
    port: number,
    ctx: KubernetesContext,
  ): Promise<KubernetesListener> {
    const listener = new KubernetesListener(endpoint, ctx);
    listener.#tcp = await ctx.net.listen(host, port, {
      serve: (socket, admission) => listener.#serve(socket, admission),
      onError: (err) => ctx.log("error", `kubernetes listener ${endpoint}: ${err}`),
      connections: ctx.connections,
      allowHalfOpen: true,
      hooks: ctx.listenerHooks?.(endpoint),
    });
    return listener;
  }

  /** The address agents connect to. */
  get address(): { hostname: string; port: number } {
    return this.#tcp.address;
  }

  /**
   * Closes, each with a receipt, every open connection whose agent's credentials no longer hold
   * (`ctx.agentStanding`), watches and exec streams included: called when the agents change.
   */
  endRevokedSessions(): void {
    for (const conn of this.#open) {
      if (conn.agent === null) continue;
      const standing = this.#ctx.agentStanding?.(conn.agent) ?? "active";
      if (standing === "active") continue;
      const reason = standing === "revoked" ? "agent revoked" : "agent token rotated";
      this.#refuse(conn.actions, conn.agent, "session ended", reason);
      this.#ctx.log("info", `kubernetes connection closed: agent ${standing}`, {
        agent: conn.agent.name,
        endpoint: this.endpoint,
      });
      // The ledger closes when the connection's serve returns, after the exchange in flight
      // recorded its own outcome (cut short by this close).
      conn.ended = reason;
      this.#open.delete(conn);
      conn.client.destroy();
      this.#ctx.sessionEnded?.(standing);
    }
  }

  /**
   * Stops accepting, closes every agent connection and waits for their receipts, which say
   * `reason` (a reload removed or moved the endpoint) or that the gateway stopped.
   */
  async close(reason?: string): Promise<void> {
    this.#stopping = reason ?? GATEWAY_STOPPED;
    await this.#tcp.close();
    this.#pool.close();
  }

  /** One agent connection; its ledger is closed here, once, however the connection ends. */
  async #serve(socket: net.Socket, admission: Admission): Promise<void> {
    const actions = this.#ctx.guard.session();
    let ended = CONNECTION_FAILED;
    try {
      const secure = await this.#handshake(socket, actions);
      ended = secure ? await this.#serveRequests(secure, actions, admission) : HANDSHAKE_FAILED;
    } finally {
      actions.close(this.#stopping ?? ended);
    }
  }

  /** The requests of a connection, until it ends; returns why it ended. */
  async #serveRequests(
    secure: tls.TLSSocket,
    actions: SessionActions,
    admission: Admission,
  ): Promise<string> {
    const client = new SocketStream(secure);
    const conn: Connection = {
      client,
      ctx: this.#ctx,
      pool: this.#pool,
      actions,
      agent: null,
      token: null,
      ended: null,
    };
    this.#open.add(conn);
    try {
      for (;;) {
        const head = await readHead(client, conn, null, this.#scope);
        if (!head || conn.ended !== null) break;
        const after = await this.#request(conn, head, admission);
        if (after === "close" || conn.ended !== null) break;
      }
      client.closeWrite();
      return conn.ended ?? CONNECTION_ENDED;
    } catch (err) {
      if (conn.ended === null) {
        this.#ctx.log("error", `kubernetes connection failed: ${err}`, { endpoint: this.endpoint });
      }
      client.destroy();
      return conn.ended ?? CONNECTION_FAILED;
    } finally {
      this.#open.delete(conn);
    }
  }

  /** TLS with a leaf for the address the agent dialled; a failed handshake gets a receipt. */
  async #handshake(socket: net.Socket, actions: SessionActions): Promise<tls.TLSSocket | null> {
    const host = (socket.localAddress ?? "127.0.0.1").replace(/^::ffff:/, "");
    let context: tls.SecureContext;
    try {
      context = this.#ctx.net.secureContext(await this.#ctx.leaf(host));
    } catch (err) {
      this.#ctx.log("error", `cannot mint a certificate for ${host}: ${err}`);
      this.#refuse(actions, null, "TLS handshake", "the gateway could not set up TLS");
      socket.destroy();
      return null;
    }
    const accepted = await this.#ctx.net.acceptTls(
      socket,
      context,
      this.#ctx.limits().headerTimeoutMs,
    );
    // Garbage instead of a ClientHello, or a client that never finishes: no channel is left to
    // answer on, so the receipt is the only trace.
    if (accepted.kind === "failed") {
      this.#refuse(actions, null, "TLS handshake", accepted.reason);
    }
    return accepted.kind === "secure" ? accepted.socket : null;
  }

  async #request(
    conn: Connection,
    head: RequestHead,
    admission: Admission,
  ): Promise<"keep" | "close"> {
    const agent = this.#authenticate(conn, head);
    if (!agent) {
      return await this.#deny(conn, head, {
        agent: null,
        status: 401,
        error: "unauthorized",
        reason: TOKEN_REQUIRED,
      });
    }
    if (!admission.authenticated(agent.name)) {
      return await this.#deny(conn, head, {
        agent,
        status: 503,
        error: "unavailable",
        reason: AGENT_CAP_REASON,
      });
    }
    if (!head.target.startsWith("/")) {
      return await this.#deny(conn, head, {
        agent,
        status: 400,
        error: "bad_request",
        reason: "request target must be a path",
      });
    }
    const route = this.#ctx.route(agent, this.endpoint);
    if (route.kind === "refused") {
      return await this.#deny(conn, head, {
        agent,
        status: 403,
        error: "denied",
        reason: route.reason,
      });
    }
    // The agent's token never reaches the facts, the receipt or the cluster.
    const stripped: RequestHead = {
      ...head,
      headers: head.headers.filter(([name]) =>
        name.length !== 13 || name.toLowerCase() !== "authorization"
      ),
    };
    return await exchange(
      stripped,
      {
        agent,
        scheme: "https",
        host: route.server.host,
        port: route.server.port,
        target: head.target,
        endpoint: route.endpoint,
      },
      conn,
    );
  }

  /** The agent of the request's bearer token, remembered on the connection with the token. */
  #authenticate(conn: Connection, head: RequestHead): AgentFacts | null {
    const values = headerValues(head.headers, "authorization");
    const token = values.length === 1 ? /^bearer +(\S+) *$/i.exec(values[0])?.[1] : undefined;
    const ctx = this.#ctx;
    const agent = token === undefined
      ? null
      : conn.agent !== null && token === conn.token && ctx.reauthenticateToken
      ? ctx.reauthenticateToken(conn.agent, token)
      : ctx.authenticateToken(token);
    conn.agent = agent;
    conn.token = agent ? token! : null;
    return agent;
  }

  /** Records a deny the gateway took itself, on the connection's ledger. */
  #refuse(
    actions: SessionActions,
    agent: AgentFacts | null,
    summary: string,
    reason: string,
  ): string | null {
    return actions.refuse({
      protocol: "kubernetes",
      endpoint: this.endpoint,
      agent,
      summary,
      reason,
    });
  }

  async #deny(conn: Connection, head: RequestHead, denial: KubernetesDenial): Promise<"close"> {
    // Worked out only for a refusal: an allowed request's summary comes from its facts.
    const summary = `${head.method.slice(0, 16)} ${head.target.split("?")[0].slice(0, 200)}`;
    const { agent, status, error, reason } = denial;
    const receipt = this.#refuse(conn.actions, agent, summary, reason);
    // The request body (if any) was not read: the connection cannot carry another request.
    await reply(conn.client, {
      status,
      error,
      reason,
      ...(status === 403 ? { rule: null } : {}),
      receipt,
      close: true,
      shape: "k8s_status",
    });
    return "close";
  }
}
