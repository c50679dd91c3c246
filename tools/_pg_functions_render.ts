/**
 * Renders `src/protocols/postgres/_pg_functions.json`, the data `_pg_functions.ts` loads, from the
 * classes `gen_pg_functions.ts` read out of the catalog. Private helper of that generator.
 *
 * @module
 */

/** What the generator found, by class. */
export interface Classes {
  version: string;
  catalog: string[];
  readOnly: string[];
  infoSchemaReadOnly: string[];
  queryText: [string, number[]][];
  relationText: [string, { arg: number; reads: string }][];
  readOnlyOperators: string[];
  types: string[];
}

/**
 * The JSON text (before `deno fmt`). Its fields are documented where they are read, in
 * `src/protocols/postgres/_pg_functions.ts`; `excluded` names the generator's EXCLUDED list,
 * which that module's header cites.
 */
export function render(c: Classes, excluded: string[]): string {
  const data = {
    generated: `by tools/gen_pg_functions.ts from PostgreSQL ${c.version}; do not edit`,
    excluded,
    catalogFunctions: c.catalog,
    readOnlyFunctions: c.readOnly,
    informationSchemaReadOnlyFunctions: c.infoSchemaReadOnly,
    // Objects keep their keys' insertion order (function names are never integer-like), so the
    // maps built from them iterate in the generator's sorted order.
    queryTextFunctions: Object.fromEntries(c.queryText),
    relationTextFunctions: Object.fromEntries(
      c.relationText.map(([name, { arg, reads }]) => [name, { arg, reads }]),
    ),
    catalogOperators: c.readOnlyOperators,
    catalogTypes: c.types,
  };
  return JSON.stringify(data, null, 2) + "\n";
}
