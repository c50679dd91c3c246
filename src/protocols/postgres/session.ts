/**
 * One agent's Postgres session after login, as a state machine without I/O: the driver (the
 * gateway's `net/`) feeds it the bytes each side sends and the sides it lost, and it answers with
 * commands (send these bytes there, pause, close). Every message the agent sends is decoded and,
 * for statements, decided before it is forwarded; the server's answers stream back untouched
 * except where a denial stands in for them.
 *
 * A denial never desynchronises the protocol: the gateway sends the upstream a probe (Describe
 * of a statement that does not exist), which fails exactly like the denied statement would have
 * (aborting a transaction block, discarding the rest of an extended-query batch until Sync), and
 * swaps the probe's error for its own. The ReadyForQuery the agent then gets is the upstream's,
 * so it carries the true transaction status. What each message becomes is _messages.ts's job;
 * this file routes bytes, holds the queue while a statement waits for approval, and ends the
 * session. Its actions go through a {@linkcode SessionActions} ledger, which completes whatever
 * the session leaves open when the driver closes it.
 *
 * @module
 */

import {
  type AgentFacts,
  joinBytes,
  type Peer,
  type RelaySession,
  type SessionActions,
  type SessionEmit,
} from "../../core/mod.ts";
import type { PostgresContext } from "./context.ts";
import { type FrontendDecoder, ProtocolError } from "./_frontend.ts";
import { errorResponse } from "./_backend.ts";
import { terminate } from "./_encode.ts";
import { BackendRelay } from "./_relay.ts";
import { Batches } from "./_batches.ts";
import { decideSql, type DecideSqlOptions, type SqlOutcome, type SqlSession } from "./_decide.ts";
import { lastTextMemo, type SqlAnalyzer } from "./sql_facts.ts";
import { serverSettingRefusal } from "./_pinned.ts";
import { MessageHandler } from "./_messages.ts";

/** Bytes an agent may pipeline behind a held statement before its socket is paused. */
const HOLD_BUFFER_BYTES = 1 << 20;

/** Options for {@linkcode PostgresSession}: what the login left behind, and the gateway's side. */
export interface PostgresSessionOptions {
  /** The agent's decoder, holding any bytes it pipelined behind its password. */
  decoder: FrontendDecoder;
  analyzer: Pick<SqlAnalyzer, "analyze">;
  /** Who runs SQL where: fixed for the session. */
  sql: SqlSession;
  /** The session's ledger: decisions, refusals, outcomes. */
  actions: SessionActions;
  /** Whether a rule on the endpoint reads `sql.params`; asked per Execute, so reloads apply. */
  readsParams(): boolean;
  log: PostgresContext["log"];
  /** What the agent gets first: AuthenticationOk … ReadyForQuery. */
  greeting: Uint8Array;
  /** Server bytes read past the login. @default {none} */
  pending?: Uint8Array;
  /** The transaction status the login ended in. @default {"I"} */
  status?: "I" | "T" | "E";
}

/** Relays one logged-in session, deciding each statement, until either side closes. */
export class PostgresSession implements RelaySession {
  readonly #options: PostgresSessionOptions;
  readonly #decoder: FrontendDecoder;
  readonly #actions: SessionActions;
  readonly #sql: SqlSession;
  /** Made once: every statement of the session is decided with the same options. */
  readonly #decideOptions: DecideSqlOptions;
  readonly #relay: BackendRelay;
  readonly #batches: Batches;
  readonly #messages: MessageHandler;
  #emit: SessionEmit = () => {};
  #status: "I" | "T" | "E";
  #closed = false;
  /** Set while a message waits for its approval chain. */
  #holding = false;
  /** Aborted when the session ends: cancels a held statement's approval. */
  readonly #gone = new AbortController();

  /**
   * A session for the logged-in agent; nothing happens before the driver calls `start`.
   *
   * @example
   * ```ts
   * const session = new PostgresSession({ decoder, analyzer, sql, actions, readsParams, log, greeting });
   * const { done } = ctx.net.relay(agentSocket, upstreamSocket, session, { actions });
   * ```
   */
  constructor(options: PostgresSessionOptions) {
    this.#options = options;
    this.#decoder = options.decoder;
    this.#actions = options.actions;
    this.#sql = options.sql;
    this.#status = options.status ?? "I";
    const analyzer = lastTextMemo(options.analyzer);
    this.#batches = new Batches(options.actions);
    this.#decideOptions = {
      actions: options.actions,
      analyzer,
      session: options.sql,
      signal: this.#gone.signal,
    };
    this.#messages = new MessageHandler({
      batches: this.#batches,
      analyzer,
      closed: () => this.#closed,
      decide: (sql, params) => this.#decide(sql, params),
      readsParams: () => options.readsParams(),
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
      parameter: (name, value) => this.#parameterChanged(name, value),
    });
  }

  /** The agent the session logged in as. */
  get agent(): AgentFacts {
    return this.#sql.agent;
  }

  /** The transaction status the upstream last reported. */
  get status(): "I" | "T" | "E" {
    return this.#status;
  }

  /** Whether the session has ended. */
  get closed(): boolean {
    return this.#closed;
  }

  start(emit: SessionEmit): void {
    this.#emit = emit;
    this.#send("agent", this.#options.greeting);
    const pending = this.#options.pending;
    if (pending && pending.length > 0) this.#fromUpstream(pending);
    // Bytes the agent pipelined behind its password are already in the decoder.
    this.#fromAgent(new Uint8Array(0));
  }

  received(from: Peer, bytes: Uint8Array): void {
    if (from === "agent") this.#fromAgent(bytes);
    else this.#fromUpstream(bytes);
  }

  lost(peer: Peer, failed: boolean): void {
    if (this.#closed) return;
    if (peer === "agent") {
      if (failed) return this.#close("client connection failed");
      // Work still owed an answer may be a long statement: ask the upstream to cancel it
      // rather than let it run on for a client that is gone.
      if (this.#batches.waiting) this.#emit({ kind: "interrupt" });
      return this.#close("client disconnected");
    }
    if (failed) return this.#close("upstream connection failed");
    this.#fatal("08006", "the connection to the upstream database was lost");
  }

  /**
   * Ends the session because the credentials its agent logged in with no longer hold (revoked,
   * or rotated since), with a receipt. A statement still running upstream is cancelled: nobody
   * may use its result.
   */
  endForAgent(cause: "revoked" | "rotated"): void {
    const reason = cause === "revoked" ? "agent revoked" : "agent token rotated";
    this.#endWith(reason, `clawpatrol: agent credentials were ${cause}`);
  }

  /** Ends the session for a reason of the gateway's (its endpoint removed), with a receipt. */
  endByGateway(reason: string): void {
    this.#endWith(reason, `clawpatrol: ${reason}`);
  }

  #endWith(reason: string, message: string): void {
    if (this.#closed) return;
    const receipt = this.#refuse("session ended", reason);
    if (this.#batches.waiting) this.#emit({ kind: "interrupt" });
    // 57P01 (admin_shutdown): drivers treat it as the server ending the connection.
    this.#fatal("57P01", message, receipt);
  }

  #send(to: Peer, bytes: Uint8Array): void {
    if (bytes.length === 0 || this.#closed) return;
    this.#emit({ kind: "send", to, bytes });
  }

  #fromUpstream(chunk: Uint8Array): void {
    if (this.#closed) return;
    let out: Uint8Array;
    try {
      out = this.#relay.push(chunk);
    } catch (err) {
      const message = `postgres upstream sent a malformed stream: ${(err as Error).message}`;
      this.#options.log("error", message);
      return this.#fatal("08P01", "the upstream database sent a malformed message");
    }
    this.#send("agent", out);
  }

  #fromAgent(chunk: Uint8Array): void {
    if (this.#closed) return;
    if (chunk.length > 0) this.#decoder.push(chunk);
    if (this.#holding) {
      // Messages behind a held one wait in the decoder; past a bound, in the agent's socket.
      if (this.#decoder.buffered > HOLD_BUFFER_BYTES) this.#emit({ kind: "pause", peer: "agent" });
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
          return this.#hold(held);
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
    if (out.length > 0) this.#send("upstream", joinBytes(out));
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
      this.#emit({ kind: "resume", peer: "agent" });
      this.#fromAgent(new Uint8Array(0));
    }).catch((err) => this.#internalError(err));
  }

  #decide(sql: string, params?: string[] | null): SqlOutcome {
    return decideSql(sql, params === undefined ? [] : params, this.#decideOptions);
  }

  /** A gateway decision without rules, with its receipt. */
  #refuse(summary: string, reason: string): string | null {
    return this.#actions.refuse({
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

  /** However it was changed (a function, a server reload), a changed pinned setting ends it. */
  #parameterChanged(name: string, value: string): void {
    const refusal = serverSettingRefusal(name, value, true);
    if (!refusal) return;
    this.#options.log("warn", `postgres session changed ${name} to ${value}: closed`);
    // After the bytes already relayed in this chunk: the error must not split a message.
    queueMicrotask(() =>
      this.#fatal("0A000", refusal, this.#refuse(`server reported ${name}`, refusal))
    );
  }

  #terminate(out: Uint8Array[]): void {
    out.push(terminate());
    this.#flush(out);
    out.length = 0;
    this.#close("client terminated the session", {});
  }

  #protocolError(err: ProtocolError): void {
    this.#fatal(err.code, err.message, this.#refuse("malformed message", err.message));
  }

  #internalError(err: unknown): void {
    this.#options.log("error", `postgres session failed: ${(err as Error)?.stack ?? err}`);
    const receipt = this.#refuse("internal error", "internal gateway error");
    this.#fatal("XX000", "internal gateway error", receipt);
  }

  /** Sends a FATAL error to the agent and ends both connections. */
  #fatal(code: string, message: string, receipt: string | null = null): void {
    if (this.#closed) return;
    const detail = receipt ? `receipt ${receipt}` : undefined;
    // In the middle of a server message an error frame would garble it: then just close.
    const agent = this.#relay.atBoundary
      ? errorResponse({ severity: "FATAL", code, message, detail })
      : undefined;
    this.#close(message, { agent, upstream: terminate() });
  }

  /**
   * Ends the session: with `last` (even empty), each side gets its last bytes and is ended
   * gracefully; without, both are cut. A statement still held for approval is cancelled.
   */
  #close(reason: string, last?: Partial<Record<Peer, Uint8Array>>): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#gone.abort(new Error(reason));
    this.#batches.reset();
    this.#options.log("debug", `postgres session ended: ${reason}`, {
      agent: this.#sql.agent.name,
      endpoint: this.#sql.endpoint,
    });
    this.#emit({ kind: "close", reason, graceful: last !== undefined, last });
  }
}
