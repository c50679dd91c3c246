/**
 * The session's prepared statements and portals as the gateway knows them. SQL `PREPARE` and the
 * protocol's Parse share one namespace on the server, so a Bind or `EXECUTE` may only name a
 * statement the gateway saw defined in this session, and an Execute only a portal it saw bound;
 * anything else is refused, because the gateway cannot say what it runs.
 *
 * The model only ever errs towards forgetting: a definition in a batch the server answered with
 * an error may not exist, so it is dropped (a later Bind to it is refused, never guessed at).
 *
 * @module
 */

import type { StatementFacts } from "./sql_facts.ts";

/** Where a prepared statement came from: its text, for the decisions taken at each Execute. */
export interface PreparedStatement {
  sql: string;
}

/** Prepared statement names the session defined, per batch, until the server confirms them. */
export class PreparedStatements {
  readonly #known = new Map<string, PreparedStatement>();

  /** The statement `name` refers to, or undefined when the gateway did not see it defined. */
  get(name: string): PreparedStatement | undefined {
    return this.#known.get(name);
  }

  /** Records a definition the gateway forwarded (Parse, or SQL `PREPARE`). */
  define(name: string, sql: string): void {
    this.#known.set(name, { sql });
  }

  /** Forgets `name` (Close, `DEALLOCATE name`), or every statement when `name` is null. */
  drop(name: string | null): void {
    if (name === null) this.#known.clear();
    else this.#known.delete(name);
  }

  /**
   * The server answered a batch with an error: definitions in it may not have happened (the
   * server skips everything after an error until Sync), so they are forgotten.
   */
  failed(defined: readonly string[]): void {
    for (const name of defined) this.#known.delete(name);
  }

  /** How many statements are known (tests and metrics). */
  get size(): number {
    return this.#known.size;
  }
}

/** A portal the gateway saw bound: what an Execute of it runs. */
export interface Portal {
  sql: string;
  /** The Bind's parameter values and format codes, for rules that read `sql.params`. */
  params: (Uint8Array | null)[];
  formats: number[];
  /** The batch that bound it: a portal lasts until the end of that batch's transaction. */
  batch: number;
}

/**
 * Portals bound in the session. The server drops them at the end of their transaction (the
 * unnamed one also at the next Bind to it or a simple Query), so the model forgets them when a
 * ReadyForQuery says no transaction is open; errs towards forgetting, like the statements.
 */
export class Portals {
  readonly #known = new Map<string, Portal>();

  /** The portal `name` refers to, or undefined when the gateway did not see it bound. */
  get(name: string): Portal | undefined {
    return this.#known.get(name);
  }

  /** Records a Bind the gateway forwarded. */
  bind(name: string, portal: Portal): void {
    this.#known.set(name, portal);
  }

  /** Forgets `name` (Close, a simple Query replacing the unnamed portal). */
  drop(name: string): void {
    this.#known.delete(name);
  }

  /** The server is idle after batch `batch`: every portal bound up to it has ended. */
  transactionEnded(batch: number): void {
    for (const [name, portal] of this.#known) {
      if (portal.batch <= batch) this.#known.delete(name);
    }
  }

  /** How many portals are known (tests). */
  get size(): number {
    return this.#known.size;
  }
}

/** The SQL statements of one message, as far as prepared statements go. */
type Statements = readonly Pick<StatementFacts, "preparedOps" | "statement">[];

/**
 * The first `EXECUTE` in `statements` naming a statement that is neither known nor defined by a
 * `PREPARE` earlier in the same message, or null.
 *
 * @example
 * ```ts
 * unknownExecute(analysis.statements, prepared); // { name: "p", statement: "EXECUTE p(1)" }
 * ```
 */
export function unknownExecute(
  statements: Statements,
  known: PreparedStatements,
): { name: string; statement: string } | null {
  const defined = new Set<string>();
  for (const s of statements) {
    for (const { op, name } of s.preparedOps) {
      if (name === null) continue;
      if (op === "prepare") defined.add(name);
      else if (op === "execute" && !defined.has(name) && !known.get(name)) {
        return { name, statement: s.statement };
      }
    }
  }
  return null;
}

/**
 * Applies a forwarded message's `PREPARE`s and `DEALLOCATE`s to the model; `define` records a
 * definition (so the batch can forget it on error).
 */
export function trackPrepared(
  statements: Statements,
  known: PreparedStatements,
  define: (name: string, sql: string) => void,
): void {
  for (const s of statements) {
    for (const { op, name } of s.preparedOps) {
      if (op === "prepare" && name !== null) define(name, s.statement);
      else if (op === "deallocate") known.drop(name);
    }
  }
}

/** The agent-facing reason a Bind or EXECUTE of an unknown prepared statement is refused. */
export function notPreparedHere(name: string): string {
  return `prepared statement "${name}" was not prepared through clawpatrol in this session, ` +
    "so what it runs cannot be checked";
}

/** The agent-facing reason an Execute of a portal the gateway did not see bound is refused. */
export function notBoundHere(name: string): string {
  return `portal "${name}" was not bound through clawpatrol in this transaction, ` +
    "so what it runs cannot be checked";
}
