/**
 * One listener per `postgres` endpoint: runs each agent's startup, logs in upstream with the
 * credential's real password, and hands the pair to a {@linkcode PostgresSession}. Every
 * refusal is a FATAL ErrorResponse the client understands plus a receipt.
 *
 * @module
 */

import type net from "node:net";
import type { Admission, SessionActions } from "../../core/mod.ts";
import { AGENT_CAP_REASON, joinBytes, type NetListener } from "../../core/mod.ts";
import type { PostgresContext } from "./context.ts";
import { FrontendDecoder } from "./_frontend.ts";
import {
  authenticationOk,
  backendKeyData,
  errorResponse,
  parameterStatus,
  readyForQuery,
} from "./_backend.ts";
import { startupDeadline } from "./_reader.ts";
import { type IdentifiedAgent, type StartedSession, startup, StartupRefused } from "./_startup.ts";
import { startupSettings } from "./_settings.ts";
import { probeRefusal, probeSession } from "./_session_probe.ts";
import { terminate } from "./_encode.ts";
import { decideSql, denialMessage, type SqlSession } from "./_decide.ts";
import {
  cancelUpstream,
  connectUpstream,
  UpstreamError,
  type UpstreamSession,
  upstreamSettingRefusal,
  type UpstreamTarget,
  upstreamTarget,
} from "./_upstream.ts";
import { PostgresSession } from "./session.ts";
import type { SqlAnalyzer } from "./sql_facts.ts";
import { CancelKeys } from "./_cancel_keys.ts";
import { refuseLogin, StartupDenied, startupFailed } from "./_login_refusal.ts";

/** Options for {@linkcode PostgresListener.listen}. */
export interface PostgresListenOptions {
  host: string;
  port: number;
  ctx: PostgresContext;
  /** Shared by the gateway's listeners (and its caches with them). */
  analyzer: SqlAnalyzer;
}

/** Accepts agents for one endpoint. */
export class PostgresListener {
  readonly endpoint: string;
  readonly #ctx: PostgresContext;
  readonly #analyzer: SqlAnalyzer;
  readonly #cancelKeys = new CancelKeys();
  /** Logged-in sessions, so those of an agent revoked or rotated since can be ended. */
  readonly #sessions = new Set<PostgresSession>();
  /** When each session's sockets are closed and its receipts completed. */
  readonly #sessionDone = new WeakMap<PostgresSession, Promise<void>>();
  /** `null` for the intercepting listener: the gateway's virtual-IP listeners accept for it. */
  #tcp: NetListener | null = null;

  private constructor(endpoint: string, ctx: PostgresContext, analyzer: SqlAnalyzer) {
    this.endpoint = endpoint;
    this.#ctx = ctx;
    this.#analyzer = analyzer;
  }

  /**
   * Listens on `options.host:options.port` for the endpoint named `endpoint`.
   *
   * @example
   * ```ts
   * const options = { host: "127.0.0.1", port: 15432, ctx, analyzer };
   * const listener = await PostgresListener.listen("pg", options);
   * await listener.close();
   * ```
   */
  static async listen(endpoint: string, options: PostgresListenOptions): Promise<PostgresListener> {
    const { host, port, ctx, analyzer } = options;
    const listener = new PostgresListener(endpoint, ctx, analyzer);
    const tcp = listener.#tcp = await ctx.net.listen(host, port, {
      serve: async (socket, admission) => {
        const session = await listener.#serve(socket, admission);
        if (session) tcp.track(session);
      },
      onError: (err) =>
        ctx.log("error", `postgres listener ${endpoint}: ${(err as Error)?.stack ?? err}`),
      connections: ctx.connections,
      hooks: ctx.listenerHooks?.(endpoint),
      // Over the cap for connections not yet logged in: what a full server answers.
      refusal: errorResponse({ severity: "FATAL", code: "53300", message: "too many connections" }),
    });
    return listener;
  }

  /**
   * A listener for the endpoint's intercepted connections (transparent interception): it listens
   * nowhere; {@linkcode PostgresListener.serveIntercepted} hands it each connection.
   */
  static intercepting(endpoint: string, ctx: PostgresContext, analyzer: SqlAnalyzer) {
    return new PostgresListener(endpoint, ctx, analyzer);
  }

  /** The address agents connect to. */
  get address(): { hostname: string; port: number } {
    if (!this.#tcp) throw new Error("An intercepting listener listens nowhere");
    return this.#tcp.address;
  }

  /**
   * Serves a connection whose source address named `identified.agent` until its session ends:
   * no password is asked, and TLS names `identified.host`.
   */
  async serveIntercepted(socket: net.Socket, identified: IdentifiedAgent): Promise<void> {
    const session = await this.#serve(socket, ADMITTED, identified);
    await session;
  }

  /**
   * Ends, each with a receipt, every open session whose agent's credentials no longer hold
   * (`ctx.agentStanding`): called when the agents change.
   */
  endRevokedSessions(): void {
    for (const session of this.#sessions) this.#recheck(session);
  }

  #recheck(session: PostgresSession): void {
    const standing = this.#ctx.agentStanding?.(session.agent) ?? "active";
    if (standing === "active") return;
    this.#ctx.log("info", `postgres session ended: agent ${standing}`, {
      agent: session.agent.name,
      endpoint: this.endpoint,
    });
    session.endForAgent(standing);
    this.#ctx.sessionEnded?.(standing);
  }

  /**
   * Stops accepting, closes every session and waits for their receipts. With `reason`, each
   * open session first ends with a FATAL 57P01 naming it and a receipt (bounded wait).
   */
  async close(reason?: string): Promise<void> {
    if (reason !== undefined) {
      const ending = [...this.#sessions].map((session) => {
        session.endByGateway(reason);
        return this.#sessionDone.get(session);
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(ending),
        new Promise((resolve) => timer = setTimeout(resolve, CLOSE_GRACE_MS)),
      ]);
      clearTimeout(timer);
    }
    await this.#tcp?.close();
  }

  /** Runs the startup and login; returns the relayed session's end, if one started. */
  async #serve(
    socket: net.Socket,
    admission: Admission,
    identified?: IdentifiedAgent,
  ): Promise<Promise<void> | undefined> {
    // The connection's ledger: its login, its startup settings, then its session's statements.
    const actions = this.#ctx.guard.session();
    const scope = { endpoint: this.endpoint, actions, log: this.#ctx.log };
    const route = this.#ctx.route(this.endpoint);
    const limits = this.#ctx.limits();
    const state = {
      socket,
      decoder: new FrontendDecoder({ maxMessageBytes: limits.maxMessageBytes }),
    };
    if (!route) {
      const reason = "this endpoint is no longer configured";
      return refuseLogin(scope, state.socket, { agent: null, code: "08006", reason });
    }
    const { deadline, cancel } = startupDeadline(limits.startupTimeoutMs);
    let started: StartedSession;
    try {
      const result = await startup(state, route, this.#ctx, deadline, identified);
      if (result.kind === "cancel") {
        socket.destroy();
        return this.#cancel(result.pid, result.secret);
      }
      if (!admission.authenticated(result.agent.name)) {
        throw new StartupRefused("53300", AGENT_CAP_REASON, result.agent, result.login.user);
      }
      started = result;
    } catch (err) {
      cancel();
      return startupFailed(scope, state.socket, err);
    }
    const sql: SqlSession = {
      endpoint: this.endpoint,
      agent: started.agent,
      credential: started.login.credential,
      database: started.login.database,
      user: started.login.user,
    };
    let upstream: UpstreamSession;
    try {
      await this.#decideSettings(started, sql, actions);
      const target = upstreamTarget(route, {
        connectTimeoutMs: limits.connectTimeoutMs,
        net: this.#ctx.net,
      });
      upstream = await Promise.race([
        connectUpstream(target, {
          user: started.login.user,
          password: started.login.password,
          database: started.login.database,
          // Always UTF8, whatever the agent asked for (startup refused anything else): without
          // it the database's own encoding would apply.
          params: [
            ...started.params.filter(([k]) =>
              !k.startsWith("_pq_.") && k.toLowerCase() !== "client_encoding"
            ),
            ["client_encoding", "UTF8"],
          ],
        }),
        deadline,
      ]);
      cancel();
      const unusable = upstreamSettingRefusal(upstream);
      if (unusable) {
        upstream.socket.end(terminate(), () => upstream.socket.destroy());
        throw new StartupRefused("0A000", unusable, started.agent, sql.user);
      }
      await this.#probe(upstream, sql, started, limits.connectTimeoutMs);
      return this.#relay(started, upstream, { target, sql, actions });
    } catch (err) {
      cancel();
      return startupFailed(scope, started.socket, err, { agent: started.agent, user: sql.user });
    }
  }

  /** Startup parameters that set server settings are decided like the SET they amount to. */
  async #decideSettings(
    started: StartedSession,
    sql: SqlSession,
    actions: SessionActions,
  ): Promise<void> {
    const settings = startupSettings(started.params);
    if (settings.refusal) {
      throw new StartupRefused("42501", settings.refusal, started.agent, sql.user);
    }
    const gone = new AbortController();
    const lost = () => gone.abort(new Error("agent went away"));
    started.socket.once("close", lost);
    try {
      for (const statement of settings.statements) {
        await this.#decideSetting(sql, statement, { actions, signal: gone.signal });
      }
    } finally {
      started.socket.off("close", lost);
    }
  }

  async #decideSetting(
    sql: SqlSession,
    statement: string,
    { actions, signal }: { actions: SessionActions; signal: AbortSignal },
  ): Promise<void> {
    const outcome = decideSql(statement, [], {
      actions,
      analyzer: this.#analyzer,
      session: sql,
      summaryPrefix: "startup: ",
      signal,
    });
    const { decided, denial } = "held" in outcome ? await outcome.held : outcome;
    if (denial) throw new StartupDenied(denialMessage(denial));
    // A setting applies at login: its receipt is complete once the login succeeds.
    actions.complete(decided, { upstreamStatus: null, bytesIn: 0, bytesOut: 0 });
  }

  /**
   * Reads the defaults the server does not report (search_path, role) from the upstream before
   * the agent's first message; a session that cannot be judged is refused.
   */
  async #probe(
    upstream: UpstreamSession,
    sql: SqlSession,
    started: StartedSession,
    timeoutMs: number,
  ): Promise<void> {
    let probed;
    try {
      probed = await probeSession(upstream.socket, upstream.pending, timeoutMs);
    } catch (err) {
      upstream.socket.destroy();
      throw new UpstreamError("protocol", (err as Error).message, "08000");
    }
    upstream.pending = probed.pending;
    const refusal = probeRefusal(probed.probe);
    if (refusal) {
      upstream.socket.end(terminate(), () => upstream.socket.destroy());
      throw new StartupRefused("0A000", refusal, started.agent, sql.user);
    }
    sql.shadowing = probed.probe.shadowing;
  }

  #relay(
    started: StartedSession,
    upstream: UpstreamSession,
    opened: OpenedSession,
  ): Promise<void> {
    const { target, sql, actions } = opened;
    const { pid, secret } = this.#cancelKeys.issue(target, upstream.backendKey);
    const parts: Uint8Array[] = [authenticationOk()];
    for (const [name, value] of upstream.parameters) parts.push(parameterStatus(name, value));
    parts.push(...upstream.notices, backendKeyData(pid, secret), readyForQuery(upstream.status));
    const session = new PostgresSession({
      decoder: started.decoder,
      analyzer: this.#analyzer,
      sql,
      actions,
      readsParams: () => this.#ctx.readsParams(sql.endpoint),
      log: this.#ctx.log,
      greeting: joinBytes(parts),
      pending: upstream.pending,
      status: upstream.status,
    });
    this.#ctx.log("info", `postgres session opened`, {
      agent: sql.agent.name,
      endpoint: sql.endpoint,
      user: sql.user,
      database: sql.database,
      tls: started.tls,
    });
    this.#sessions.add(session);
    const { done } = this.#ctx.net.relay(started.socket, upstream.socket, session, {
      actions,
      interrupt: () => {
        if (upstream.backendKey) void cancelUpstream(target, upstream.backendKey);
      },
    });
    const finished = done.then(() => {
      this.#cancelKeys.release(pid);
      this.#sessions.delete(session);
    });
    this.#sessionDone.set(session, finished);
    // Revoked or rotated during the login, before the session could be told.
    this.#recheck(session);
    return finished;
  }

  async #cancel(pid: number, secret: Uint8Array): Promise<void> {
    const forwarded = await this.#cancelKeys.cancel(pid, secret);
    this.#ctx.log(
      forwarded ? "info" : "warn",
      forwarded
        ? "postgres cancel request forwarded"
        : "postgres cancel request with an unknown key ignored",
      { endpoint: this.endpoint },
    );
  }
}

/** Intercepted connections were admitted by the gateway's listener, which knew the agent. */
const ADMITTED: Admission = { authenticated: () => true };

/** How long a closing listener waits for its sessions' goodbyes before it cuts them. */
const CLOSE_GRACE_MS = 2_000;

/** What a logged-in connection's session is relayed with. */
interface OpenedSession {
  target: UpstreamTarget;
  sql: SqlSession;
  actions: SessionActions;
}
