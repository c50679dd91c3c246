/**
 * The PostgreSQL parser: libpg-query's WASM build (PostgreSQL 18), called directly. Imported on
 * first load rather than with the module: a gateway without a Postgres endpoint never pays its
 * ~17 MB.
 *
 * The package's own `parseSync` finds the end of the parse tree's JSON (tens of KB for a join)
 * with a JavaScript loop over the bytes, ~6 µs of a 3-table join's ~40 µs parse; here the
 * native `indexOf` does it. The WASM calls, the struct layout and the error semantics are the
 * package's (wasm/index.cjs, 18.1.5), and the tests check the trees are identical to its own.
 *
 * @module
 */

/** The emscripten module's exports this file uses (wasm/libpg-query.js). */
interface PgQueryModule {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  _wasm_parse_query_raw(query: number): number;
  _wasm_free_parse_result(result: number): void;
  getValue(ptr: number, type: "i32"): number;
  lengthBytesUTF8(text: string): number;
  stringToUTF8(text: string, ptr: number, max: number): void;
}

let wasm: PgQueryModule | null = null;

const utf8 = new TextDecoder();

/** The parser rejected the statement (a syntax error): what Postgres itself would refuse. */
export class PgSyntaxError extends Error {
  /** 0-based offset in the statement where the parser stopped. */
  readonly cursorPosition: number;
  constructor(message: string, cursorPosition: number) {
    super(message);
    this.name = "PgSyntaxError";
    this.cursorPosition = cursorPosition;
  }
}

/** Imports the library's WASM module and instantiates it. */
export async function loadPgParser(): Promise<void> {
  if (wasm !== null) return;
  const { default: instantiate } = await import("libpg-query/wasm/libpg-query.js");
  wasm ??= await (instantiate as () => Promise<PgQueryModule>)();
}

/** The parse tree of `sql`; throws the parser's error (see {@linkcode isSqlError}). */
export function parsePg(sql: string): unknown {
  const m = wasm;
  if (m === null) throw new Error("the PostgreSQL parser is not loaded");
  // As the package: an empty text is refused, not parsed as zero statements.
  if (sql === "") throw new Error("Query cannot be empty");
  const size = m.lengthBytesUTF8(sql) + 1;
  const query = m._malloc(size);
  if (!query) throw new Error("Failed to parse query: memory allocation failed");
  let result = 0;
  try {
    m.stringToUTF8(sql, query, size);
    result = m._wasm_parse_query_raw(query);
    if (!result) throw new Error("Failed to parse query: memory allocation failed");
    // PgQueryParseResult: parse_tree, stderr_buffer, error (each a 32-bit pointer).
    const tree = m.getValue(result, "i32");
    const error = m.getValue(result + 8, "i32");
    if (error) {
      // PgQueryError: message, funcname, filename, lineno, cursorpos (1-based, 0 for none).
      const message = m.getValue(error, "i32");
      const cursor = m.getValue(error + 16, "i32");
      throw new PgSyntaxError(
        message ? cString(m, message) : "Unknown error",
        cursor > 0 ? cursor - 1 : 0,
      );
    }
    if (!tree) throw new Error("No parse tree generated");
    return JSON.parse(cString(m, tree));
  } finally {
    m._free(query);
    if (result) m._wasm_free_parse_result(result);
  }
}

/** The NUL-terminated UTF-8 string at `ptr` in the module's memory. */
function cString(m: PgQueryModule, ptr: number): string {
  // Read the heap each time: it is replaced when the WASM memory grows.
  const heap = m.HEAPU8;
  const end = heap.indexOf(0, ptr);
  return utf8.decode(heap.subarray(ptr, end < 0 ? heap.length : end));
}

/** True when `err` is the parser rejecting the SQL (not an internal failure). */
export function isSqlError(err: unknown): err is PgSyntaxError {
  return err instanceof PgSyntaxError;
}
