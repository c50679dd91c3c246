/**
 * The CEL environments rules are checked and evaluated in: one per protocol family, each declaring
 * exactly the facts of DESIGN.md §4 (plus `agent`), so a typo such as `http.methd` fails at load.
 *
 * @module
 */

import { Environment } from "@marcbachmann/cel-js";
import type { Facts, ProtocolFamily } from "../core/mod.ts";
import { compiledPattern } from "./_regex.ts";

// Registered types are classes so the evaluator reads fields directly; plain objects would be
// converted on every variable lookup. Facts are wrapped once per action, not once per rule.
class HttpFactsValue {
  constructor(init: object) {
    Object.assign(this, init);
  }
}
class GraphqlFactsValue {
  constructor(init: object) {
    Object.assign(this, init);
  }
}
class SqlFactsValue {
  constructor(init: object) {
    Object.assign(this, init);
  }
}
class K8sFactsValue {
  constructor(init: object) {
    Object.assign(this, init);
  }
}
class AgentValue {
  constructor(init: object) {
    Object.assign(this, init);
  }
}
/** Namespace object for `sets.contains(...)` and friends. */
class Sets {}

/**
 * Fields of `http.graphql`, a registered message type rather than `dyn` (unlike `body_json`,
 * its shape is fixed): `http.graphql.operation_typs` is a load error, not a runtime deny.
 */
export const GRAPHQL_SCHEMA = {
  operation_types: "list<string>",
  operation_name: "string",
  fields: "list<string>",
} as const;

/** CEL type name of `http.graphql`. */
export const GRAPHQL_TYPE = "GraphqlFacts";

/** Field types per fact family, as CEL type names. */
export const FACT_SCHEMA = {
  http: {
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
  },
  sql: {
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
  },
  k8s: {
    verb: "string",
    resource: "string",
    subresource: "string",
    namespace: "string",
    name: "string",
    api_group: "string",
    api_version: "string",
    is_resource_request: "bool",
    params: "map<string, list<string>>",
  },
  agent: { name: "string", profile: "string" },
} as const;

/** Fact variables visible to rules of each family. */
export const FAMILY_VARIABLES: Record<ProtocolFamily, (keyof typeof FACT_SCHEMA)[]> = {
  https: ["http", "agent"],
  postgres: ["sql", "agent"],
  kubernetes: ["k8s", "http", "agent"],
};

const CLASSES = {
  http: { name: "HttpFacts", ctor: HttpFactsValue },
  sql: { name: "SqlFacts", ctor: SqlFactsValue },
  k8s: { name: "K8sFacts", ctor: K8sFactsValue },
  agent: { name: "Agent", ctor: AgentValue },
};

const cache = new Map<ProtocolFamily, Environment>();

/** The (cached) CEL environment for a protocol family. */
export function environmentFor(family: ProtocolFamily): Environment {
  let env = cache.get(family);
  if (env) return env;
  env = new Environment({ homogeneousAggregateLiterals: false });
  if (FAMILY_VARIABLES[family].includes("http")) {
    env.registerType(GRAPHQL_TYPE, { ctor: GraphqlFactsValue, fields: { ...GRAPHQL_SCHEMA } });
  }
  for (const variable of FAMILY_VARIABLES[family]) {
    const { name, ctor } = CLASSES[variable];
    env.registerType(name, { ctor, fields: { ...FACT_SCHEMA[variable] } });
    env.registerVariable(variable, name);
  }
  registerSets(env);
  // Target of literal `matches()` calls after rewriting: same semantics, cached RegExp.
  env.registerFunction(
    "string.re_match(string): bool",
    (s: string, pattern: string) => compiledPattern(pattern).test(s),
  );
  cache.set(family, env);
  return env;
}

function registerSets(env: Environment): void {
  env.registerType("Sets", Sets);
  env.registerConstant("sets", "Sets", new Sets());
  const fn = (name: string, handler: (a: unknown[], b: unknown[]) => boolean) =>
    env.registerFunction({
      name,
      receiverType: "Sets",
      returnType: "bool",
      params: [{ name: "a", type: "list" }, { name: "b", type: "list" }],
      handler: (_sets: Sets, a: unknown[], b: unknown[]) => handler(a, b),
    });
  // sets.contains(a, b): every element of b is in a.
  fn("contains", (a, b) => b.every((x) => a.some((y) => same(x, y))));
  // sets.intersects(a, b): some element is in both.
  fn("intersects", (a, b) => b.some((x) => a.some((y) => same(x, y))));
  // sets.equivalent(a, b): same elements, ignoring order and duplicates.
  fn(
    "equivalent",
    (a, b) =>
      a.every((x) => b.some((y) => same(x, y))) && b.every((x) => a.some((y) => same(x, y))),
  );
}

/** CEL equality for set elements: numbers by value across int/uint/double, aggregates deeply. */
function same(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  const nx = numeric(x);
  const ny = numeric(y);
  if (nx !== undefined || ny !== undefined) {
    // Loose equality between a BigInt and a number compares exact values: converting the
    // BigInt with Number() would round 2^53 + 1 to 2^53.
    // deno-lint-ignore eqeqeq
    return nx !== undefined && ny !== undefined && nx == ny;
  }
  if (typeof x !== "object" || typeof y !== "object" || x === null || y === null) return false;
  if (Array.isArray(x) || Array.isArray(y)) {
    return Array.isArray(x) && Array.isArray(y) && x.length === y.length &&
      x.every((v, i) => same(v, y[i]));
  }
  if (x instanceof Uint8Array || y instanceof Uint8Array) {
    return x instanceof Uint8Array && y instanceof Uint8Array && x.length === y.length &&
      x.every((b, i) => b === y[i]);
  }
  if (x instanceof Date || y instanceof Date) {
    return x instanceof Date && y instanceof Date && x.getTime() === y.getTime();
  }
  const ex = entries(x);
  const ey = entries(y);
  if (ex && ey) {
    if (ex.size !== ey.size) return false;
    for (const [k, v] of ex) if (!ey.has(k) || !same(v, ey.get(k))) return false;
    return true;
  }
  // Other CEL values (durations, types) keep their state private: compare their rendering.
  return !ex && !ey && Object.getPrototypeOf(x) === Object.getPrototypeOf(y) &&
    String(x) === String(y);
}

function numeric(v: unknown): bigint | number | undefined {
  if (typeof v === "bigint" || typeof v === "number") return v;
  // cel-js uints are objects whose valueOf() is a BigInt.
  if (v !== null && typeof v === "object" && v.constructor?.name === "UnsignedInt") {
    const value = v.valueOf();
    if (typeof value === "bigint") return value;
  }
  return undefined;
}

/** A CEL map's entries, keys as strings, for a Map or a plain object; `null` for anything else. */
function entries(v: object): Map<string, unknown> | null {
  if (v instanceof Map) return new Map([...v].map(([k, val]) => [String(k), val]));
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) return new Map(Object.entries(v));
  return null;
}

/** Wraps an action's facts as the registered CEL types. Done once per action. */
export function factsContext(
  family: ProtocolFamily,
  facts: Facts,
  agent: { name: string; profile: string },
): Record<string, unknown> {
  const ctx: Record<string, unknown> = { agent: new AgentValue(agent) };
  for (const variable of FAMILY_VARIABLES[family]) {
    if (variable === "agent") continue;
    const value = facts[variable];
    if (!value) continue;
    // The evaluator accepts only the registered class for a message-typed field.
    ctx[variable] = variable === "http"
      ? new HttpFactsValue({ ...value, graphql: new GraphqlFactsValue(facts.http!.graphql) })
      : new CLASSES[variable].ctor(value);
  }
  return ctx;
}
