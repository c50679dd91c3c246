/**
 * Generates `src/protocols/postgres/_pg_functions.json`, the data `_pg_functions.ts` loads: which
 * PostgreSQL built-in functions a read-only statement may call, read from the catalog (`pg_proc`)
 * of a throwaway PostgreSQL 15.
 *
 * Usage: `deno run -A tools/gen_pg_functions.ts [--out PATH]`
 *
 * The catalog knows volatility, parallel safety and default privileges, but not which functions
 * run SQL text handed to them as an argument: those are the C functions that pass caller text to
 * SPI. They were found in PostgreSQL's backend (every object file that references an `SPI_`
 * symbol, then every function in it that reaches an SPI call) and are listed below by their
 * `prosrc`, the C symbol `pg_proc` points at; names and argument types come from the catalog.
 * When the server's LLVM bitcode is installed (Debian's postgresql-15 ships it for JIT), this
 * script re-checks that no other backend file calls SPI, so a new release cannot add one quietly.
 *
 * Output is sorted and run through `deno fmt`, so re-running against the same server gives a
 * byte-identical file (tests/pg_functions_catalog_test.ts relies on that).
 *
 * @module
 */

import { render } from "./_pg_functions_render.ts";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startPostgres } from "../tests/_postgres.ts";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const DEFAULT_OUT = join(REPO_ROOT, "src/protocols/postgres/_pg_functions.json");
const BITCODE_DIR = "/usr/lib/postgresql/15/lib/bitcode/postgres";

/**
 * C functions that execute caller-supplied SQL text, with the input position of that text.
 * Positions are fixed here rather than guessed from argument names because `ts_rewrite(tsquery,
 * text)` has no argument names and `ts_stat(query, weights)` has two text arguments; the
 * generator checks each position against the catalog's argument type and name.
 */
const QUERY_TEXT_PROSRC: Record<string, { arg: number; via: string }> = {
  // utils/adt/xml.c
  query_to_xml: { arg: 0, via: "query_to_xml_internal(): SPI_execute" },
  query_to_xmlschema: { arg: 0, via: "SPI_prepare + SPI_cursor_open" },
  query_to_xml_and_xmlschema: { arg: 0, via: "SPI_prepare + SPI_cursor_open, SPI_execute" },
  // utils/adt/tsvector_op.c
  ts_stat1: { arg: 0, via: "ts_stat_sql(): SPI_prepare + SPI_cursor_open" },
  ts_stat2: { arg: 0, via: "ts_stat_sql(): SPI_prepare + SPI_cursor_open" },
  // utils/adt/tsquery_rewrite.c
  tsquery_rewrite_query: { arg: 1, via: "SPI_prepare + SPI_cursor_open" },
};

type Reads = "relation" | "schema" | "database";

/**
 * C functions (all in utils/adt/xml.c) that read tables named by an argument instead of by the
 * statement, so the gateway never sees those tables as relations. `arg` -1: no argument, the
 * current database. The `*xmlschema` variants describe columns without reading rows, and
 * table_to_xmlschema does not even use SPI (it opens the relation directly); they are listed so
 * the gateway treats the named relation as touched rather than trusting a call it cannot see.
 */
const RELATION_TEXT_PROSRC: Record<string, { arg: number; reads: Reads; via: string }> = {
  table_to_xml: { arg: 0, reads: "relation", via: "SELECT * FROM <rel> via SPI_execute" },
  table_to_xml_and_xmlschema: { arg: 0, reads: "relation", via: "as table_to_xml" },
  table_to_xmlschema: { arg: 0, reads: "relation", via: "table_open(): columns only" },
  schema_to_xml: { arg: 0, reads: "schema", via: "lists tables via SPI, then each table" },
  schema_to_xml_and_xmlschema: { arg: 0, reads: "schema", via: "as schema_to_xml" },
  schema_to_xmlschema: { arg: 0, reads: "schema", via: "lists tables via SPI: columns only" },
  database_to_xml: { arg: -1, reads: "database", via: "every schema, as schema_to_xml" },
  database_to_xml_and_xmlschema: { arg: -1, reads: "database", via: "as database_to_xml" },
  database_to_xmlschema: { arg: -1, reads: "database", via: "every schema: columns only" },
};

/** Type and (if named) name the catalog must give each listed argument, or this script fails. */
const ARG_EXPECT: Record<Reads | "query", [type: string, name: string]> = {
  query: ["text", "query"],
  relation: ["regclass", "tbl"],
  schema: ["name", "schema"],
  database: ["", ""], // no argument
};

/**
 * Backend files that reference SPI (object level), each accounted for: either its functions are
 * listed above, or why not. The bitcode check compares against this list.
 */
const SPI_FILES: Record<string, string> = {
  "utils/adt/xml.c": "query_to_* and *_to_xml* above; cursor_to_xml and cursor_to_xmlschema " +
    "fetch from a cursor that an earlier statement, already seen by the gateway, declared",
  "utils/adt/tsvector_op.c": "ts_stat above; tsvector_update_trigger* use SPI only to look up " +
    "column numbers and types of the triggering table",
  "utils/adt/tsquery_rewrite.c": "ts_rewrite(tsquery, text) above",
  "utils/adt/ruleutils.c": "pg_get_ruledef/pg_get_viewdef run a fixed query on pg_rewrite",
  "utils/adt/ri_triggers.c": "foreign-key triggers: queries built internally, trigger-only",
  "commands/matview.c": "REFRESH MATERIALIZED VIEW is a statement, not a function",
  "access/transam/xact.c": "only asks SPI whether it runs non-atomically",
};

/**
 * Stable or immutable, parallel-safe-or-restricted, PUBLIC-executable functions that still must
 * not count as read-only. Every other candidate was reviewed by eye (the script prints the ones
 * whose names suggest files, locks, WAL and the like, for the next review).
 */
const EXCLUDED: Record<string, string> = {
  fmgr_c_validator: "loads the function's shared library (dlopen runs the library's _PG_init)",
};

/** Names among the read-only set worth a second look when regenerating for a new release. */
const REVIEW_PATTERN = new RegExp(
  "^lo_|^lo(read|write)$|file|advisory|notify|^(next|set|curr|last)val$|xact|slot|wal|reset|" +
    "backend|config|setting|sleep|lock|validator|cancel|terminate|snapshot|sequence|dblink",
);

interface Proc {
  schema: string;
  name: string;
  kind: string;
  volatility: string;
  parallel: string;
  publicExecute: boolean;
  language: string;
  prosrc: string;
  argTypes: string[];
  argNames: string[] | null;
}

// One JSON document, so no value (SQL function bodies hold newlines and `|`) can break parsing.
const CATALOG_QUERY = `
SELECT json_build_object(
  'version', current_setting('server_version'),
  'procs', (
    SELECT json_agg(json_build_object(
      'schema', n.nspname, 'name', p.proname, 'kind', p.prokind,
      'volatility', p.provolatile, 'parallel', p.proparallel,
      -- A NULL proacl means the default: PUBLIC may EXECUTE. Grantee 0 is PUBLIC.
      'publicExecute', p.proacl IS NULL OR EXISTS (
        SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'),
      'language', l.lanname, 'prosrc', p.prosrc, 'argTypes', p.proargtypes::regtype[]::text[],
      -- proargnames also names OUT arguments; keep the ones a caller passes, in call order.
      'argNames', CASE
        WHEN p.proargnames IS NULL THEN NULL
        WHEN p.proargmodes IS NULL THEN to_json(p.proargnames)
        ELSE (SELECT json_agg(u.nm ORDER BY u.ord)
              FROM unnest(p.proargnames, p.proargmodes::text[]) WITH ORDINALITY AS u(nm, md, ord)
              WHERE u.md IN ('i', 'b', 'v'))
      END
    ) ORDER BY n.nspname, p.proname, p.oid)
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
    WHERE n.nspname IN ('pg_catalog', 'information_schema')),
  -- An operator is a call of its function (oprcode): read-only when every pg_catalog operator of
  -- that name runs an immutable or stable, not parallel-unsafe function.
  'readOnlyOperators', (
    SELECT json_agg(name ORDER BY name) FROM (
      SELECT o.oprname AS name FROM pg_operator o JOIN pg_proc f ON f.oid = o.oprcode
      WHERE o.oprnamespace = 'pg_catalog'::regnamespace GROUP BY o.oprname
      HAVING bool_and(f.provolatile IN ('i', 's') AND f.proparallel <> 'u')) ops),
  -- Built-in types: a cast to one runs a built-in input function, never a domain's CHECK.
  'types', (
    SELECT json_agg(typname ORDER BY typname) FROM pg_type
    WHERE typnamespace = 'pg_catalog'::regnamespace AND typtype <> 'd'))
`;

function log(line: string) {
  console.error(`gen_pg_functions: ${line}`);
}

/** Why one overload is not read-only (empty when it is); criteria in the module's header. */
function failures(proc: Proc): string[] {
  const out: string[] = [];
  if (!["i", "s"].includes(proc.volatility)) out.push("volatile");
  if (proc.parallel === "u") out.push("parallel unsafe");
  if (!proc.publicExecute) out.push("no PUBLIC EXECUTE");
  if (!["f", "a", "w"].includes(proc.kind)) out.push(`prokind ${proc.kind}`);
  return out;
}

function checkArg(proc: Proc, arg: number, role: Reads | "query") {
  if (arg < 0) return;
  const [type, name] = [proc.argTypes[arg], proc.argNames?.[arg]];
  if (type !== ARG_EXPECT[role][0] || (name && name !== ARG_EXPECT[role][1])) {
    throw new Error(
      `${proc.name}(${proc.argTypes.join(", ")}): argument ${arg} is ${name ?? "?"} ${type}, ` +
        `not ${role} text (${ARG_EXPECT[role].join(" ")}); update the tables in this script`,
    );
  }
}

/** Code-unit order, the same in every locale, so the output is reproducible. */
const byFirst = ([a]: [string, unknown], [b]: [string, unknown]) => a < b ? -1 : a > b ? 1 : 0;

function classify(version: string, procs: Proc[]) {
  const catalogProcs = procs.filter((p) => p.schema === "pg_catalog");
  // Names are kept as spelled: a parsed call's name is folded to lower case unless quoted, so
  // the mixed-case RI_FKey_* trigger functions are reached only by a quoted identifier.
  const mixedCase = new Set(catalogProcs.map((p) => p.name).filter((n) => n !== n.toLowerCase()));
  log(`mixed-case names: ${[...mixedCase].sort().join(" ")}`);
  const queryText = new Map<string, Set<number>>();
  const relationText = new Map<string, { arg: number; reads: Reads }>();
  const seenSymbols = new Set<string>();
  for (const p of catalogProcs) {
    if (p.language !== "internal") continue; // prosrc is a C symbol only for built-ins
    const sym = p.prosrc;
    const q = QUERY_TEXT_PROSRC[sym];
    if (q) {
      checkArg(p, q.arg, "query");
      queryText.set(p.name, (queryText.get(p.name) ?? new Set()).add(q.arg));
      seenSymbols.add(sym);
    }
    const r = RELATION_TEXT_PROSRC[sym];
    if (r) {
      checkArg(p, r.arg, r.reads);
      relationText.set(p.name, { arg: r.arg, reads: r.reads });
      seenSymbols.add(sym);
    }
  }
  const listed = [...Object.keys(QUERY_TEXT_PROSRC), ...Object.keys(RELATION_TEXT_PROSRC)];
  const missing = listed.filter((sym) => !seenSymbols.has(sym));
  if (missing.length) throw new Error(`prosrc not in pg_catalog: ${missing.join(", ")}`);

  const byName = Map.groupBy(catalogProcs, (p) => p.name);
  for (const name of Object.keys(EXCLUDED)) {
    const overloads = byName.get(name);
    if (!overloads) throw new Error(`EXCLUDED names ${name}, which pg_catalog does not have`);
    if (overloads.some((p) => failures(p).length)) log(`note: EXCLUDED ${name} fails anyway`);
  }

  // Per-overload counts: an overload can fail several criteria, each is counted.
  const counts = new Map<string, number>();
  for (const p of catalogProcs) {
    for (const f of failures(p)) counts.set(f, (counts.get(f) ?? 0) + 1);
  }
  log(`pg_catalog: ${catalogProcs.length} overloads, ${byName.size} distinct names`);
  for (const [reason, n] of [...counts].sort()) log(`  overloads failing "${reason}": ${n}`);

  const passing = [...byName].filter(([, ps]) => ps.every((p) => !failures(p).length));
  log(`  names whose every overload passes the catalog criteria: ${passing.length}`);
  const readOnly: string[] = [];
  for (const [name] of passing) {
    const why = queryText.has(name)
      ? "query text"
      : relationText.has(name)
      ? "relation text"
      : EXCLUDED[name] && "EXCLUDED";
    if (why) log(`  not read-only (${why}): ${name}`);
    else readOnly.push(name);
  }
  log(`  READ_ONLY_FUNCTIONS: ${readOnly.length} names`);
  log(`  QUERY_TEXT_FUNCTIONS: ${queryText.size}, RELATION_TEXT_FUNCTIONS: ${relationText.size}`);
  const review = readOnly.filter((n) => REVIEW_PATTERN.test(n));
  log(`  review by eye (read-only, suspicious name): ${review.sort().join(" ")}`);

  // information_schema holds a few SQL helpers (_pg_expandarray and friends) that views call.
  const infoSchema = Map.groupBy(procs.filter((p) => p.schema !== "pg_catalog"), (p) => p.name);
  const infoSchemaReadOnly = [...infoSchema]
    .filter(([, ps]) => ps.every((p) => !failures(p).length)).map(([n]) => n);
  log(`information_schema: ${infoSchema.size} names, ${infoSchemaReadOnly.length} read-only`);

  return {
    version,
    catalog: [...byName.keys()].sort(),
    readOnly: readOnly.sort(),
    infoSchemaReadOnly: infoSchemaReadOnly.sort(),
    queryText: [...queryText].sort(byFirst)
      .map(([n, args]): [string, number[]] => [n, [...args].sort((a, b) => a - b)]),
    relationText: [...relationText].sort(byFirst),
  };
}

async function denoFmt(source: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--config", join(REPO_ROOT, "deno.json"), "--ext=json", "-"],
    cwd: REPO_ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await ReadableStream.from([new TextEncoder().encode(source)]).pipeTo(child.stdin);
  const out = await child.output();
  if (!out.success) throw new Error(`deno fmt failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

/** Backend source files (relative, `.c`) whose bitcode uses an SPI symbol; null if unknown. */
async function spiFilesFromBitcode(): Promise<string[] | null> {
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".bc")) files.push(path);
    }
  };
  try {
    await walk(BITCODE_DIR);
    const out = await new Deno.Command("llvm-nm", {
      args: ["--undefined-only", ...files.sort()],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return null;
    const found = new Set<string>();
    let current = "";
    for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
      if (line.endsWith(".bc:")) current = line.slice(BITCODE_DIR.length + 1, -":".length);
      else if (/\bU SPI_/.test(line)) found.add(current.replace(/\.bc$/, ".c"));
    }
    return [...found].sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

async function checkSpiFiles() {
  const found = await spiFilesFromBitcode();
  if (found === null) return log(`bitcode check skipped (no ${BITCODE_DIR} or no llvm-nm)`);
  const unknown = found.filter((f) => !(f in SPI_FILES));
  if (unknown.length) {
    throw new Error(`backend files newly using SPI: ${unknown.join(", ")}; review and list them`);
  }
  log(`bitcode: SPI is referenced by ${found.join(", ")} (all reviewed)`);
}

async function main() {
  const args = Deno.args;
  if (!(args.length === 0 || (args.length === 2 && args[0] === "--out"))) {
    throw new Error("usage: deno run -A tools/gen_pg_functions.ts [--out PATH]");
  }
  const out = args[1] ?? DEFAULT_OUT;
  await checkSpiFiles();
  log("starting a throwaway PostgreSQL 15");
  const pg = await startPostgres();
  let raw: string;
  try {
    raw = await pg.sql(CATALOG_QUERY);
  } finally {
    await pg.stop();
  }
  const { version, procs, readOnlyOperators, types } = JSON.parse(raw) as {
    version: string;
    procs: Proc[];
    readOnlyOperators: string[];
    types: string[];
  };
  log(`PostgreSQL ${version}: ${procs.length} functions in pg_catalog and information_schema`);
  log(`  read-only operators: ${readOnlyOperators.length}, built-in types: ${types.length}`);
  const classes = { ...classify(version, procs), readOnlyOperators, types };
  const source = await denoFmt(render(classes, Object.keys(EXCLUDED)));
  await Deno.writeTextFile(out, source);
  log(`wrote ${out}`);
}

if (import.meta.main) await main();
