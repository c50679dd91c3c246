/**
 * Differential oracle for the Postgres gateway's reading of SQL: each message the simulated
 * gateway (`SqlAnalyzer`) forwards runs on a real PostgreSQL 15 inside `BEGIN … ROLLBACK`. The
 * server's CommandComplete tags must map in order onto the gateway's statements; the message must
 * not change a pinned setting (search_path, role, standard_conforming_strings, …) unless the
 * gateway could not see it (DO, a user function), nor anything at all in strict read-only mode;
 * the literal-shape cache must agree with a full parse. Failures shrink to a minimal reproduction.
 *
 * @module
 */

import { loadSqlParser, SqlAnalyzer } from "../src/protocols/postgres/sql_facts.ts";
import type { SqlAnalysis, StatementFacts } from "../src/protocols/postgres/sql_facts.ts";
import { literalShape } from "../src/protocols/postgres/_literal_shape.ts";
import { authenticate } from "../src/protocols/postgres/_upstream_login.ts";
import { parseParameterStatus } from "../src/protocols/postgres/_backend.ts";
import { query, startupMessage, Writer } from "../src/protocols/postgres/_encode.ts";
import { RawPg } from "./_pg_raw.ts";
import type { PgCluster } from "./_postgres.ts";
import * as gen from "./_sql_gen.ts";

/** "all": forward whatever is not refused; "readonly": only messages of plain reads. */
export type Mode = "all" | "readonly";

type Analyzer = { analyze(text: string): SqlAnalysis };

/** How the simulated gateway reads and decides a message. */
export interface GatewayModel {
  /** A new analyzer, one per session (its caches then fill as the gateway's do). */
  analyzer(): Analyzer;
  /** Whether the message reaches the server. */
  forwards(analysis: SqlAnalysis, mode: Mode): boolean;
  /** Ends the session when the server reports standard_conforming_strings off or non-UTF8. */
  endsOnLexingChange: boolean;
}

/** The gateway as it is: refusals first, then (strict mode) read-only statements only. */
export const GATEWAY: GatewayModel = {
  analyzer: () => new SqlAnalyzer(),
  forwards: (a, mode) =>
    a.ok && a.statements.every((s) => s.refusal === null && (mode === "all" || s.readOnly)),
  endsOnLexingChange: true,
};

/** A disagreement; `minimal` is the shrunk reproduction (null when not shrunk). */
export interface Failure {
  kind: "statements" | "pinned" | "readonly" | "shape";
  detail: string;
  text: string;
  /** Messages sent before it in the same session (refused ones too: they fill the caches). */
  prefix: string[];
  minimal: { text: string; prefix: string[] } | null;
}

/**
 * Options of {@linkcode runOracle}: stop after `count` messages (default 1000) or `seconds`;
 * `sessions` replaces the generated ones (each on a fresh connection); the first
 * `shrinkPerKind` (default 3) failures of each kind are shrunk; `onProgress` every 2 s.
 */
export interface OracleOptions {
  cluster: PgCluster;
  seed?: number;
  count?: number;
  seconds?: number;
  mode?: Mode;
  sessions?: string[][];
  gateway?: GatewayModel;
  shrinkPerKind?: number;
  onProgress?: (stats: Stats, failures: number, ms: number) => void;
}

const STAT_KEYS = ["texts", "forwarded", "refused", "shapeChecks", "excused", "rebuilds", "lost"];
/**
 * Counters of a run: messages, those forwarded and refused, shape checks that used the cache,
 * pinned changes excused as opaque (DO, user functions), fixture rebuilds, lost connections.
 */
export type Stats = Record<string, number>;

/** What {@linkcode runOracle} saw; `tags` counts the server's tags (counts stripped). */
export type OracleResult = Record<"texts" | "forwarded" | "refused" | "ms", number> & {
  failures: Failure[];
  stats: Stats;
  tags: Record<string, number>;
};

/**
 * CommandComplete tag (counts stripped) → the gateway verbs it may stand for. SELECT also comes
 * from CREATE TABLE AS and materialized views; EXECUTE reports the tag of the statement it runs;
 * COMMIT in a failed transaction reports ROLLBACK, as does ROLLBACK TO SAVEPOINT.
 */
export const TAG_VERBS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  `SELECT: select create execute; INSERT: insert execute; UPDATE: update execute;
  DELETE: delete execute; MERGE: merge execute; BEGIN: begin; START TRANSACTION: begin;
  COMMIT: commit; ROLLBACK: rollback rollback_to commit; SAVEPOINT: savepoint; RELEASE: release;
  PREPARE TRANSACTION: prepare_transaction; COMMIT PREPARED: commit_prepared;
  ROLLBACK PREPARED: rollback_prepared; SET: set set_role set_session_authorization;
  RESET: reset reset_role reset_session_authorization; SET CONSTRAINTS: set; SHOW: show;
  DISCARD: discard; DISCARD ALL: discard; DISCARD PLANS: discard; DISCARD SEQUENCES: discard;
  DISCARD TEMP: discard; PREPARE: prepare; DEALLOCATE: deallocate; DEALLOCATE ALL: deallocate;
  EXPLAIN: explain; DO: do; CALL: call; COPY: copy; LISTEN: listen; UNLISTEN: unlisten;
  NOTIFY: notify; LOCK TABLE: lock; TRUNCATE TABLE: truncate; COMMENT: comment;
  SECURITY LABEL: security_label; GRANT: grant; GRANT ROLE: grant; REVOKE: revoke;
  REVOKE ROLE: revoke; VACUUM: vacuum; ANALYZE: analyze; CLUSTER: cluster; REINDEX: reindex;
  CHECKPOINT: checkpoint; LOAD: load; DECLARE CURSOR: declare; FETCH: fetch; MOVE: move;
  CLOSE CURSOR: close; CLOSE CURSOR ALL: close; REFRESH MATERIALIZED VIEW: refresh;
  REASSIGN OWNED: reassign; IMPORT FOREIGN SCHEMA: import`.split(";")
    .map((entry) => entry.split(":").map((s) => s.trim())).map(([t, v]) => [t, v.split(" ")]),
);

const bareTag = (tag: string) => tag.replace(/^INSERT \d+ \d+$/, "INSERT").replace(/ \d+$/, "");

/** Gateway verbs a CommandComplete tag may stand for; [] for a tag the table does not know. */
export function verbsForTag(tag: string): readonly string[] {
  const t = bareTag(tag);
  const m = /^(CREATE|ALTER|DROP) [A-Z ]+$/.exec(t);
  return TAG_VERBS[t] ?? (m ? [m[1].toLowerCase()] : []);
}

/**
 * Why the server's tags (in order; `error` when a statement failed and ended the message, so the
 * server tried one more statement than it completed) do not match the gateway's statements.
 */
export function statementsMismatch(stmts: StatementFacts[], tags: string[], error: boolean) {
  const saw = stmts.map((s) => s.verb).join(", ") || "nothing";
  const ran = tags.join(", ") || "nothing";
  if (error ? tags.length >= stmts.length : tags.length !== stmts.length) {
    return `server ran [${ran}]${error ? " then failed" : ""}; gateway saw [${saw}]`;
  }
  const i = tags.findIndex((t, i) => !verbsForTag(t).includes(stmts[i].verb));
  return i < 0 ? null : `statement ${i + 1}: server ran ${tags[i]}; gateway saw [${saw}]`;
}

/** Transaction control: the text may have committed its statements, or left a transaction open. */
const TRANSACTION =
  /^(BEGIN|START TRANSACTION|COMMIT|ROLLBACK|PREPARE TRANSACTION|(COMMIT|ROLLBACK) PREPARED)$/;
const COPY_FAIL = new Writer("f").cstring("the oracle sends no COPY data").finish();
const [EPOCH_MESSAGES, SHRINK_TRIES] = [300, 160];
const dec = new TextDecoder();

/** A server's answer to one Query: tags, first error, first column of rows, ParameterStatus. */
type Reply = { tags: string[]; error: string | null; rows: (string | null)[]; params: string[][] };

/** Reads one query's answer up to ReadyForQuery; fails COPY FROM STDIN so it cannot hang. */
async function reply(pg: RawPg): Promise<Reply> {
  const r: Reply = { tags: [], error: null, rows: [], params: [] };
  for (let m = await pg.next(); m.type !== "Z"; m = await pg.next()) {
    const body = m.frame.body;
    if (m.type === "C") r.tags.push(dec.decode(body.subarray(0, -1)));
    if (m.type === "E") r.error ??= `${m.code} ${m.message}`;
    if (m.type === "S") r.params.push(parseParameterStatus(body));
    if (m.type === "G") await pg.send(COPY_FAIL);
    const len = m.type === "D" ? new DataView(body.buffer, body.byteOffset).getInt32(2) : 0;
    if (m.type === "D") r.rows.push(len < 0 ? null : dec.decode(body.subarray(6, 6 + len)));
  }
  return r;
}

async function ask(pg: RawPg, ...texts: string[]): Promise<Reply[]> {
  await pg.send(...texts.map((t) => query(t)));
  const out: Reply[] = [];
  for (const _ of texts) out.push(await reply(pg));
  return out;
}

/** The value a check query returns, or its error. */
const value = (r: Reply) => r.error ? `error: ${r.error}` : String(r.rows[0]);
const one = async (pg: RawPg, sql: string) => value((await ask(pg, sql))[0]);

async function login(port: number, user: string, password: string, database: string) {
  const pg = await RawPg.open(port);
  // Bounded statements: a generated call may be slow, and a lock wait would otherwise hang.
  const bounds: [string, string][] = [["statement_timeout", "5000"], ["lock_timeout", "1000"]];
  await pg.send(startupMessage([["user", user], ["database", database], ...bounds]));
  const read = () => pg.next().then((m) => ({ ...m.frame, type: m.type }));
  const credential = { user, password, database, params: [] };
  await authenticate({ read, send: (b) => void pg.send(b), until: (p) => p }, credential);
  return pg;
}

/**
 * A simulated gateway session: connection, the gateway's analyzer, messages so far, the session
 * state before the next message and at login (which RESET goes back to: the gateway's own).
 */
class Epoch {
  log: string[] = [];
  dead = false;
  constructor(readonly pg: RawPg, readonly gw: Analyzer, public state = "", public login = state) {}
}

/** The gateway cannot see what the statement runs: DO, EXECUTE, a user-defined function. */
const opaque = (catalog: Set<string>, stmts: StatementFacts[]) =>
  stmts.some((s) =>
    s.dynamic || s.unknown.length > 0 ||
    s.functions.some((f) => !catalog.has(f.replace(/^pg_catalog\./, "")))
  );

/**
 * Facts of `text` parsed alone vs from the shape cache primed with a same-shape text (constants
 * from `pick` on): the difference, null when they agree, undefined when the cache was not used.
 */
export function shapeMismatch(text: string, pick: number): string | null | undefined {
  const shape = literalShape(text);
  const alt = shape === null || shape === text ? null : gen.sameShape(shape, pick);
  if (alt === null || literalShape(alt) !== shape) return undefined;
  const ref = new SqlAnalyzer({ cacheEntries: 0, shapeEntries: 0 }).analyze(text);
  const primed = new SqlAnalyzer();
  primed.analyze(alt);
  const got = primed.analyze(text);
  if (!ref.ok || !got.ok || primed.stats.shapeHits === 0) return undefined;
  const view = (s: StatementFacts) =>
    JSON.stringify([s.verbs, s.tables, s.functions, s.settings, s.readOnly, s.refusal, s.dynamic]);
  const [a, b] = [ref.statements.map(view).join(), got.statements.map(view).join()];
  return a === b ? null : `after ${JSON.stringify(alt)}: ${b}; parsed alone: ${a}`;
}

type Options = OracleOptions & { mode: Mode; gateway: GatewayModel };
/** What a message must leave alone: the pinned settings, and in strict mode much more. */
const stateSql = (mode: Mode) => mode === "readonly" ? gen.STATE_SQL : gen.PINNED_SQL;

/** One oracle run: its database and superuser connection, the catalog, counters. */
class Run {
  readonly stats: Stats = Object.fromEntries(STAT_KEYS.map((k) => [k, 0]));
  readonly tags: Record<string, number> = {};
  readonly catalog = new Set<string>();
  signature = "";
  /** The role's password is the database's name: both are random and thrown away together. */
  constructor(readonly opts: Options, readonly admin: RawPg, readonly db: string) {}

  /** Rebuilds the fixture when anything in the database differs from it. */
  async ensureFixture(force = false): Promise<void> {
    if (!force && await one(this.admin, gen.SIGNATURE_SQL) === this.signature) return;
    this.stats.rebuilds++;
    const [r] = await ask(this.admin, gen.REBUILD_SQL(this.db));
    if (r.error) throw new Error(`fixture rebuild failed: ${r.error}`);
  }

  async epoch(): Promise<Epoch> {
    const pg = await login(this.opts.cluster.port, gen.FUZZ_ROLE, this.db, this.db);
    return new Epoch(pg, this.opts.gateway.analyzer(), await one(pg, stateSql(this.opts.mode)));
  }

  /** Decides and (when forwarded) runs one message; returns the disagreements it shows. */
  async step(ep: Epoch, text: string, quiet = false): Promise<Failure[]> {
    const [out, prefix, { mode, gateway }] = [[] as Failure[], ep.log.slice(), this.opts];
    const add = (kind: Failure["kind"], detail: string) =>
      out.push({ kind, detail, text, prefix, minimal: null });
    const count = (k: string) => quiet || this.stats[k]++;
    const analysis = ep.gw.analyze(text);
    ep.log.push(text);
    const shape = quiet ? undefined : shapeMismatch(text, this.stats.texts);
    if (shape !== undefined) count("shapeChecks");
    if (shape) add("shape", shape);
    count("texts");
    const forwarded = gateway.forwards(analysis, mode);
    count(forwarded ? "forwarded" : "refused");
    if (!forwarded) return out;
    const stmts = analysis.ok ? analysis.statements : [];
    try {
      const [, run] = await ask(ep.pg, "BEGIN", text);
      const [inTxn, , after] = await ask(ep.pg, stateSql(mode), "ROLLBACK", stateSql(mode));
      for (const t of quiet ? [] : run.tags.map(bareTag)) this.tags[t] = (this.tags[t] ?? 0) + 1;
      const mismatch = statementsMismatch(stmts, run.tags, run.error !== null);
      if (mismatch) add("statements", mismatch);
      // An aborted transaction undid the text's effects; any other error is a changed session.
      const aborted = inTxn.error?.startsWith("25P02");
      const [during, now] = [aborted ? ep.state : value(inTxn), value(after)];
      // RESET and DISCARD go back to the login state, which the gateway works under.
      const away = (s: string) => s !== ep.state && (s !== ep.login || mode === "readonly");
      if (away(during) || away(now)) {
        const detail = `before: ${ep.state}\nduring: ${during}\nafter rollback: ${now}`;
        if (mode === "readonly") add("readonly", detail);
        else if (!opaque(this.catalog, stmts)) add("pinned", detail);
        else count("excused");
      }
      const txn = run.tags.some((t) => TRANSACTION.test(t));
      // Autocommit keeps a session-level change: run the text again outside the transaction.
      if (during !== ep.state && now === ep.state && !run.error && !txn) {
        run.params.push(...(await ask(ep.pg, text))[0].params);
      }
      if (during !== ep.state || now !== ep.state || txn || this.stats.forwarded % 200 === 0) {
        await this.ensureFixture();
        ep.state = await one(ep.pg, stateSql(mode));
      }
      // The gateway ends a session whose server reports a lexing setting it cannot parse under.
      const lexing = ([k, v]: string[]) =>
        k === "client_encoding" ? v !== "UTF8" : k === "standard_conforming_strings" && v !== "on";
      if (gateway.endsOnLexingChange && run.params.some(lexing)) ep.dead = true;
    } catch (err) {
      if (!(err instanceof Error) || /fixture rebuild/.test(err.message)) throw err;
      count("lost"); // The server closed the connection or stopped answering: a new session.
      ep.dead = true;
      await this.ensureFixture();
    }
    return out;
  }

  /** Whether `text` after `prefix` on a fresh session still fails with `kind`. */
  async reproduces(prefix: string[], text: string, kind: Failure["kind"]): Promise<boolean> {
    if (kind === "shape") return gen.SHAPE_PICKS.some((i) => shapeMismatch(text, i));
    const ep = await this.epoch();
    try {
      for (const m of prefix) {
        await this.step(ep, m, true);
        if (ep.dead) return false;
      }
      return (await this.step(ep, text, true)).some((f) => f.kind === kind);
    } finally {
      ep.pg.close();
      await this.ensureFixture();
    }
  }

  /** Shrinks the prefix (dropping messages), then the text by tokens, then by characters. */
  async shrink(f: Failure): Promise<Failure["minimal"]> {
    const kind = f.kind;
    if (!(await this.reproduces(f.prefix, f.text, kind))) return null;
    const budget = { n: kind === "shape" ? 4000 : SHRINK_TRIES };
    let prefix = f.prefix;
    // Most failures need no prefix, or only the last few messages.
    const last = (n: number) => prefix.slice(Math.max(prefix.length - n, 0));
    let n = 0;
    while (n < prefix.length && !(await this.reproduces(last(n), f.text, kind))) n = n * 2 || 1;
    prefix = last(n);
    const shorter = (p: string[]) => this.reproduces(p, f.text, kind);
    prefix = await gen.ddmin(prefix, shorter, { n: budget.n / 4 });
    const fails = (xs: string[]) => this.reproduces(prefix, xs.join(""), kind);
    const words = f.text.match(/[\p{L}\p{N}_$]+|\s+|[^]/gu) ?? [];
    const fewer = await gen.ddmin([...words], fails, budget);
    return { text: (await gen.ddmin([...fewer.join("")], fails, budget)).join(""), prefix };
  }
}

/**
 * Runs generated (or given) sessions through the simulated gateway and the server and reports
 * every disagreement. A shrunk failure replays by passing `[...prefix, text]` as a session.
 *
 * @example
 * ```ts
 * const r = await runOracle({ cluster: pg, seed: 1, count: 5000, mode: "all" });
 * for (const f of r.failures) console.log(f.kind, f.minimal?.text ?? f.text, f.detail);
 * ```
 */
export async function runOracle(options: OracleOptions): Promise<OracleResult> {
  await loadSqlParser();
  const started = performance.now();
  const { cluster } = options;
  const db = `sqlfuzz_${crypto.randomUUID().slice(0, 8)}`;
  const [fuzz, other] = [gen.FUZZ_ROLE, gen.OTHER_ROLE];
  const role = (r: string) =>
    `do $$ begin create role ${r}; exception when duplicate_object then null; end $$;`;
  await cluster.sql(`${role(fuzz)} ${role(other)} grant ${other} to ${fuzz};
    alter role ${fuzz} login password '${db}'; create database "${db}" owner ${fuzz};`);
  const admin = await login(cluster.port, cluster.superuser, cluster.superpassword, db);
  const run = new Run({ mode: "all", gateway: GATEWAY, ...options }, admin, db);
  const { opts, stats } = run;
  const failures: Failure[] = [];
  let ep: Epoch | null = null;
  try {
    await run.ensureFixture(true);
    run.signature = await one(admin, gen.SIGNATURE_SQL);
    if (run.signature.startsWith("error")) throw new Error(`fixture check ${run.signature}`);
    const fns = (await ask(run.admin, gen.FUNCTIONS_SQL))[0].rows.map((row) => {
      const [name, args] = row!.split(":");
      return { name, args: args ? args.split(",") : [] };
    });
    for (const f of fns) run.catalog.add(f.name);
    const rng = new gen.Rng(opts.seed ?? 1);
    const limit = opts.count ?? (opts.seconds ? Infinity : 1000);
    const deadline = started + (opts.seconds ?? Infinity) * 1000;
    const over = () => stats.texts >= limit || performance.now() > deadline;
    const shrunk: Record<string, number> = {};
    let lastProgress = performance.now();
    for (let s = 0; !over() && (!opts.sessions || s < opts.sessions.length); s++) {
      if (opts.sessions || !ep || ep.dead || ep.log.length >= EPOCH_MESSAGES) {
        ep?.pg.close();
        ep = await run.epoch();
      }
      for (const text of opts.sessions ? opts.sessions[s] : gen.session(rng, fns)) {
        if (over() || ep.dead) break;
        for (const f of await run.step(ep, text)) {
          const n = shrunk[f.kind] = (shrunk[f.kind] ?? 0) + 1;
          const minimal = n <= (opts.shrinkPerKind ?? 3) ? await run.shrink(f) : null;
          failures.push({ ...f, minimal });
        }
        if (performance.now() - lastProgress > 2000) {
          lastProgress = performance.now();
          opts.onProgress?.(stats, failures.length, lastProgress - started);
        }
      }
    }
    opts.onProgress?.(stats, failures.length, performance.now() - started);
  } finally {
    ep?.pg.close();
    admin.close();
    await opts.cluster.sql(`drop database if exists "${run.db}" with (force)`).catch(() => {});
  }
  const { texts, forwarded, refused } = stats;
  const ms = performance.now() - started;
  return { texts, forwarded, refused, failures, ms, stats, tags: run.tags };
}
