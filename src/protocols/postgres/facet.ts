/**
 * The `sql` facet: the CEL schema of SQL facts (DESIGN.md §4), filled per statement from the
 * real PostgreSQL parser (`sql_facts.ts`).
 *
 * @module
 */

import type { Facet } from "../../core/mod.ts";

/** The `sql` variable. */
export const SQL_FACET: Facet = Object.freeze({
  variable: "sql",
  type: "SqlFacts",
  fields: Object.freeze({
    verb: "string",
    verbs: "list<string>",
    tables: "list<string>",
    functions: "list<string>",
    statement: "string",
    statement_count: "int",
    database: "string",
    user: "string",
    dynamic: "bool",
    params: "list<string>",
    read_only: "bool",
    settings: "list<string>",
  }),
});
