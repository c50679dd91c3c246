/**
 * Builds complete, normalised facts from a partial description (fixtures, tests, benches), the
 * way a protocol would have produced them: every field present, lowercase facts lowercased, ints
 * as BigInt.
 *
 * @module
 */

import type { Facts, ProtocolFamily } from "../core/mod.ts";
import { FACT_SCHEMA, FAMILY_VARIABLES, GRAPHQL_SCHEMA, GRAPHQL_TYPE } from "./_facts.ts";
import { LOWERCASE_VALUES } from "./_lowercase.ts";

/**
 * Fills every fact field of the family's variables with its zero value unless given.
 *
 * @example
 * ```ts
 * completeFacts("https", { http: { method: "POST", path: "/x" } }).http!.method; // "post"
 * ```
 * @throws {TypeError} when a field is unknown or has the wrong type.
 */
export function completeFacts(
  family: ProtocolFamily,
  partial: Record<string, Record<string, unknown> | undefined>,
): Facts {
  const out: Record<string, Record<string, unknown>> = {};
  for (const key of Object.keys(partial)) {
    if (!FAMILY_VARIABLES[family].includes(key as never) || key === "agent") {
      throw new TypeError(`Unknown fact family '${key}' for ${family} endpoints`);
    }
  }
  for (const variable of FAMILY_VARIABLES[family]) {
    if (variable === "agent") continue;
    const schema = FACT_SCHEMA[variable] as Record<string, string>;
    const given = partial[variable] ?? {};
    const facts: Record<string, unknown> = {};
    for (const [field, type] of Object.entries(schema)) {
      facts[field] = Object.hasOwn(given, field)
        ? coerce(`${variable}.${field}`, type, given[field])
        : zero(type);
    }
    for (const field of Object.keys(given)) {
      if (!Object.hasOwn(schema, field)) throw new TypeError(`Unknown fact '${variable}.${field}'`);
    }
    out[variable] = facts;
  }
  // No override given: the request's own method is the one that runs, as the protocol says.
  if (out.http && !Object.hasOwn(partial.http ?? {}, "effective_method")) {
    out.http.effective_method = out.http.method;
  }
  if (out.http && typeof out.http.body === "string" && out.http.body_json === null) {
    try {
      out.http.body_json = out.http.body ? JSON.parse(out.http.body as string) : null;
    } catch {
      // Not JSON: body_json stays null, as a protocol would leave it.
    }
  }
  return out as Facts;
}

function zero(type: string): unknown {
  if (type === "string") return "";
  if (type === "int") return 0n;
  if (type === "bool") return false;
  if (type === "dyn") return null;
  if (type === GRAPHQL_TYPE) return { operation_types: [], operation_name: "", fields: [] };
  if (type.startsWith("list")) return [];
  return {};
}

function coerce(name: string, type: string, v: unknown): unknown {
  const fail = () => {
    throw new TypeError(`Fact '${name}' must be ${type}, got ${JSON.stringify(v)}`);
  };
  switch (type) {
    case "string":
      if (typeof v !== "string") fail();
      return LOWERCASE_VALUES.has(name) ? (v as string).toLowerCase() : v;
    case "int":
      if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
      if (typeof v === "bigint") return v;
      return fail();
    case "bool":
      if (typeof v !== "boolean") fail();
      return v;
    case "dyn":
      return v;
    case GRAPHQL_TYPE: {
      if (v === null || typeof v !== "object" || Array.isArray(v)) fail();
      const given = v as Record<string, unknown>;
      for (const field of Object.keys(given)) {
        if (!Object.hasOwn(GRAPHQL_SCHEMA, field)) {
          throw new TypeError(`Unknown fact '${name}.${field}'`);
        }
      }
      const out: Record<string, unknown> = {};
      for (const [field, fieldType] of Object.entries(GRAPHQL_SCHEMA)) {
        const path = `${name}.${field}`;
        out[field] = Object.hasOwn(given, field)
          ? coerce(path, fieldType, given[field])
          : zero(fieldType);
      }
      return out;
    }
    case "list<string>":
      if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) fail();
      return name === "sql.verbs" ? (v as string[]).map((x) => x.toLowerCase()) : v;
    case "map<string, list<string>>": {
      if (v === null || typeof v !== "object" || Array.isArray(v)) fail();
      // A Map, not an object, so keys such as `__proto__` or `constructor` stay plain keys.
      const m = new Map<string, string[]>();
      for (const [k, val] of Object.entries(v as object)) {
        const list = Array.isArray(val) ? val : [val];
        if (list.some((x) => typeof x !== "string")) fail();
        // Header names are case-insensitive (RFC 9110 §5.1): `X-A` and `x-a` are one field.
        const key = name === "http.headers" ? k.toLowerCase() : k;
        m.set(key, [...(m.get(key) ?? []), ...(list as string[])]);
      }
      return Object.fromEntries(m);
    }
  }
  return v;
}
