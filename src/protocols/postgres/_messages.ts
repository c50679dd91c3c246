/**
 * What each agent message becomes on its way upstream, once logged in: statements are decided
 * (each simple Query, each Execute of the extended protocol), everything else is checked against
 * the session's model of its prepared statements and portals, then forwarded. A denial is
 * answered through a probe (see session.ts) and never desynchronises the protocol.
 *
 * Every Execute is an action of its own, decided against the policy in force when it arrives:
 * a statement prepared while a rule allowed it is decided again each time it runs, so a reload
 * that drops the rule stops its next run, and N runs of one Parse leave N receipts. Parse and
 * Bind run nothing the agent asked for and are only checked against the model.
 *
 * @module
 */

import type { FrontendMessage } from "./_frontend.ts";
import { ProtocolError } from "./_frontend.ts";
import { errorResponse } from "./_backend.ts";
import { describeStatement, sync } from "./_encode.ts";
import type { Batch, Batches } from "./_batches.ts";
import {
  bindParams,
  type Denial,
  denialMessage,
  type SqlDecision,
  type SqlOutcome,
} from "./_decide.ts";
import type { SqlAnalyzer } from "./sql_facts.ts";
import {
  notBoundHere,
  notPreparedHere,
  Portals,
  PreparedStatements,
  trackPrepared,
  unknownExecute,
} from "./_prepared.ts";

/** What the handler needs from its session. */
export interface MessageSession {
  readonly batches: Batches;
  readonly analyzer: Pick<SqlAnalyzer, "analyze">;
  /** Whether the session ended: a decision that settles later then forwards nothing. */
  closed(): boolean;
  decide(sql: string, params?: string[] | null): SqlOutcome;
  /** Whether a rule on the endpoint reads `sql.params`; asked per Execute, so reloads apply. */
  readsParams(): boolean;
  /** A gateway decision without rules, with its receipt. */
  refuse(summary: string, reason: string): string | null;
  /** The agent sent Terminate: `out` is flushed and both sides end. */
  terminate(out: Uint8Array[]): void;
}

/** Turns agent messages into bytes for the upstream, deciding statements on the way. */
export class MessageHandler {
  readonly #session: MessageSession;
  /** After a denial inside an extended-query batch: drop messages until Sync. */
  #discarding = false;
  /** The prepared statements the gateway saw defined: a Bind or EXECUTE may name no other. */
  readonly #prepared = new PreparedStatements();
  /** The portals the gateway saw bound: an Execute may name no other. */
  readonly #portals = new Portals();

  constructor(session: MessageSession) {
    this.#session = session;
  }

  /**
   * Handles one message: its bytes (or a probe standing in for them) go to `out`, or, when a
   * rule holds it for approval, to the list the returned promise settles with.
   */
  handle(m: FrontendMessage, out: Uint8Array[]): Promise<Uint8Array[]> | void {
    if (this.#discarding) return this.#discard(m, out);
    switch (m.type) {
      case "query":
        return this.#query(m, out);
      case "parse": {
        const unknown = this.#unknownExecute(m.sql);
        if (unknown) return this.#probe(out, unknown, false);
        this.#defined(m.name, m.sql);
        out.push(m.raw);
        return;
      }
      case "bind":
        return this.#bind(m, out);
      case "execute":
        return this.#execute(m, out);
      case "close":
        if (m.target === "S") this.#prepared.drop(m.name);
        else this.#portals.drop(m.name);
        out.push(m.raw);
        return;
      case "sync":
        out.push(m.raw);
        this.#session.batches.syncPoint();
        return;
      case "function_call": {
        // The fast-path function interface runs a function by OID: no SQL to decide.
        const reason = "the function call protocol is not allowed through clawpatrol";
        const receipt = this.#session.refuse(`FunctionCall oid ${m.oid}`, reason);
        this.#probe(out, { reason, rule: null, receipt }, true);
        return;
      }
      case "terminate":
        this.#session.terminate(out);
        return;
      case "password":
        throw new ProtocolError("unexpected password message after login", "08P01");
      default:
        // Describe, Flush and COPY data run nothing that was not decided at its Execute (or
        // Query, for COPY): they pass as they are.
        out.push(m.raw);
    }
  }

  /** A ReadyForQuery answered `batch`, reporting transaction status `status`. */
  answered(batch: Batch, status: "I" | "T" | "E"): void {
    // An error the gateway's own probe provoked came after everything forwarded before it.
    if (batch.error !== null && !batch.probed) this.#prepared.failed(batch.defined);
    if (status === "I") this.#portals.transactionEnded(batch.seq);
  }

  /** After a denial inside an extended-query batch, messages up to Sync are dropped. */
  #discard(m: FrontendMessage, out: Uint8Array[]): void {
    if (m.type === "sync") {
      this.#discarding = false;
      out.push(m.raw);
      this.#session.batches.syncPoint();
    } else if (m.type === "flush") {
      out.push(m.raw); // Lets a client waiting for the error (Flush, not Sync) see it.
    } else if (m.type === "terminate") {
      this.#session.terminate(out);
    }
  }

  /** A simple Query is decided, and is its own sync point. */
  #query(
    m: Extract<FrontendMessage, { type: "query" }>,
    out: Uint8Array[],
  ): Promise<Uint8Array[]> | void {
    // A simple Query drops the unnamed prepared statement and portal on the server too.
    this.#prepared.drop("");
    this.#portals.drop("");
    const unknown = this.#unknownExecute(m.sql);
    if (unknown) return this.#probe(out, unknown, true);
    return this.#whenDecided(this.#session.decide(m.sql), out, ({ decided, denial }, o) => {
      if (denial) return this.#probe(o, denial, true);
      this.#session.batches.building.decided.push(...decided);
      this.#trackPrepared(m.sql);
      o.push(m.raw);
      this.#session.batches.syncPoint();
    });
  }

  /** A Bind must name a statement the gateway saw prepared: what it runs is known. */
  #bind(m: Extract<FrontendMessage, { type: "bind" }>, out: Uint8Array[]): void {
    const prepared = this.#prepared.get(m.statement);
    if (prepared === undefined) {
      // Prepared out of the gateway's sight (or never): what it runs is unknown.
      const reason = notPreparedHere(m.statement);
      const receipt = this.#session.refuse(`Bind to statement "${m.statement}"`, reason);
      return this.#probe(out, { reason, rule: null, receipt }, false);
    }
    this.#portals.bind(m.portal, {
      sql: prepared.sql,
      params: m.params,
      formats: m.paramFormats,
      batch: this.#session.batches.building.seq,
    });
    out.push(m.raw);
  }

  /** Each Execute is decided on its own, against the policy in force now. */
  #execute(
    m: Extract<FrontendMessage, { type: "execute" }>,
    out: Uint8Array[],
  ): Promise<Uint8Array[]> | void {
    const portal = this.#portals.get(m.portal);
    if (portal === undefined) {
      const reason = notBoundHere(m.portal);
      const receipt = this.#session.refuse(`Execute of portal "${m.portal}"`, reason);
      return this.#probe(out, { reason, rule: null, receipt }, false);
    }
    const params = this.#session.readsParams()
      ? bindParams(portal.params, portal.formats)
      : undefined;
    const outcome = this.#session.decide(portal.sql, params);
    return this.#whenDecided(outcome, out, ({ decided, denial }, o) => {
      if (denial) return this.#probe(o, denial, false);
      this.#session.batches.building.decided.push(...decided);
      this.#trackPrepared(portal.sql);
      o.push(m.raw);
    });
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
      // Settled after the session ended: the ledger completes the allowed actions as not run.
      if (!this.#session.closed()) apply(decision, later);
      return later;
    });
  }

  #defined(name: string, sql: string): void {
    this.#prepared.define(name, sql);
    this.#session.batches.building.defined.push(name);
  }

  /** Keeps the prepared statement model in step with an allowed PREPARE/DEALLOCATE. */
  #trackPrepared(sql: string): void {
    const analysis = this.#session.analyzer.analyze(sql);
    if (analysis.ok) {
      trackPrepared(analysis.statements, this.#prepared, (n, text) => this.#defined(n, text));
    }
  }

  /** A refusal, with its receipt, for an `EXECUTE` of a statement the gateway did not see. */
  #unknownExecute(sql: string): Denial | null {
    const analysis = this.#session.analyzer.analyze(sql);
    // Unparseable text is decided (and denied) as such.
    const unknown = analysis.ok ? unknownExecute(analysis.statements, this.#prepared) : null;
    if (!unknown) return null;
    const reason = notPreparedHere(unknown.name);
    return { reason, rule: null, receipt: this.#session.refuse(unknown.statement, reason) };
  }

  /**
   * Fails the upstream the way the denied message would have: a Describe of a statement that
   * cannot exist (the marker), plus Sync for a message that was its own sync point.
   */
  #probe(out: Uint8Array[], denial: Denial, syncNow: boolean): void {
    const marker = `clawpatrol_denied_${crypto.randomUUID().replaceAll("-", "")}`;
    const text = denialMessage(denial);
    this.#session.batches.building.replacement = {
      marker,
      frame: errorResponse({ severity: "ERROR", code: "42501", ...text }),
    };
    out.push(describeStatement(marker));
    if (syncNow) {
      out.push(sync());
      this.#session.batches.syncPoint();
    } else {
      this.#discarding = true;
    }
  }
}
