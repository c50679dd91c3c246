/**
 * The CEL environments rules are checked and evaluated in: one per registered protocol, each
 * declaring exactly the facets that protocol declares (plus `agent`), so a typo such as
 * `http.methd` fails at load. The facets arrive as data (`core/protocol.ts`): policy never
 * imports a protocol.
 *
 * @module
 */

import { Environment } from "@marcbachmann/cel-js";
import type { Facet, FactFields, Facts, Protocol } from "../core/mod.ts";
import { compiledPattern } from "./_regex.ts";

/** The gateway's own facet: who is acting. Every rule, whatever its protocol, sees it. */
export const AGENT_FACET: Facet = Object.freeze({
  variable: "agent",
  type: "Agent",
  fields: Object.freeze({ name: "string", profile: "string" }),
});

/** Namespace object for `sets.contains(...)` and friends. */
class Sets {}

type FactsClass = new (init: object) => object;

// Registered types are classes so the evaluator reads fields directly; plain objects would be
// converted on every variable lookup. Facts are wrapped once per action, not once per rule.
// One class per declared field set, shared by every environment that registers it: the evaluator
// accepts only the registered class for a message-typed value.
const classes = new WeakMap<FactFields, FactsClass>();

// Facts hold CEL ints as plain numbers: V8 serialises an object with a BigInt in it (every
// receipt's facts) on its slow path, ~3× slower for Postgres facts. They become BigInts here,
// for CEL, which compares an int field with int literals only as one. A number that is not an
// integer throws, and the rule being evaluated denies; an absent field stays absent.
function classOf(fields: FactFields): FactsClass {
  let ctor = classes.get(fields);
  if (!ctor) {
    const ints = Object.keys(fields).filter((field) => fields[field] === "int");
    ctor = ints.length === 0
      ? class {
        constructor(init: object) {
          Object.assign(this, init);
        }
      }
      : class {
        constructor(init: object) {
          Object.assign(this, init);
          const self = this as Record<string, unknown>;
          for (const field of ints) {
            const value = self[field];
            if (typeof value === "number") self[field] = BigInt(value);
          }
        }
      };
    classes.set(fields, ctor);
  }
  return ctor;
}

/** A protocol's facets and the agent's: what its rules see, in registration order. */
export function facetsOf(protocol: Protocol): readonly Facet[] {
  return [...protocol.facets, AGENT_FACET];
}

/**
 * Field types of every variable any registered protocol declares (and `agent`), for the static
 * analysis of conditions.
 */
export type FactSchema = ReadonlyMap<string, FactFields>;

const schemas = new WeakMap<readonly Protocol[], FactSchema>();

/** The {@linkcode FactSchema} of a list of registered protocols (cached per list). */
export function factSchema(protocols: readonly Protocol[]): FactSchema {
  let schema = schemas.get(protocols);
  if (!schema) {
    const all = new Map<string, FactFields>();
    for (const protocol of protocols) {
      for (const facet of facetsOf(protocol)) all.set(facet.variable, facet.fields);
    }
    schema = all;
    schemas.set(protocols, schema);
  }
  return schema;
}

const environments = new WeakMap<Protocol, Environment>();

/** The (cached) CEL environment for a protocol's rules. */
export function environmentFor(protocol: Protocol): Environment {
  let env = environments.get(protocol);
  if (env) return env;
  env = new Environment({ homogeneousAggregateLiterals: false });
  for (const facet of facetsOf(protocol)) {
    // Message types first: the facet's own type names them in its fields.
    for (const [name, fields] of Object.entries(facet.messages ?? {})) {
      env.registerType(name, { ctor: classOf(fields), fields: { ...fields } });
    }
    env.registerType(facet.type, { ctor: classOf(facet.fields), fields: { ...facet.fields } });
    env.registerVariable(facet.variable, facet.type);
  }
  registerSets(env);
  // Target of literal `matches()` calls after rewriting: same semantics, cached RegExp.
  env.registerFunction(
    "string.re_match(string): bool",
    (s: string, pattern: string) => compiledPattern(pattern).test(s),
  );
  environments.set(protocol, env);
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

/** Fields of a facet holding a message type, with that type's fields (computed once). */
const messageFields = new WeakMap<Facet, [string, FactFields][]>();

function messageFieldsOf(facet: Facet): [string, FactFields][] {
  let found = messageFields.get(facet);
  if (!found) {
    const messages = facet.messages ?? {};
    found = Object.entries(facet.fields)
      .filter(([, type]) => Object.hasOwn(messages, type))
      .map(([field, type]) => [field, messages[type]]);
    messageFields.set(facet, found);
  }
  return found;
}

/** Wraps an action's facts as the registered CEL types. Done once per action. */
export function factsContext(
  protocol: Protocol,
  facts: Facts,
  agent: { name: string; profile: string },
): Record<string, unknown> {
  const ctx: Record<string, unknown> = { agent: new (classOf(AGENT_FACET.fields))(agent) };
  for (const facet of protocol.facets) {
    const value = (facts as Record<string, Record<string, unknown> | undefined>)[facet.variable];
    if (!value) continue;
    const nested = messageFieldsOf(facet);
    let init: Record<string, unknown> = value;
    if (nested.length > 0) {
      // The evaluator accepts only the registered class for a message-typed field.
      init = { ...value };
      for (const [field, fields] of nested) {
        init[field] = new (classOf(fields))(value[field] as object);
      }
    }
    ctx[facet.variable] = new (classOf(facet.fields))(init);
  }
  return ctx;
}
