/**
 * Request forms that some upstream frameworks route differently from what `http.path` and
 * `http.method` say: case-insensitive or NFKC-normalising routers, double-decoding servers,
 * Tomcat/Spring path parameters (`/;x=1/admin`), trimmed segments (`/%20/admin`), and method
 * override headers and `_method` parameters (Rails, Express, Laravel, ASP.NET). This file turns
 * them into facts (`http.canonical_path`, `http.path_anomalies`, `http.effective_method`) and
 * into the problems the proxy refuses by default. Pure: no I/O, no policy.
 *
 * @module
 */

/**
 * A property of a path that some upstream may resolve differently from the rules' `http.path`.
 * Listed in this order in `http.path_anomalies`.
 */
export type PathAnomaly =
  | "double_encoded"
  | "path_params"
  | "encoded_slash"
  | "encoded_space"
  | "non_ascii";

/** `http.canonical_path` and `http.path_anomalies` of one path. */
export interface PathForms {
  /** The path as the most lenient router would see it; see {@linkcode pathForms}. */
  canonicalPath: string;
  /** What about the path is ambiguous, in {@linkcode PathAnomaly} order, without duplicates. */
  anomalies: PathAnomaly[];
}

// A server that decodes twice turns `%2561` into `a`; `%25` + two hex digits is never needed
// to send a literal `%` followed by hex in a path segment that a single-decoding server means.
const DOUBLE_ENCODED = /%25[0-9A-Fa-f]{2}/;
const ENCODED_SLASH = /%(2[Ff]|5[Cc])/;
const ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;
// Unicode whitespace and C0/C1 controls: what segment-trimming routers drop.
const SPACE_OR_CONTROL = /[\s\p{Cc}]/u;
const NON_ASCII = /[^\p{ASCII}]/u;
// Each decode round removes at least two characters per escape; the cap only guards against a
// pathological NFKC/decode ping-pong (a fullwidth '％' becoming a new escape each round).
const MAX_ROUNDS = 16;

const utf8 = new TextDecoder("utf-8", { fatal: false });

/**
 * The canonical form and anomalies of a request path (normalised or as sent; no query).
 *
 * Canonicalisation, in order: %-decoding repeated until nothing changes (invalid UTF-8 becomes
 * U+FFFD), NFKC after each round (fullwidth `ａｄｍｉｎ` is `admin`), `\` as `/`, then per
 * segment: `;` path parameters removed, surrounding whitespace and controls trimmed, lowercased;
 * empty and `.` segments dropped, `..` resolved; no trailing slash (`/` for the root). A rule
 * `http.canonical_path.startsWith('/admin')` therefore matches `/ADMIN`, `/%2561dmin`,
 * `/;/admin`, `/%20/admin`, `/ａｄｍｉｎ` and `/admin/`.
 *
 * @example
 * ```ts
 * pathForms("/;x=1/%2541DMIN/");
 * // { canonicalPath: "/admin", anomalies: ["double_encoded", "path_params"] }
 * ```
 */
export function pathForms(path: string): PathForms {
  // Most paths are visible ASCII without `%`, `;` or `\`: nothing to decode, normalise (NFKC
  // leaves ASCII as it is), strip or trim, so only case and dot segments remain.
  if (PLAIN_PATH.test(path)) return { canonicalPath: canonicalSegments(path), anomalies: [] };
  return pathFormsByDecoding(path);
}

/** Visible ASCII except `%`, `;` and `\`. */
const PLAIN_PATH = /^[\x21-\x24\x26-\x3a\x3c-\x5b\x5d-\x7e]*$/;

/** `path`'s segments lowercased, empty and `.` ones dropped and `..` resolved. */
function canonicalSegments(path: string): string {
  const lower = path.toLowerCase();
  // Already canonical: rooted, no empty, `.` or `..` segment, no trailing slash.
  if (
    lower.length > 1 && lower.charCodeAt(0) === 47 && !lower.endsWith("/") &&
    !lower.includes("//") && !lower.includes("/.")
  ) return lower;
  const segments: string[] = [];
  for (const segment of lower.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return "/" + segments.join("/");
}

/** {@linkcode pathForms} the long way, for any path: exported to test the short way against. */
export function pathFormsByDecoding(path: string): PathForms {
  const anomalies: PathAnomaly[] = [];
  if (DOUBLE_ENCODED.test(path)) anomalies.push("double_encoded");
  if (path.includes(";")) anomalies.push("path_params");
  if (ENCODED_SLASH.test(path)) anomalies.push("encoded_slash");
  const { decoded, space, nonAscii } = decodeFully(path);
  // The path on the wire is visible ASCII, so any space, control or non-ASCII character came
  // from an escape.
  if (space) anomalies.push("encoded_space");
  if (nonAscii) anomalies.push("non_ascii");
  const segments: string[] = [];
  for (const raw of decoded.replaceAll("\\", "/").split("/")) {
    const semi = raw.indexOf(";");
    const segment = (semi < 0 ? raw : raw.slice(0, semi)).replace(TRIM, "").toLowerCase();
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return { canonicalPath: "/" + segments.join("/"), anomalies };
}

const TRIM = /^[\s\p{Cc}]+|[\s\p{Cc}]+$/gu;

/**
 * %-decodes and NFKC-normalises until stable: what a server that decodes N times could see.
 * Spaces and non-ASCII are looked for before each NFKC step, which maps fullwidth `ａ` to `a`
 * and U+3000 to a plain space.
 */
function decodeFully(path: string): { decoded: string; space: boolean; nonAscii: boolean } {
  let s = path;
  let space = false;
  let nonAscii = false;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const raw = s.replace(ESCAPES, decodeRun);
    space ||= SPACE_OR_CONTROL.test(raw);
    nonAscii ||= NON_ASCII.test(raw);
    const next = raw.normalize("NFKC");
    if (next === s) break;
    s = next;
  }
  return { decoded: s, space, nonAscii };
}

function decodeRun(run: string): string {
  const bytes = new Uint8Array(run.length / 3);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
  return utf8.decode(bytes);
}

/** Which refusable forms an endpoint lets through. All default to `false` (refused). */
export interface RequestFormOptions {
  /** Forward paths with `%25XX` (double-encoded) escapes. @default {false} */
  allowDoubleEncoding?: boolean;
  /** Forward paths with `;` path parameters. @default {false} */
  allowPathParams?: boolean;
  /** Forward method overrides naming another method than the request's. @default {false} */
  allowMethodOverride?: boolean;
}

/**
 * Why the proxy refuses a path with these anomalies before rules, or `null`. Only forms no
 * well-behaved client needs are refused; case, spaces and non-ASCII are legitimate in real APIs
 * (`/repos/Owner/Repo`, file names) and are left to rules on `http.canonical_path`.
 *
 * @example
 * ```ts
 * pathRefusal(["path_params"], {}); // "';' path parameters (Tomcat and Spring strip them) ..."
 * pathRefusal(["path_params"], { allowPathParams: true }); // null
 * ```
 */
export function pathRefusal(anomalies: PathAnomaly[], options: RequestFormOptions): string | null {
  if (anomalies.includes("double_encoded") && !options.allowDoubleEncoding) {
    return "double-encoded escape ('%25' and two hex digits): a server that decodes twice sees " +
      "another path (endpoint attribute allow_double_encoding)";
  }
  if (anomalies.includes("path_params") && !options.allowPathParams) {
    return "';' path parameters: Tomcat and Spring strip them and route another path " +
      "(endpoint attribute allow_path_params)";
  }
  return null;
}

/** Headers through which frameworks let a request claim another method (lowercase). */
export const OVERRIDE_HEADERS = ["x-http-method-override", "x-http-method", "x-method-override"];

/** The parts of a request a method override can hide in. */
export interface OverrideSources {
  headers: Record<string, string[]>;
  query: Record<string, string[]>;
  /** The buffered body as text. */
  body: string;
  body_json: unknown;
  /** `Content-Type` values, as sent. */
  contentType: string[] | undefined;
}

/**
 * Every method an override header, a `_method` query or form parameter, or a `_method` JSON body
 * field names, trimmed, lowercase, deduplicated; empty values are ignored. A multipart body's
 * `_method` part is found by a plain scan (its value up to the line end).
 *
 * @example
 * ```ts
 * methodOverrides({
 *   headers: { "x-http-method-override": ["DELETE"] }, query: {}, body: "",
 *   body_json: null, contentType: undefined,
 * }); // ["delete"]
 * ```
 */
export function methodOverrides(sources: OverrideSources): string[] {
  const found: string[] = [];
  for (const name of OVERRIDE_HEADERS) found.push(...(sources.headers[name] ?? []));
  found.push(...(sources.query["_method"] ?? []));
  const type = mediaType(sources.contentType);
  if (type === "application/x-www-form-urlencoded") {
    found.push(...formValues(sources.body, "_method"));
  } else if (type === "multipart/form-data") {
    const re =
      /content-disposition:[^\r\n]*;\s*name="?_method"?[^\r\n]*\r?\n(?:[^\r\n]+\r?\n)*\r?\n([^\r\n]*)/gi;
    for (const m of sources.body.matchAll(re)) found.push(m[1]);
  }
  const json = sources.body_json;
  if (json !== null && typeof json === "object" && !Array.isArray(json)) {
    const v = (json as Record<string, unknown>)["_method"];
    if (typeof v === "string") found.push(v);
  }
  const methods = found.map((v) => v.trim().toLowerCase()).filter((v) => v !== "");
  return [...new Set(methods)];
}

/**
 * Whether a body could carry a `_method` the buffered prefix does not show: a truncated form
 * body leaves `http.effective_method` unknown, so a rule reading it denies.
 */
export function overrideMayHide(contentType: string[] | undefined): boolean {
  const type = mediaType(contentType);
  return type === "application/x-www-form-urlencoded" || type === "multipart/form-data" ||
    type === "application/json";
}

// RFC 9110 §5.6.2 token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * `http.effective_method` and why the proxy refuses the request, if it does. An override naming
 * the request's own method changes nothing and is accepted. Two overrides naming different
 * methods, or one that is not a method token, are refused even where overrides are allowed: which
 * one the upstream honours is unknowable.
 *
 * @example
 * ```ts
 * effectiveMethod("get", ["delete"], {}).refusal; // "method override ..."
 * effectiveMethod("get", ["delete"], { allowMethodOverride: true }); // { method: "delete", refusal: null }
 * ```
 */
export function effectiveMethod(
  method: string,
  overrides: string[],
  options: RequestFormOptions,
): { method: string; refusal: string | null } {
  const bad = overrides.find((m) => !TOKEN.test(m));
  if (bad !== undefined) {
    return { method, refusal: `method override '${printable(bad)}' is not a method` };
  }
  if (overrides.length > 1) {
    return { method, refusal: `conflicting method overrides (${overrides.join(", ")})` };
  }
  const named = overrides[0];
  if (named === undefined || named === method) return { method, refusal: null };
  if (!options.allowMethodOverride) {
    return {
      method,
      refusal: `method override to '${named.toUpperCase()}' on a ${method.toUpperCase()}: ` +
        "frameworks that honour it run another method (endpoint attribute allow_method_override)",
    };
  }
  return { method: named, refusal: null };
}

function mediaType(values: string[] | undefined): string {
  const v = values?.[0] ?? "";
  const semi = v.indexOf(";");
  return (semi < 0 ? v : v.slice(0, semi)).trim().toLowerCase();
}

function formValues(body: string, name: string): string[] {
  const values: string[] = [];
  for (const pair of body.split("&")) {
    const eq = pair.indexOf("=");
    const key = decodeForm(eq < 0 ? pair : pair.slice(0, eq));
    if (key === name) values.push(eq < 0 ? "" : decodeForm(pair.slice(eq + 1)));
  }
  return values;
}

function decodeForm(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    return raw;
  }
}

function printable(s: string): string {
  const clipped = s.length > 40 ? s.slice(0, 40) + "..." : s;
  return clipped.replace(
    /[^\x20-\x7e]/g,
    (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}
