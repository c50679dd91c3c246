/**
 * One agent's Postgres session after login: every message the agent sends is decoded and, for
 * statements, decided before it is forwarded; the server's answers stream back untouched
 * except where a denial stands in for them.
 *
 * A denial never desynchronises the protocol: the gateway sends the upstream a probe (Describe
 * of a statement that does not exist), which fails exactly like the denied statement would have
 * (aborting a transaction block, discarding the rest of an extended-query batch until Sync), and
 * swaps the probe's error for its own. The ReadyForQuery the agent then gets is the upstream's,
 * so it carries the true transaction status. What each message becomes is _messages.ts's job;
 * this file relays bytes, holds the queue while a statement waits for approval, and ends the
 * session.
 *
 * @module
 */

import type { Socket } from "node:net";
import { type AgentFacts, joinBytes } from "../../core/mod.ts";
import type { PostgresContext } from "./context.ts";
import { type FrontendDecoder, ProtocolError } from "./_frontend.ts";
import { errorResponse } from "./_backend.ts";
import { terminate } from "./_encode.ts";
import { BackendRelay } from "./_relay.ts";
import { Batches } from "./_batches.ts";
import { decideSql, type DecideSqlOptions, type SqlOutcome, type SqlSession } from "./_decide.ts";
import { endThenDestroy } from "./_sockets.ts";
import { lastTextMemo, type SqlAnalyzer } from "./sql_facts.ts";
import { serverSettingRefusal } from "./_pinned.ts";
import { MessageHandler } from "./_messages.ts";

/** What the session reports when it ends. */
export interface SessionEnd {
  reason: string;
}

/** Bytes an agent may pipeline behind a held statement before its socket is paused. */
const HOLD_BUFFER_BYTES = 1 << 20;

/** Options for {@linkcode PostgresSession}: what the login left behind, and the gateway's side. */
export interface PostgresSessionOptions {
  /** The agent's decoder, holding any bytes it pipelined behind its password. */
  decoder: FrontendDecoder;
  ctx: PostgresContext;
  analyzer: SqlAnalyzer;
  /** Who runs SQL where: fixed for the session. */
  sql: SqlSession;
}

/** Relays one logged-in session until either side closes. */
export class PostgresSession {
  readonly #agent: Socket;
  readonly #upstream: Socket;
  readonly #decoder: FrontendDecoder;
  readonly #ctx: PostgresContext;
  /** Behind a one-text memo: the prepared checks and the decision read the same message. */
  readonly #analyzer: Pick<SqlAnalyzer, "analyze">;
  readonly #sql: SqlSession;
  /** Made once: every statement of the session is decided with the same options. */
  readonly #decideOptions: DecideSqlOptions;
  readonly #relay: BackendRelay;
  readonly #batches = new Batches();
  readonly #messages: MessageHandler;
  #status: "I" | "T" | "E" = "I";
  #closed = false;
  /** Set while a message waits for its approval chain. */
  #holding = false;
  /** Aborted when the session ends: cancels a held statement's approval. */
  readonly #gone = new AbortController();
  readonly #done: Promise<void>;
  #resolveDone!: () => void;
  /** Called once when the session ends (cancel-key bookkeeping). */
  onClose: () => void = () => {};
  /** Called when the agent leaves while a statement may still run upstream. */
  onAbandoned: () => void = () => {};

  /**
   * A session between the logged-in `agent` socket and the `upstream` one; relaying waits for
   * {@linkcode PostgresSession.start}.
   *
   * @example
   * ```ts
   * const session = new PostgresSession(agent, upstream, { decoder, ctx, analyzer, sql });
   * session.start(greeting, pending, "I");
   * await session.done;
   * ```
   */
  constructor(agent: Socket, upstream: Socket, options: PostgresSessionOptions) {
    const { decoder, ctx, analyzer, sql } = options;
    this.#agent = agent;
    this.#upstream = upstream;
    this.#decoder = decoder;
    this.#ctx = ctx;
    this.#analyzer = lastTextMemo(analyzer);
    this.#sql = sql;
    this.#decideOptions = {
      guard: ctx.guard,
      analyzer: this.#analyzer,
      session: sql,
      signal: this.#gone.signal,
    };
    this.#done = new Promise((resolve) => this.#resolveDone = resolve);
    this.#messages = new MessageHandler({
      batches: this.#batches,
      analyzer: this.#analyzer,
      closed: () => this.#closed,
      decide: (sql, params) => this.#decide(sql, params),
      readsParams: () => this.#ctx.readsParams(this.#sql.endpoint),
      refuse: (summary, reason) => this.#refuse(summary, reason),
      terminate: (out) => this.#terminate(out),
    });
    this.#relay = new BackendRelay({
      pending: () => this.#batches.answering.replacement,
      replaced: () => {
        this.#batches.answering.replacement = null;
        this.#batches.answering.probed = true;
      },
      ready: (status) => this.#ready(status),
      error: (code) => this.#batches.answering.error ??= code,
      parameter: (name, value) => {
        // However it was changed (a function, a reload of the server's configuration), the
        // session cannot be judged any more: end it rather than decide SQL read another way.
        const refusal = serverSettingRefusal(name, value, true);
        if (refusal) {
          this.#ctx.log("warn", `postgres session changed ${name} to ${value}: closed`);
          queueMicrotask(() =>
            this.#fatal("0A000", refusal, this.#refuse(`server reported ${name}`, refusal))
          );
        }
      },
    });
  }

  /** Resolves when both sockets are closed. */
  get done(): Promise<void> {
    return this.#done;
  }

  /** The agent the session logged in as. */
  get agent(): AgentFacts {
    return this.#sql.agent;
  }

  /** The transaction status the upstream last reported. */
  get status(): "I" | "T" | "E" {
    return this.#status;
  }

  /**
   * Starts relaying. `greeting` goes to the agent first (AuthenticationOk … ReadyForQuery),
   * `pending` holds server bytes read past the login.
   */
  start(greeting: Uint8Array, pending: Uint8Array, status: "I" | "T" | "E"): void {
    this.#status = status;
    const agent = this.#agent;
    const upstream = this.#upstream;
    agent.on("error", () => this.close("client connection failed"));
    upstream.on("error", () => this.close("upstream connection failed"));
    agent.on("close", () => this.#agentLost());
    upstream.on("close", () => this.#upstreamLost());
    agent.on("end", () => this.#agentLost());
    upstream.on("end", () => this.#upstreamLost());
    agent.on("drain", () => upstream.resume());
    upstream.on("drain", () => agent.resume());
    agent.on("data", (chunk: Uint8Array) => this.#fromAgent(chunk));
    upstream.on("data", (chunk: Uint8Array) => this.#fromUpstream(chunk));
    this.#toAgent(greeting);
    if (pending.length > 0) this.#fromUpstream(pending);
    // Bytes the agent pipelined behind its password are already in the decoder.
    this.#fromAgent(new Uint8Array(0));
    agent.resume();
    upstream.resume();
    // Either side may have gone while the upstream login ran (no listener saw it then).
    if (agent.destroyed || agent.readableEnded) this.#agentLost();
    else if (upstream.destroyed || upstream.readableEnded) this.#upstreamLost();
  }

  #toAgent(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.#closed) return;
    if (!this.#agent.write(bytes)) this.#upstream.pause();
  }

  #toUpstream(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.#closed) return;
    if (!this.#upstream.write(bytes)) this.#agent.pause();
  }

  #fromUpstream(chunk: Uint8Array): void {
    if (this.#closed) return;
    let out: Uint8Array;
    try {
      out = this.#relay.push(chunk);
    } catch (err) {
      this.#ctx.log(
        "error",
        `postgres upstream sent a malformed stream: ${(err as Error).message}`,
      );
      this.#fatal("08P01", "the upstream database sent a malformed message");
      return;
    }
    this.#toAgent(out);
  }

  #fromAgent(chunk: Uint8Array): void {
    if (this.#closed) return;
    if (chunk.length > 0) this.#decoder.push(chunk);
    if (this.#holding) {
      // Messages behind a held one wait in the decoder; past a bound, in the agent's socket.
      if (this.#decoder.buffered > HOLD_BUFFER_BYTES) this.#agent.pause();
      return;
    }
    const out: Uint8Array[] = [];
    try {
      for (;;) {
        const message = this.#decoder.next();
        if (!message) break;
        const held = this.#messages.handle(message, out);
        if (this.#closed) return;
        if (held) {
          this.#flush(out);
          this.#hold(held);
          return;
        }
      }
    } catch (err) {
      this.#flush(out);
      if (err instanceof ProtocolError) this.#protocolError(err);
      else this.#internalError(err);
      return;
    }
    this.#flush(out);
  }

  #flush(out: Uint8Array[]): void {
    if (out.length > 0) this.#toUpstream(joinBytes(out));
  }

  /**
   * A statement is held for approval: the session waits at it (later messages stay queued), then
   * sends what the decision produced and carries on with the queue.
   */
  #hold(held: Promise<Uint8Array[]>): void {
    this.#holding = true;
    held.then((out) => {
      if (this.#closed) return;
      this.#holding = false;
      this.#flush(out);
      this.#agent.resume();
      this.#fromAgent(new Uint8Array(0));
    }).catch((err) => this.#internalError(err));
  }

  #decide(sql: string, params?: string[] | null): SqlOutcome {
    return decideSql(sql, params === undefined ? [] : params, this.#decideOptions);
  }

  /** A gateway decision without rules, with its receipt. */
  #refuse(summary: string, reason: string): string | null {
    return this.#ctx.guard.refuse({
      protocol: "postgres",
      endpoint: this.#sql.endpoint,
      agent: this.#sql.agent,
      summary,
      reason,
    });
  }

  #ready(status: "I" | "T" | "E"): void {
    this.#status = status;
    const done = this.#batches.answered();
    if (done) this.#messages.answered(done, status);
  }

  #terminate(out: Uint8Array[]): void {
    out.push(terminate());
    this.#flush(out);
    out.length = 0;
    endThenDestroy(this.#upstream);
    endThenDestroy(this.#agent);
    this.close("client terminated the session", false);
  }

  #agentLost(): void {
    if (this.#closed) return;
    // Work still owed an answer may be a long statement: ask the upstream to cancel it
    // rather than let it run on for a client that is gone.
    if (this.#batches.waiting) this.onAbandoned();
    this.close("client disconnected");
  }

  /**
   * Ends the session because the credentials its agent logged in with no longer hold (revoked,
   * or rotated since), with a receipt. A statement still running upstream is cancelled: nobody
   * may use its result.
   */
  endForAgent(cause: "revoked" | "rotated"): void {
    if (this.#closed) return;
    const reason = cause === "revoked" ? "agent revoked" : "agent token rotated";
    const receipt = this.#refuse("session ended", reason);
    if (this.#batches.waiting) this.onAbandoned();
    // 57P01 (admin_shutdown): drivers treat it as the server ending the connection.
    this.#fatal("57P01", `clawpatrol: agent credentials were ${cause}`, receipt);
  }

  #protocolError(err: ProtocolError): void {
    this.#fatal(err.code, err.message, this.#refuse("malformed message", err.message));
  }

  #internalError(err: unknown): void {
    this.#ctx.log("error", `postgres session failed: ${(err as Error)?.stack ?? err}`);
    const receipt = this.#refuse("internal error", "internal gateway error");
    this.#fatal("XX000", "internal gateway error", receipt);
  }

  #upstreamLost(): void {
    if (this.#closed) return;
    this.#fatal("08006", "the connection to the upstream database was lost");
  }

  /** Sends a FATAL error to the agent and ends both connections. */
  #fatal(code: string, message: string, receipt: string | null = null): void {
    if (this.#closed) return;
    const detail = receipt ? `receipt ${receipt}` : undefined;
    // In the middle of a server message an error frame would garble it: then just close.
    const last = this.#relay.atBoundary
      ? errorResponse({ severity: "FATAL", code, message, detail })
      : undefined;
    endThenDestroy(this.#agent, last);
    endThenDestroy(this.#upstream, terminate());
    this.close(message, false);
  }

  /**
   * Ends the session: open actions are finished with `reason`; sockets are destroyed unless
   * the caller already ended them gracefully.
   */
  close(reason: string, destroy = true): void {
    if (this.#closed) return;
    this.#closed = true;
    // A statement still held for approval is cancelled: nobody is left to run it for.
    this.#gone.abort(new Error(reason));
    this.#batches.abandon(reason);
    if (destroy) {
      this.#agent.destroy();
      this.#upstream.destroy();
    }
    this.#ctx.log("debug", `postgres session ended: ${reason}`, {
      agent: this.#sql.agent.name,
      endpoint: this.#sql.endpoint,
    });
    this.onClose();
    this.#resolveDone();
  }
}
