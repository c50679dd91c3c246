/**
 * The `http` facet: the CEL schema of HTTP facts (DESIGN.md §4), read by rules of https and
 * kubernetes endpoints. {@linkcode httpFacts} fills it.
 *
 * @module
 */

import type { Facet } from "../../core/mod.ts";

/** CEL type name of `http.graphql`. */
export const GRAPHQL_TYPE = "GraphqlFacts";

/**
 * The `http` variable. `http.graphql` is a message type rather than `dyn` (unlike `body_json`,
 * its shape is fixed), so `http.graphql.operation_typs` is a load error, not a runtime deny.
 */
export const HTTP_FACET: Facet = Object.freeze({
  variable: "http",
  type: "HttpFacts",
  fields: Object.freeze({
    method: "string",
    scheme: "string",
    host: "string",
    port: "int",
    path: "string",
    raw_path: "string",
    canonical_path: "string",
    path_anomalies: "list<string>",
    effective_method: "string",
    query: "map<string, list<string>>",
    headers: "map<string, list<string>>",
    body: "string",
    body_json: "dyn",
    body_truncated: "bool",
    graphql: GRAPHQL_TYPE,
    placeholders: "list<string>",
    misplaced_placeholders: "list<string>",
    unknown_placeholders: "list<string>",
  }),
  messages: Object.freeze({
    [GRAPHQL_TYPE]: Object.freeze({
      operation_types: "list<string>",
      operation_name: "string",
      fields: "list<string>",
    }),
  }),
});
