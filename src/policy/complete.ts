/**
 * Builds complete, normalised facts from a partial description (fixtures, tests, benches), the
 * way a protocol would have produced them: every field present, lowercase facts lowercased, ints
 * as safe-integer numbers (rules see them as CEL ints).
 *
 * @module
 */

import type { FactFields, Facts, Protocol } from "../core/mod.ts";
import { LOWERCASE_VALUES } from "./_lowercase.ts";

/**
 * Fills every fact field of the protocol's facets with its zero value unless given.
 *
 * @example
 * ```ts
 * completeFacts(HTTPS_PROTOCOL, { http: { method: "POST", path: "/x" } }).http!.method; // "post"
 * ```
 * @throws {TypeError} when a field is unknown or has the wrong type.
 */
export function completeFacts(
  protocol: Protocol,
  partial: Record<string, Record<string, unknown> | undefined>,
): Facts {
  const out: Record<string, Record<string, unknown>> = {};
  for (const key of Object.keys(partial)) {
    if (!protocol.facets.some((f) => f.variable === key)) {
      throw new TypeError(`Unknown fact family '${key}' for ${protocol.family} endpoints`);
    }
  }
  for (const facet of protocol.facets) {
    const { variable, fields: schema } = facet;
    const messages = facet.messages ?? {};
    const given = partial[variable] ?? {};
    const facts: Record<string, unknown> = {};
    for (const [field, type] of Object.entries(schema)) {
      facts[field] = Object.hasOwn(given, field)
        ? coerce(`${variable}.${field}`, type, given[field], messages)
        : zero(type, messages);
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

/** Message types a facet declares, by CEL type name. */
type Messages = Readonly<Record<string, FactFields>>;

function zero(type: string, messages: Messages): unknown {
  if (type === "string") return "";
  if (type === "int") return 0;
  if (type === "bool") return false;
  if (type === "dyn") return null;
  if (Object.hasOwn(messages, type)) {
    return Object.fromEntries(
      Object.entries(messages[type]).map(([field, t]) => [field, zero(t, messages)]),
    );
  }
  if (type.startsWith("list")) return [];
  return {};
}

function coerce(name: string, type: string, v: unknown, messages: Messages): unknown {
  if (Object.hasOwn(messages, type)) return message(name, type, v, messages);
  const fail = () => {
    const shown = typeof v === "bigint" ? `${v}` : JSON.stringify(v);
    throw new TypeError(`Fact '${name}' must be ${type}, got ${shown}`);
  };
  switch (type) {
    case "string":
      if (typeof v !== "string") fail();
      return LOWERCASE_VALUES.has(name) ? (v as string).toLowerCase() : v;
    case "int":
      if (Number.isSafeInteger(v)) return v;
      if (typeof v === "bigint" && Number.isSafeInteger(Number(v))) return Number(v);
      return fail();
    case "bool":
      if (typeof v !== "boolean") fail();
      return v;
    case "dyn":
      return v;
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

/** A message-typed fact (`http.graphql`): a mapping of its declared fields, the rest zero. */
function message(name: string, type: string, v: unknown, messages: Messages): unknown {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new TypeError(`Fact '${name}' must be ${type}, got ${JSON.stringify(v)}`);
  }
  const given = v as Record<string, unknown>;
  const schema = messages[type];
  for (const field of Object.keys(given)) {
    if (!Object.hasOwn(schema, field)) throw new TypeError(`Unknown fact '${name}.${field}'`);
  }
  const out: Record<string, unknown> = {};
  for (const [field, fieldType] of Object.entries(schema)) {
    const path = `${name}.${field}`;
    out[field] = Object.hasOwn(given, field)
      ? coerce(path, fieldType, given[field], messages)
      : zero(fieldType, messages);
  }
  return out;
}
