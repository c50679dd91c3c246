/**
 * One agent's Postgres session after login: every message the agent sends is decoded and, for
 * statements, decided before it is forwarded; the server's answers stream back untouched
 * except where a denial stands in for them.
 *
 * A denial never desynchronises the protocol: the gateway sends the upstream a probe (Describe
 * of a statement that does not exist), which fails exactly like the denied statement would have
 * (aborting a transaction block, discarding the rest of an extended-query batch until Sync), and
 * swaps the probe's error for its own. The ReadyForQuery the agent then gets is the upstream's,
 * so it carries the true transaction status.
 *
 * @module
 */

import type { Socket } from "node:net";
import type { PostgresContext } from "./context.ts";
import { type FrontendDecoder, type FrontendMessage, ProtocolError } from "./_frontend.ts";
import { errorResponse } from "./_backend.ts";
import { describeStatement, sync, terminate } from "./_encode.ts";
import { BackendRelay } from "./_relay.ts";
import { Batches } from "./_batches.ts";
import {
  bindParams,
  decideSql,
  type Denial,
  denialMessage,
  type SqlDecision,
  type SqlOutcome,
  type SqlSession,
} from "./_decide.ts";
import { endThenDestroy, joinBytes } from "./_sockets.ts";
import { lastTextMemo, type SqlAnalyzer } from "./sql_facts.ts";
import { serverSettingRefusal } from "./_pinned.ts";
import { notPreparedHere, PreparedStatements, trackPrepared, unknownExecute } from "./_prepared.ts";

/** What the session reports when it ends. */
export interface SessionEnd {
  reason: string;
}

/** Bytes an agent may pipeline behind a held statement before its socket is paused. */
const HOLD_BUFFER_BYTES = 1 << 20;

/** Relays one logged-in session until either side closes. */
export class PostgresSession {
  readonly #agent: Socket;
  readonly #upstream: Socket;
  readonly #decoder: FrontendDecoder;
  readonly #ctx: PostgresContext;
  /** Behind a one-text memo: the prepared checks and the decision read the same message. */
  readonly #analyzer: Pick<SqlAnalyzer, "analyze">;
  readonly #sql: SqlSession;
  readonly #relay: BackendRelay;
  readonly #batches = new Batches();
  /** After a denial inside an extended-query batch: drop messages until Sync. */
  #discarding = false;
  /** The prepared statements the gateway saw defined: a Bind or EXECUTE may name no other. */
  readonly #prepared = new PreparedStatements();
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

  constructor(
    agent: Socket,
    upstream: Socket,
    decoder: FrontendDecoder,
    ctx: PostgresContext,
    analyzer: SqlAnalyzer,
    sql: SqlSession,
  ) {
    this.#agent = agent;
    this.#upstream = upstream;
    this.#decoder = decoder;
    this.#ctx = ctx;
    this.#analyzer = lastTextMemo(analyzer);
    this.#sql = sql;
    this.#done = new Promise((resolve) => this.#resolveDone = resolve);
    this.#relay = new BackendRelay({
      pending: () => this.#batches.answering.replacement,
      replaced: () => this.#batches.answering.replacement = null,
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
        const held = this.#handle(message, out);
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

  /** Applies `outcome` now, or once its approval settles (then to a fresh output list). */
  #whenDecided(
    outcome: SqlOutcome,
    out: Uint8Array[],
    apply: (decision: SqlDecision, out: Uint8Array[]) => void,
  ): Promise<Uint8Array[]> | void {
    if (!("held" in outcome)) return apply(outcome, out);
    return outcome.held.then((decision) => {
      const later: Uint8Array[] = [];
      if (!this.#closed) apply(decision, later);
      else {
        for (const d of decision.decided) {
          d.finish({ upstreamStatus: null, bytesIn: 0, bytesOut: 0, error: "session ended" });
        }
      }
      return later;
    });
  }

  #decide(sql: string, params?: string[] | null): SqlOutcome {
    return decideSql(this.#ctx.guard, this.#analyzer, this.#sql, sql, {
      ...(params === undefined ? {} : { params }),
      signal: this.#gone.signal,
    });
  }

  #handle(m: FrontendMessage, out: Uint8Array[]): Promise<Uint8Array[]> | void {
    if (this.#discarding) {
      if (m.type === "sync") {
        this.#discarding = false;
        out.push(m.raw);
        this.#syncPoint();
      } else if (m.type === "flush") {
        out.push(m.raw); // Lets a client waiting for the error (Flush, not Sync) see it.
      } else if (m.type === "terminate") {
        this.#terminate(out);
      }
      return;
    }
    switch (m.type) {
      case "query": {
        // A simple Query drops the unnamed prepared statement on the server too.
        this.#prepared.drop("");
        const unknown = this.#unknownExecute(m.sql);
        if (unknown) return this.#probe(out, unknown, true);
        return this.#whenDecided(this.#decide(m.sql), out, ({ decided, denial }, o) => {
          if (denial) return this.#probe(o, denial, true);
          this.#batches.building.decided.push(...decided);
          this.#trackPrepared(m.sql);
          o.push(m.raw);
          this.#syncPoint();
        });
      }
      case "parse": {
        const unknown = this.#unknownExecute(m.sql);
        if (unknown) return this.#probe(out, unknown, false);
        if (this.#ctx.readsParams(this.#sql.endpoint)) {
          // Rules read Bind parameters: the statement is decided at Bind. Parse runs nothing.
          this.#defined(m.name, m.sql);
          out.push(m.raw);
          return;
        }
        return this.#whenDecided(this.#decide(m.sql), out, ({ decided, denial }, o) => {
          if (denial) return this.#probe(o, denial, false);
          this.#batches.building.decided.push(...decided);
          this.#defined(m.name, m.sql);
          o.push(m.raw);
        });
      }
      case "bind": {
        const prepared = this.#prepared.get(m.statement);
        if (prepared === undefined) {
          // Prepared out of the gateway's sight (or never): what it runs is unknown.
          const reason = notPreparedHere(m.statement);
          const receipt = this.#refuse(`Bind to statement "${m.statement}"`, reason);
          return this.#probe(out, { reason, rule: null, receipt }, false);
        }
        if (this.#ctx.readsParams(this.#sql.endpoint)) {
          const sql = prepared.sql;
          const params = bindParams(m.params, m.paramFormats);
          return this.#whenDecided(this.#decide(sql, params), out, ({ decided, denial }, o) => {
            if (denial) return this.#probe(o, denial, false);
            this.#batches.building.decided.push(...decided);
            o.push(m.raw);
          });
        }
        out.push(m.raw);
        return;
      }
      case "close":
        if (m.target === "S") this.#prepared.drop(m.name);
        out.push(m.raw);
        return;
      case "sync":
        out.push(m.raw);
        this.#syncPoint();
        return;
      case "function_call": {
        // The fast-path function interface runs a function by OID: no SQL to decide.
        const reason = "the function call protocol is not allowed through clawpatrol";
        const receipt = this.#refuse(`FunctionCall oid ${m.oid}`, reason);
        this.#probe(out, { reason, rule: null, receipt }, true);
        return;
      }
      case "terminate":
        this.#terminate(out);
        return;
      case "password":
        throw new ProtocolError("unexpected password message after login", "08P01");
      default:
        // Execute, Describe, Flush and COPY data run nothing that was not decided at Parse
        // (or Query, for COPY): they pass as they are.
        out.push(m.raw);
    }
  }

  #defined(name: string, sql: string): void {
    this.#prepared.define(name, sql);
    this.#batches.building.defined.push(name);
  }

  /** Keeps the prepared statement model in step with an allowed Query's PREPARE/DEALLOCATE. */
  #trackPrepared(sql: string): void {
    const analysis = this.#analyzer.analyze(sql);
    if (analysis.ok) {
      trackPrepared(analysis.statements, this.#prepared, (n, text) => this.#defined(n, text));
    }
  }

  /** A refusal, with its receipt, for an `EXECUTE` of a statement the gateway did not see. */
  #unknownExecute(sql: string): Denial | null {
    const analysis = this.#analyzer.analyze(sql);
    // Unparseable text is decided (and denied) as such.
    const unknown = analysis.ok ? unknownExecute(analysis.statements, this.#prepared) : null;
    if (!unknown) return null;
    const reason = notPreparedHere(unknown.name);
    return { reason, rule: null, receipt: this.#refuse(unknown.statement, reason) };
  }

  /**
   * Fails the upstream the way the denied message would have: a Describe of a statement that
   * cannot exist (the marker), plus Sync for a message that was its own sync point.
   */
  #probe(out: Uint8Array[], denial: Denial, syncNow: boolean): void {
    const marker = `clawpatrol_denied_${crypto.randomUUID().replaceAll("-", "")}`;
    const text = denialMessage(denial);
    this.#batches.building.replacement = {
      marker,
      frame: errorResponse({ severity: "ERROR", code: "42501", ...text }),
    };
    out.push(describeStatement(marker));
    if (syncNow) {
      out.push(sync());
      this.#syncPoint();
    } else {
      this.#discarding = true;
    }
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

  #syncPoint(): void {
    this.#batches.syncPoint();
  }

  #ready(status: "I" | "T" | "E"): void {
    this.#status = status;
    const done = this.#batches.answered();
    if (done?.error) this.#prepared.failed(done.defined);
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
    endThenDestroy(this.#agent, errorResponse({ severity: "FATAL", code, message, detail }));
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
