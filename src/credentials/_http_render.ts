/**
 * The second half of HTTP injection: turning a plan's edits and the secrets into the request
 * that is forwarded. Only runs for allowed requests.
 *
 * @module
 */

import { concatBytes } from "../core/mod.ts";
import type { HttpRequestParts, InjectableCredential, SubstituteLocation } from "./http_inject.ts";
import type { PlaceholderMatch } from "./_placeholders.ts";
import { base64Utf8, jsonEscaped } from "./scrub.ts";

/** Locations in the order messages list them. */
export const LOCATIONS: readonly SubstituteLocation[] = ["header", "query", "path", "body"];

/** How a secret is written into the body. */
export type BodyEscape = "json" | "form" | "raw";

const FORM_TYPE = "application/x-www-form-urlencoded";

/** The escaping a request's content type calls for: JSON, form (%-encoding) or none. */
export function bodyEscape(contentType: string | undefined): BodyEscape {
  if (contentType === undefined) return "raw";
  const semi = contentType.indexOf(";");
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (type === "application/json" || (type.endsWith("+json") && type.includes("/"))) {
    return "json";
  }
  return type === FORM_TYPE ? "form" : "raw";
}

/** A credential with what the injector precomputes for it. */
export interface CompiledCredential {
  /** Index in the injector's list (and in its placeholder set). */
  id: number;
  c: InjectableCredential;
  /** `substituteIn` plus the kind's own location. */
  allowed: ReadonlySet<SubstituteLocation>;
  allowedText: string;
  /** Lowercase name of the header the credential occupies; null for query_token. */
  ownHeader: string | null;
  /** That header's name as the gateway writes it. */
  ownHeaderName: string;
}

/** What happens to one request header. */
export type HeaderEdit =
  | { op: "drop" }
  /** Placeholders in the value become secrets, written as is. */
  | { op: "substitute"; edits: PlaceholderMatch[] }
  /** `Authorization: Basic base64(username:secret)` from a basic_auth credential's config. */
  | { op: "basic"; id: number }
  /** Placeholders inside a decoded Basic header become secrets, then it is encoded again. */
  | { op: "basicDecoded"; scheme: string; decoded: string; edits: PlaceholderMatch[] };

/** One `&`-separated query segment, when a usable query_token's parameter is managed. */
export interface QuerySegment {
  start: number;
  end: number;
  /** `set`: the segment becomes `param=secret` of credential `id` (appended when empty). */
  op: "keep" | "drop" | "set";
  id: number;
}

/** Everything a plan will change, positions relative to the request it was made for. */
export interface RequestEdits {
  /** Sparse by header index; null when no header changes. */
  headerEdits: (HeaderEdit | undefined)[] | null;
  /** Credential ids whose header is added (`inject = "always"`). */
  added: number[];
  path: string;
  pathEdits: PlaceholderMatch[];
  query: string;
  queryEdits: PlaceholderMatch[];
  /** Segment decisions, or null when no usable query_token manages a parameter. */
  querySegments: QuerySegment[] | null;
  bodyEdits: PlaceholderMatch[];
  escape: BodyEscape;
}

const utf8 = new TextEncoder();
/** Characters Node and the HTTP grammar (RFC 9110 §5.5) refuse in a field value. */
const NOT_FIELD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** The secrets {@linkcode render} writes, and which credentials it needs them for. */
export interface RenderOptions {
  /** The injector's credentials, indexed by id. */
  creds: CompiledCredential[];
  /** Ids of the credentials the edits write. */
  needs: number[];
  /** Vault values by credential name. */
  secrets: ReadonlyMap<string, string>;
}

/** Builds the forwarded request; see {@linkcode InjectionPlan.apply}. */
export function render(
  request: HttpRequestParts,
  edits: RequestEdits,
  { creds, needs, secrets }: RenderOptions,
): HttpRequestParts {
  const values = SecretValues.check(creds, needs, secrets);
  const out: HttpRequestParts = {
    headers: renderHeaders(request.headers, edits, values),
    target: renderTarget(request.target, edits, values),
    body: renderBody(request.body, edits, values),
    bodyTruncated: request.bodyTruncated,
  };
  if (request.contentType !== undefined) out.contentType = request.contentType;
  return out;
}

/** The secrets a plan needs, by credential id, each written the way its place calls for. */
class SecretValues {
  readonly creds: CompiledCredential[];
  readonly #values: string[];

  private constructor(creds: CompiledCredential[], values: string[]) {
    this.creds = creds;
    this.#values = values;
  }

  /**
   * The secret of every credential in `needs`, all checked before anything is built: a partial
   * request is never returned.
   */
  static check(
    creds: CompiledCredential[],
    needs: number[],
    secrets: ReadonlyMap<string, string>,
  ): SecretValues {
    const values: string[] = new Array(creds.length);
    for (const id of needs) {
      const value = secrets.get(creds[id].c.ref);
      if (typeof value !== "string") {
        throw new Error(`Missing secret for credential '${creds[id].c.ref}'`);
      }
      values[id] = value;
    }
    return new SecretValues(creds, values);
  }

  /** The secret as is. */
  raw(id: number): string {
    return this.#values[id];
  }

  /** The secret for a header value. */
  header(id: number): string {
    const v = this.#values[id];
    if (NOT_FIELD_VALUE.test(v)) {
      // A line break here would let the secret's text smuggle headers into the request.
      throw new Error(
        `Cannot inject credential '${
          this.creds[id].c.ref
        }' into a header: its value has characters not allowed in header values`,
      );
    }
    return v;
  }

  /** The secret %-encoded, for a path, a query or a form body. */
  uri(id: number): string {
    try {
      return encodeURIComponent(this.#values[id]);
    } catch {
      throw new Error(
        `Cannot inject credential '${this.creds[id].c.ref}': its value is not valid Unicode`,
      );
    }
  }
}

/** The request's headers with the plan's edits, then the headers it adds. */
function renderHeaders(
  src: [string, string][],
  edits: RequestEdits,
  values: SecretValues,
): [string, string][] {
  const creds = values.creds;
  const forHeader = (id: number) => values.header(id);
  const headers: [string, string][] = [];
  for (let i = 0; i < src.length; i++) {
    const [name, value] = src[i];
    const e = edits.headerEdits?.[i];
    if (e === undefined) headers.push([name, value]);
    else if (e.op === "substitute") headers.push([name, splice(value, e.edits, forHeader)]);
    else if (e.op === "basic") headers.push([name, basicValue(creds[e.id].c, values.raw(e.id))]);
    else if (e.op === "basicDecoded") {
      const binary = splice(e.decoded, e.edits, (id) => latin1Of(values.raw(id)));
      headers.push([name, `${e.scheme} ${btoa(binary)}`]);
    }
  }
  for (const id of edits.added) {
    const cc = creds[id];
    const c = cc.c;
    if (c.kind === "basic_auth") headers.push([cc.ownHeaderName, basicValue(c, values.raw(id))]);
    else if (c.kind === "bearer_token") headers.push([cc.ownHeaderName, `Bearer ${forHeader(id)}`]);
    else headers.push([cc.ownHeaderName, (c.prefix ?? "") + forHeader(id)]);
  }
  return headers;
}

/** The target with secrets in its path and query, or `target` itself when neither changes. */
function renderTarget(target: string, edits: RequestEdits, values: SecretValues): string {
  const queryChanged = edits.queryEdits.length > 0 || edits.querySegments !== null;
  if (edits.pathEdits.length === 0 && !queryChanged) return target;
  const uri = (id: number) => values.uri(id);
  const path = splice(edits.path, edits.pathEdits, uri);
  const query = edits.querySegments === null
    ? splice(edits.query, edits.queryEdits, uri)
    : renderQuery(edits, values.creds, uri);
  return query === "" ? path : `${path}?${query}`;
}

/** The body with secrets escaped for its content type, or `body` itself when none goes in. */
function renderBody(body: Uint8Array, edits: RequestEdits, values: SecretValues): Uint8Array {
  if (edits.bodyEdits.length === 0) return body;
  const escaped = (id: number): string =>
    edits.escape === "json"
      ? jsonEscaped(values.raw(id))
      : edits.escape === "form"
      ? values.uri(id)
      : values.raw(id);
  return spliceBytes(body, edits.bodyEdits, escaped);
}

function basicValue(c: InjectableCredential, secret: string): string {
  return `Basic ${base64Utf8(`${c.username ?? ""}:${secret}`)}`;
}

/** The UTF-8 bytes of `s`, one character each (what `btoa` encodes). */
function latin1Of(s: string): string {
  let out = "";
  for (const b of utf8.encode(s)) out += String.fromCharCode(b);
  return out;
}

/** `text` with each match replaced by `value(id)`; matches are sorted and disjoint. */
function splice(text: string, matches: PlaceholderMatch[], value: (id: number) => string): string {
  let out = "";
  let cursor = 0;
  for (const m of matches) {
    out += text.slice(cursor, m.start) + value(m.id);
    cursor = m.end;
  }
  return out + text.slice(cursor);
}

function spliceBytes(
  bytes: Uint8Array,
  matches: PlaceholderMatch[],
  value: (id: number) => string,
): Uint8Array {
  const parts: Uint8Array[] = [];
  let cursor = 0;
  for (const m of matches) {
    parts.push(bytes.subarray(cursor, m.start), utf8.encode(value(m.id)));
    cursor = m.end;
  }
  parts.push(bytes.subarray(cursor));
  return concatBytes(parts);
}

function renderQuery(
  edits: RequestEdits,
  creds: CompiledCredential[],
  uri: (id: number) => string,
): string {
  const parts: string[] = [];
  for (const seg of edits.querySegments!) {
    if (seg.op === "drop") continue;
    if (seg.op === "set") {
      parts.push(`${encodeURIComponent(creds[seg.id].c.param!)}=${uri(seg.id)}`);
      continue;
    }
    const inside = edits.queryEdits
      .filter((m) => m.start >= seg.start && m.start <= seg.end)
      .map((m) => ({ start: m.start - seg.start, end: m.end - seg.start, id: m.id }));
    parts.push(splice(edits.query.slice(seg.start, seg.end), inside, uri));
  }
  return parts.join("&");
}
