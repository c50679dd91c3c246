/**
 * SQL facts (DESIGN.md §4) from the real PostgreSQL parser (libpg-query, PostgreSQL 18, WASM).
 *
 * The text an agent sends is split into statements by the parser itself, so comments, case,
 * quoting and dollar-quoted bodies cannot hide a verb or a table from the rules. Whatever the
 * parser cannot see (DO bodies, functions, EXECUTE of a prepared plan, COPY ... PROGRAM) is
 * flagged `dynamic` instead of guessed at.
 *
 * @example
 * ```ts
 * import { loadSqlParser, SqlAnalyzer } from "./sql_facts.ts";
 * await loadSqlParser();
 * const r = new SqlAnalyzer().analyze("select 1; drop table users");
 * if (r.ok) console.log(r.statements.map((s) => s.verb)); // ["select", "drop"]
 * ```
 *
 * @module
 */

import { isSqlError, loadPgParser, parsePg } from "./_pg_parser.ts";
import { literalShape } from "./_literal_shape.ts";
import { Lru } from "./_lru.ts";
import type { PreparedOp } from "./_sql_walk.ts";
import { dependsOnConstants, factsOf } from "./_statement_facts.ts";

/** Facts for one statement of a query string. */
export interface StatementFacts {
  /** Lowercase verb of this statement (`select`, `drop`, `set_role`, ...). */
  verb: string;
  /** This statement's verb first, then every verb found nested (CTE DML, EXPLAIN's target...). */
  verbs: string[];
  /** Every relation referenced, fully qualified and every shorter suffix (`public.users`, `users`). */
  tables: string[];
  /** Every function called or named as the object of DDL, qualified and leaf, like tables. */
  functions: string[];
  /** This statement's own text, trimmed, without the trailing `;`. */
  statement: string;
  /** True when the statement can run SQL the parser cannot see. */
  dynamic: boolean;
  /**
   * Settings the statement may change (SET, RESET, `set_config`, the SET of ALTER SYSTEM/ROLE/
   * DATABASE), lowercase; `"*"` when a name is computed at run time, `"all"` for RESET ALL.
   */
  settings: string[];
  /**
   * True only for a plain read: read verbs only, no row locks, no dynamic SQL, no setting
   * changes, and every function, operator and type it uses is a PostgreSQL built-in the catalog
   * marks immutable or stable with no effect outside the query (`_pg_functions.ts`).
   */
  readOnly: boolean;
  /** Facts the analysis could not establish (`sql.tables` for `table_to_xml(name_expr, …)`). */
  unknown: string[];
  /**
   * Why the gateway refuses this statement before any rule, or null: it changes a setting the
   * gateway pins (`_pinned.ts`).
   */
  refusal: string | null;
  /** Functions, operators and types used by a bare name, which the search_path resolves. */
  unqualifiedNames: string[];
  /** Prepared statements it defines, runs or drops, for the session's model of them. */
  preparedOps: readonly PreparedOp[];
}

export type { PreparedOp };

/** The outcome of analysing one query string. Cached results are deeply frozen. */
export type SqlAnalysis =
  | { ok: true; statements: StatementFacts[] }
  | { ok: false; error: string };

let loading: Promise<void> | null = null;
let ready = false;

/**
 * Loads the WASM parser once. Idempotent: concurrent callers share one load, and a failed load
 * may be retried by calling again.
 *
 * @example
 * ```ts
 * await loadSqlParser();
 * sqlParserReady(); // true
 * ```
 */
export function loadSqlParser(): Promise<void> {
  if (loading === null) {
    loading = loadPgParser().then(
      () => {
        ready = true;
      },
      (e: unknown) => {
        loading = null;
        throw e;
      },
    );
  }
  return loading;
}

/**
 * True once {@linkcode loadSqlParser} resolved.
 *
 * @example
 * ```ts
 * if (!sqlParserReady()) await loadSqlParser();
 * ```
 */
export function sqlParserReady(): boolean {
  return ready;
}

const NON_ASCII = /[\u0080-\uffff]/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Options of {@linkcode SqlAnalyzer}. */
export interface SqlAnalyzerOptions {
  /** Distinct query texts kept in the LRU cache (default 2000; 0 disables the cache). */
  cacheEntries?: number;
  /**
   * Distinct single-statement shapes (the text with its constants blanked, see
   * `_literal_shape.ts`) whose facts are kept, so `... where id = 2` reuses the parse of
   * `... where id = 1` (default 2000; 0 disables it).
   */
  shapeEntries?: number;
  /** Texts longer than this many UTF-8 bytes are parsed but not cached (default 64 KiB). */
  maxCachedTextBytes?: number;
}

/**
 * Parses SQL text into per-statement facts, caching results per distinct text (LRU).
 *
 * Never throws for any input: parser errors and internal errors both give `{ ok: false }`.
 * It throws only when called before {@linkcode loadSqlParser} resolved (a programming error).
 *
 * @example
 * ```ts
 * await loadSqlParser();
 * const sql = new SqlAnalyzer({ cacheEntries: 500 });
 * const r = sql.analyze("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d");
 * // r.ok && r.statements[0].verbs → ["select", "delete"]; tables → ["t"]
 * ```
 */
export class SqlAnalyzer {
  readonly #cache: Lru<string, SqlAnalysis>;
  /** Facts of single-statement texts by shape; the statement text is the caller's own. */
  readonly #shapes: Lru<string, StatementFacts>;
  readonly #maxCachedTextBytes: number;
  #hits = 0;
  #shapeHits = 0;
  #misses = 0;

  constructor(options: SqlAnalyzerOptions = {}) {
    const max = options.maxCachedTextBytes ?? 64 * 1024;
    if (!(max >= 0)) throw new RangeError(`maxCachedTextBytes must be >= 0, got ${max}`);
    this.#cache = new Lru(options.cacheEntries ?? 2000);
    this.#shapes = new Lru(options.shapeEntries ?? 2000);
    this.#maxCachedTextBytes = max;
  }

  /**
   * Cache statistics for benches/metrics (a snapshot): `hits` on the exact text, `shapeHits` on
   * a text of the same shape, `misses` parsed.
   */
  get stats(): { hits: number; shapeHits: number; misses: number; size: number } {
    return {
      hits: this.#hits,
      shapeHits: this.#shapeHits,
      misses: this.#misses,
      size: this.#cache.size,
    };
  }

  /**
   * Analyses `sql` (one simple-query string, possibly several statements).
   *
   * @example
   * ```ts
   * new SqlAnalyzer().analyze("selec 1"); // { ok: false, error: 'syntax error at or near "selec"' }
   * ```
   */
  analyze(sql: string): SqlAnalysis {
    if (!ready) throw new Error("SqlAnalyzer.analyze() called before loadSqlParser() resolved");
    const cached = this.#cache.get(sql);
    if (cached !== undefined) {
      this.#hits++;
      return cached;
    }
    const fits = this.#fitsCache(sql);
    // A text without constants is its own shape: the exact cache above already answered for it.
    let shape = fits ? literalShape(sql) : null;
    if (shape === sql) shape = null;
    if (shape !== null) {
      const facts = this.#shapes.get(shape);
      if (facts !== undefined) {
        this.#shapeHits++;
        // Its lists were frozen when it was stored: only the new objects need freezing.
        const statement = Object.freeze({ ...facts, statement: cleanStatement(sql) });
        const statements = Object.freeze([statement]) as StatementFacts[];
        return Object.freeze({ ok: true as const, statements });
      }
    }
    this.#misses++;
    const { analysis, cacheable } = analyzeText(sql);
    if (!cacheable || !fits) return analysis;
    this.#cache.set(sql, analysis);
    // Shapes keep one statement spanning the whole text, so any text of that shape is one
    // statement with that same span (its `;` and comments are where this one's are).
    if (
      shape !== null && analysis.ok && analysis.statements.length === 1 &&
      analysis.statements[0].statement === cleanStatement(sql) &&
      !readsConstants.has(analysis.statements[0])
    ) {
      this.#shapes.set(shape, analysis.statements[0]);
    }
    return analysis;
  }

  #fitsCache(sql: string): boolean {
    const max = this.#maxCachedTextBytes;
    // UTF-8 needs at least one and at most three bytes per UTF-16 code unit.
    if (sql.length > max) return false;
    if (sql.length * 3 <= max) return true;
    return encoder.encode(sql).length <= max;
  }
}

/**
 * `analyzer` with a one-text memo in front: a session reads each message's analysis several
 * times (prepared-statement checks, then the decision), and a text too large for the analyser's
 * own cache would otherwise be parsed each time.
 *
 * @example
 * ```ts
 * const perSession = lastTextMemo(analyzer);
 * perSession.analyze(sql) === perSession.analyze(sql); // true
 * ```
 */
export function lastTextMemo(analyzer: Pick<SqlAnalyzer, "analyze">): Pick<SqlAnalyzer, "analyze"> {
  let lastSql: string | null = null;
  let last: SqlAnalysis | null = null;
  return {
    analyze(sql: string): SqlAnalysis {
      if (last === null || sql !== lastSql) {
        last = analyzer.analyze(sql);
        lastSql = sql;
      }
      return last;
    },
  };
}

function failure(error: string): SqlAnalysis {
  return Object.freeze({ ok: false as const, error });
}

/** Parses and walks; `cacheable` is false for internal errors, which may be transient. */
function analyzeText(sql: string): { analysis: SqlAnalysis; cacheable: boolean } {
  // The parser reads a C string: a NUL would silently truncate what it sees (and Postgres
  // rejects such a Query message), so fail closed instead of analysing a prefix.
  if (sql.includes("\0")) {
    return { analysis: failure("query contains a NUL character"), cacheable: true };
  }
  // libpg-query throws "Query cannot be empty" for "", where Postgres runs zero statements.
  if (sql === "") return { analysis: freezeOk([]), cacheable: true };
  let tree: unknown;
  try {
    tree = parsePg(sql);
  } catch (e) {
    if (isSqlError(e)) return { analysis: failure(e.message), cacheable: true };
    return { analysis: failure(`internal error: ${errorMessage(e)}`), cacheable: false };
  }
  try {
    return { analysis: freezeOk(statementsOf(sql, tree)), cacheable: true };
  } catch (e) {
    // A parse result shaped unlike anything the walk expects: fail closed rather than guess.
    return { analysis: failure(`internal error: ${errorMessage(e)}`), cacheable: false };
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function statementsOf(sql: string, tree: unknown): StatementFacts[] {
  const stmts = (tree as { stmts?: unknown }).stmts ?? [];
  if (!Array.isArray(stmts)) throw new Error("parse result has no statement list");
  // stmt_location/stmt_len are UTF-8 byte offsets; plain ASCII text can be sliced directly.
  const bytes = NON_ASCII.test(sql) ? encoder.encode(sql) : null;
  return stmts.map((raw: unknown): StatementFacts => {
    const r = raw as { stmt?: unknown; stmt_location?: unknown; stmt_len?: unknown };
    if (typeof r.stmt !== "object" || r.stmt === null) throw new Error("statement without node");
    const loc = typeof r.stmt_location === "number" ? r.stmt_location : 0;
    // stmt_len 0 (or absent) means "to the end of the string".
    const len = typeof r.stmt_len === "number" && r.stmt_len > 0 ? r.stmt_len : undefined;
    const end = len === undefined ? undefined : loc + len;
    const text = bytes ? decoder.decode(bytes.subarray(loc, end)) : sql.slice(loc, end);
    const facts = factsOf(r.stmt as Record<string, unknown>);
    const out = { ...facts, statement: cleanStatement(text) };
    if (dependsOnConstants(facts)) readsConstants.add(out);
    return out;
  });
}

/** Facts that depend on the statement's string constants: never reused for another shape. */
const readsConstants = new WeakSet<object>();
function cleanStatement(text: string): string {
  const t = text.trim();
  return t.endsWith(";") ? t.slice(0, -1).trimEnd() : t;
}

function freezeOk(statements: StatementFacts[]): SqlAnalysis {
  for (const s of statements) {
    Object.freeze(s.verbs);
    Object.freeze(s.tables);
    Object.freeze(s.functions);
    Object.freeze(s.settings);
    Object.freeze(s.unknown);
    Object.freeze(s.preparedOps);
    Object.freeze(s.unqualifiedNames);
    Object.freeze(s);
  }
  return Object.freeze({
    ok: true as const,
    statements: Object.freeze(statements) as StatementFacts[],
  });
}
