/**
 * The first half of HTTP injection: finding placeholders in each part of a request (headers,
 * target, body) and deciding, for each, whether it is substituted where it sits or misplaced,
 * and which credentials are injected without one. Pure; see `http_inject.ts`.
 *
 * @module
 */

import { latin1, type PlaceholderMatch, type PlaceholderSet } from "./_placeholders.ts";
import type { BodyEscape, CompiledCredential, HeaderEdit } from "./_http_render.ts";
import type { SubstituteLocation } from "./http_inject.ts";
import { UnknownPlaceholders } from "./_unknown_placeholders.ts";

/** What the injector precomputes for one endpoint. */
export interface EndpointTable {
  /** Credentials bound to the endpoint, in configuration order. */
  bound: CompiledCredential[];
  scrub: string[];
  /** Where unknown placeholders are looked for: headers, plus where bound credentials go. */
  scan: Set<SubstituteLocation>;
}

/** Options for {@linkcode RequestScan}: the request's endpoint, and who sends it. */
export interface RequestScanOptions {
  /** Every https credential, indexed by id. */
  creds: CompiledCredential[];
  /** Their placeholders, ids as in `creds`. */
  placeholders: PlaceholderSet;
  table: EndpointTable;
  endpoint: string;
  /** Credential refs the agent's profile holds. */
  held: ReadonlySet<string>;
}

/** What happens to the request's headers. */
export interface HeaderPlan {
  /** Sparse by header index; null when no header changes. */
  headerEdits: (HeaderEdit | undefined)[] | null;
  /** Gateway-owned headers (lowercase) whose agent value survives, carrying a placeholder. */
  keptOwn: Set<string>;
}

/** The request target split into path and query, with the placeholders substituted in each. */
export interface TargetPlan {
  path: string;
  pathEdits: PlaceholderMatch[];
  query: string;
  queryEdits: PlaceholderMatch[];
}

/** Credentials injected without a placeholder, and the query_tokens that manage a parameter. */
export interface InjectedPlan {
  /** Ids of credentials whose own header is added (`inject = "always"`). */
  added: number[];
  /** Usable query_tokens with `inject = "always"` whose placeholder the agent did not send. */
  alwaysParams: CompiledCredential[];
  /** Usable query_tokens with a parameter: the agent's own value of it never goes out. */
  queryTokens: CompiledCredential[];
}

const BASIC = /^(basic)[ \t]+([A-Za-z0-9+/]+=*)[ \t]*$/i;

/**
 * One request's scan: which credentials are usable for it, and which placeholders it carries,
 * where, and whether each is substituted there or misplaced. Steps run in request order:
 * {@linkcode RequestScan.scanHeaders}, then the target, then the body, then
 * {@linkcode RequestScan.injected}.
 */
export class RequestScan {
  readonly creds: CompiledCredential[];
  readonly placeholders: PlaceholderSet;
  readonly table: EndpointTable;
  readonly endpoint: string;
  // Plain arrays, not typed ones: allocating a typed array costs more than this whole plan.
  readonly usable: number[] = [];
  readonly anyUsable: boolean = false;
  readonly found: number[] = [];
  readonly misplaced: number[] = [];
  readonly unknown = new UnknownPlaceholders();
  #details: Set<string> | null = null;

  constructor(options: RequestScanOptions) {
    this.creds = options.creds;
    this.placeholders = options.placeholders;
    this.table = options.table;
    this.endpoint = options.endpoint;
    for (const cc of this.table.bound) {
      if (options.held.has(cc.c.ref)) {
        this.usable[cc.id] = 1;
        this.anyUsable = true;
      }
    }
  }

  /** Records a found placeholder; true when it will be substituted where it sits. */
  classify(m: PlaceholderMatch, where: SubstituteLocation): boolean {
    const cc = this.creds[m.id];
    this.found[m.id] = 1;
    if (this.usable[m.id] === 1 && cc.allowed.has(where)) return true;
    this.misplaced[m.id] = 1;
    (this.#details ??= new Set()).add(
      misplacedWhy(cc, where, this.endpoint, this.usable[m.id] === 1),
    );
    return false;
  }

  /** Why each misplaced placeholder is left alone, sorted. */
  misplacedDetail(): string[] {
    return this.#details === null ? [] : [...this.#details].sort();
  }

  /**
   * Headers. The header a usable credential occupies belongs to the gateway: the agent's own
   * value is dropped unless it carries a placeholder to substitute, and only one survives.
   */
  scanHeaders(headers: [string, string][]): HeaderPlan {
    const ownHeaders = this.anyUsable ? ownHeaderNames(this.table.bound, this.usable) : null;
    const keptOwn = new Set<string>();
    let headerEdits: (HeaderEdit | undefined)[] | null = null;
    for (let i = 0; i < headers.length; i++) {
      const [name, value] = headers[i];
      let lname: string | null = null;
      let edit: HeaderEdit | undefined;
      const raw = this.placeholders.find(value);
      this.unknown.scan(value, raw);
      if (raw.length > 0) {
        const subs = raw.filter((m) => this.classify(m, "header"));
        if (subs.length > 0) {
          lname = name.toLowerCase();
          const basic = lname === "authorization" ? basicAuthMatch(subs, this.creds) : undefined;
          edit = basic ? { op: "basic", id: basic.id } : { op: "substitute", edits: subs };
        }
      } else if (name.length === 13 && (lname = name.toLowerCase()) === "authorization") {
        edit = this.#basicDecodedEdit(value);
      }
      if (ownHeaders !== null) {
        lname ??= name.toLowerCase();
        if (ownHeaders.has(lname)) {
          if (edit === undefined || keptOwn.has(lname)) edit = { op: "drop" };
          else keptOwn.add(lname);
        }
      }
      if (edit !== undefined) (headerEdits ??= [])[i] = edit;
    }
    return { headerEdits, keptOwn };
  }

  /** Target: path and query, as written or %-encoded. */
  scanTarget(target: string): TargetPlan {
    const set = this.placeholders;
    const q = target.indexOf("?");
    const path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? "" : target.slice(q + 1);
    const inPath = set.findDecoded(path);
    if (this.table.scan.has("path")) this.unknown.scan(path, inPath, true);
    const pathEdits = inPath.filter((m) => this.classify(m, "path"));
    const inQuery = query === "" ? [] : set.findDecoded(query);
    if (this.table.scan.has("query")) this.unknown.scan(query, inQuery, true);
    const queryEdits = inQuery.filter((m) => this.classify(m, "query"));
    return { path, pathEdits, query, queryEdits };
  }

  /** Body: only the buffered prefix; escaping follows the content type. */
  scanBody(body: Uint8Array, escape: BodyEscape): PlaceholderMatch[] {
    if (body.length === 0) return [];
    const text = latin1(body);
    const matches = escape === "form"
      ? this.placeholders.findDecoded(text)
      : this.placeholders.find(text);
    if (this.table.scan.has("body")) this.unknown.scan(text, matches, escape === "form");
    return matches.filter((m) => this.classify(m, "body"));
  }

  /**
   * `inject = "always"` for usable credentials whose placeholder the agent did not send; runs
   * after every placeholder was found. `keptOwn` from {@linkcode RequestScan.scanHeaders}.
   */
  injected(keptOwn: ReadonlySet<string>): InjectedPlan {
    const plan: InjectedPlan = { added: [], alwaysParams: [], queryTokens: [] };
    if (!this.anyUsable) return plan;
    const addedNames = new Set<string>();
    for (const cc of this.table.bound) {
      if (this.usable[cc.id] !== 1) continue;
      if (cc.c.kind === "query_token") {
        if (cc.c.param) plan.queryTokens.push(cc);
        if (cc.c.inject === "always" && this.found[cc.id] !== 1 && cc.c.param) {
          plan.alwaysParams.push(cc);
        }
        continue;
      }
      if (cc.c.inject !== "always" || this.found[cc.id] === 1 || cc.ownHeader === null) continue;
      // An own header already carrying another usable credential's placeholder is the
      // agent's explicit choice; never add a second one.
      if (keptOwn.has(cc.ownHeader) || addedNames.has(cc.ownHeader)) continue;
      addedNames.add(cc.ownHeader);
      plan.added.push(cc.id);
    }
    return plan;
  }

  /**
   * An `Authorization: Basic` value with no placeholder as written: placeholders inside its
   * decoded credentials are substituted there, then it is encoded again.
   */
  #basicDecodedEdit(value: string): HeaderEdit | undefined {
    const basic = BASIC.exec(value);
    const decoded = basic ? decodeBase64(basic[2]) : null;
    if (!basic || decoded === null) return undefined;
    const inner = this.placeholders.find(decoded);
    this.unknown.scan(decoded, inner);
    const subs = inner.filter((m) => this.classify(m, "header"));
    if (subs.length === 0) return undefined;
    const own = basicAuthMatch(subs, this.creds);
    return own
      ? { op: "basic", id: own.id }
      : { op: "basicDecoded", scheme: basic[1], decoded, edits: subs };
  }
}

function misplacedWhy(
  cc: CompiledCredential,
  where: SubstituteLocation,
  endpoint: string,
  usable: boolean,
): string {
  const name = cc.c.name;
  if (!cc.c.endpoints.includes(endpoint)) {
    return endpoint === ""
      ? `${name}: the host is not an endpoint`
      : `${name}: not bound to endpoint '${endpoint}'`;
  }
  if (!usable) return `${name}: not in the agent's profile`;
  return `${name} in ${where} (substitute_in allows ${cc.allowedText})`;
}

/** Lowercase names of the headers usable credentials occupy, or null when there are none. */
function ownHeaderNames(bound: CompiledCredential[], usable: number[]): Set<string> | null {
  let names: Set<string> | null = null;
  for (const cc of bound) {
    if (usable[cc.id] === 1 && cc.ownHeader !== null) (names ??= new Set()).add(cc.ownHeader);
  }
  return names;
}

/** A basic_auth credential's placeholder among `subs`: the header is rebuilt from config. */
function basicAuthMatch(
  subs: PlaceholderMatch[],
  creds: CompiledCredential[],
): PlaceholderMatch | undefined {
  return subs.find((m) => creds[m.id].c.kind === "basic_auth");
}

/** The decoded bytes as a latin1 string, or null when `b64` is not base64. */
function decodeBase64(b64: string): string | null {
  try {
    return atob(b64);
  } catch {
    return null;
  }
}
