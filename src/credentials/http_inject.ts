/**
 * HTTP credential injection: finds placeholders in a request, decides where each may be
 * substituted, and swaps in secrets. Pure: the gateway fetches the secrets a plan needs.
 *
 * Security invariant: a secret only goes where its credential is usable (bound to the endpoint
 * and held by the agent's profile) and its location is allowed. Everything else is reported as
 * misplaced and left exactly as the agent sent it.
 *
 * @module
 */

import type { HttpRequestParts } from "../core/mod.ts";
export type { HttpRequestParts } from "../core/mod.ts";
import { PlaceholderSet } from "./_placeholders.ts";
import {
  bodyEscape,
  type CompiledCredential,
  LOCATIONS,
  render,
  type RequestEdits,
} from "./_http_render.ts";
import { planQuery } from "./_http_query.ts";
import { type EndpointTable, RequestScan } from "./_http_scan.ts";

/** Where in a request a placeholder sits. */
export type SubstituteLocation = "header" | "query" | "path" | "body";

/** One https credential as the injector needs it (built from config by the gateway). */
export interface InjectableCredential {
  /** `kind.name`, e.g. `"bearer_token.github_pat"`. */
  ref: string;
  /** The credential's name, as facts report it: `"github_pat"`. */
  name: string;
  kind: "bearer_token" | "header_token" | "basic_auth" | "query_token";
  /** Endpoint names it is bound to. */
  endpoints: string[];
  /** `{{name}}` by default, or a custom token-shaped string. */
  placeholder: string;
  /** Locations the placeholder is substituted in, besides the kind's own. @default {["header"]} */
  substituteIn: SubstituteLocation[];
  /** `"always"`: set the credential even when the agent sent no placeholder. @default {"placeholder"} */
  inject: "always" | "placeholder";
  /** header_token: the header name. */
  header?: string;
  /** header_token: the value prefix, e.g. `"Token "`. */
  prefix?: string;
  /** basic_auth: the user name. */
  username?: string;
  /** query_token: the query parameter name. */
  param?: string;
}

/** What injection will do to one request, and the secrets it needs to do it. */
export interface InjectionPlan {
  /** Names of credentials whose placeholder appears anywhere in the request (sorted, unique). */
  placeholders: string[];
  /** Names found somewhere they will not be substituted (sorted, unique). */
  misplaced: string[];
  /** Why each misplaced placeholder is left alone, for the operator; never a secret. Sorted. */
  misplacedDetail: string[];
  /**
   * Placeholder-shaped texts (`{{…}}`, see `_unknown_placeholders.ts`) that name no configured
   * credential, as written (sorted, unique). Looked for in headers (Basic credentials decoded),
   * and in the path, query or body only when a credential bound to the endpoint substitutes
   * there: elsewhere the endpoint never substitutes, so such text is the request's own data.
   */
  unknown: string[];
  /** Refs whose secret `apply()` needs: substituted, or injected with `inject = "always"`. */
  needs: string[];
  /** Refs of every credential bound to the endpoint: responses are scrubbed of their secrets. */
  scrub: string[];
  /**
   * The request with secrets swapped in. `secrets` maps ref → value for every ref in `needs`.
   * Never mutates its input (an unchanged body is returned as the same array).
   *
   * @throws {Error} naming the credential (never a value) when a needed secret is missing or
   * cannot go where it is needed (a line break or NUL bound for a header).
   */
  apply(secrets: ReadonlyMap<string, string>): HttpRequestParts;
}

const NATIVE: Record<InjectableCredential["kind"], SubstituteLocation> = {
  bearer_token: "header",
  header_token: "header",
  basic_auth: "header",
  query_token: "query",
};

const NO_TABLE: EndpointTable = { bound: [], scrub: [], scan: new Set(["header"]) };

/**
 * Plans credential injection for requests to https endpoints. Built once per configuration; the
 * per-endpoint tables are computed up front so {@linkcode HttpInjector.plan} does no setup.
 *
 * @example
 * ```ts
 * const injector = new HttpInjector([githubPat]); // placeholder "{{github_pat}}", endpoint "github"
 * const plan = injector.plan("github", new Set([githubPat.ref]), {
 *   headers: [["Authorization", "Bearer {{github_pat}}"]],
 *   target: "/user",
 *   body: new Uint8Array(),
 *   bodyTruncated: false,
 * });
 * plan.needs; // ["bearer_token.github_pat"]
 * plan.apply(new Map([[githubPat.ref, "ghp_x"]])).headers; // [["Authorization", "Bearer ghp_x"]]
 * ```
 */
export class HttpInjector {
  readonly #credentials: CompiledCredential[];
  readonly #placeholders: PlaceholderSet;
  readonly #tables = new Map<string, EndpointTable>();

  /**
   * @param credentials every https credential in the configuration.
   * @throws {TypeError} when two credentials share a ref or a placeholder, or a placeholder is
   * empty: a placeholder must name exactly one credential.
   */
  constructor(credentials: InjectableCredential[]) {
    const byPlaceholder = new Map<string, string>();
    const refs = new Set<string>();
    this.#credentials = credentials.map((c, id) => {
      if (refs.has(c.ref)) throw new TypeError(`Credential '${c.ref}' is listed twice`);
      refs.add(c.ref);
      const other = byPlaceholder.get(c.placeholder);
      if (other !== undefined) {
        throw new TypeError(
          `Credentials '${other}' and '${c.ref}' share the placeholder '${c.placeholder}'`,
        );
      }
      byPlaceholder.set(c.placeholder, c.ref);
      const allowed = new Set<SubstituteLocation>([...c.substituteIn, NATIVE[c.kind]]);
      const ownHeader = c.kind === "header_token"
        ? (c.header ?? "").toLowerCase()
        : c.kind === "query_token"
        ? null
        : "authorization";
      return {
        id,
        c,
        allowed,
        allowedText: LOCATIONS.filter((l) => allowed.has(l)).join(", "),
        ownHeader: ownHeader === "" ? null : ownHeader,
        ownHeaderName: c.kind === "header_token" ? c.header ?? "" : "Authorization",
      };
    });
    this.#placeholders = new PlaceholderSet(credentials.map((c) => c.placeholder));
    for (const cc of this.#credentials) {
      for (const endpoint of new Set(cc.c.endpoints)) {
        let table = this.#tables.get(endpoint);
        if (!table) {
          this.#tables.set(endpoint, table = { bound: [], scrub: [], scan: new Set(["header"]) });
        }
        table.bound.push(cc);
        table.scrub.push(cc.c.ref);
        for (const where of cc.allowed) table.scan.add(where);
      }
    }
  }

  /**
   * Finds every placeholder in `request` and decides, for a request to `endpoint` by an agent
   * whose profile holds the credential refs in `held`, what is substituted, injected, misplaced
   * and scrubbed. Never mutates `request`.
   */
  plan(endpoint: string, held: ReadonlySet<string>, request: HttpRequestParts): InjectionPlan {
    const table = this.#tables.get(endpoint) ?? NO_TABLE;
    const creds = this.#credentials;
    const scan = new RequestScan({
      creds,
      placeholders: this.#placeholders,
      table,
      endpoint,
      held,
    });
    const { headerEdits, keptOwn } = scan.scanHeaders(request.headers);
    const { path, pathEdits, query, queryEdits } = scan.scanTarget(request.target);
    const escape = bodyEscape(request.contentType);
    const bodyEdits = scan.scanBody(request.body, escape);
    const { added, alwaysParams, queryTokens } = scan.injected(keptOwn);
    const querySegments = queryTokens.length > 0
      ? planQuery(query, queryEdits, queryTokens, alwaysParams)
      : null;

    const edits: RequestEdits = {
      headerEdits,
      added,
      path,
      pathEdits,
      query,
      queryEdits,
      querySegments,
      bodyEdits,
      escape,
    };
    const needs = neededIds(edits, creds.length);
    return {
      placeholders: names(creds, scan.found),
      misplaced: names(creds, scan.misplaced),
      misplacedDetail: scan.misplacedDetail(),
      unknown: scan.unknown.list(),
      needs: needs.map((id) => creds[id].c.ref).sort(),
      scrub: [...table.scrub],
      apply: (secrets) => render(request, edits, { creds, needs, secrets }),
    };
  }
}

/** Credential ids whose secret the edits put into the request, in id order. */
function neededIds(edits: RequestEdits, n: number): number[] {
  const need: number[] = [];
  for (const e of edits.headerEdits ?? []) {
    if (e === undefined || e.op === "drop") continue;
    if (e.op === "basic") need[e.id] = 1;
    else for (const m of e.edits) need[m.id] = 1;
  }
  for (const id of edits.added) need[id] = 1;
  for (const m of edits.pathEdits) need[m.id] = 1;
  for (const m of edits.queryEdits) need[m.id] = 1;
  for (const s of edits.querySegments ?? []) if (s.op === "set") need[s.id] = 1;
  for (const m of edits.bodyEdits) need[m.id] = 1;
  const ids: number[] = [];
  for (let id = 0; id < n; id++) if (need[id] === 1) ids.push(id);
  return ids;
}

function names(creds: CompiledCredential[], flags: number[]): string[] {
  const out: string[] = [];
  for (let id = 0; id < flags.length; id++) if (flags[id] === 1) out.push(creds[id].c.name);
  return out.length > 1 ? out.sort() : out;
}
