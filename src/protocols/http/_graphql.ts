/**
 * The `http.graphql` facts: which operations a GraphQL request carries, parsed with the reference
 * parser (`graphql-js`), so a rule can let queries through and hold mutations.
 *
 * @module
 */

import type {
  DocumentNode,
  FragmentDefinitionNode,
  Kind,
  OperationDefinitionNode,
  SelectionSetNode,
} from "graphql";
import type { GraphqlFacts } from "../../core/mod.ts";
import { Lazy } from "../../core/lazy.ts";

/**
 * The reference parser, loaded by the first request that carries GraphQL: until then
 * {@linkcode graphqlFacts} throws `NotLoaded` for such a request (see `core/lazy.ts`).
 */
export const GRAPHQL = new Lazy("graphql", () => import("graphql"));

/** Where a request may carry GraphQL: its query parameters and its parsed JSON body. */
export interface GraphqlSources {
  query: Record<string, string[]>;
  /** The parsed JSON body, `null` when the body is not JSON. */
  body_json: unknown;
}

/**
 * The facts, `"unknown"` when the request carries GraphQL that cannot be read with certainty
 * (rules reading them deny), or `null` when it carries none (the facts stay empty).
 */
export type GraphqlResult = GraphqlFacts | "unknown" | null;

// Bounds the parser's work on a hostile document; a real client's query is a few hundred tokens.
const MAX_TOKENS = 50_000;

/** The empty facts of a request that carries no GraphQL. */
export function noGraphql(): GraphqlFacts {
  return { operation_types: [], operation_name: "", fields: [] };
}

/**
 * Reads the GraphQL operations of a request (GraphQL over HTTP: a JSON body `{query,
 * operationName}`, a batched array of those, or `?query=&operationName=`).
 *
 * @throws {NotLoaded} for a request that carries GraphQL before {@linkcode GRAPHQL} is loaded.
 *
 * @example
 * ```ts
 * graphqlFacts({ query: {}, body_json: { query: "{ viewer { login } }" } });
 * // { operation_types: ["query"], operation_name: "", fields: ["viewer"] }
 * ```
 */
export function graphqlFacts(sources: GraphqlSources): GraphqlResult {
  const requests: unknown[] = [];
  const fromQuery = sources.query["query"];
  if (fromQuery !== undefined) {
    // Two `query` parameters: which one the server reads is the server's choice, not ours.
    const names = sources.query["operationName"] ?? [];
    if (fromQuery.length !== 1 || names.length > 1) return "unknown";
    requests.push({ query: fromQuery[0], operationName: names[0] ?? null });
  }
  const body = sources.body_json;
  const batch = Array.isArray(body) ? body : [body];
  const carried = batch.filter((r) => isObject(r) && Object.hasOwn(r, "query"));
  if (carried.length > 0) {
    // Some servers read the URL's query, others the body's: with both, either may run.
    if (requests.length > 0) return "unknown";
    // A batch mixing GraphQL requests with other values has no meaning the rules could rely on.
    if (carried.length !== batch.length) return "unknown";
    requests.push(...carried);
  }
  if (requests.length === 0) return null;
  const facts = noGraphql();
  const names = new Set<string>();
  for (const request of requests) {
    const one = readRequest(request as Record<string, unknown>);
    if (one === "unknown") return "unknown";
    facts.operation_types.push(...one.operation_types);
    for (const field of one.fields) if (!facts.fields.includes(field)) facts.fields.push(field);
    names.add(one.operation_name);
  }
  // A batch names one operation only when every request in it selects the same name.
  facts.operation_name = names.size === 1 ? [...names][0] : "";
  return facts;
}

function readRequest(request: Record<string, unknown>): GraphqlFacts | "unknown" {
  const { query, operationName } = request;
  if (typeof query !== "string") return "unknown";
  if (operationName !== undefined && operationName !== null && typeof operationName !== "string") {
    return "unknown";
  }
  const { parse, Kind: kind } = GRAPHQL.get();
  let doc: DocumentNode;
  try {
    doc = parse(query, { noLocation: true, maxTokens: MAX_TOKENS });
  } catch {
    // Not GraphQL (or past the token bound): the server would reject it, but rules must not
    // guess what it is, so they see the facts as unknown and deny.
    return "unknown";
  }
  const operations: OperationDefinitionNode[] = [];
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of doc.definitions) {
    if (def.kind === kind.OPERATION_DEFINITION) operations.push(def);
    else if (def.kind === kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    // Type-system definitions and extensions are not executable: the server refuses them.
    else return "unknown";
  }
  const selected = selectOperation(operations, operationName ?? "");
  if (selected === null) return "unknown";
  const fields: string[] = [];
  if (!collectFields(kind, selected.selectionSet, fragments, new Set(), fields)) return "unknown";
  return {
    // Every operation in the document, not only the selected one: a rule allowing "only queries"
    // must not pass a document that also carries a mutation.
    operation_types: operations.map((op) => op.operation),
    operation_name: selected.name?.value ?? "",
    fields,
  };
}

/**
 * The operation the server executes (GraphQL spec §6.1 GetOperation): the one `operationName`
 * names, or the only one when no name is given; `null` when none or several qualify.
 */
function selectOperation(
  operations: OperationDefinitionNode[],
  name: string,
): OperationDefinitionNode | null {
  if (name === "") return operations.length === 1 ? operations[0] : null;
  const named = operations.filter((op) => op.name?.value === name);
  return named.length === 1 ? named[0] : null;
}

/**
 * Top-level field names (not aliases: `x: createIssue` is `createIssue`) of a selection set,
 * looking through fragment spreads and inline fragments. `false` for a spread of an undefined
 * fragment or a fragment cycle, which the server refuses and the rules must not guess about.
 */
function collectFields(
  kind: typeof Kind,
  set: SelectionSetNode,
  fragments: Map<string, FragmentDefinitionNode>,
  visiting: Set<string>,
  into: string[],
): boolean {
  for (const selection of set.selections) {
    if (selection.kind === kind.FIELD) {
      if (!into.includes(selection.name.value)) into.push(selection.name.value);
    } else if (selection.kind === kind.INLINE_FRAGMENT) {
      if (!collectFields(kind, selection.selectionSet, fragments, visiting, into)) return false;
    } else {
      const name = selection.name.value;
      const fragment = fragments.get(name);
      if (!fragment || visiting.has(name)) return false;
      visiting.add(name);
      if (!collectFields(kind, fragment.selectionSet, fragments, visiting, into)) return false;
      visiting.delete(name);
    }
  }
  return true;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
