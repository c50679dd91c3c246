/**
 * Turns a parsed HTTP request into the `http` facts rules read (DESIGN.md §4), and into exactly
 * what the proxy forwards: the rules and the upstream must see the same method and path.
 *
 * @module
 */

import type { HttpFacts } from "../../core/mod.ts";
import { lowerName } from "./_fields.ts";
import { graphqlFacts, noGraphql } from "./_graphql.ts";
import { normaliseTarget, PathRejected, reject } from "./_path.ts";
import {
  effectiveMethod,
  methodOverrides,
  overrideMayHide,
  pathForms,
  pathRefusal,
  type RequestFormOptions,
} from "./_request_forms.ts";

export { PathRejected };

/**
 * A request as the wire parser hands it over. `allowDoubleEncoding`, `allowPathParams` and
 * `allowMethodOverride` (default `false`) let through forms otherwise refused (`_request_forms.ts`).
 */
export interface HttpRequestInput extends RequestFormOptions {
  /** The method as sent on the wire. */
  method: string;
  scheme: "http" | "https";
  /** Target host (from the CONNECT target or absolute-form), any case. */
  host: string;
  port: number;
  /** Origin-form target as sent (`/x?y`). */
  target: string;
  headers: [string, string][];
  /** The buffered body, possibly only its first bytes (see `bodyTruncated`). */
  body: Uint8Array;
  bodyTruncated: boolean;
  /** Keep `%2F`/`%5C` in paths instead of rejecting them (see `normaliseTarget`). */
  allowEncodedSlash?: boolean;
}

/** Facts for one request, plus what the proxy must forward so upstream sees what rules saw. */
export interface HttpRequestFacts {
  facts: HttpFacts;
  /**
   * Facts that could not be established: `["http.body", "http.body_json", "http.graphql"]` for a
   * truncated body, `["http.graphql"]` for GraphQL that does not parse or names no one operation.
   */
  unknown: string[];
  /** `METHOD host path`, no query (queries can carry secrets), at most 200 characters. */
  summary: string;
  /** Normalised path plus `?query` when there is one: exactly what the proxy forwards. */
  upstreamTarget: string;
  /** The method to forward: canonical uppercase for standard methods, extension methods as sent. */
  method: string;
}

/**
 * A method the proxy refuses to forward; the proxy answers 400 with the message.
 *
 * @example
 * ```ts
 * try {
 *   httpFacts({ ...request, method: "Purge" });
 * } catch (e) {
 *   if (e instanceof MethodRejected) console.log(e.message); // "Cannot forward method 'Purge': ..."
 * }
 * ```
 */
export class MethodRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MethodRejected";
  }
}

// RFC 9110 §9 methods plus PATCH (RFC 5789). Methods are case-sensitive on the wire (§9.1), but
// these are safe to canonicalise: no server gives `get` a meaning different from `GET`.
const STANDARD_METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "TRACE",
  "CONNECT",
]);

// RFC 9110 §5.6.2 tchar.
const TCHAR = new Uint8Array(128);
for (const ch of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[ch.charCodeAt(0)] = 1;
}

const SUMMARY_MAX = 200;
const utf8 = new TextDecoder("utf-8", { fatal: false });

/**
 * Builds the `http` facts for a request, and the method and target the proxy must forward.
 *
 * @example
 * ```ts
 * const { facts, summary, upstreamTarget } = httpFacts({
 *   method: "post",
 *   scheme: "https",
 *   host: "API.GitHub.com.",
 *   port: 443,
 *   target: "/repos/x/y/./pulls?draft=true",
 *   headers: [["Content-Type", "application/json"]],
 *   body: new TextEncoder().encode('{"title":"t"}'),
 *   bodyTruncated: false,
 * });
 * facts.method; // "post"
 * facts.host; // "api.github.com"
 * facts.body_json; // { title: "t" }
 * summary; // "POST api.github.com/repos/x/y/pulls"
 * upstreamTarget; // "/repos/x/y/pulls?draft=true"
 * ```
 * @throws {PathRejected} for a target that fails normalisation, or (unless allowed) has
 * double-encoded escapes or `;` path parameters.
 * @throws {MethodRejected} for a method that is not a token, or an extension method that is not
 * all uppercase; for a method override naming another method (unless allowed), conflicting
 * overrides, or an override that is not a method.
 */
export function httpFacts(input: HttpRequestInput): HttpRequestFacts {
  const method = forwardedMethod(input.method);
  const { path, rawPath, query } = normaliseTarget(input.target, {
    allowEncodedSlash: input.allowEncodedSlash ?? false,
  });
  // Forms some upstreams route differently from what rules see are refused before any rule.
  const forms = pathForms(path);
  const pathProblem = pathRefusal(forms.anomalies, input);
  if (pathProblem !== null) throw reject(input.target.split("?")[0], pathProblem);
  const scheme = input.scheme.toLowerCase();
  const host = canonicalHost(input.host);
  const headers = headerMap(input.headers);
  const body = utf8.decode(input.body);
  const truncated = input.bodyTruncated;
  // A prefix of a JSON document does not parse, and guessing its shape would let a rule
  // decide on half a request: the rule reads an unknown fact and denies instead.
  const json = truncated ? null : bodyJson(body, headers["content-type"]);
  const query_ = queryMap(query);
  const contentType = headers["content-type"];
  const overrides = methodOverrides({ headers, query: query_, body, body_json: json, contentType });
  const effective = effectiveMethod(method.toLowerCase(), overrides, input);
  if (effective.refusal !== null) {
    throw new MethodRejected(`Cannot forward method '${method}': ${effective.refusal}`);
  }
  // A truncated body's GraphQL is already unknown: `http.body` unknown implies `http.graphql`.
  const graphql = truncated ? "unknown" : graphqlFacts({ query: query_, body_json: json });
  const facts: HttpFacts = {
    method: method.toLowerCase(),
    scheme,
    host,
    port: input.port,
    path,
    raw_path: rawPath,
    canonical_path: forms.canonicalPath,
    path_anomalies: forms.anomalies,
    effective_method: effective.method,
    query: query_,
    headers,
    body,
    body_json: json,
    body_truncated: truncated,
    graphql: graphql === null || graphql === "unknown" ? noGraphql() : graphql,
    placeholders: [],
    misplaced_placeholders: [],
    unknown_placeholders: [],
  };
  const defaultPort = scheme === "https" ? 443 : 80;
  const authority = input.port === defaultPort ? host : `${host}:${input.port}`;
  let summary = `${method} ${authority}${path}`;
  if (summary.length > SUMMARY_MAX) summary = summary.slice(0, SUMMARY_MAX - 3) + "...";
  const unknown = !truncated ? [] : overrideMayHide(contentType)
    // A `_method` past the buffer limit would go unseen: rules on the effective method deny.
    ? ["http.body", "http.body_json", "http.effective_method"]
    : ["http.body", "http.body_json"];
  if (graphql === "unknown") unknown.push("http.graphql");
  return {
    facts,
    unknown,
    summary,
    upstreamTarget: query === "" ? path : `${path}?${query}`,
    method,
  };
}

/**
 * Standard methods in any case become canonical uppercase. An extension method must already be
 * uppercase: the `method` fact is lowercase, so `Purge` and `PURGE` would look alike to rules
 * while an upstream may treat them differently.
 */
function forwardedMethod(sent: string): string {
  if (sent.length === 0) throw new MethodRejected("Cannot forward an empty method");
  for (let i = 0; i < sent.length; i++) {
    const c = sent.charCodeAt(i);
    if (c >= 128 || TCHAR[c] !== 1) {
      throw new MethodRejected(`Cannot forward method '${printable(sent)}': not a token`);
    }
  }
  const upper = sent.toUpperCase();
  if (STANDARD_METHODS.has(upper) || upper === sent) return upper;
  throw new MethodRejected(
    `Cannot forward method '${sent}': extension methods must be uppercase ('${upper}')`,
  );
}

/**
 * Lowercase, without trailing dots: `api.github.com.` is the same host as `api.github.com` to DNS,
 * and a rule written for the one must match the other.
 */
function canonicalHost(host: string): string {
  let end = host.length;
  while (end > 0 && host.charCodeAt(end - 1) === 0x2e) end--;
  return host.slice(0, end).toLowerCase();
}

function headerMap(pairs: [string, string][]): Record<string, string[]> {
  // Null prototype: a header named `__proto__` or `constructor` stays a plain key.
  const map: Record<string, string[]> = Object.create(null);
  for (const [name, value] of pairs) {
    const key = lowerName(name);
    const list = map[key];
    if (list) list.push(value);
    else map[key] = [value];
  }
  return map;
}

/** Form-style (`application/x-www-form-urlencoded`) query parsing; undecodable text stays raw. */
function queryMap(query: string): Record<string, string[]> {
  // Null prototype: `?__proto__=x` must be a key, not a prototype assignment.
  const map: Record<string, string[]> = Object.create(null);
  if (query === "") return map;
  let start = 0;
  while (start <= query.length) {
    let amp = query.indexOf("&", start);
    if (amp < 0) amp = query.length;
    if (amp > start) {
      const eq = query.indexOf("=", start);
      const hasValue = eq >= 0 && eq < amp;
      const name = decodeForm(query.slice(start, hasValue ? eq : amp));
      const value = hasValue ? decodeForm(query.slice(eq + 1, amp)) : "";
      const list = map[name];
      if (list) list.push(value);
      else map[name] = [value];
    }
    start = amp + 1;
  }
  return map;
}

function decodeForm(raw: string): string {
  if (raw.indexOf("%") < 0 && raw.indexOf("+") < 0) return raw;
  try {
    return decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    return raw;
  }
}

/**
 * The parsed body when it is JSON, else `null`. A JSON content type parses any JSON value; any
 * other (or no) content type parses a body that looks like an object or array, because many APIs
 * parse JSON whatever the content type says, and a rule on `body_json` must not be dodged by
 * sending `text/plain`.
 */
function bodyJson(body: string, contentTypes: string[] | undefined): unknown {
  if (body === "") return null;
  const declared = contentTypes?.some(isJsonMediaType) ?? false;
  if (!declared) {
    const first = firstNonWhitespace(body);
    if (first !== "{" && first !== "[") return null;
  }
  try {
    return JSON.parse(body);
  } catch {
    // Not JSON after all (or nested past the parser's limits): no JSON facts, not an error.
    return null;
  }
}

/** `application/json` or any `+json` suffix type (RFC 6839), parameters ignored. */
function isJsonMediaType(value: string): boolean {
  const semi = value.indexOf(";");
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  return type === "application/json" || (type.endsWith("+json") && type.includes("/"));
}

function firstNonWhitespace(s: string): string {
  // JSON whitespace (RFC 8259 §2).
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== " " && c !== "\t" && c !== "\n" && c !== "\r") return c;
  }
  return "";
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"));
}
