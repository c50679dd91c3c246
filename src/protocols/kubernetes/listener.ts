/**
 * One TLS listener per `kubernetes` endpoint with `listen`: kubectl points its kubeconfig here,
 * trusting the gateway CA, with its clawpatrol token as bearer token. Every request is
 * authenticated, decided on Kubernetes facts, and forwarded to the API server with the
 * gateway-held credential; refusals are `Status` objects kubectl prints as server errors.
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

/**
 * One agent connection, and the agent its latest request authenticated as. It is also what its
 * exchanges run on, so a request allocates no options of its own.
 */
interface Connection extends ExchangeOptions {
  agent: AgentFacts | null;
  /** Ended by the gateway (agent revoked): its failing exchange is no error to log. */
  ended: boolean;
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
  readonly #pool = new UpstreamPool();
  readonly #scope: HeadScope;
  /** Open agent connections, so those of an agent revoked or rotated since can be closed. */
  readonly #open = new Set<Connection>();
  #tcp!: NetListener;

  private constructor(endpoint: string, ctx: KubernetesContext) {
    this.endpoint = endpoint;
    this.#ctx = ctx;
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
      this.#refuse(conn.agent, "session ended", reason);
      this.#ctx.log("info", `kubernetes connection closed: agent ${standing}`, {
        agent: conn.agent.name,
        endpoint: this.endpoint,
      });
      conn.ended = true;
      this.#open.delete(conn);
      conn.client.destroy();
      this.#ctx.sessionEnded?.(standing);
    }
  }

  /** Stops accepting, closes every agent connection and waits for their receipts. */
  async close(): Promise<void> {
    await this.#tcp.close();
    this.#pool.close();
  }

  async #serve(socket: net.Socket, admission: Admission): Promise<void> {
    const secure = await this.#handshake(socket);
    if (!secure) return;
    const client = new SocketStream(secure);
    const conn: Connection = {
      client,
      ctx: this.#ctx,
      pool: this.#pool,
      agent: null,
      ended: false,
    };
    this.#open.add(conn);
    try {
      for (;;) {
        const head = await readHead(client, this.#ctx, null, this.#scope);
        if (!head || conn.ended) break;
        const after = await this.#request(conn, head, admission);
        if (after === "close" || conn.ended) break;
      }
      client.closeWrite();
    } catch (err) {
      if (!conn.ended) {
        this.#ctx.log("error", `kubernetes connection failed: ${err}`, { endpoint: this.endpoint });
      }
      client.destroy();
    } finally {
      this.#open.delete(conn);
    }
  }

  /** TLS with a leaf for the address the agent dialled; a failed handshake gets a receipt. */
  async #handshake(socket: net.Socket): Promise<tls.TLSSocket | null> {
    const host = (socket.localAddress ?? "127.0.0.1").replace(/^::ffff:/, "");
    let context: tls.SecureContext;
    try {
      context = this.#ctx.net.secureContext(await this.#ctx.leaf(host));
    } catch (err) {
      this.#ctx.log("error", `cannot mint a certificate for ${host}: ${err}`);
      this.#refuse(null, "TLS handshake", "the gateway could not set up TLS");
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
    if (accepted.kind === "failed") this.#refuse(null, "TLS handshake", accepted.reason);
    return accepted.kind === "secure" ? accepted.socket : null;
  }

  async #request(
    conn: Connection,
    head: RequestHead,
    admission: Admission,
  ): Promise<"keep" | "close"> {
    const client = conn.client;
    const summary = `${head.method.slice(0, 16)} ${head.target.split("?")[0].slice(0, 200)}`;
    const agent = this.#authenticate(head);
    conn.agent = agent;
    if (!agent) {
      return await this.#deny(client, summary, {
        agent: null,
        status: 401,
        error: "unauthorized",
        reason: TOKEN_REQUIRED,
      });
    }
    if (!admission.authenticated(agent.name)) {
      return await this.#deny(client, summary, {
        agent,
        status: 503,
        error: "unavailable",
        reason: AGENT_CAP_REASON,
      });
    }
    if (!head.target.startsWith("/")) {
      return await this.#deny(client, summary, {
        agent,
        status: 400,
        error: "bad_request",
        reason: "request target must be a path",
      });
    }
    const route = this.#ctx.route(agent, this.endpoint);
    if (route.kind === "refused") {
      return await this.#deny(client, summary, {
        agent,
        status: 403,
        error: "denied",
        reason: route.reason,
      });
    }
    // The agent's token never reaches the facts, the receipt or the cluster.
    const stripped: RequestHead = {
      ...head,
      headers: head.headers.filter(([name]) => name.toLowerCase() !== "authorization"),
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

  #authenticate(head: RequestHead): AgentFacts | null {
    const values = headerValues(head.headers, "authorization");
    if (values.length !== 1) return null;
    const match = /^bearer +(\S+) *$/i.exec(values[0]);
    return match ? this.#ctx.authenticateToken(match[1]) : null;
  }

  #refuse(agent: AgentFacts | null, summary: string, reason: string): string | null {
    return this.#ctx.guard.refuse({
      protocol: "kubernetes",
      endpoint: this.endpoint,
      agent,
      summary,
      reason,
    });
  }

  async #deny(client: SocketStream, summary: string, denial: KubernetesDenial): Promise<"close"> {
    const { agent, status, error, reason } = denial;
    const receipt = this.#refuse(agent, summary, reason);
    // The request body (if any) was not read: the connection cannot carry another request.
    await reply(client, {
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
