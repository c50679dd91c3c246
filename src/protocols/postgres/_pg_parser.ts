/**
 * The PostgreSQL parser (libpg-query's WASM build), imported on first load rather than with the
 * module: a gateway without a Postgres endpoint never pays its ~17 MB.
 *
 * @module
 */

type Library = typeof import("libpg-query");

let library: Library | null = null;

/** Imports the library and instantiates its WASM module. */
export async function loadPgParser(): Promise<void> {
  const lib = await import("libpg-query");
  await lib.loadModule();
  library = lib;
}

/** The parse tree of `sql`; throws the parser's error (see {@linkcode isSqlError}). */
export function parsePg(sql: string): unknown {
  if (library === null) throw new Error("the PostgreSQL parser is not loaded");
  return library.parseSync(sql);
}

/** True when `err` is the parser rejecting the SQL (not an internal failure). */
export function isSqlError(err: unknown): err is Error {
  return library !== null && library.hasSqlDetails(err);
}
